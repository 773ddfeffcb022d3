"""Tiny real deploy bundles, built the way ``racer export`` writes them, without racer.export.

The policy graph is ``obs (1, 1, 120, 160) raw 0-255 -> /255 -> 8x8 average pool -> flatten ->
gemm -> softmax | tanh``, converted to OpenVINO IR, with golden inputs/outputs from ONNX Runtime
and ``metadata.json`` written by :func:`racer.car.bundle.write_metadata` (checksums included):
schema version 2 (the action space in DeepRacer's form), or with ``legacy=True`` the schema-1
form (``"action_space": {"type", "actions"}``) that bundles exported before it carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from racer.car.bundle import write_metadata

H, W = 120, 160
DISCRETE_ACTIONS = [
    {"steering_angle": -30.0, "speed": 0.6},
    {"steering_angle": -15.0, "speed": 1.0},
    {"steering_angle": 0.0, "speed": 1.5},
    {"steering_angle": 15.0, "speed": 1.0},
    {"steering_angle": 30.0, "speed": 0.6},
]
CONTINUOUS_SPACE = {
    "steering_angle": {"low": -30.0, "high": 30.0},
    "speed": {"low": 0.5, "high": 2.0},
}
PREPROCESSING = [
    {"op": "color", "to": "gray", "weights": [0.299, 0.587, 0.114]},
    {"op": "resize", "width": W, "height": H, "interpolation": "area"},
    {"op": "stack", "frames": 1},
]
POOLED = (H // 8) * (W // 8)  # inputs of the gemm after the 8x8 pool


def onnx_model(weights: np.ndarray, bias: np.ndarray, head: str) -> bytes:
    """The tiny policy graph with the given gemm ``weights`` (POOLED, K) and ``bias`` (K,)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_out = len(bias)
    nodes = [
        helper.make_node("Mul", ["obs", "scale"], ["x0"]),
        helper.make_node("AveragePool", ["x0"], ["x1"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Flatten", ["x1"], ["x2"], axis=1),
        helper.make_node("Gemm", ["x2", "w", "b"], ["x3"]),
        helper.make_node("Softmax" if head == "softmax" else "Tanh", ["x3"], ["action"]),
    ]
    if head == "softmax":
        nodes[-1].attribute.append(helper.make_attribute("axis", -1))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, H, W])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, n_out])],
        [
            numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
            numpy_helper.from_array(np.asarray(weights, np.float32), "w"),
            numpy_helper.from_array(np.asarray(bias, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_bundle(
    folder: Path,
    kind: str = "discrete",
    samples: int = 4,
    *,
    bias: list[float] | None = None,
    seed: int = 3,
    frame_shape: tuple[int, ...] = (240, 320, 3),
    legacy: bool = False,
) -> Path:
    """Write a complete camera bundle into ``folder``.

    Args:
        folder: the bundle folder (created).
        kind: ``discrete`` (softmax over :data:`DISCRETE_ACTIONS`) or ``continuous`` (tanh, 2).
        samples: golden samples.
        bias: fixed output logits with zero weights (a policy that ignores the frame and always
            prefers one answer); None: seeded random weights and bias.
        seed: the random weights' seed.
        frame_shape: shape of the raw golden frames (RGB camera size by default; the
            preprocessing turns them into the 120x160 gray input).
        legacy: write ``metadata.json`` in schema version 1 (``{"type", "actions"}``).

    Returns:
        ``folder``.
    """
    import onnxruntime as ort
    import openvino as ov

    from racer.car.preprocess import Preprocessor

    folder.mkdir(parents=True, exist_ok=True)
    n_out = len(DISCRETE_ACTIONS) if kind == "discrete" else 2
    if bias is None:
        rng = np.random.default_rng(seed)
        w = rng.normal(0, 0.5, (POOLED, n_out))
        b = rng.normal(0, 0.1, (n_out,))
    else:
        w, b = np.zeros((POOLED, n_out)), np.asarray(bias, np.float64)
    onnx_path = folder / "policy.onnx"
    onnx_path.write_bytes(onnx_model(w, b, "softmax" if kind == "discrete" else "tanh"))
    (folder / "openvino").mkdir(exist_ok=True)
    ov.save_model(
        ov.convert_model(str(onnx_path)), folder / "openvino/policy.xml", compress_to_fp16=False
    )

    frames = np.random.default_rng(7).integers(0, 256, (samples, *frame_shape), dtype=np.uint8)
    pre = Preprocessor(PREPROCESSING, (1, H, W))
    inputs = np.stack([pre(f).astype(np.float32)[None] for f in frames])  # (K, 1, 1, H, W)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = np.stack([sess.run(None, {"obs": x})[0] for x in inputs]).astype(np.float32)
    np.savez(folder / "golden.npz", inputs=inputs, outputs=outputs, frames=frames)

    dr_space: Any = DISCRETE_ACTIONS if kind == "discrete" else CONTINUOUS_SPACE
    space: dict[str, Any]
    if not legacy:
        space = {"action_space_type": kind, "action_space": dr_space}
    elif kind == "discrete":
        space = {"action_space": {"type": "discrete", "actions": DISCRETE_ACTIONS}}
    else:
        space = {"action_space": {"type": "continuous", **CONTINUOUS_SPACE}}
    (folder / "model_metadata.json").write_text(
        json.dumps(
            {
                "action_space": dr_space,
                "action_space_type": kind,
                "sensor": ["FRONT_FACING_CAMERA"],
                "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
                "training_algorithm": "clipped_ppo",
                "version": "5",
            }
        )
    )
    write_metadata(
        folder,
        {
            "schema_version": 1 if legacy else 2,
            "provenance": {
                "racer_version": "0.1.0",
                "git_commit": "0" * 40,
                "libraries": {"onnxruntime": ort.__version__, "openvino": ov.__version__},
                "run_id": "test",
                "created_utc": "2026-01-01T00:00:00Z",
            },
            "observation": "camera",
            "inputs": [
                {
                    "name": "obs",
                    "shape": [1, 1, H, W],
                    "dtype": "float32",
                    "range": "raw 0-255 frames",
                }
            ],
            "outputs": [{"name": "action", "shape": [1, n_out], "dtype": "float32"}],
            "preprocessing": PREPROCESSING,
            **space,
            "action_output": "probabilities" if kind == "discrete" else "normalized",
            "control_hz": 15,
            "parity": {"onnx_vs_torch_max_abs": 0.0},
            "latency": {},
        },
    )
    return folder
