"""torch -> ONNX -> OpenVINO IR (fp32), and the optional INT8 IR (NNCF post-training quantisation).

Each function writes one artefact and checks it; the bundle writer
(:mod:`racer.export.exporter`) strings them together.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import torch

from racer.errors import MissingDependencyError
from racer.export.errors import ExportError

OPSET = 17  # supported by every ONNX Runtime >= 1.11 and OpenVINO >= 2022
INPUT_NAME = "obs"
OUTPUT_NAME = "action"
INT8_CALIBRATION_SAMPLES = 300  # NNCF's default subset size


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Export ``module`` to one self-contained ONNX file with static shapes.

    Uses the TorchScript-based exporter (``dynamo=False``): for these small policies it writes a
    single file with the weights inside, and static batch-1 shapes the car's engines need.

    Args:
        module: the graph (:class:`racer.export.policy.PolicyGraph`), in eval mode.
        example: one input, ``(1, *obs_shape)`` float32.
        path: the ``.onnx`` file to write.

    Raises:
        ExportError: when the result is not a single file or does not pass ``onnx.checker``.
    """
    import onnx
    from onnx.external_data_helper import uses_external_data

    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    model = onnx.load(str(path), load_external_data=False)
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(a.t for a in node.attribute if a.HasField("t"))
    if any(uses_external_data(t) for t in tensors):
        raise ExportError(f"{path.name}: the exporter wrote external data; expected one file")
    extra = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))
    if extra:
        raise ExportError(f"{path.name}: the exporter wrote extra files {extra}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx raises ValidationError and friends
        raise ExportError(f"{path.name}: the exported graph is not valid ONNX ({exc})") from None


def convert_openvino(onnx_path: Path, xml_path: Path) -> None:
    """Convert the ONNX model to OpenVINO IR with fp32 weights (``.xml`` + ``.bin``).

    Args:
        onnx_path: the exported ``policy.onnx``.
        xml_path: the IR ``.xml`` to write (its ``.bin`` goes beside it).
    """
    import openvino as ov

    xml_path.parent.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(xml_path), compress_to_fp16=False)


def _import_nncf():  # type: ignore[no-untyped-def]
    try:
        import nncf
    except ImportError:
        raise MissingDependencyError(
            "INT8 export needs NNCF; install it with: pip install 'racer[int8]' "
            "(or pip install nncf)"
        ) from None
    return nncf


def nncf_available() -> bool:
    """Whether NNCF (for ``--int8``) is importable."""
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


def quantize_int8(
    xml_path: Path,
    calibration: Sequence[np.ndarray],
    out_xml: Path,
    convolutions_only: bool = True,
) -> None:
    """Post-training INT8 quantisation of the fp32 IR with NNCF, calibrated on recorded inputs.

    With ``convolutions_only`` the dense layers stay fp32: the convolutions hold ~90% of a camera
    policy's multiply-adds (most of the INT8 speed-up), while quantising the small dense head
    as well roughly quadruples the output error (measured on a lapping camera policy: max |diff|
    2.5e-3 and 98.4% same action, against 5.6e-4 and 99.2% with the head in fp32).

    Args:
        xml_path: the fp32 IR.
        calibration: model inputs, each ``(1, *obs_shape)`` float32, recorded in the simulator.
        out_xml: the INT8 IR ``.xml`` to write.
        convolutions_only: leave ``MatMul`` (dense) layers in fp32; use False for an MLP policy.
    """
    nncf = _import_nncf()
    import openvino as ov

    nncf.set_log_level(logging.ERROR)
    model = ov.Core().read_model(str(xml_path))
    data = [np.ascontiguousarray(x, dtype=np.float32) for x in calibration]
    dataset = nncf.Dataset(data)
    extra: dict[str, Any] = {}
    if convolutions_only:
        extra["ignored_scope"] = nncf.IgnoredScope(types=["MatMul"])
    with (
        warnings.catch_warnings(),
        redirect_stdout(io.StringIO()),
        redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(
            model,
            dataset,
            subset_size=min(len(data), INT8_CALIBRATION_SAMPLES),
            **extra,
        )
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
