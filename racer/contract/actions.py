"""The action space, the way DeepRacer's ``model_metadata.json`` defines it, and its mappings.

A discrete space is a list of (steering_angle, speed) pairs, in degrees (positive = left) and
metres per second; a continuous space is a range for each. DeepRacer writes it as::

    {"action_space_type": "discrete",
     "action_space": [{"steering_angle": -30.0, "speed": 1.0}, ...]}
    {"action_space_type": "continuous",
     "action_space": {"steering_angle": {"low": -30.0, "high": 30.0},
                      "speed": {"low": 0.5, "high": 2.0}}}

The agent (and an exported network) acts in an index of the list or a normalised pair
``a = (steering, speed)`` in [-1, 1]. This module holds the only implementation of each mapping:

- forward, :meth:`ActionSpace.to_command`: agent action to ``(steering_deg, speed_mps)``.
  Discrete: the pair at the index. Continuous: each value, NaN read as 0 and clipped to [-1, 1],
  maps to ``low + (a + 1) / 2 * (high - low)``.
- inverse, :meth:`ActionSpace.to_action`: physical command to the agent action. Discrete: the
  index of the nearest pair (steering weighted per 30 deg, speed per 2 m/s; an exact pair gives
  its first index). Continuous: ``2 (x - low) / (high - low) - 1``, float32, clipped to [-1, 1].
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from racer.contract.car import MAX_SPEED_MPS, MAX_STEERING_DEG, MIN_SPEED_MPS
from racer.errors import ConfigError

KINDS = ("discrete", "continuous")
#: ``cls`` in the alternate constructors (``typing.Self`` is Python 3.11; the car runs 3.9).
_Space = TypeVar("_Space", bound="ActionSpace")
#: The default discrete list: five steering angles at two speeds. Fast enough to lap a
#: DeepRacer-size track in ~15 s, slow enough for the hairpins of the built-in tracks.
DEFAULT_DISCRETE: tuple[tuple[float, float], ...] = tuple(
    (steer, speed) for steer in (-30.0, -15.0, 0.0, 15.0, 30.0) for speed in (1.0, 2.0)
)
DEFAULT_CONTINUOUS_SPEED_MPS = (0.5, 2.0)  # the default continuous speed range, m/s
NEAREST_STEERING_SCALE_DEG = 30.0  # the inverse's discrete distance: 30 deg of steering ...
NEAREST_SPEED_SCALE_MPS = 2.0  # ... weigh as much as 2 m/s of speed
#: Keys of a whole ``model_metadata.json`` that :meth:`ActionSpace.from_model_metadata` skips.
MODEL_METADATA_OTHER_KEYS = ("sensor", "neural_network", "training_algorithm", "version")


@dataclass(frozen=True, eq=False)
class ActionSpace:
    """An action space in DeepRacer's terms.

    Two spaces are equal when their kind and their list (discrete) or ranges (continuous) are,
    whatever their class (:class:`racer.env.ActionSpec` adds the Gymnasium side).

    Attributes:
        kind: ``"discrete"`` or ``"continuous"``.
        actions: for discrete, the (steering_deg, speed_mps) pairs in order.
        steering_deg: for continuous, the (low, high) steering range in degrees.
        speed_mps: for continuous, the (low, high) speed range in m/s.

    Raises:
        ConfigError: an unknown kind, an empty list, or a value beyond the car's limits.
    """

    kind: str = "discrete"
    actions: tuple[tuple[float, float], ...] = DEFAULT_DISCRETE
    steering_deg: tuple[float, float] = (-MAX_STEERING_DEG, MAX_STEERING_DEG)
    speed_mps: tuple[float, float] = DEFAULT_CONTINUOUS_SPEED_MPS
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
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

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, self.actions, self.steering_deg, self.speed_mps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ActionSpace):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # --- size ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of discrete actions (0 for a continuous space)."""
        return len(self.actions) if self.kind == "discrete" else 0

    @property
    def n_outputs(self) -> int:
        """Values a policy network outputs: one per discrete action, or 2 (steering, speed)."""
        return len(self.actions) if self.kind == "discrete" else 2

    @property
    def max_speed_mps(self) -> float:
        """The highest speed this space can command."""
        if self.kind == "discrete":
            return float(self._table[:, 1].max())
        return float(self.speed_mps[1])

    @property
    def max_steering_deg(self) -> float:
        """The largest steering angle (either side) this space can command, degrees."""
        if self.kind == "discrete":
            return float(np.abs(self._table[:, 0]).max())
        return max(abs(v) for v in self.steering_deg)

    # --- the mappings --------------------------------------------------------------------
    def to_command(self, action: Any) -> tuple[float, float]:
        """Forward: an agent action to ``(steering_deg, speed_mps)``.

        Args:
            action: discrete: the index (an int or a 0-d/1-element array). Continuous: the
                normalised ``(steering, speed)`` pair, any shape with 2 values; NaN reads as 0
                and each value is clipped to [-1, 1].

        Returns:
            The physical command.
        """
        if self.kind == "discrete":
            index = action if isinstance(action, int) else int(np.asarray(action).reshape(()))
            steer, speed = self.actions[index]
            return steer, speed
        a0, a1 = (_unit(v) for v in np.asarray(action, dtype=np.float64).reshape(2).tolist())
        lo, hi = self.steering_deg
        steer = lo + (a0 + 1.0) * 0.5 * (hi - lo)
        lo, hi = self.speed_mps
        speed = lo + (a1 + 1.0) * 0.5 * (hi - lo)
        return steer, speed

    def to_action(self, steering_deg: float, speed_mps: float) -> int | np.ndarray:
        """Inverse: the agent action closest to a physical command.

        Args:
            steering_deg: steering angle, degrees, + = left.
            speed_mps: speed, m/s.

        Returns:
            Discrete: the index of the nearest pair (the first one of an exact match).
            Continuous: the normalised ``(steering, speed)`` pair, float32, clipped to [-1, 1].
        """
        if self.kind == "discrete":
            table = self._table
            cost = ((table[:, 0] - steering_deg) / NEAREST_STEERING_SCALE_DEG) ** 2 + (
                (table[:, 1] - speed_mps) / NEAREST_SPEED_SCALE_MPS
            ) ** 2
            return int(np.argmin(cost))
        lo, hi = self.steering_deg
        a0 = 2.0 * (steering_deg - lo) / (hi - lo) - 1.0
        lo, hi = self.speed_mps
        a1 = 2.0 * (speed_mps - lo) / (hi - lo) - 1.0
        return np.clip(np.array([a0, a1], dtype=np.float32), -1.0, 1.0)

    # --- DeepRacer's form ----------------------------------------------------------------
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
    def from_model_metadata(cls: type[_Space], data: Mapping[str, Any]) -> _Space:
        """Read DeepRacer's ``model_metadata.json`` form (the whole file or just the action part).

        A missing ``action_space_type`` is inferred (a list is discrete, a table continuous); a
        missing ``action_space`` gives the defaults of the kind.

        Returns:
            An instance of ``cls``.

        Raises:
            ConfigError: an unknown key (with a "did you mean"), a malformed space or a value
                beyond the car's limits.
        """
        unknown = set(data) - {"action_space", "action_space_type", *MODEL_METADATA_OTHER_KEYS}
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


def _unit(value: float) -> float:
    """A normalised action value: NaN reads as 0, then clipped to [-1, 1]."""
    return 0.0 if math.isnan(value) else min(1.0, max(-1.0, value))


def _check_steer_speed(steer: float, speed: float) -> None:
    if not np.isfinite(steer) or abs(steer) > MAX_STEERING_DEG:
        raise ConfigError(
            f"steering_angle {steer} is out of range: use -{MAX_STEERING_DEG:g}..{MAX_STEERING_DEG:g}"
        )
    if not np.isfinite(speed) or not (MIN_SPEED_MPS <= speed <= MAX_SPEED_MPS):
        raise ConfigError(
            f"speed {speed} is out of range: use {MIN_SPEED_MPS:g}..{MAX_SPEED_MPS:g} m/s"
        )
