"""DeepRacer model archives: a console or DRfC ``.tar.gz`` driven by racer's runtime.

An AWS DeepRacer model is a ``.tar.gz`` holding ``model_metadata.json`` and one TensorFlow frozen
graph (the console and ``racer export --deepracer`` write ``agent/model.pb``; DRfC archives may
put it elsewhere). :func:`load_model` takes either kind of archive (or folder) and tells them
apart by content: a racer ``metadata.json`` makes a racer bundle (:func:`load_bundle`); without
one, a ``model_metadata.json`` or a ``*.pb`` member makes a DeepRacer model
(:func:`load_deepracer`). A :class:`DeepRacerModel` has the interface of a
:class:`~racer.car.bundle.Bundle` (``metadata``, ``preprocessor()``, ``decoder()``,
``backend()``, ``self_test()``, ``close()``), so the car's :class:`~racer.car.runtime.Driver`, the
evaluator and the leaderboard drive it as they drive a bundle.

Reading (each failure one :class:`~racer.errors.BundleError` line naming the archive):

- the archive is unpacked by the bundle's own bounded extractor
  (:func:`racer.car.bundle._safe_extract`): regular files and folders only (a link, a device or
  a path that leaves the archive is refused), at most :data:`racer.car.bundle.MAX_FILES` x 2
  members, the decompressed stream bounded by :data:`racer.car.bundle.MAX_BUNDLE_BYTES`
  (200 MB: a decompression bomb stops there), extended tar headers bounded;
- the model: the car's rule, kept as it is: every file whose extension is a substring of
  ``.pb`` counts as a model (so ``model.pb``, but also a file without an extension), and an
  archive with more than one such file is refused (the car ignores it); the graph at most
  :data:`MAX_PB_BYTES`;
- ``model_metadata.json``: exactly one, at most 1 MB of UTF-8 JSON without NaN, checked as the
  car checks it (``sensor``, ``training_algorithm``, ``action_space_type``, every action with
  ``steering_angle`` and ``speed``, continuous ``high > low``), the action space parsed by
  :meth:`racer.contract.actions.ActionSpace.from_model_metadata` and held to the car's limits.
  Only camera sensors are raced (``FRONT_FACING_CAMERA``, ``LEFT_CAMERA``, ``STEREO_CAMERAS``,
  the older ``observation``); a lidar model is refused (its lidar is not racer's).

The graph (OpenVINO's TensorFlow front end, no TensorFlow needed): the input is DeepRacer's
``.../<SENSOR>/<SENSOR>`` placeholder, NHWC ``[?, H, W, C]`` of raw 0-255 values (the /255 is in
the graph); the output is the policy head, ``.../ppo_head_0/policy`` (clipped PPO) or
``.../sac_policy_head_0/policy`` (SAC). The model is reshaped to batch 1 and compiled for the
CPU (f32). :class:`DeepRacerBackend` takes racer's channels-first ``(1, C, H, W)`` and transposes
it to the graph's NHWC, so the rest of the runtime sees a bundle-shaped model.

Frames are prepared as DeepRacer's simulator prepares them, as :class:`Preprocessor` steps
(:func:`deepracer_steps`): a bilinear resize to the graph's size, then gray
``Y = 0.2989 R + 0.587 G + 0.114 B`` rounded to uint8, fed as float 0-255; the simulator's own
120x160 gray frame passes through unchanged. (DeepRacer's car resizes first and converts with
OpenCV's BT.601 weights; the two differ by at most one gray level.)

Actions are decoded as the car's navigation decodes them, by
:meth:`racer.contract.actions.ActionSpace.to_command`: discrete, the argmax of the softmax indexes
the JSON's action list; continuous, each output is clamped to [-1, 1] and mapped linearly to
[low, high]. A SAC head gives the pre-tanh mean; racer clamps it as the car does (no tanh), so a
SAC model drives in racer as it drives on a physical car.

Imports: the standard library, numpy, :mod:`racer.contract`, :mod:`racer.errors` and
:mod:`racer.car`; OpenVINO lazily, when a graph is read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from racer.car.backends import DEFAULT_THREADS, Backend, _import_openvino, _static_shape
from racer.car.bundle import (
    METADATA,
    MODEL_METADATA,
    Bundle,
    SelfTestReport,
    _first_line,
    _name,
    _walk,
    is_archive,
    load_bundle,
    read_json,
    run_model,
    unpack_archive,
)
from racer.car.preprocess import MAX_RESIZE_PX
from racer.contract.actions import ActionSpace
from racer.contract.bundle import SCHEMA_VERSION, action_output, io_entries
from racer.contract.car import CAMERA_HEIGHT_PX, CAMERA_WIDTH_PX, CONTROL_HZ
from racer.errors import BundleError, ConfigError

FORMAT = "deepracer"  # metadata["provenance"]["format"] of a model read from a DeepRacer archive
BACKEND = "openvino"  # the one engine that reads a TensorFlow graph here
MAX_PB_BYTES = 128 * 2**20  # the frozen graph; DeepRacer's deep CNN is ~20 MB, the shallow ~2 MB
#: DeepRacer's simulator gray conversion (R, G, B weights).
DEEPRACER_GRAY_WEIGHTS: tuple[float, float, float] = (0.2989, 0.587, 0.114)
#: Every sensor the car accepts in ``model_metadata.json`` (CAR.md).
SENSORS = ("FRONT_FACING_CAMERA", "STEREO_CAMERAS", "LEFT_CAMERA", "LIDAR", "SECTOR_LIDAR")
#: The sensors racer races, and the graph input each names; ``observation`` is the input of
#: older single-camera models.
CAMERA_INPUTS = ("FRONT_FACING_CAMERA", "STEREO_CAMERAS", "LEFT_CAMERA", "observation")
ALGORITHMS = ("clipped_ppo", "sac")
#: The policy head's node name ends so: clipped PPO, SAC.
POLICY_OUTPUTS = ("ppo_head_0/policy", "sac_policy_head_0/policy")
PB_SUFFIX = ".pb"


def counts_as_model(name: str) -> bool:
    """The car's rule: a file whose extension is a substring of ``.pb`` is a model.

    ``model.pb``, ``model.b`` and a name without an extension (``model``, ``checkpoint``)
    count; ``model.json`` or ``model.onnx`` do not.
    """
    ext = os.path.splitext(PurePosixPath(name).name)[1]
    return ext in PB_SUFFIX


def deepracer_steps(width: int, height: int, channels: int = 1) -> list[dict[str, Any]]:
    """The :class:`~racer.car.preprocess.Preprocessor` steps of DeepRacer's simulator.

    A bilinear resize to ``width`` x ``height``, then gray with :data:`DEEPRACER_GRAY_WEIGHTS`
    (``channels`` 3: the frame kept in colour, a gray frame repeated), one frame.

    Args:
        width: the graph's input width, pixels.
        height: the graph's input height, pixels.
        channels: colour channels per camera (1 gray, 3 colour).

    Returns:
        The ``preprocessing`` list.
    """
    color: dict[str, Any] = (
        {"op": "color", "to": "rgb"}
        if channels == 3
        else {"op": "color", "to": "gray", "weights": list(DEEPRACER_GRAY_WEIGHTS)}
    )
    return [
        {"op": "resize", "width": int(width), "height": int(height), "interpolation": "bilinear"},
        color,
        {"op": "stack", "frames": 1},
    ]


def _tensor_names(port: Any) -> list[str]:
    """A port's tensor names without TensorFlow's ``:0`` output index, sorted (a folded
    ``Identity`` leaves its producer's name beside its own)."""
    out = []
    for name in sorted(str(n) for n in port.get_names()) or [str(port.get_any_name())]:
        head, sep, tail = name.rpartition(":")
        out.append(head if sep and tail.isdigit() else name)
    return out


def _tensor_name(port: Any, suffixes: tuple[str, ...] = ()) -> str:
    """A port's tensor name: the first ending with one of ``suffixes`` (else the first)."""
    names = _tensor_names(port)
    return next((n for n in names if suffixes and n.endswith(suffixes)), names[0])


def _read_graph(pb: Path, label: str) -> Any:
    """The frozen graph as an OpenVINO model (TensorFlow front end); one line on failure."""
    ov = _import_openvino()
    try:
        return ov.Core().read_model(str(pb))
    except MemoryError:
        raise
    except Exception as exc:  # OpenVINO raises RuntimeError/OVError with long messages
        raise BundleError(
            f"{label}: {pb.name} is not a TensorFlow frozen graph OpenVINO can read "
            f"({_first_line(exc)})"
        ) from None


def _find_input(model: Any, label: str) -> tuple[Any, str, str]:
    """DeepRacer's camera placeholder: ``(port, tensor name, sensor)``."""
    found = []
    for port in model.inputs:
        for name in _tensor_names(port):
            parts = name.split("/")
            sensor = parts[-1]
            if sensor in CAMERA_INPUTS and (len(parts) == 1 or parts[-2] == sensor):
                found.append((port, name, sensor))
                break
    names = [_tensor_name(p) for p in model.inputs]
    if len(found) != 1 or len(names) != 1:
        want = " or ".join(f".../{s}/{s}" for s in CAMERA_INPUTS[:3])
        raise BundleError(
            f"{label}: the graph's inputs {_name(str(names), 160)} are not one DeepRacer camera "
            f"input ({want})"
        )
    return found[0]


def _find_output(model: Any, label: str) -> tuple[Any, str]:
    """DeepRacer's policy head: ``(port, tensor name)``."""
    found = [
        (port, _tensor_name(port, POLICY_OUTPUTS))
        for port in model.outputs
        if _tensor_name(port, POLICY_OUTPUTS).endswith(POLICY_OUTPUTS)
    ]
    if len(found) != 1:
        names = [_tensor_name(p) for p in model.outputs]
        raise BundleError(
            f"{label}: no single policy output among the graph's outputs "
            f"{_name(str(names), 160)} (DeepRacer names it .../ppo_head_0/policy or "
            ".../sac_policy_head_0/policy)"
        )
    return found[0]


def _input_hwc(port: Any, sensor: str, label: str) -> tuple[int, int, int]:
    """The input's ``(height, width, channels)`` from its NHWC shape (dynamic sides: 120x160)."""
    shape = port.get_partial_shape()
    dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else []
    if len(dims) != 4:
        raise BundleError(f"{label}: the camera input {shape} is not NHWC [?, H, W, C]")
    _, h, w, c = dims
    h = CAMERA_HEIGHT_PX if h is None else h
    w = CAMERA_WIDTH_PX if w is None else w
    want = (2,) if sensor == "STEREO_CAMERAS" else (1, 3)
    if c is None or c not in want or not (1 <= h <= MAX_RESIZE_PX and 1 <= w <= MAX_RESIZE_PX):
        raise BundleError(
            f"{label}: the {sensor} input {shape} is not [?, H, W, {' or '.join(map(str, want))}] "
            f"with sides up to {MAX_RESIZE_PX} px"
        )
    return int(h), int(w), int(c)


def _check_model_metadata(data: Any, label: str) -> tuple[ActionSpace, list[str], str]:
    """``model_metadata.json`` checked as the car checks it: ``(space, sensors, algorithm)``."""
    where = f"{label}: {MODEL_METADATA}"
    if not isinstance(data, Mapping):
        raise BundleError(f"{where}: expected a JSON object")
    sensors = data.get("sensor", ["FRONT_FACING_CAMERA"])  # older models name no sensor
    if not isinstance(sensors, list) or not sensors or len(sensors) > len(SENSORS):
        raise BundleError(f"{where}: 'sensor' must list the model's sensors, got {sensors!r:.80}")
    for s in sensors:
        if s not in SENSORS and s != "observation":
            raise BundleError(f"{where}: unknown sensor {s!r:.60}; the car knows {SENSORS}")
    lidar = [s for s in sensors if "LIDAR" in s]
    if lidar:
        raise BundleError(
            f"{where}: a {lidar[0]} model; racer races DeepRacer camera models only (its lidar "
            "is not DeepRacer's)"
        )
    algorithm = data.get("training_algorithm", "clipped_ppo")
    if algorithm not in ALGORITHMS:
        raise BundleError(
            f"{where}: training_algorithm {algorithm!r:.60} is not one of {', '.join(ALGORITHMS)}"
        )
    space = data.get("action_space")
    kind = data.get("action_space_type", "continuous" if isinstance(space, dict) else "discrete")
    if kind not in ("discrete", "continuous"):
        raise BundleError(f"{where}: action_space_type {kind!r:.60} is not discrete or continuous")
    if kind == "discrete":
        if not isinstance(space, list) or not space:
            raise BundleError(f"{where}: a discrete 'action_space' must list the actions")
        for i, a in enumerate(space):
            if not isinstance(a, Mapping) or "steering_angle" not in a or "speed" not in a:
                raise BundleError(f"{where}: action_space[{i}] lacks steering_angle or speed")
    elif not isinstance(space, Mapping) or not all(
        isinstance(space.get(k), Mapping) and "low" in space[k] and "high" in space[k]
        for k in ("steering_angle", "speed")
    ):
        raise BundleError(
            f"{where}: a continuous 'action_space' needs steering_angle and speed, each with "
            "low and high"
        )
    if algorithm == "sac" and kind != "continuous":
        raise BundleError(f"{where}: a SAC model needs a continuous action space")
    try:
        parsed = ActionSpace.from_model_metadata({"action_space": space, "action_space_type": kind})
    except ConfigError as exc:
        raise BundleError(f"{where}: {exc}") from None
    return parsed, [str(s) for s in sensors], str(algorithm)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


class DeepRacerBackend:
    """A DeepRacer frozen graph on OpenVINO's CPU plugin, batch 1, f32, channels first outside.

    :meth:`run` takes racer's ``(1, C, H, W)`` raw 0-255 frames (what a bundle's model takes),
    transposes them to the graph's NHWC and returns the policy head's ``(1, N)`` output.

    Args:
        pb: the ``.pb`` file.
        input_name: the camera placeholder's tensor name.
        output_name: the policy head's tensor name.
        hwc: the input's height, width and channels.
        threads: ``INFERENCE_NUM_THREADS``.
        label: the archive's name, for messages.
    """

    name = BACKEND

    def __init__(
        self,
        pb: Path,
        input_name: str,
        output_name: str,
        hwc: tuple[int, int, int],
        threads: int = DEFAULT_THREADS,
        label: str = "",
    ) -> None:
        label = label or pb.name
        model = _read_graph(pb, label)
        port, self.input_name, _ = _find_input(model, label)
        out, self.output_name = _find_output(model, label)
        h, w, c = hwc
        ov = _import_openvino()
        try:
            model.reshape({port: [1, h, w, c]})
            self._compiled = ov.Core().compile_model(
                model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
            )
        except MemoryError:
            raise
        except Exception as exc:  # OpenVINO's errors: long RuntimeError messages
            raise BundleError(
                f"{label}: OpenVINO cannot compile the graph for batch 1 ({_first_line(exc)})"
            ) from None
        self._output = next(o for o in self._compiled.outputs if output_name in _tensor_names(o))
        self._request = self._compiled.create_infer_request()
        self.input_shape: tuple[int, ...] = (1, c, h, w)
        self.output_shape = _static_shape(
            list(self._output.get_partial_shape().to_shape()), f"{label} policy output"
        )
        self.threads = int(threads)
        self.precision = "f32"

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the graph on ``x`` (``(1, C, H, W)`` float32 0-255); the ``(1, N)`` output."""
        nhwc = np.ascontiguousarray(
            np.asarray(x, dtype=np.float32).reshape(self.input_shape).transpose(0, 2, 3, 1)
        )
        res = self._request.infer({0: nhwc})
        return np.array(res[self._output], dtype=np.float32)


class DeepRacerCheck(SelfTestReport):
    """What :meth:`DeepRacerModel.self_test` found: a DeepRacer archive has no golden set, so
    the check runs synthetic frames and requires finite outputs of the right size."""

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"check {self.backend}: DeepRacer model, {self.samples} synthetic frames, outputs "
            f"finite (no golden set in the archive), {self.latency_ms_p50:.2f} ms/inference"
        )


class DeepRacerModel(Bundle):
    """A DeepRacer model archive read and checked by :func:`load_deepracer`.

    It has a bundle's interface (the runtime, the evaluator and the leaderboard take it where
    they take a :class:`~racer.car.bundle.Bundle`): ``metadata`` is the ``metadata.json`` a
    bundle of this model would hold (observation, NCHW input, output, :func:`deepracer_steps`,
    the action space, ``control_hz``; no files), ``backend()`` opens :class:`DeepRacerBackend`
    and ``self_test()`` runs synthetic frames.

    Attributes:
        pb: the frozen graph (``agent/model.pb`` in a console archive).
        model_metadata: the parsed ``model_metadata.json``.
        sensors: its ``sensor`` list.
        algorithm: ``clipped_ppo`` or ``sac``.
        checksum: sha256 of the graph's and ``model_metadata.json``'s sha256 lines: the model's
            identity on the leaderboard.
    """

    def __init__(
        self,
        root: Path,
        source: Path,
        pb: Path,
        metadata_path: Path,
        tmp: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        label = _name(source.name)
        data = read_json(metadata_path, f"{label}: {MODEL_METADATA}")
        space, sensors, algorithm = _check_model_metadata(data, label)
        graph = _read_graph(pb, label)
        port, input_name, sensor = _find_input(graph, label)
        _, output_name = _find_output(graph, label)
        h, w, c = _input_hwc(port, sensor, label)
        out_port = next(o for o in graph.outputs if output_name in _tensor_names(o))
        out_shape = out_port.get_partial_shape()
        last = out_shape[out_shape.rank.get_length() - 1] if out_shape.rank.is_static else None
        if last is None or not last.is_static or last.get_length() != space.n_outputs:
            raise BundleError(
                f"{label}: the policy output {out_shape} does not fit the {space.kind} action "
                f"space of {MODEL_METADATA} ({space.n_outputs} outputs)"
            )
        observation = "stereo" if c == 2 else "camera"
        metadata: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "provenance": {"format": FORMAT, "sensor": sensors, "training_algorithm": algorithm},
            **io_entries(observation, (1, c, h, w), space.n_outputs, input_name, output_name),
            "preprocessing": deepracer_steps(w, h, 1 if c == 2 else c),
            **space.to_model_metadata(),
            "action_output": action_output(space.kind),
            "control_hz": CONTROL_HZ,
            "files": {},
        }
        super().__init__(root=root, metadata=metadata, source=source, _tmp=tmp)
        self.pb = pb
        self.model_metadata: dict[str, Any] = dict(data)
        self.sensors = sensors
        self.algorithm = algorithm
        pb_rel = pb.relative_to(root).as_posix()
        lines = f"{_sha256(pb)}  {pb_rel}\n{_sha256(metadata_path)}  {MODEL_METADATA}\n"
        self.checksum = hashlib.sha256(lines.encode()).hexdigest()
        self.decoder()  # the car's own checks of the action space (count, limits)

    def backend(self, name: str = BACKEND, threads: int = DEFAULT_THREADS) -> Backend:
        """Open the graph on OpenVINO (the only engine here that reads a TensorFlow graph).

        Args:
            name: ``"openvino"``.
            threads: CPU threads for inference.

        Raises:
            BundleError: another engine was asked for.
        """
        if name != BACKEND:
            raise BundleError(
                f"{_name(self.source.name)}: a DeepRacer model (TensorFlow graph) runs on "
                f"OpenVINO only; use --backend {BACKEND}"
            )
        return DeepRacerBackend(
            self.pb,
            self.input_name,
            self.output_name,
            (self.input_shape[2], self.input_shape[3], self.input_shape[1]),
            threads=threads,
            label=_name(self.source.name),
        )

    def golden(self) -> dict[str, np.ndarray]:
        """A DeepRacer archive holds no golden set."""
        raise BundleError(f"{_name(self.source.name)}: a DeepRacer model has no golden set")

    def self_test(self, backend: Backend | str = BACKEND) -> SelfTestReport:
        """Run three synthetic frames (black, white, a ramp): outputs finite and of the right size.

        Args:
            backend: an engine from :meth:`backend`, or its name.

        Returns:
            A :class:`DeepRacerCheck`.

        Raises:
            BundleError: the graph fails or gives a non-finite or wrongly sized output.
        """
        be = self.backend(backend) if isinstance(backend, str) else backend
        _, c, h, w = self.input_shape
        ramp = np.broadcast_to(np.linspace(0.0, 255.0, w, dtype=np.float32), (1, c, h, w))
        frames = [np.zeros((1, c, h, w), np.float32), np.full((1, c, h, w), 255.0, np.float32)]
        frames.append(np.ascontiguousarray(ramp))
        times = []
        label = _name(self.source.name)
        for k, x in enumerate(frames):
            t0 = time.perf_counter()
            y = run_model(be, x, f"{label}: the graph failed on synthetic frame {k}")
            times.append(time.perf_counter() - t0)
            if y.size != self.output_shape[-1] or not np.isfinite(y).all():
                raise BundleError(
                    f"{label}: the graph gave {y.size} output(s) {np.ravel(y)[:4]} on synthetic "
                    f"frame {k}; expected {self.output_shape[-1]} finite values"
                )
        return DeepRacerCheck(
            backend=be.name,
            samples=len(frames),
            max_abs_diff=0.0,
            tolerance=0.0,
            argmax_agreement=None,
            preprocess_checked=False,
            latency_ms_p50=float(np.median(times) * 1e3),
        )


def _racer_root(folder: Path) -> bool:
    """Whether ``folder`` holds a racer bundle's ``metadata.json`` (itself or its one sub-folder)."""
    if (folder / METADATA).is_file():
        return True
    entries = list(folder.iterdir())
    return len(entries) == 1 and entries[0].is_dir() and (entries[0] / METADATA).is_file()


