"""A trained run as the model a stock AWS DeepRacer car loads: ``NAME.tar.gz`` with a frozen graph.

The car accepts one thing (``shared/deepracer-format/CAR.md``): a ``.tar.gz`` holding
``model_metadata.json`` at its root and ``agent/model.pb``, a TensorFlow frozen ``GraphDef``
(every weight a ``Const``) with DeepRacer's tensor names. Every load runs OpenVINO's Model
Optimizer on it with no ``--output``, so every sink node becomes an output: the graph holds the
policy head only.

This module writes that graph without TensorFlow, with the protobuf classes that ship inside
``tensorboard`` (``tensorboard.compat.proto``):

- :class:`GraphBuilder`: a small builder of frozen graphs (placeholder, constants and the ops
  the car's converter understands), reusable by tests that need a DeepRacer-style graph;
- :func:`policy_graph`: a run's trained torch policy mirrored op for op (see its docstring for
  the mapping of each layer);
- :func:`check_car_compatible`: the one-line refusals of what the car cannot run;
- :func:`check_parity`: the graph read back with OpenVINO's TensorFlow front end (no TensorFlow
  needed), in FP32 against the torch policy and in FP16 as the car converts it;
- :func:`write_deepracer_archive`: the archive, byte-for-byte deterministic, written atomically.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.errors import ConfigError
from racer.export.errors import ExportError

if TYPE_CHECKING:
    from tensorboard.compat.proto import graph_pb2

    from racer.train.run_folder import TrainedPolicy

#: The input placeholder of each observation: DeepRacer's names.
INPUT_NAMES = {
    "camera": "main_level/agent/main/online/network_0/FRONT_FACING_CAMERA/FRONT_FACING_CAMERA",
    "stereo": "main_level/agent/main/online/network_0/STEREO_CAMERAS/STEREO_CAMERAS",
}
#: The output node of each algorithm: DeepRacer's names.
OUTPUT_NAMES = {
    "ppo": "main_level/agent/main/online/network_1/ppo_head_0/policy",
    "sac": "main_level/agent/policy/online/network_0/sac_policy_head_0/policy",
}
MODEL_PB = "agent/model.pb"  # the frozen graph's path inside the archive
MODEL_METADATA = "model_metadata.json"  # DeepRacer's model description, at the archive root
ARCHIVE_MTIME = 0  # every tar member's mtime and the gzip header's: deterministic bytes
#: The sensors and algorithms the car's loader accepts in ``model_metadata.json``.
CAR_SENSORS = frozenset(
    {"FRONT_FACING_CAMERA", "STEREO_CAMERAS", "LEFT_CAMERA", "LIDAR", "SECTOR_LIDAR", "observation"}
)
CAR_ALGORITHMS = frozenset({"clipped_ppo", "sac"})
#: A GraphDef version every TensorFlow 1.x and 2.x loads (their oldest accepted producer is 0);
#: none of the ops written here changed meaning since.
GRAPH_PRODUCER = 27
#: Ops the car's converter (TensorFlow 2.4 / Model Optimizer 2021.1) is known to take.
SAFE_OPS = frozenset(
    {
        "Placeholder",
        "Const",
        "Conv2D",
        "BiasAdd",
        "Relu",
        "Reshape",
        "MatMul",
        "Add",
        "Mul",
        "Softmax",
        "Identity",
    }
)
#: Standard TensorFlow ops outside :data:`SAFE_OPS` that Model Optimizer 2021.1 also converts;
#: a graph uses them only when the torch network needs them (Tanh: PPO's default MLP activation;
#: Pad: a convolution with padding; Maximum/Minimum: the clip of observation normalisation).
EXTRA_OPS = frozenset({"Tanh", "Pad", "Maximum", "Minimum"})


def _proto() -> Any:
    """``tensorboard.compat.proto``'s modules, imported on first use."""
    try:
        from tensorboard.compat.proto import (
            attr_value_pb2,
            graph_pb2,
            node_def_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
            versions_pb2,
        )
    except ImportError:  # pragma: no cover - a dependency of racer
        from racer.errors import MissingDependencyError

        raise MissingDependencyError(
            "writing a DeepRacer model needs tensorboard's protobuf classes: pip install tensorboard"
        ) from None

    class _P:
        attr = attr_value_pb2
        graph = graph_pb2
        node = node_def_pb2
        tensor = tensor_pb2
        shape = tensor_shape_pb2
        types = types_pb2
        versions = versions_pb2

    return _P


