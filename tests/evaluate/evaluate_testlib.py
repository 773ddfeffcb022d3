"""Helpers for the evaluation and leaderboard tests: tiny real bundles, scripted policies, runs.

Bundles are built the way ``racer export`` writes them (ONNX graph, OpenVINO IR, golden arrays,
DeepRacer ``model_metadata.json``, ``metadata.json`` with checksums via
:func:`racer.car.bundle.write_metadata`), without depending on :mod:`racer.export`. Their ONNX
graph ignores the frame (weights 0) and always prefers one action: enough to test formats,
verification and the leaderboard. Behaviour tests use :class:`SwervePolicy`, a deterministic
follower that leaves the road on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from racer.car.bundle import write_metadata
from racer.evaluate.policies import FollowerPolicy

H, W = 120, 160
ACTIONS = [
    {"steering_angle": -30.0, "speed": 0.6},
    {"steering_angle": -15.0, "speed": 1.0},
    {"steering_angle": 0.0, "speed": 1.5},
    {"steering_angle": 15.0, "speed": 1.0},
    {"steering_angle": 30.0, "speed": 0.6},
]
PREPROCESSING = [
    {"op": "color", "to": "gray", "weights": [0.299, 0.587, 0.114]},
    {"op": "resize", "width": W, "height": H, "interpolation": "area"},
    {"op": "stack", "frames": 1},
]


def _onnx_model(logits: list[float], head: str) -> bytes:
    """obs (1,1,H,W) raw -> /255 -> 8x8 pool -> flatten -> gemm (zero weights) -> head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_out = len(logits)
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
        "fixed",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, H, W])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, n_out])],
        [
            numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
            numpy_helper.from_array(np.zeros((15 * 20, n_out), np.float32), "w"),
            numpy_helper.from_array(np.asarray(logits, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_bundle(
    folder: Path, kind: str = "discrete", preferred: int = 2, samples: int = 3
) -> Path:
    """Write a complete camera bundle into ``folder`` whose policy always picks one action.

    Args:
        folder: the bundle folder (created).
        kind: ``discrete`` (softmax over :data:`ACTIONS`) or ``continuous`` (tanh).
        preferred: discrete: the index of the action it picks.
        samples: golden samples.

    Returns:
        ``folder``.
    """
    import onnxruntime as ort
    import openvino as ov

    from racer.car.preprocess import Preprocessor

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "discrete":
        logits = [0.0] * len(ACTIONS)
        logits[preferred] = 3.0
        head = "softmax"
    else:
        logits = [0.0, 0.5]  # straight, a bit above mid speed
        head = "tanh"
    onnx_path = folder / "policy.onnx"
    onnx_path.write_bytes(_onnx_model(logits, head))
    (folder / "openvino").mkdir(exist_ok=True)
    ov.save_model(
        ov.convert_model(str(onnx_path)), folder / "openvino/policy.xml", compress_to_fp16=False
    )
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (samples, H, W), dtype=np.uint8)
    pre = Preprocessor(PREPROCESSING, (1, H, W))
    inputs = np.stack([pre(f).astype(np.float32)[None] for f in frames])
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = np.stack([sess.run(None, {"obs": x})[0] for x in inputs]).astype(np.float32)
    np.savez(folder / "golden.npz", inputs=inputs, outputs=outputs, frames=frames)
    if kind == "discrete":
        space: dict[str, Any] = {"type": "discrete", "actions": ACTIONS}
        dr_space: Any = ACTIONS
    else:
        space = {
            "type": "continuous",
            "steering_angle": {"low": -30.0, "high": 30.0},
            "speed": {"low": 0.5, "high": 2.0},
        }
        dr_space = {k: v for k, v in space.items() if k != "type"}
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
            "schema_version": 1,
            "provenance": {
                "racer_version": "0.1.0",
                "git_commit": "0" * 40,
                "libraries": {},
                "run_id": "test",
                "created_utc": "2026-01-01T00:00:00Z",
            },
            "observation": "camera",
            "inputs": [
                {"name": "obs", "shape": [1, 1, H, W], "dtype": "float32", "range": "raw 0-255"}
            ],
            "outputs": [{"name": "action", "shape": [1, len(logits)], "dtype": "float32"}],
            "preprocessing": PREPROCESSING,
            "action_space": space,
            "action_output": "probabilities" if kind == "discrete" else "normalized",
            "control_hz": 15,
            "parity": {},
            "latency": {},
        },
    )
    return folder


def mismatch_outputs(folder: Path) -> Path:
    """Make a bundle whose metadata (re-checksummed) claims outputs the ONNX graph lacks.

    The metadata stays self-consistent (action list and output size agree, checksums valid),
    so only the check of the graph's outputs against the metadata can catch it.
    """
    meta = json.loads((folder / "metadata.json").read_text())
    meta["action_space"]["actions"] = meta["action_space"]["actions"][:4]
    meta["outputs"][0]["shape"] = [1, 4]
    write_metadata(folder, meta)
    return folder


class SwervePolicy(FollowerPolicy):
    """The follower, but it steers hard right for ``hold`` steps every ``period`` steps.

    Each put-back restarts the count, so the car leaves the road at regular intervals.

    Args:
        period: follower steps before each swerve.
        hold: swerve steps (enough to leave the road).
        swerves: how many swerves in total (then it only follows); None for no limit.
    """

    def __init__(self, period: int = 90, hold: int = 25, swerves: int | None = None) -> None:
        super().__init__(observation="state", name="swerve")
        self.period = period
        self.hold = hold
        self.swerves_left = swerves
        self._count = 0
        self._swerving = False

    def reset(self, env: Any) -> None:
        """Bind to the env and restart the count."""
        super().reset(env)
        self._count = 0
        if self._swerving and self.swerves_left is not None:
            self.swerves_left -= 1
        self._swerving = False

    def act(self, obs: np.ndarray) -> Any:
        """The follower's action, or hard right during a swerve."""
        self._count += 1
        active = self.swerves_left is None or self.swerves_left > 0
        if active and self.period <= self._count < self.period + self.hold:
            self._swerving = True
            return 3  # the default discrete list: (-15 deg (right), 2 m/s)
        return super().act(obs)


def tiny_run(folder: Path, observation: str = "state") -> Path:
    """A run folder with an untrained PPO model (MLP, [16]) and its ``config.toml``."""
    from stable_baselines3 import PPO

    from racer.env import RaceEnv

    folder.mkdir(parents=True, exist_ok=True)
    env = RaceEnv("oval", observation=observation)
    model = PPO(
        "MlpPolicy", env, n_steps=64, batch_size=32, policy_kwargs={"net_arch": [16]}, seed=0
    )
    model.save(str(folder / "best_model.zip"))
    env.close()
    (folder / "config.toml").write_text(
        '[agent]\nname = "tiny"\n\n[env]\ntracks = ["oval"]\n'
        f'observation = "{observation}"\n\n[algorithm]\nname = "ppo"\n'
    )
    return folder