def _deepracer_files(folder: Path) -> bool:
    """Whether a folder without a racer ``metadata.json`` looks like a DeepRacer model."""
    for _, _, filenames in os.walk(folder, followlinks=False):
        if MODEL_METADATA in filenames or any(n.endswith(PB_SUFFIX) for n in filenames):
            return True
    return False


def is_deepracer_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a DeepRacer model (no racer ``metadata.json``)."""
    p = Path(path)
    return p.is_dir() and not _racer_root(p) and _deepracer_files(p)


def _open_root(root: Path, source: Path, tmp: tempfile.TemporaryDirectory[str] | None) -> Bundle:
    """The DeepRacer model in ``root`` (an unpacked archive or a folder); the car's file rule."""
    label = _name(source.name)
    files = _walk(root)
    models = [p for p in files if counts_as_model(p.name)]
    metas = [p for p in files if p.name == MODEL_METADATA]
    rel = [p.relative_to(root).as_posix() for p in models]
    if not models:
        raise BundleError(
            f"{label}: no TensorFlow graph (.pb) in it; a DeepRacer model holds agent/model.pb "
            f"and {MODEL_METADATA}"
        )
    if len(models) > 1:
        raise BundleError(
            f"{label}: {len(models)} files count as a model ({_name(', '.join(rel), 120)}: a "
            "name ending .pb or without an extension); DeepRacer's car ignores such an "
            "archive: keep only agent/model.pb"
        )
    if not metas:
        raise BundleError(f"{label}: no {MODEL_METADATA} in it; a DeepRacer model needs one")
    if len(metas) > 1:
        raise BundleError(f"{label}: {len(metas)} {MODEL_METADATA} files; keep one")
    size = models[0].stat().st_size
    if size > MAX_PB_BYTES:
        raise BundleError(
            f"{label}: {rel[0]} is {size} bytes, more than the {MAX_PB_BYTES} bytes a DeepRacer "
            "graph may have"
        )
    return DeepRacerModel(root, source, models[0], metas[0], tmp)