#: What an op method takes as a tensor: a node name, or an array / number added as a ``Const``.
Operand = str | np.ndarray | float | np.floating[Any]
_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int32): 3}  # numpy -> TensorFlow DataType enum


class GraphBuilder:
    """Builds a TensorFlow frozen ``GraphDef`` op by op, without TensorFlow.

    Each op method adds one node and returns its name, which later ops take as an input (a
    node's first output). Weights are ``Const`` nodes; a method given a numpy array where a
    tensor is expected adds the constant itself (named ``<node>/<role>``). Every float tensor is
    float32, convolutions are NHWC, names are used as given (a duplicate raises ``ValueError``)
    or generated (``<op>``, ``<op>_1``, ...).

    Example, a one-layer DeepRacer-style discrete policy::

        b = GraphBuilder()
        x = b.placeholder(INPUT_NAMES["camera"], [None, 120, 160, 1])
        x = b.mul(x, np.float32(1 / 255))
        w = np.zeros((8, 8, 1, 4), np.float32)                 # HWIO
        x = b.relu(b.bias_add(b.conv2d(x, w, strides=(4, 4)), np.zeros(4, np.float32)))
        x = b.reshape(x, [-1, 29 * 39 * 4])
        x = b.dense(x, np.zeros((29 * 39 * 4, 3), np.float32), np.zeros(3, np.float32))
        b.softmax(x, name=OUTPUT_NAMES["ppo"])
        Path("model.pb").write_bytes(b.to_bytes())
    """

    def __init__(self) -> None:
        self._p = _proto()
        self._graph = self._p.graph.GraphDef()
        self._graph.versions.producer = GRAPH_PRODUCER
        self._names: set[str] = set()

    # --- the graph -----------------------------------------------------------------------
    @property
    def graph_def(self) -> graph_pb2.GraphDef:
        """The ``GraphDef`` built so far (the builder's own object: copy it to keep it)."""
        return self._graph

    def to_bytes(self) -> bytes:
        """The serialised ``GraphDef`` (what ``agent/model.pb`` holds); deterministic bytes."""
        return bytes(self._graph.SerializeToString(deterministic=True))

    def op_types(self) -> set[str]:
        """The op types the graph uses."""
        return {n.op for n in self._graph.node}

    # --- the generic node ----------------------------------------------------------------
    def node(
        self, op: str, inputs: Sequence[str], attrs: dict[str, Any], name: str | None = None
    ) -> str:
        """Add a node of any op type.

        Args:
            op: the TensorFlow op type (``"Conv2D"``).
            inputs: the input node names, in the op's order.
            attrs: attribute name -> ``AttrValue`` (see :meth:`attr`).
            name: the node name (generated from ``op`` when None).

        Returns:
            The node name.
        """
        name = self._unique(name, op)
        node = self._graph.node.add()
        node.name = name
        node.op = op
        node.input.extend(inputs)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        return name

    def attr(self, value: Any) -> Any:
        """An ``AttrValue``: ``bool``, ``int``, ``str`` (bytes), a list of ints, or a numpy
        dtype (a ``type`` attribute)."""
        a = self._p.attr.AttrValue()
        if isinstance(value, bool):
            a.b = value
        elif isinstance(value, int):
            a.i = value
        elif isinstance(value, str):
            a.s = value.encode("ascii")
        elif isinstance(value, list | tuple):
            a.list.i.extend(int(v) for v in value)
        else:
            a.type = _dtype_enum(value)
        return a

    def _unique(self, name: str | None, op: str) -> str:
        if name is not None:
            if name in self._names:
                raise ValueError(f"node name {name!r} is already in the graph")
            self._names.add(name)
            return name
        base, i = op.lower(), 0
        candidate = base
        while candidate in self._names:
            i += 1
            candidate = f"{base}_{i}"
        self._names.add(candidate)
        return candidate

    def _tensor(self, value: Operand, owner: str, role: str) -> str:
        """A node name as it is, or an array (a float: float32 scalar) added as a constant."""
        if isinstance(value, str):
            return value
        return self.const(np.asarray(value), name=f"{owner}/{role}")

    def _float(self) -> Any:
        return self.attr(np.dtype(np.float32))

    # --- inputs and constants ------------------------------------------------------------
    def placeholder(self, name: str, shape: Sequence[int | None], dtype: Any = np.float32) -> str:
        """An input: ``Placeholder`` of ``shape`` (None or -1 for an unknown size)."""
        shape_proto = self._p.shape.TensorShapeProto()
        for d in shape:
            shape_proto.dim.add().size = -1 if d is None else int(d)
        shape_attr = self._p.attr.AttrValue()
        shape_attr.shape.CopyFrom(shape_proto)
        return self.node(
            "Placeholder", [], {"dtype": self.attr(np.dtype(dtype)), "shape": shape_attr}, name
        )

    def const(self, value: np.ndarray | float | Sequence[int], name: str | None = None) -> str:
        """A ``Const``: a float array is stored as float32, an integer one as int32."""
        arr = np.asarray(value)
        arr = arr.astype(np.int32 if arr.dtype.kind in "iu" else np.float32)
        tensor = self._p.tensor.TensorProto()
        tensor.dtype = _dtype_enum(arr.dtype)
        for d in arr.shape:
            tensor.tensor_shape.dim.add().size = int(d)
        if arr.ndim == 0:  # a scalar in its typed field, as TensorFlow writes one (OpenVINO's
            # TensorFlow front end reads a scalar's tensor_content as zero)
            if arr.dtype == np.int32:
                tensor.int_val.append(int(arr))
            else:
                tensor.float_val.append(float(arr))
        else:
            tensor.tensor_content = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        value_attr = self._p.attr.AttrValue()
        value_attr.tensor.CopyFrom(tensor)
        return self.node("Const", [], {"dtype": self.attr(arr.dtype), "value": value_attr}, name)

    # --- layers --------------------------------------------------------------------------
    def conv2d(
        self,
        x: str,
        filters_hwio: str | np.ndarray,
        strides: tuple[int, int] = (1, 1),
        padding: str = "VALID",
        name: str | None = None,
    ) -> str:
        """``Conv2D``, NHWC, filters ``[height, width, in, out]``, ``"VALID"`` or ``"SAME"``."""
        name = self._unique(name, "Conv2D")
        self._names.discard(name)  # claimed again by node() below
        w = self._tensor(filters_hwio, name, "filters")
        attrs = {
            "T": self._float(),
            "strides": self.attr([1, int(strides[0]), int(strides[1]), 1]),
            "padding": self.attr(padding),
            "data_format": self.attr("NHWC"),
            "dilations": self.attr([1, 1, 1, 1]),
            "use_cudnn_on_gpu": self.attr(True),
        }
        return self.node("Conv2D", [x, w], attrs, name)

    def bias_add(self, x: str, bias: str | np.ndarray, name: str | None = None) -> str:
        """``BiasAdd`` over the last (channel) axis."""
        return self._binary("BiasAdd", x, bias, name, {"data_format": self.attr("NHWC")}, "bias")

    def matmul(self, x: str, weights: str | np.ndarray, name: str | None = None) -> str:
        """``MatMul`` of ``x`` ``[batch, in]`` by ``weights`` ``[in, out]``."""
        extra = {"transpose_a": self.attr(False), "transpose_b": self.attr(False)}
        return self._binary("MatMul", x, weights, name, extra, "weights")

    def dense(self, x: str, weights: np.ndarray, bias: np.ndarray, name: str | None = None) -> str:
        """A dense layer: ``MatMul`` by ``weights`` ``[in, out]`` then ``BiasAdd``.

        ``name`` names the ``BiasAdd`` (the layer's output); the ``MatMul`` is ``<name>/MatMul``.
        """
        out = self._unique(name, "BiasAdd")
        self._names.discard(out)
        return self.bias_add(self.matmul(x, weights, name=f"{out}/MatMul"), bias, name=out)

    def add(self, x: str, y: Operand, name: str | None = None) -> str:
        """``Add`` (broadcasting)."""
        return self._binary("Add", x, y, name, {}, "y")

    def mul(self, x: str, y: Operand, name: str | None = None) -> str:
        """``Mul`` (broadcasting)."""
        return self._binary("Mul", x, y, name, {}, "y")

    def maximum(self, x: str, y: Operand, name: str | None = None) -> str:
        """``Maximum`` (broadcasting)."""
        return self._binary("Maximum", x, y, name, {}, "y")

    def minimum(self, x: str, y: Operand, name: str | None = None) -> str:
        """``Minimum`` (broadcasting)."""
        return self._binary("Minimum", x, y, name, {}, "y")

    def reshape(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        """``Reshape`` to ``shape`` (int32; one -1 for the inferred size)."""
        extra = {"Tshape": self.attr(np.dtype(np.int32))}
        return self._binary("Reshape", x, np.asarray(shape, np.int32), name, extra, "shape")

    def pad(self, x: str, paddings: Sequence[tuple[int, int]], name: str | None = None) -> str:
        """``Pad`` with zeros: ``paddings`` is ``(before, after)`` per axis (NHWC: four)."""
        extra = {"Tpaddings": self.attr(np.dtype(np.int32))}
        return self._binary("Pad", x, np.asarray(paddings, np.int32), name, extra, "paddings")

    def relu(self, x: str, name: str | None = None) -> str:
        """``Relu``."""
        return self.node("Relu", [x], {"T": self._float()}, name)

    def tanh(self, x: str, name: str | None = None) -> str:
        """``Tanh``."""
        return self.node("Tanh", [x], {"T": self._float()}, name)

    def softmax(self, x: str, name: str | None = None) -> str:
        """``Softmax`` over the last axis."""
        return self.node("Softmax", [x], {"T": self._float()}, name)

    def identity(self, x: str, name: str | None = None) -> str:
        """``Identity``."""
        return self.node("Identity", [x], {"T": self._float()}, name)

    def _binary(
        self,
        op: str,
        x: str,
        y: Operand,
        name: str | None,
        extra: dict[str, Any],
        role: str,
    ) -> str:
        name = self._unique(name, op)
        self._names.discard(name)  # claimed again by node() below
        other = self._tensor(y, name, role)
        return self.node(op, [x, other], {"T": self._float(), **extra}, name)


def _dtype_enum(dtype: Any) -> int:
    try:
        return _DTYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"dtype {dtype} is not supported (float32 or int32)") from None


