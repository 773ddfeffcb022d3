"""What a deploy bundle's ``metadata.json`` says about the model's inputs and outputs.

The file IO, checksums and bounds checks live in :mod:`racer.car.bundle`; this module is the
description both sides share: the writer (``racer.export``) builds these entries, the car and
the evaluator read them.

- ``observation``: one of :data:`BUNDLE_OBSERVATIONS` (what a real car senses).
- ``inputs`` / ``outputs``: one tensor each, ``{"name", "shape", "dtype": "float32"}`` with the
  batch axis first; the input also says its ``range`` (:func:`observation_range`).
- the action space in DeepRacer's ``model_metadata.json`` form (schema version 2, the current
  one): ``"action_space_type": "discrete" | "continuous"`` and ``"action_space"``: a list of
  ``{"steering_angle", "speed"}`` or ``{"steering_angle": {"low", "high"}, "speed": {...}}``.
  Schema version 1 wrote ``"action_space": {"type": ..., "actions": [...]}`` (discrete) or
  ``{"type": ..., "steering_angle": ..., "speed": ...}`` (continuous), without
  ``action_space_type``; :func:`metadata_action_space` reads both.
- ``action_output``: what the network outputs (:data:`ACTION_OUTPUTS`): ``"probabilities"``
  (discrete: softmax over the actions; ``"logits"`` is accepted too, the argmax is the same) or
  ``"normalized"`` (continuous: (steering, speed) in [-1, 1],
  :meth:`racer.contract.actions.ActionSpace.to_command` maps it).
- ``control_hz``: the car's :data:`racer.contract.car.CONTROL_HZ`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from racer.contract.actions import ActionSpace
from racer.contract.observations import CAR_OBSERVATIONS

SCHEMA_VERSION = 2  # metadata.json written now: the action space in DeepRacer's form
LEGACY_SCHEMA_VERSION = 1  # the action space as {"type", "actions"}: still read
SCHEMA_VERSIONS = (LEGACY_SCHEMA_VERSION, SCHEMA_VERSION)  # the versions a reader accepts
BUNDLE_OBSERVATIONS = CAR_OBSERVATIONS  # a bundle's model reads what a real car senses
INPUT_DTYPE = "float32"  # every bundle tensor's dtype
#: The network outputs each kind of action space allows; the first is what racer writes.
ACTION_OUTPUTS: dict[str, tuple[str, ...]] = {
    "discrete": ("probabilities", "logits"),
    "continuous": ("normalized",),
}


def action_output(kind: str) -> str:
    """The ``action_output`` racer writes for a kind of action space."""
    return ACTION_OUTPUTS[kind][0]


def observation_range(observation: str) -> str:
    """The input's ``range`` note: raw frames, or lidar metres."""
    return "metres (lidar ranges)" if observation == "lidar" else "raw 0-255 frames"


def io_entries(
    observation: str,
    input_shape: Sequence[int],
    n_outputs: int,
    input_name: str = "obs",
    output_name: str = "action",
) -> dict[str, Any]:
    """The ``observation``, ``inputs`` and ``outputs`` entries of ``metadata.json``.

    Args:
        observation: one of :data:`BUNDLE_OBSERVATIONS`.
        input_shape: the model input's shape, batch axis first.
        n_outputs: the action vector's length (``ActionSpace.n_outputs``).
        input_name: the model's input tensor name.
        output_name: the model's output tensor name.
    """
    return {
        "observation": observation,
        "inputs": [
            {
                "name": input_name,
                "shape": [int(d) for d in input_shape],
                "dtype": INPUT_DTYPE,
                "range": observation_range(observation),
            }
        ],
        "outputs": [{"name": output_name, "shape": [1, int(n_outputs)], "dtype": INPUT_DTYPE}],
    }


def action_entries(space: ActionSpace) -> dict[str, Any]:
    """The action entries of ``metadata.json``: the space in DeepRacer's form and its decoding."""
    discrete = space.kind == "discrete"
    return {
        **space.to_model_metadata(),
        "action_output": action_output(space.kind),
        "action_mapping": {
            "steering": "steering_angle in degrees, positive = left (counter-clockwise)",
            "speed": "speed in m/s, forward",
            "max_steering_deg": space.max_steering_deg,
            "max_speed_mps": space.max_speed_mps,
            "decode": (
                "argmax of the probabilities indexes action_space"
                if discrete
                else "physical = low + (a + 1) / 2 * (high - low), a clipped to [-1, 1]"
            ),
        },
    }


def legacy_action_space(value: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 ``action_space`` (``{"type", "actions"}`` form) in DeepRacer's form.

    Missing or malformed parts come back as None for the reader's checks to name.
    """
    kind = value.get("type")
    space: Any = None
    if kind == "discrete":
        space = value.get("actions")
    elif kind == "continuous":
        space = {k: v for k, v in value.items() if k in ("steering_angle", "speed")}
    return {"action_space_type": kind, "action_space": space}


def metadata_action_space(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata.json``'s action space as ``{"action_space_type", "action_space"}``.

    Args:
        meta: the parsed ``metadata.json``, schema version 1 or 2.

    Returns:
        The two entries in DeepRacer's form (unchecked: values as the file has them).
    """
    space = meta.get("action_space")
    if meta.get("schema_version") == LEGACY_SCHEMA_VERSION:
        if not isinstance(space, Mapping):
            return {"action_space_type": None, "action_space": None}
        return legacy_action_space(space)
    return {"action_space_type": meta.get("action_space_type"), "action_space": space}


def deepracer_form(value: Mapping[str, Any]) -> dict[str, Any]:
    """An action space given in any bundle form, as ``{"action_space_type", "action_space"}``.

    Args:
        value: a parsed ``metadata.json`` (schema version 1 or 2) or ``model_metadata.json``,
            the two DeepRacer entries alone, or a schema-1 ``action_space`` (``{"type": ...}``).

    Returns:
        The two entries in DeepRacer's form (unchecked: values as given).
    """
    if "type" in value:
        return legacy_action_space(value)
    return metadata_action_space(value)


def bundle_action_space(value: Mapping[str, Any]) -> ActionSpace:
    """An action space in any bundle form (:func:`deepracer_form`) as an :class:`ActionSpace`.

    Raises:
        racer.errors.ConfigError: a malformed space or a value beyond the car's limits
            (:func:`racer.car.bundle.load_bundle` has refused such a bundle already).
    """
    return ActionSpace.from_model_metadata(deepracer_form(value))