def load_deepracer(path: str | Path) -> Bundle:
    """Read and check a DeepRacer model archive (``.tar.gz``) or its unpacked folder.

    Args:
        path: the archive or folder.

    Returns:
        A :class:`DeepRacerModel`. An archive is unpacked into ``racer-bundle-<pid>-*`` in the
        temporary folder, removed by :meth:`~racer.car.bundle.Bundle.close` (as a bundle's).

    Raises:
        BundleError: one line naming the archive and what is wrong with it.
    """
    src = Path(path)
    if src.is_dir():
        return _open_root(src, src, None)
    tmp = _unpack(src)
    try:
        return _open_root(Path(tmp.name), src, tmp)
    except BaseException:
        tmp.cleanup()
        raise


def _unpack(src: Path) -> tempfile.TemporaryDirectory[str]:
    """Unpack an archive with the bundle's bounded extractor into a fresh temporary folder."""
    if not src.exists():
        raise BundleError(f"{src} not found")
    return unpack_archive(src)


def load_model(path: str | Path) -> Bundle:
    """A racer bundle or a DeepRacer model, told apart by content.

    A folder or ``.tar.gz`` holding a racer ``metadata.json`` (at its root or in its one
    sub-folder) is a bundle (:func:`racer.car.bundle.load_bundle`); one without it that holds a
    ``model_metadata.json`` or a ``*.pb`` file is a DeepRacer model (:func:`load_deepracer`).

    Args:
        path: the folder or archive.

    Returns:
        The verified :class:`~racer.car.bundle.Bundle` or :class:`DeepRacerModel`.

    Raises:
        BundleError: one line naming the file that is wrong.
    """
    src = Path(path)
    if src.is_dir():
        return load_deepracer(src) if is_deepracer_folder(src) else load_bundle(src)
    if not (is_archive(src) and src.exists()):
        return load_bundle(src)  # its own message
    tmp = _unpack(src)
    try:
        root = Path(tmp.name)
        if _racer_root(root) or not _deepracer_files(root):
            tmp.cleanup()
            return load_bundle(src)
        return _open_root(root, src, tmp)
    except BaseException:
        tmp.cleanup()
        raise


def is_deepracer(model: Any) -> bool:
    """Whether a loaded model is a :class:`DeepRacerModel`."""
    return isinstance(model, DeepRacerModel)


def default_backend(model: Bundle) -> str:
    """The engine a model runs on by default: ONNX Runtime for a bundle, OpenVINO for a
    DeepRacer model."""
    return BACKEND if isinstance(model, DeepRacerModel) else "onnxruntime"