# --- the trained policy as a graph -----------------------------------------------------------
@dataclass(frozen=True)
class DeepRacerGraph:
    """A policy's frozen graph and what the car reads of it.

    Attributes:
        graph: the serialised ``GraphDef`` (``agent/model.pb``).
        input_name: the ``Placeholder``'s name.
        input_shape: NHWC, batch first (None: any batch).
        output_name: the output node's name.
        n_outputs: values per input (actions, or 2 for continuous).
        ops: the op types the graph uses.
    """

    graph: bytes
    input_name: str
    input_shape: tuple[int | None, ...]
    output_name: str
    n_outputs: int
    ops: frozenset[str]


def check_car_compatible(trained: TrainedPolicy) -> None:
    """Refuse, in one line, a run a stock DeepRacer car cannot run.

    The car feeds the network 120x160 gray frames (one camera, or two for stereo) and nothing
    else: a ``state`` or lidar-only observation, stacked frames or another frame size cannot
    run. Its loader checks ``model_metadata.json`` (sensor, algorithm, every action with a
    steering angle and a speed, a continuous range with high > low) and the car's limits apply
    to every action (``racer.contract``).

    Raises:
        ExportError: what the car cannot run, and what to train instead.
    """
    from racer.contract.actions import ActionSpace
    from racer.contract.observations import OBSERVATION_BY_NAME

    run = trained.run_dir
    observation = trained.observation
    if observation not in INPUT_NAMES:
        what = (
            "a lidar-only policy (the car's lidar models also read the camera)"
            if observation == "lidar"
            else f"a {observation!r} policy"
        )
        raise ExportError(
            f"{run}: {what} cannot run on a DeepRacer car; train with observation = 'camera' "
            "or 'stereo' to export with --deepracer"
        )
    expected = OBSERVATION_BY_NAME[observation].shape
    if trained.obs_shape != expected:
        raise ExportError(
            f"{run}: the policy reads observations of shape {trained.obs_shape}, the car feeds "
            f"{observation} frames of {expected} (channels, height, width) and stacks no frames; "
            "train with the default camera settings to export with --deepracer"
        )
    if trained.algorithm not in OUTPUT_NAMES:
        raise ExportError(f"{run}: algorithm {trained.algorithm!r} has no DeepRacer model form")
    meta = deepracer_metadata(trained)
    try:
        ActionSpace.from_model_metadata(meta)
    except ConfigError as exc:
        raise ExportError(f"{run}: the car would reject the action space: {exc}") from None
    problems = metadata_problems(meta)
    if problems:
        raise ExportError(f"{run}: the car would reject model_metadata.json: {problems[0]}")


