"""The Gymnasium side of DeepRacer's action spaces.

The action space itself (its ``model_metadata.json`` form, checks and the mappings between the
agent's action and steering/speed) is :class:`racer.contract.ActionSpace`. :class:`ActionSpec`
adds what the environment needs: the Gymnasium space the agent acts in, a ``Discrete(n)`` or a
normalised ``Box(-1, 1, (2,))`` (steering, speed), which is what stable-baselines3 expects.
:func:`resolve_action_space` accepts every way a user can name a space.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racer.contract.actions import DEFAULT_DISCRETE, ActionSpace
from racer.contract.car import MAX_SPEED_MPS, MAX_STEERING_DEG, MIN_SPEED_MPS
from racer.errors import ConfigError

__all__ = [
    "DEFAULT_DISCRETE",
    "MAX_SPEED_MPS",
    "MAX_STEERING_DEG",
    "MIN_SPEED_MPS",
    "ActionSpec",
    "resolve_action_space",
]


class ActionSpec(ActionSpace):
    """An action space in DeepRacer's terms (:class:`racer.contract.ActionSpace`), for the env.

    Attributes:
        kind: ``"discrete"`` or ``"continuous"``.
        actions: for discrete, the (steering_deg, speed_mps) pairs in order.
        steering_deg: for continuous, the (low, high) steering range in degrees.
        speed_mps: for continuous, the (low, high) speed range in m/s.
    """

    def gym_space(self) -> gym.Space:
        """The Gymnasium space the agent acts in."""
        if self.kind == "discrete":
            return gym.spaces.Discrete(len(self.actions))
        return gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def resolve_action_space(
    spec: ActionSpace | Mapping[str, Any] | str | Path | None,
) -> ActionSpec:
    """Accept an ActionSpec (or a contract ActionSpace), a model_metadata-style mapping,
    ``"discrete"``/``"continuous"`` (the defaults of that kind), a path to a
    ``model_metadata.json``, or None (the default)."""
    if spec is None:
        return ActionSpec()
    if isinstance(spec, ActionSpec):
        return spec
    if isinstance(spec, ActionSpace):
        return ActionSpec(spec.kind, spec.actions, spec.steering_deg, spec.speed_mps)
    if isinstance(spec, Mapping):
        return ActionSpec.from_model_metadata(spec)
    text = str(spec)
    if text in ("discrete", "continuous"):
        return ActionSpec(kind=text)
    path = Path(text)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: action space file not found") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read action space ({exc})") from None
        return ActionSpec.from_model_metadata(data)
    raise ConfigError(
        f"action space {text!r} is not valid: use 'discrete', 'continuous', a model_metadata.json "
        "path, or a table with action_space / action_space_type"
    )
