"""Action spaces defined the way DeepRacer's ``model_metadata.json`` defines them.

A discrete space is a list of (steering_angle, speed) pairs, in degrees (positive = left) and
metres per second. A continuous space is a range for each. The Gymnasium side sees a
``Discrete(n)`` or a normalised ``Box(-1, 1, (2,))`` (steering, speed), which is what
stable-baselines3 expects; :meth:`ActionSpec.to_command` maps either to physical units.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racer.errors import ConfigError

MAX_STEERING_DEG = 30.0  # the car's steering lock, DeepRacer's limit
MIN_SPEED_MPS = 0.1  # DeepRacer's lowest speed setting
MAX_SPEED_MPS = 4.0  # DeepRacer's highest speed setting

#: The default discrete list: five steering angles at two speeds. Fast enough to lap a
#: DeepRacer-size track in ~15 s, slow enough for the hairpins of the built-in tracks.
DEFAULT_DISCRETE: tuple[tuple[float, float], ...] = tuple(
    (steer, speed) for steer in (-30.0, -15.0, 0.0, 15.0, 30.0) for speed in (1.0, 2.0)
)


@dataclass(frozen=True)
class ActionSpec:
    """An action space in DeepRacer's terms.

    Attributes:
        kind: ``"discrete"`` or ``"continuous"``.
        actions: for discrete, the (steering_deg, speed_mps) pairs in order.
        steering_deg: for continuous, the (low, high) steering range in degrees.
        speed_mps: for continuous, the (low, high) speed range in m/s.
    """

    kind: str = "discrete"
    actions: tuple[tuple[float, float], ...] = DEFAULT_DISCRETE
    steering_deg: tuple[float, float] = (-MAX_STEERING_DEG, MAX_STEERING_DEG)
    speed_mps: tuple[float, float] = (0.5, 2.0)
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("discrete", "continuous"):
            raise ConfigError(
                f"action space type {self.kind!r} is not valid: use 'discrete' or 'continuous'"
            )
        if self.kind == "discrete":
            if not self.actions:
                raise ConfigError("a discrete action space needs at least one action")
            for steer, speed in self.actions:
                _check_steer_speed(steer, speed)
        else:
            lo, hi = self.steering_deg
            if not (-MAX_STEERING_DEG <= lo < hi <= MAX_STEERING_DEG):
                raise ConfigError(
                    f"continuous steering range {self.steering_deg} must satisfy "
                    f"-{MAX_STEERING_DEG:g} <= low < high <= {MAX_STEERING_DEG:g}"
                )
            lo, hi = self.speed_mps
            if not (MIN_SPEED_MPS <= lo < hi <= MAX_SPEED_MPS):
                raise ConfigError(
                    f"continuous speed range {self.speed_mps} must satisfy "
                    f"{MIN_SPEED_MPS:g} <= low < high <= {MAX_SPEED_MPS:g}"
                )
        object.__setattr__(self, "_table", np.asarray(self.actions, dtype=np.float64))

    @property
    def n(self) -> int:
        """Number of discrete actions (0 for a continuous space)."""
        return len(self.actions) if self.kind == "discrete" else 0

    @property
    def max_speed_mps(self) -> float:
        """The highest speed this space can command."""
        if self.kind == "discrete":
            return float(self._table[:, 1].max())
        return float(self.speed_mps[1])

    def gym_space(self) -> gym.Space:
        """The Gymnasium space the agent acts in."""
        if self.kind == "discrete":
            return gym.spaces.Discrete(len(self.actions))
        return gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def to_command(self, action: Any) -> tuple[float, float]:
        """Map an agent action to (steering_deg, speed_mps)."""
        if self.kind == "discrete":
            index = action if isinstance(action, int) else int(np.asarray(action).reshape(()))
            steer, speed = self.actions[index]
            return steer, speed
        flat = np.asarray(action, dtype=np.float64).reshape(2).tolist()
        a0 = min(1.0, max(-1.0, flat[0]))
        a1 = min(1.0, max(-1.0, flat[1]))
        lo, hi = self.steering_deg
        steer = lo + (a0 + 1.0) * 0.5 * (hi - lo)
        lo, hi = self.speed_mps
        speed = lo + (a1 + 1.0) * 0.5 * (hi - lo)
        return steer, speed

    def to_model_metadata(self) -> dict[str, Any]:
        """The ``action_space`` and ``action_space_type`` entries of ``model_metadata.json``."""
        if self.kind == "discrete":
            space: Any = [{"steering_angle": s, "speed": v} for s, v in self.actions]
        else:
            space = {
                "steering_angle": {"low": self.steering_deg[0], "high": self.steering_deg[1]},
                "speed": {"low": self.speed_mps[0], "high": self.speed_mps[1]},
            }
        return {"action_space": space, "action_space_type": self.kind}

    @classmethod
    def from_model_metadata(cls, data: Mapping[str, Any]) -> ActionSpec:
        """Read DeepRacer's ``model_metadata.json`` form (the whole file or just the action part)."""
        unknown = set(data) - {
            "action_space",
            "action_space_type",
            "sensor",
            "neural_network",
            "training_algorithm",
            "version",
        }
        if unknown:
            key = sorted(unknown)[0]
            near = difflib.get_close_matches(key, ["action_space", "action_space_type"], n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"unknown action space key {key!r}{hint}")
        space = data.get("action_space")
        kind = data.get("action_space_type") or (
            "continuous" if isinstance(space, Mapping) else "discrete"
        )
        if space is None:
            return cls(kind=kind)
        try:
            if kind == "discrete":
                if not isinstance(space, Sequence):
                    raise TypeError("a discrete action_space is a list of actions")
                actions = tuple((float(a["steering_angle"]), float(a["speed"])) for a in space)
                return cls(kind="discrete", actions=actions)
            if not isinstance(space, Mapping):
                raise TypeError(
                    "a continuous action_space is a table with steering_angle and speed"
                )
            steer = space["steering_angle"]
            speed = space["speed"]
            return cls(
                kind="continuous",
                steering_deg=(float(steer["low"]), float(steer["high"])),
                speed_mps=(float(speed["low"]), float(speed["high"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"action space is not in model_metadata.json form ({exc}); see "
                "'steering_angle'/'speed' entries in the DeepRacer format"
            ) from None


def _check_steer_speed(steer: float, speed: float) -> None:
    if not np.isfinite(steer) or abs(steer) > MAX_STEERING_DEG:
        raise ConfigError(
            f"steering_angle {steer} is out of range: use -{MAX_STEERING_DEG:g}..{MAX_STEERING_DEG:g}"
        )
    if not np.isfinite(speed) or not (MIN_SPEED_MPS <= speed <= MAX_SPEED_MPS):
        raise ConfigError(
            f"speed {speed} is out of range: use {MIN_SPEED_MPS:g}..{MAX_SPEED_MPS:g} m/s"
        )


def resolve_action_space(spec: ActionSpec | Mapping[str, Any] | str | Path | None) -> ActionSpec:
    """Accept an ActionSpec, a model_metadata-style mapping, ``"discrete"``/``"continuous"``
    (the defaults of that kind), a path to a ``model_metadata.json``, or None (the default)."""
    if spec is None:
        return ActionSpec()
    if isinstance(spec, ActionSpec):
        return spec
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