def metadata_problems(meta: dict[str, Any]) -> list[str]:
    """What the car's loader rejects in ``model_metadata.json`` (CAR.md), one line each."""
    out = []
    sensors = meta.get("sensor")
    if not isinstance(sensors, list) or not sensors or set(sensors) - CAR_SENSORS:
        out.append(f"sensor {sensors!r} is not a list of {sorted(CAR_SENSORS)}")
    if meta.get("training_algorithm") not in CAR_ALGORITHMS:
        out.append(
            f"training_algorithm {meta.get('training_algorithm')!r} is not one of "
            f"{sorted(CAR_ALGORITHMS)}"
        )
    kind = meta.get("action_space_type")
    space = meta.get("action_space")
    if kind == "discrete":
        if (
            not isinstance(space, list)
            or not space
            or not all(
                isinstance(a, dict) and "steering_angle" in a and "speed" in a for a in space
            )
        ):
            out.append("a discrete action_space needs a list of {steering_angle, speed}")
    elif kind == "continuous":
        ok = isinstance(space, dict) and all(
            isinstance(space.get(k), dict)
            and {"low", "high"} <= set(space[k])
            and float(space[k]["high"]) > float(space[k]["low"])
            for k in ("steering_angle", "speed")
        )
        if not ok:
            out.append("a continuous action_space needs steering_angle and speed with high > low")
    else:
        out.append(f"action_space_type {kind!r} is not 'discrete' or 'continuous'")
    return out


