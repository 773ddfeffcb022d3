"""From the policy's output to steering and throttle commands.

Three stages, each testable alone:

1. :class:`ActionDecoder`: the network output to a physical action, ``(steering_deg, speed_mps)``
   in DeepRacer's terms (steering positive = left). Discrete (``action_output: "probabilities"``
   or ``"logits"``): the argmax indexes the action list. Continuous (``"normalized"``): each
   output, clipped to [-1, 1], maps to ``low + (a + 1) / 2 * (high - low)``.
2. :meth:`Calibration.commands`: physical action to normalised commands in [-1, 1]:
   ``steering = steering_deg / max_steering_deg`` (+ = left) and
   ``throttle = curve(speed_mps / max_speed_mps)`` (+ = forward), both clipped, the throttle then
   scaled by ``throttle_limit``. These are what ``stdout`` and ``udp`` actuators emit: hardware
   independent, polarity not applied.
3. :meth:`ChannelCalibration.pwm`: a normalised command to a servo/ESC pulse width
   (microseconds), with the channel's polarity, its ``mid`` at 0 and ``min``/``max`` at the ends.

Throttle curves (``Calibration.throttle_curve``):

* ``"linear"``: ``throttle = x`` with ``x = speed / max_speed_mps``.
* ``"deepracer"``: DeepRacer-like. The DeepRacer car's navigation node normalises the action's
  speed by the action space's top speed and maps it with the quadratic
  ``y = a x^2 + b x``, ``a = 2*1.0 - 4*0.8 = -1.2``, ``b = 4*0.8 - 1.0 = 2.2`` (its default speed
  scales: x = 1 -> 1.0, x = 0.5 -> 0.8), so low speeds get proportionally more throttle to
  overcome friction. That quadratic peaks at 1.008 near x = 0.917; here it is clipped to 1 so the
  curve is monotone. DeepRacer additionally shrinks the curve with its "max speed %" slider; use
  ``throttle_limit`` for that (a linear cap, not DeepRacer's exact re-fit).

Calibration file (JSON; every key optional, defaults shown)::

    {"steering": {"min": 1000, "mid": 1500, "max": 2000, "polarity": 1},
     "throttle": {"min": 1000, "mid": 1500, "max": 2000, "polarity": 1},
     "max_steering_deg": 30.0, "max_speed_mps": 4.0,
     "throttle_curve": "linear", "throttle_limit": 1.0}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import BundleError, ConfigError

PWM_MIN_US = 1000  # standard RC servo pulse at full left / full reverse, microseconds
PWM_MID_US = 1500  # standard RC neutral pulse, microseconds
PWM_MAX_US = 2000  # standard RC servo pulse at full right / full forward, microseconds
MAX_STEERING_DEG = 30.0  # DeepRacer's steering limit, degrees
MAX_SPEED_MPS = 4.0  # DeepRacer's top action-space speed, m/s
THROTTLE_CURVES = ("linear", "deepracer")
_DR_A, _DR_B = -1.2, 2.2  # DeepRacer navigation quadratic coefficients (speed scale 1)


@dataclass(frozen=True)
class PhysicalAction:
    """An action in DeepRacer's physical terms.

    Attributes:
        steering_deg: steering angle, degrees, positive = left.
        speed_mps: commanded speed, m/s.
        index: the discrete action's index, or None for continuous actions.
    """

    steering_deg: float
    speed_mps: float
    index: int | None = None


class ActionDecoder:
    """Decodes network outputs according to a bundle's ``action_space`` and ``action_output``.

    Args:
        action_space: ``{"type": "discrete", "actions": [{"steering_angle", "speed"}, ...]}`` or
            ``{"type": "continuous", "steering_angle": {"low", "high"}, "speed": {"low", "high"}}``.
        action_output: ``"probabilities"`` / ``"logits"`` (discrete) or ``"normalized"``.
    """

    def __init__(self, action_space: Mapping[str, Any], action_output: str) -> None:
        kind = action_space.get("type") if isinstance(action_space, Mapping) else None
        try:
            if kind == "discrete":
                self.actions = [
                    (float(a["steering_angle"]), float(a["speed"])) for a in action_space["actions"]
                ]
                if not self.actions:
                    raise ValueError("the action list is empty")
                if action_output not in ("probabilities", "logits"):
                    raise ValueError("discrete actions need action_output 'probabilities'")
            elif kind == "continuous":
                st, sp = action_space["steering_angle"], action_space["speed"]
                self.steering = (float(st["low"]), float(st["high"]))
                self.speed = (float(sp["low"]), float(sp["high"]))
                if not (self.steering[0] < self.steering[1] and self.speed[0] < self.speed[1]):
                    raise ValueError("each range needs low < high")
                if action_output != "normalized":
                    raise ValueError("continuous actions need action_output 'normalized'")
            else:
                raise ValueError("'type' must be 'discrete' or 'continuous'")
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"metadata.json: bad action_space/action_output: {exc}") from None
        self.kind: str = kind
        self.action_output = action_output

    @property
    def n_outputs(self) -> int:
        """Length of the output vector the policy must produce."""
        return len(self.actions) if self.kind == "discrete" else 2

    def decode(self, output: np.ndarray) -> PhysicalAction:
        """Map one network output (any shape with ``n_outputs`` elements) to a physical action."""
        y = np.asarray(output, dtype=np.float64).reshape(-1)
        if y.size != self.n_outputs:
            raise ValueError(f"expected {self.n_outputs} outputs, got {y.size}")
        if self.kind == "discrete":
            i = int(np.argmax(y))
            return PhysicalAction(self.actions[i][0], self.actions[i][1], i)
        a = np.clip(np.nan_to_num(y, nan=0.0), -1.0, 1.0)
        lo, hi = self.steering
        steer = lo + (a[0] + 1.0) / 2.0 * (hi - lo)
        lo, hi = self.speed
        speed = lo + (a[1] + 1.0) / 2.0 * (hi - lo)
        return PhysicalAction(float(steer), float(speed), None)


def throttle_curve(x: float, curve: str = "linear") -> float:
    """Map a speed fraction ``x`` in [-1, 1] to a throttle fraction, keeping the sign.

    Args:
        x: ``speed_mps / max_speed_mps`` (clipped to [-1, 1]).
        curve: ``"linear"`` or ``"deepracer"`` (see the module docstring).

    Returns:
        The throttle fraction in [-1, 1], monotone non-decreasing in ``x``.
    """
    x = max(-1.0, min(1.0, float(x)))
    if curve == "linear":
        return x
    if curve == "deepracer":
        m = abs(x)
        return math.copysign(min(1.0, _DR_A * m * m + _DR_B * m), x)
    raise ValueError(f"unknown throttle curve {curve!r}; use one of {THROTTLE_CURVES}")


@dataclass
class ChannelCalibration:
    """One PWM channel: pulse widths in microseconds and the direction.

    Attributes:
        min: pulse at command -1 (after polarity), microseconds.
        mid: pulse at command 0 (neutral / straight), microseconds.
        max: pulse at command +1 (after polarity), microseconds.
        polarity: 1, or -1 when the servo / ESC is mounted reversed.
    """

    min: float = PWM_MIN_US
    mid: float = PWM_MID_US
    max: float = PWM_MAX_US
    polarity: int = 1

    def pwm(self, value: float) -> float:
        """Pulse width (µs) for a normalised command in [-1, 1] (clipped)."""
        v = max(-1.0, min(1.0, float(value))) * self.polarity
        return (
            self.mid + v * (self.max - self.mid) if v >= 0 else self.mid + v * (self.mid - self.min)
        )


@dataclass
class Calibration:
    """The car's servo and ESC limits and its speed scale (see the module docstring).

    Attributes:
        steering: the steering servo channel.
        throttle: the ESC channel.
        max_steering_deg: steering angle at full lock, degrees.
        max_speed_mps: speed reached at full throttle, m/s.
        throttle_curve: ``"linear"`` or ``"deepracer"``.
        throttle_limit: cap on the throttle magnitude, 0-1 (a safety "max speed %").
    """

    steering: ChannelCalibration = field(default_factory=ChannelCalibration)
    throttle: ChannelCalibration = field(default_factory=ChannelCalibration)
    max_steering_deg: float = MAX_STEERING_DEG
    max_speed_mps: float = MAX_SPEED_MPS
    throttle_curve: str = "linear"
    throttle_limit: float = 1.0

    def __post_init__(self) -> None:
        for name in ("steering", "throttle"):
            ch = getattr(self, name)
            if not ch.min < ch.mid < ch.max:
                raise ConfigError(f"calibration {name}: need min < mid < max, got {asdict(ch)}")
            if ch.polarity not in (1, -1):
                raise ConfigError(f"calibration {name}: polarity must be 1 or -1")
        if self.max_steering_deg <= 0 or self.max_speed_mps <= 0:
            raise ConfigError("calibration: max_steering_deg and max_speed_mps must be positive")
        if self.throttle_curve not in THROTTLE_CURVES:
            raise ConfigError(f"calibration: throttle_curve must be one of {THROTTLE_CURVES}")
        if not 0.0 <= self.throttle_limit <= 1.0:
            raise ConfigError("calibration: throttle_limit must be within 0-1")

    def commands(self, steering_deg: float, speed_mps: float) -> tuple[float, float]:
        """Physical action to normalised ``(steering, throttle)`` in [-1, 1] (no polarity)."""
        steering = max(-1.0, min(1.0, steering_deg / self.max_steering_deg))
        throttle = throttle_curve(speed_mps / self.max_speed_mps, self.throttle_curve)
        return steering, throttle * self.throttle_limit

    def pwm(self, steering: float, throttle: float) -> tuple[float, float]:
        """Normalised commands to ``(steering_us, throttle_us)`` pulse widths."""
        return self.steering.pwm(steering), self.throttle.pwm(throttle)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "calibration") -> Calibration:
        """Build from the JSON form; unknown keys are rejected with a one-line ConfigError."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object")
        known = {"steering", "throttle", "max_steering_deg", "max_speed_mps"}
        known |= {"throttle_curve", "throttle_limit"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known: {sorted(known)}")
        kw: dict[str, Any] = {}
        for name in ("steering", "throttle"):
            ch = data.get(name, {})
            if not isinstance(ch, Mapping) or set(ch) - {"min", "mid", "max", "polarity"}:
                raise ConfigError(f"{source}: {name} takes only min, mid, max, polarity")
            try:
                kw[name] = ChannelCalibration(
                    min=float(ch.get("min", PWM_MIN_US)),
                    mid=float(ch.get("mid", PWM_MID_US)),
                    max=float(ch.get("max", PWM_MAX_US)),
                    polarity=int(ch.get("polarity", 1)),
                )
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: {name}: {exc}") from None
        for key in ("max_steering_deg", "max_speed_mps", "throttle_limit"):
            if key in data:
                try:
                    kw[key] = float(data[key])
                except (TypeError, ValueError):
                    raise ConfigError(f"{source}: {key} must be a number") from None
        if "throttle_curve" in data:
            kw["throttle_curve"] = str(data["throttle_curve"])
        try:
            return cls(**kw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}".replace("calibration: ", "")) from None

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration JSON file."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"calibration file {p} not found") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"calibration file {p} is not valid JSON ({exc})") from None
        return cls.from_dict(data, source=str(p))

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
