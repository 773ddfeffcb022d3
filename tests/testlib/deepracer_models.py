"""Tiny DeepRacer-style model archives (frozen TensorFlow graphs, no TensorFlow), and their
expected outputs computed with numpy from the known weights.

The graph is DeepRacer's contract with one small layer of each kind::

    <SENSOR>/<SENSOR> placeholder [?, 120, 160, C], raw 0-255 -> x / 255 -> Conv2D 8x8 stride 8
    (C -> 2 filters, VALID) -> BiasAdd -> Relu -> Reshape [-1, 15*20*2] -> MatMul -> BiasAdd
    -> Softmax (discrete) | Identity (continuous: the raw mean), named .../ppo_head_0/policy
    or .../sac_policy_head_0/policy

built with :class:`racer.export.deepracer.GraphBuilder`. :func:`write_archive` packs any members
(hostile ones too) as a ``.tar.gz``.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from testlib.bundles import CONTINUOUS_SPACE, DISCRETE_ACTIONS

H, W = 120, 160
FILTERS = 2
KERNEL = 8
FLAT = (H // KERNEL) * (W // KERNEL) * FILTERS
PREFIX = "main_level/agent/main/online/network_0"
PPO_OUTPUT = "main_level/agent/main/online/network_1/ppo_head_0/policy"
SAC_OUTPUT = "main_level/agent/policy/online/network_0/sac_policy_head_0/policy"


@dataclass
class Weights:
    """The tiny graph's weights: conv ``[8, 8, C, 2]`` (HWIO) and bias, dense ``[FLAT, K]``
    and bias."""

    conv: np.ndarray
    conv_bias: np.ndarray
    dense: np.ndarray
    dense_bias: np.ndarray

    @classmethod
    def random(cls, channels: int, n_out: int, seed: int = 0, scale: float = 0.2) -> Weights:
        """Random weights (a spread of outputs on random frames)."""
        rng = np.random.default_rng(seed)
        return cls(
            (rng.normal(size=(KERNEL, KERNEL, channels, FILTERS)) * scale).astype(np.float32),
            (rng.normal(size=FILTERS) * 0.1).astype(np.float32),
            (rng.normal(size=(FLAT, n_out)) * scale).astype(np.float32),
            (rng.normal(size=n_out) * 0.1).astype(np.float32),
        )

    @classmethod
    def constant(cls, channels: int, bias: list[float]) -> Weights:
        """Weights whose output is ``bias`` whatever the frame (zero dense weights)."""
        return cls(
            np.zeros((KERNEL, KERNEL, channels, FILTERS), np.float32),
            np.zeros(FILTERS, np.float32),
            np.zeros((FLAT, len(bias)), np.float32),
            np.asarray(bias, np.float32),
        )


def sensor_input(sensor: str) -> str:
    """DeepRacer's placeholder name for a sensor."""
    return f"{PREFIX}/{sensor}/{sensor}"


def graph_bytes(
    weights: Weights,
    head: str = "softmax",
    sensor: str = "FRONT_FACING_CAMERA",
    output: str = PPO_OUTPUT,
) -> bytes:
    """The serialised frozen graph (``agent/model.pb``)."""
    from racer.export.deepracer import GraphBuilder

    channels = weights.conv.shape[2]
    b = GraphBuilder()
    x = b.placeholder(sensor_input(sensor), [None, H, W, channels])
    x = b.mul(x, np.float32(1.0 / 255.0))
    x = b.conv2d(x, weights.conv, strides=(KERNEL, KERNEL))
    x = b.relu(b.bias_add(x, weights.conv_bias))
    x = b.reshape(x, [-1, FLAT])
    x = b.dense(x, weights.dense, weights.dense_bias)
    if head == "softmax":
        b.softmax(x, name=output)
    else:
        b.identity(x, name=output)
    return b.to_bytes()


def reference(weights: Weights, frame_hwc: np.ndarray, head: str = "softmax") -> np.ndarray:
    """The graph's output on one NHWC frame ``(H, W, C)`` of raw 0-255 values, in float64."""
    x = np.asarray(frame_hwc, np.float64) / 255.0
    c = x.shape[2]
    blocks = x.reshape(H // KERNEL, KERNEL, W // KERNEL, KERNEL, c)
    conv = np.einsum("aibjc,ijcf->abf", blocks, weights.conv.astype(np.float64))
    hidden = np.maximum(conv + weights.conv_bias, 0.0).reshape(-1)
    y = hidden @ weights.dense.astype(np.float64) + weights.dense_bias
    if head == "softmax":
        e = np.exp(y - y.max())
        return e / e.sum()
    return y


def model_metadata(
    kind: str = "discrete", sensor: str = "FRONT_FACING_CAMERA", algorithm: str = "clipped_ppo"
) -> dict[str, Any]:
    """A ``model_metadata.json`` as the DeepRacer console writes it."""
    space: Any = DISCRETE_ACTIONS if kind == "discrete" else CONTINUOUS_SPACE
    return {
        "action_space": space,
        "sensor": [sensor],
        "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
        "training_algorithm": algorithm,
        "action_space_type": kind,
        "version": "5",
    }


def write_archive(path: Path, members: list[tuple[Any, bytes | None]]) -> Path:
    """A ``.tar.gz`` of ``members``: ``(name or TarInfo, data)``; a TarInfo with None data is
    written as it is (links, devices, folders)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if isinstance(info, str):
                info = tarfile.TarInfo(info)
                info.size = len(data or b"")
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def metadata_bytes(meta: dict[str, Any]) -> bytes:
    """``model_metadata.json``'s bytes."""
    return (json.dumps(meta, indent=2) + "\n").encode()


def build_archive(
    path: Path,
    kind: str = "discrete",
    weights: Weights | None = None,
    sensor: str = "FRONT_FACING_CAMERA",
    algorithm: str = "clipped_ppo",
    pb_name: str = "agent/model.pb",
) -> Path:
    """A console-style archive: ``model_metadata.json`` and ``agent/model.pb``."""
    channels = 2 if sensor == "STEREO_CAMERAS" else 1
    n_out = len(DISCRETE_ACTIONS) if kind == "discrete" else 2
    weights = weights or Weights.random(channels, n_out)
    head = "softmax" if kind == "discrete" else "identity"
    output = SAC_OUTPUT if algorithm == "sac" else PPO_OUTPUT
    pb = graph_bytes(weights, head, sensor, output)
    meta = metadata_bytes(model_metadata(kind, sensor, algorithm))
    return write_archive(path, [("model_metadata.json", meta), (pb_name, pb)])