def deepracer_metadata(trained: TrainedPolicy) -> dict[str, Any]:
    """``model_metadata.json`` in DeepRacer's form: the run's own file, else rebuilt from its
    recipe; the action space always from the policy's recipe (what the network was trained on)."""
    from racer.train.run_folder import RunFolder

    data = RunFolder(trained.run_dir).model_metadata()
    if data is None:
        from racer.train.pipeline import model_metadata

        data = model_metadata(trained.config)
    return {**data, **trained.action_spec.to_model_metadata()}


def policy_graph(trained: TrainedPolicy) -> DeepRacerGraph:
    """The trained policy as a DeepRacer frozen graph, op for op what PolicyGraph computes.

    ========================================  =================================================
    torch (``PolicyGraph``)                   TensorFlow graph
    ========================================  =================================================
    raw frames ``(N, C, 120, 160)`` uint8     ``Placeholder`` NHWC ``[?, 120, 160, C]`` float32
    VecNormalize ``clip((x - m) / s, +-c)``   ``Add(-m)``, ``Mul(1/s)``, ``Maximum``,
                                              ``Minimum`` (statistics permuted to HWC)
    SB3 ``preprocess_obs``: ``x / 255``       ``Mul(1/255)``
    ``Conv2d`` OIHW, padding p                ``Pad`` (only when p > 0), ``Conv2D`` VALID with
                                              the filters as HWIO, ``BiasAdd``
    ``ReLU`` / ``Tanh``                       ``Relu`` / ``Tanh``
    ``Flatten`` (C, H, W order)               ``Reshape [-1, H*W*C]`` (H, W, C order); the next
                                              ``Linear``'s input columns are permuted to match,
                                              so no ``Transpose`` is needed
    ``Linear`` ``y = x W^T + b``              ``MatMul`` by ``W^T``, ``BiasAdd``
    discrete: ``softmax(logits)``             ``Softmax`` named ``.../ppo_head_0/policy``
    PPO continuous: the Gaussian mean         the last ``BiasAdd``, named ``.../policy``
    SAC: the pre-tanh mean                    the last ``BiasAdd``, ``.../sac_policy_head_0/
                                              policy`` (the car clamps each value to [-1, 1])
    ========================================  =================================================

    Raises:
        ExportError: a layer with no mapping (a custom features extractor, grouped or dilated
            convolutions, gSDE).
    """
    from torch import nn

    check_car_compatible(trained)
    policy = trained.model.policy
    if trained.algorithm == "sac":
        actor = policy.actor
        if getattr(actor, "use_sde", False):
            raise ExportError(f"{trained.run_dir}: a gSDE SAC policy has no DeepRacer model form")
        extractor, latent, head = actor.features_extractor, actor.latent_pi, actor.mu
    else:
        extractor = policy.pi_features_extractor
        latent, head = policy.mlp_extractor.policy_net, policy.action_net
    if not (hasattr(extractor, "cnn") and hasattr(extractor, "linear")):  # ShallowCNN, NatureCNN
        raise ExportError(
            f"{trained.run_dir}: features extractor {type(extractor).__name__} has no DeepRacer "
            "mapping; train with algorithm.network = 'shallow_cnn' or 'nature_cnn'"
        )
    layers = [
        *_children(extractor.cnn),
        *_children(extractor.linear),  # both extractors' forward: linear(cnn(x))
        *_children(latent),
        head,
    ]

    channels, height, width = trained.obs_shape
    b = GraphBuilder()
    input_name = INPUT_NAMES[trained.observation]
    output_name = OUTPUT_NAMES[trained.algorithm]
    x = b.placeholder(input_name, [None, height, width, channels])
    scope = output_name.rsplit("/", 1)[0]
    if trained.obs_norm is not None:
        norm = trained.obs_norm
        mean = np.asarray(norm.mean, np.float32).transpose(1, 2, 0)
        std = np.sqrt(norm.var + norm.epsilon).astype(np.float32).transpose(1, 2, 0)
        x = b.add(x, -mean, name=f"{scope}/normalize/sub_mean")
        x = b.mul(x, (1.0 / std).astype(np.float32), name=f"{scope}/normalize/div_std")
        x = b.maximum(x, np.float32(-norm.clip), name=f"{scope}/normalize/clip_low")
        x = b.minimum(x, np.float32(norm.clip), name=f"{scope}/normalize/clip_high")
    if getattr(policy, "normalize_images", True):
        x = b.mul(x, np.float32(1.0 / 255.0), name=f"{scope}/scale")

    hwc: tuple[int, int, int] | None = (height, width, channels)  # None once flat
    flat_from: tuple[int, int, int] | None = None  # (H, W, C) of a Flatten the next Linear reads
    n_features = 0
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        name = f"{scope}/layer_{i}"
        final = output_name if i == last and not trained.discrete else None
        if isinstance(layer, nn.Conv2d):
            if hwc is None:
                raise ExportError(f"{trained.run_dir}: a Conv2d after Flatten has no mapping")
            hwc = _conv(b, layer, x, hwc, name, trained)
            x = f"{name}/BiasAdd" if layer.bias is not None else f"{name}/Conv2D"
        elif isinstance(layer, nn.ReLU):
            x = b.relu(x, name=f"{name}/Relu")
        elif isinstance(layer, nn.Tanh):
            x = b.tanh(x, name=f"{name}/Tanh")  # PPO's default MLP activation
        elif isinstance(layer, nn.Flatten):
            if hwc is None:
                continue
            flat_from = hwc
            n_features = hwc[0] * hwc[1] * hwc[2]
            x = b.reshape(x, [-1, n_features], name=f"{name}/Reshape")
            hwc = None
        elif isinstance(layer, nn.Linear):
            if hwc is not None:
                raise ExportError(f"{trained.run_dir}: a Linear before Flatten has no mapping")
            w = layer.weight.detach().cpu().numpy().astype(np.float32)  # (out, in)
            if flat_from is not None:  # columns in torch's (C, H, W) order -> (H, W, C) rows
                h, wd, c = flat_from
                w_in_out = w.reshape(-1, c, h, wd).transpose(2, 3, 1, 0).reshape(h * wd * c, -1)
                flat_from = None
            else:
                w_in_out = w.T
            bias = (
                layer.bias.detach().cpu().numpy().astype(np.float32)
                if layer.bias is not None
                else np.zeros(w.shape[0], np.float32)
            )
            x = b.dense(x, np.ascontiguousarray(w_in_out), bias, name=final or f"{name}/BiasAdd")
            n_features = w.shape[0]
        else:
            raise ExportError(
                f"{trained.run_dir}: layer {type(layer).__name__} has no DeepRacer mapping"
            )
    if trained.discrete:
        x = b.softmax(x, name=output_name)
    return DeepRacerGraph(
        graph=b.to_bytes(),
        input_name=input_name,
        input_shape=(None, height, width, channels),
        output_name=output_name,
        n_outputs=n_features,
        ops=frozenset(b.op_types()),
    )


