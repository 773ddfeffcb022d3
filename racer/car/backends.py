"""Inference backends: ONNX Runtime and OpenVINO behind one small interface.

Each backend loads one model file, runs it on a float32 array of the model's input shape and
returns the first output as float32. The engines are imported lazily, so a car with only one of
them installed can still use it; a missing engine raises ``MissingDependencyError`` with the
``pip install`` command. Both run on the CPU with an explicit thread count (one by default: the
car's other cores serve the camera and the actuators) and, for OpenVINO, an explicit f32
inference precision (OpenVINO would otherwise pick bf16/fp16 on CPUs that support them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from racer.errors import BundleError, MissingDependencyError

BACKENDS = ("onnxruntime", "openvino", "openvino_int8")
DEFAULT_THREADS = 1  # one core for inference; leaves the others to camera and actuators


@runtime_checkable
class Backend(Protocol):
    """What the runtime needs of an inference engine."""

    name: str
    input_name: str
    input_shape: tuple[int, ...]
    output_name: str
    output_shape: tuple[int, ...]

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the model on ``x`` (float32, the input shape) and return the output (float32)."""
        ...


def _static_shape(dims: Sequence[Any], what: str) -> tuple[int, ...]:
    shape: list[int] = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or int(d) <= 0:
            raise BundleError(
                f"{what} has a dynamic or invalid shape {list(dims)}; export it static"
            )
        shape.append(int(d))
    return tuple(shape)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError(
            "ONNX Runtime is not installed; install it with: pip install onnxruntime"
        ) from None
    return onnxruntime


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError(
            "OpenVINO is not installed; install it with: pip install openvino"
        ) from None
    return openvino


def onnx_io(path: str | Path) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[str, Any]]]:
    """Read an ONNX model's input and output names and shapes with ONNX Runtime.

    Args:
        path: the ``.onnx`` file.

    Returns:
        ``(inputs, outputs)``: lists of ``(name, shape)``; shape entries may be symbolic strings.
    """
    ort = _import_onnxruntime()
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BundleError(f"{Path(path).name}: not a loadable ONNX model ({exc})") from None
    ins = [(i.name, tuple(i.shape)) for i in sess.get_inputs()]
    outs = [(o.name, tuple(o.shape)) for o in sess.get_outputs()]
    return ins, outs


class OnnxRuntimeBackend:
    """ONNX Runtime on the CPU.

    Args:
        path: the ``policy.onnx`` file (one file, no external data).
        threads: intra-op threads.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int = DEFAULT_THREADS) -> None:
        ort = _import_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 4  # fatal only: errors reach the user as one racer line
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._sess = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise BundleError(f"{Path(path).name}: ONNX Runtime cannot load it ({exc})") from None
        inp, out = self._sess.get_inputs()[0], self._sess.get_outputs()[0]
        self.input_name: str = inp.name
        self.output_name: str = out.name
        self.input_shape = _static_shape(inp.shape, f"{Path(path).name} input {inp.name!r}")
        self.output_shape = _static_shape(out.shape, f"{Path(path).name} output {out.name!r}")
        self.threads = int(threads)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the model on ``x`` and return the first output as float32."""
        y = self._sess.run([self.output_name], {self.input_name: np.asarray(x, np.float32)})[0]
        return np.asarray(y, dtype=np.float32)


class OpenVinoBackend:
    """OpenVINO on the CPU, with explicit inference precision and thread count.

    Args:
        xml_path: the IR ``.xml`` (its ``.bin`` beside it), or an ``.onnx`` file.
        threads: ``INFERENCE_NUM_THREADS``.
        precision: ``INFERENCE_PRECISION_HINT``; ``"f32"`` keeps fp32 parity with ONNX Runtime.
            An INT8 IR runs its quantised layers in int8 whatever this says.
    """

    name = "openvino"

    def __init__(
        self, xml_path: str | Path, threads: int = DEFAULT_THREADS, precision: str = "f32"
    ) -> None:
        ov = _import_openvino()
        core = ov.Core()
        try:
            model = core.read_model(str(xml_path))
            self._compiled = core.compile_model(
                model,
                "CPU",
                {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": int(threads)},
            )
        except Exception as exc:  # openvino raises RuntimeError with a long message
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{Path(xml_path).name}: OpenVINO cannot load it ({first})") from None
        self._request = self._compiled.create_infer_request()
        inp, out = self._compiled.input(0), self._compiled.output(0)
        self.input_name = inp.get_any_name()
        self.output_name = out.get_any_name()
        what = Path(xml_path).name
        self.input_shape = _static_shape(list(inp.get_partial_shape().to_shape()), what)
        self.output_shape = _static_shape(list(out.get_partial_shape().to_shape()), what)
        self._output = out
        self.threads = int(threads)
        self.precision = precision

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the model on ``x`` and return the first output as float32."""
        res = self._request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return np.array(res[self._output], dtype=np.float32)


def available_backends() -> list[str]:
    """Names of the engines importable here (``onnxruntime``, ``openvino``)."""
    import importlib.util

    return [m for m in ("onnxruntime", "openvino") if importlib.util.find_spec(m) is not None]


def measure_latency(
    backend: Backend, x: np.ndarray, runs: int = 200, warmup: int = 20
) -> dict[str, float]:
    """Time single-input inference.

    Args:
        backend: the engine.
        x: one input.
        runs: timed runs.
        warmup: untimed runs first.

    Returns:
        ``{"p50_ms", "p99_ms", "mean_ms", "runs"}``.
    """
    for _ in range(warmup):
        backend.run(x)
    times = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        t0 = time.perf_counter()
        backend.run(x)
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "runs": float(runs),
    }