def _children(module: Any) -> list[Any]:
    """A module's layers in order (a ``Sequential``'s children, or the module itself)."""
    from torch import nn

    return list(module) if isinstance(module, nn.Sequential) else [module]


def _conv(
    b: GraphBuilder,
    layer: Any,
    x: str,
    hwc: tuple[int, int, int],
    name: str,
    trained: TrainedPolicy,
) -> tuple[int, int, int]:
    """Add one ``Conv2d`` (``[Pad], Conv2D, BiasAdd``); returns the output (H, W, C)."""
    pad = layer.padding
    if (
        layer.groups != 1
        or tuple(layer.dilation) != (1, 1)
        or isinstance(pad, str)
        or layer.padding_mode != "zeros"
    ):
        raise ExportError(
            f"{trained.run_dir}: a grouped, dilated or non-zero-padded Conv2d has no DeepRacer "
            "mapping"
        )
    h, w, _ = hwc
    ph, pw = int(pad[0]), int(pad[1])
    if ph or pw:  # torch pads symmetrically; Pad is a standard TF op MO 2021.1 converts
        x = b.pad(x, [(0, 0), (ph, ph), (pw, pw), (0, 0)], name=f"{name}/Pad")
        h, w = h + 2 * ph, w + 2 * pw
    kh, kw = (int(k) for k in layer.kernel_size)
    sh, sw = (int(s) for s in layer.stride)
    filters = layer.weight.detach().cpu().numpy().astype(np.float32).transpose(2, 3, 1, 0)
    out = b.conv2d(x, np.ascontiguousarray(filters), (sh, sw), "VALID", name=f"{name}/Conv2D")
    if layer.bias is not None:
        b.bias_add(out, layer.bias.detach().cpu().numpy().astype(np.float32), f"{name}/BiasAdd")
    # VALID: ceil((n - k + 1) / s) == floor((n - k) / s) + 1, torch's output size
    return (h - kh) // sh + 1, (w - kw) // sw + 1, int(layer.out_channels)


# --- reading it back: parity through OpenVINO's TensorFlow front end --------------------------
def run_openvino(
    pb_path: str | Path, frames_nhwc: np.ndarray, *, fp16: bool = False, input_name: str
) -> np.ndarray:
    """Run a frozen graph with OpenVINO, one frame at a time (batch 1, as on the car).

    The graph is converted as the car converts it: the input fixed to ``[1, H, W, C]``, and for
    ``fp16`` the weights compressed to FP16 (what ``--data_type FP16`` writes), saved as IR and
    read back. The CPU runs it with ``f32`` inference precision and one thread.

    Args:
        pb_path: the ``.pb``.
        frames_nhwc: ``(N, H, W, C)`` float32, raw 0-255.
        fp16: compress the weights to FP16.
        input_name: the input placeholder's name.

    Returns:
        ``(N, n_outputs)`` float32.
    """
    import openvino as ov

    shape = [1, *(int(d) for d in frames_nhwc.shape[1:])]
    model = ov.convert_model(str(pb_path), input=(f"{input_name}:0", shape))
    core = ov.Core()
    if fp16:
        with tempfile.TemporaryDirectory(prefix="racer-deepracer-ir.") as tmp:
            xml = Path(tmp) / "model.xml"
            ov.save_model(model, str(xml), compress_to_fp16=True)
            model = core.read_model(str(xml))
            compiled = _compile(core, model)
    else:
        compiled = _compile(core, model)
    request = compiled.create_infer_request()
    output = compiled.output(0)
    outs = [
        np.array(request.infer({0: np.ascontiguousarray(f[None], np.float32)})[output]).reshape(-1)
        for f in frames_nhwc
    ]
    return np.stack(outs).astype(np.float32)


def _compile(core: Any, model: Any) -> Any:
    return core.compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    )


def reference_head(trained: TrainedPolicy, observations: np.ndarray) -> np.ndarray:
    """What the DeepRacer graph must output, from the torch policy (:class:`PolicyGraph` with
    ``raw_mean``): probabilities (discrete) or the unclipped / pre-tanh mean (continuous).

    Args:
        trained: the policy.
        observations: ``(N, C, H, W)`` raw observations.
    """
    import torch

    from racer.export.policy import PolicyGraph

    graph = PolicyGraph(trained, raw_mean=True)
    with torch.no_grad():
        return graph(torch.as_tensor(np.asarray(observations, np.float32))).numpy()


def check_parity(
    trained: TrainedPolicy,
    drg: DeepRacerGraph,
    observations: np.ndarray,
    expected: np.ndarray | None = None,
) -> list[Any]:
    """The graph against the torch policy, read back by OpenVINO in FP32 and FP16.

    FP32 (``deepracer_fp32``): max |diff| within ``parity.FP32_TOLERANCE`` and the same action
    everywhere. FP16 weights, the car's conversion (``deepracer_fp16``): within
    ``parity.FP16_TOLERANCE`` and the same discrete action on ``parity.FP16_MIN_AGREEMENT`` of
    the frames; continuous outputs are compared clamped to [-1, 1], as the car drives them.

    Args:
        trained: the policy.
        drg: its graph.
        observations: ``(N, C, H, W)`` raw observations (the recorded frames).
        expected: :func:`reference_head` of them, when already computed.

    Returns:
        The two :class:`racer.export.parity.EngineParity`.
    """
    from racer.export import parity

    obs = np.asarray(observations, np.float32)
    ref = reference_head(trained, obs) if expected is None else expected
    frames = obs.transpose(0, 2, 3, 1)  # the car's layout: NHWC, 0-255
    with tempfile.TemporaryDirectory(prefix="racer-deepracer.") as tmp:
        pb = Path(tmp) / "model.pb"
        pb.write_bytes(drg.graph)
        fp32 = run_openvino(pb, frames, input_name=drg.input_name)
        fp16 = run_openvino(pb, frames, fp16=True, input_name=drg.input_name)
    if not trained.discrete:
        ref16, fp16 = np.clip(ref, -1.0, 1.0), np.clip(fp16, -1.0, 1.0)
    else:
        ref16 = ref
    return [
        parity.compare("deepracer_fp32", ref, fp32, trained.discrete, parity.FP32_TOLERANCE),
        parity.compare(
            "deepracer_fp16",
            ref16,
            fp16,
            trained.discrete,
            parity.FP16_TOLERANCE,
            parity.FP16_MIN_AGREEMENT,
        ),
    ]


# --- the archive ---------------------------------------------------------------------------
def model_name(name: str) -> str:
    """A name the car keeps whole: letters, digits, ``_`` and ``-``; anything else (spaces,
    dots: the car cuts the name at the first ``.``) becomes ``_``."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return safe or "model"


def check_archive_path(path: str | Path) -> Path:
    """``path`` when its file name is ``NAME.tar.gz`` with a car-safe NAME (:func:`model_name`).

    Raises:
        ExportError: another name, with the name to use instead.
    """
    path = Path(path)
    stem = path.name.removesuffix(".tar.gz")
    if not path.name.endswith(".tar.gz") or not stem or model_name(stem) != stem:
        raise ExportError(
            f"{path}: a DeepRacer model is NAME.tar.gz with NAME of letters, digits, '_' and "
            f"'-' only (the car cuts the name at the first '.'); try {model_name(stem)}.tar.gz"
        )
    return path


def archive_bytes(model_pb: bytes, metadata: dict[str, Any]) -> bytes:
    """The car's ``.tar.gz``: ``model_metadata.json`` and ``agent/model.pb``, nothing else.

    Deterministic: fixed member order, mtimes (``ARCHIVE_MTIME``), owner (root, numeric 0, no
    names), mode 0644, and a gzip header with mtime 0 and no file name.
    """
    members = [
        (MODEL_METADATA, (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()),
        (MODEL_PB, model_pb),
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=ARCHIVE_MTIME) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_deepracer_archive(
    trained: TrainedPolicy, out_path: str | Path, graph: DeepRacerGraph | None = None
) -> DeepRacerGraph:
    """Write the car's ``NAME.tar.gz`` for a trained run, atomically.

    Args:
        trained: the policy (refused in one line when the car cannot run it).
        out_path: the archive; its name up to the first ``.`` is the model's name on the car.
        graph: the policy's graph when already built (:func:`policy_graph`).

    Returns:
        The graph written.

    Raises:
        ExportError: the car cannot run the policy, or ``out_path`` is not ``NAME.tar.gz``.
        DiskFullError: the disk filled up (nothing was written).
    """
    from racer.util.files import atomic_write_bytes

    path = check_archive_path(out_path)
    drg = graph if graph is not None else policy_graph(trained)
    atomic_write_bytes(path, archive_bytes(drg.graph, deepracer_metadata(trained)), mode=0o644)
    return drg


# --- the export step ---------------------------------------------------------------------------
@dataclass
class DeepRacerExport:
    """What ``racer export --deepracer`` wrote and measured for the car.

    Attributes:
        archive: the car's ``NAME.tar.gz``.
        pb_bytes: the size of ``agent/model.pb``, bytes.
        graph: the graph written (names, shapes, ops).
        parity: FP32 and FP16 parity through OpenVINO's TensorFlow front end.
        wall_s: time the step took (graph, parity, archive), seconds.
    """

    archive: Path
    pb_bytes: int
    graph: DeepRacerGraph
    parity: list[Any]
    wall_s: float = 0.0

    def summary(self) -> str:
        """A few lines for humans."""
        lines = [p.summary() for p in self.parity]
        ops = ", ".join(sorted(self.graph.ops))
        hwc = ",".join(str(d) for d in self.graph.input_shape[1:])
        lines.append(f"deepracer graph: {ops}")
        lines.append(f"deepracer input  {self.graph.input_name} [?,{hwc}] float32 0-255")
        lines.append(f"deepracer output {self.graph.output_name} [?,{self.graph.n_outputs}]")
        lines.append(f"deepracer {self.archive} (model.pb {self.pb_bytes / 1e6:.2f} MB)")
        return "\n".join(lines)


def default_archive(bundle_dir: Path, run_dir: Path) -> Path:
    """``<bundle folder's parent>/deepracer/<run name>.tar.gz`` (the name made car-safe)."""
    return bundle_dir.parent / "deepracer" / f"{model_name(run_dir.resolve().name)}.tar.gz"
