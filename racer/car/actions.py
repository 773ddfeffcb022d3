"""From the policy's output to steering and throttle commands.

Three stages, each testable alone:

1. :class:`ActionDecoder`: the network output to a physical action, ``(steering_deg, speed_mps)``
   in DeepRacer's terms (steering positive = left). Discrete (``action_output: "probabilities"``
   or ``"logits"``): the argmax indexes the action list. Continuous (``"normalized"``): each
   output, NaN read as 0 and clipped to [-1, 1], maps to ``low + (a + 1) / 2 * (high - low)``
   (the contract's mapping, :meth:`racer.contract.ActionSpace.to_command`).
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

Every value must be a finite JSON number within its physical range, or the runtime refuses to
start (one :class:`~racer.errors.ConfigError` line naming the key and the range): pulse widths
within 500-2500 us with ``min < mid < max``, ``polarity`` 1 or -1, ``max_steering_deg`` in
(0, 30], ``max_speed_mps`` in (0, 4], ``throttle_limit`` in [0, 1].
"""

from __future__ import annotations

import difflib
import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from racer.contract.actions import ActionSpace
from racer.contract.bundle import ACTION_OUTPUTS, deepracer_form, metadata_action_space
from racer.contract.car import MAX_SPEED_MPS, MAX_STEERING_DEG, MIN_SPEED_MPS
from racer.errors import BundleError, ConfigError

PWM_MIN_US = 1000  # standard RC servo pulse at full left / full reverse, microseconds
PWM_MID_US = 1500  # standard RC neutral pulse, microseconds
PWM_MAX_US = 2000  # standard RC servo pulse at full right / full forward, microseconds
MAX_ACTIONS = 256  # discrete actions a bundle may list; DeepRacer's console offers a few dozen
THROTTLE_CURVES = ("linear", "deepracer")
PWM_RANGE_US = (500.0, 2500.0)  # widest pulse any RC servo / ESC accepts, microseconds
MAX_CALIBRATION_BYTES = 64 * 1024  # a calibration file is < 1 KB; refuse anything far larger
_CHANNEL_KEYS = ("min", "mid", "max", "polarity")
_CALIBRATION_KEYS = (
    "steering",
    "throttle",
    "max_steering_deg",
    "max_speed_mps",
    "throttle_curve",
    "throttle_limit",
)
_DR_A, _DR_B = -1.2, 2.2  # DeepRacer navigation quadratic coefficients (speed scale 1)


def _short(value: Any) -> str:
    """A value's repr for a one-line message, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_number(
    value: Any, key: str, lo: float, hi: float, unit: str = "", *, lo_open: bool = False
) -> float:
    """``value`` as a float when it is a finite number (not a bool) within the range.

    Raises:
        ConfigError: ``calibration: KEY must be a finite number within RANGE, got VALUE``.
    """
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    number = float(value) if is_number and abs(value) < 1e300 else math.nan
    above_lo = lo < number if lo_open else lo <= number
    if not (math.isfinite(number) and above_lo and number <= hi):
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]" + (f" {unit}" if unit else "")
        raise ConfigError(
            f"calibration: {key} must be a finite number within {rng}, got {_short(value)}"
        )
    return number


def _check_polarity(value: Any, channel: str) -> int:
    """1 or -1 (a JSON 1.0 / -1.0 too), else ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (1, -1):
        raise ConfigError(f"calibration: {channel}.polarity must be 1 or -1, got {_short(value)}")
    return int(value)


def _refuse_unknown(data: Mapping[str, Any], known: tuple[str, ...], at: str) -> None:
    """One ConfigError line for the first unknown key, with a "did you mean" suggestion."""
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {at}{close[0]}? " if close else ""
            raise ConfigError(
                f"calibration: unknown key {_short(f'{at}{key}')}; {hint}known: {', '.join(known)}"
            )


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


def _physical(value: Any, where: str) -> float:
    """A bundle's steering angle (deg) or speed (m/s): a finite JSON number within the car's range.

    Args:
        value: the parsed JSON value.
        where: its path in the action space, ending in ``steering_angle``/``speed``
            (``.low``/``.high`` allowed): picks the range.

    Returns:
        The value as a float.

    Raises:
        ValueError: not a number, not finite, or outside the car's limits (the message says which).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{where} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    if "speed" in where:
        lo, hi, unit = MIN_SPEED_MPS, MAX_SPEED_MPS, "m/s"
    else:
        lo, hi, unit = -MAX_STEERING_DEG, MAX_STEERING_DEG, "deg"
    if not (math.isfinite(number) and lo <= number <= hi):
        raise ValueError(f"{where} {value!r} is outside the car's limits {lo:g}..{hi:g} {unit}")
    return number


class ActionDecoder:
    """Decodes network outputs according to a bundle's action space and ``action_output``.

    The space is checked as the car must (every value a finite number within the car's limits,
    at most :data:`MAX_ACTIONS` actions, ``low < high``, an ``action_output`` that fits the kind);
    the mapping itself is :meth:`racer.contract.ActionSpace.to_command`.

    Args:
        action_space: DeepRacer's form, ``{"action_space_type", "action_space"}`` (a whole
            ``model_metadata.json`` works too), or the schema-1 ``metadata.json`` form
            ``{"type": "discrete", "actions": [...]}`` /
            ``{"type": "continuous", "steering_angle": {"low", "high"}, "speed": {...}}``.
        action_output: ``"probabilities"`` / ``"logits"`` (discrete) or ``"normalized"``.

    Raises:
        BundleError: ``metadata.json: bad action_space/action_output: ...`` (one line).
    """

    def __init__(self, action_space: Mapping[str, Any], action_output: str) -> None:
        try:
            if not isinstance(action_space, Mapping):
                raise TypeError("the action space must be a JSON object")
            form = deepracer_form(action_space)
            space = form.get("action_space")
            kind = form.get("action_space_type") or (
                "continuous" if isinstance(space, Mapping) else "discrete"
            )
            if kind == "discrete":
                if not isinstance(space, list) or not 1 <= len(space) <= MAX_ACTIONS:
                    raise ValueError(f"'action_space' must list 1-{MAX_ACTIONS} actions")
                actions = tuple(
                    (
                        _physical(a["steering_angle"], f"action_space[{i}].steering_angle"),
                        _physical(a["speed"], f"action_space[{i}].speed"),
                    )
                    for i, a in enumerate(space)
                )
                self.space = ActionSpace(kind="discrete", actions=actions)
            elif kind == "continuous":
                if not isinstance(space, Mapping):
                    raise TypeError("a continuous 'action_space' has steering_angle and speed")
                st, sp = space["steering_angle"], space["speed"]
                steering = (
                    _physical(st["low"], "steering_angle.low"),
                    _physical(st["high"], "steering_angle.high"),
                )
                speed = (_physical(sp["low"], "speed.low"), _physical(sp["high"], "speed.high"))
                if not (steering[0] < steering[1] and speed[0] < speed[1]):
                    raise ValueError("each range needs low < high")
                self.space = ActionSpace(kind="continuous", steering_deg=steering, speed_mps=speed)
            else:
                raise ValueError("'action_space_type' must be 'discrete' or 'continuous'")
            if action_output not in ACTION_OUTPUTS[kind]:
                need = "'probabilities'" if kind == "discrete" else "'normalized'"
                raise ValueError(f"{kind} actions need action_output {need}")
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise BundleError(f"metadata.json: bad action_space/action_output: {exc}") from None
        self.kind: str = kind
        self.action_output = action_output

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> ActionDecoder:
        """The decoder of a parsed ``metadata.json`` (schema version 1 or 2)."""
        return cls(metadata_action_space(meta), meta.get("action_output", ""))

    @property
    def actions(self) -> tuple[tuple[float, float], ...]:
        """Discrete: the (steering_deg, speed_mps) pairs in order."""
        return self.space.actions

    @property
    def steering(self) -> tuple[float, float]:
        """Continuous: the (low, high) steering range, degrees."""
        return self.space.steering_deg

    @property
    def speed(self) -> tuple[float, float]:
        """Continuous: the (low, high) speed range, m/s."""
        return self.space.speed_mps

    @property
    def n_outputs(self) -> int:
        """Length of the output vector the policy must produce."""
        return self.space.n_outputs

    def decode(self, output: np.ndarray) -> PhysicalAction:
        """Map one network output (any shape with ``n_outputs`` elements) to a physical action.

        Discrete: the argmax indexes the action list. Continuous: the output is the normalised
        (steering, speed) pair (NaN reads as 0, clipped to [-1, 1]).
        """
        y = np.asarray(output, dtype=np.float64).reshape(-1)
        if y.size != self.n_outputs:
            raise ValueError(f"expected {self.n_outputs} outputs, got {y.size}")
        if self.kind == "discrete":
            i = int(np.argmax(y))
            steer, speed = self.space.to_command(i)
            return PhysicalAction(steer, speed, i)
        steer, speed = self.space.to_command(y)
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
        """Pulse width (µs) for a normalised command in [-1, 1] (clipped; NaN is neutral)."""
        v = float(value)
        v = 0.0 if math.isnan(v) else max(-1.0, min(1.0, v)) * self.polarity
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
        self.validate()

    def validate(self) -> None:
        """Check every value's type and physical range (also after changing a field).

        Raises:
            ConfigError: one line naming the first bad key and its allowed range.
        """
        lo_us, hi_us = PWM_RANGE_US
        for name in ("steering", "throttle"):
            ch = getattr(self, name)
            if not isinstance(ch, ChannelCalibration):
                raise ConfigError(f"calibration: {name} must be an object with {_CHANNEL_KEYS}")
            for key in ("min", "mid", "max"):
                _check_number(getattr(ch, key), f"{name}.{key}", lo_us, hi_us, unit="us")
            if not ch.min < ch.mid < ch.max:
                got = f"min={ch.min:g}, mid={ch.mid:g}, max={ch.max:g}"
                raise ConfigError(f"calibration: {name}: need min < mid < max, got {got}")
            _check_polarity(ch.polarity, name)
        _check_number(
            self.max_steering_deg, "max_steering_deg", 0.0, MAX_STEERING_DEG, "deg", lo_open=True
        )
        _check_number(self.max_speed_mps, "max_speed_mps", 0.0, MAX_SPEED_MPS, "m/s", lo_open=True)
        _check_number(self.throttle_limit, "throttle_limit", 0.0, 1.0)
        if not isinstance(self.throttle_curve, str) or self.throttle_curve not in THROTTLE_CURVES:
            raise ConfigError(
                f"calibration: throttle_curve must be one of {', '.join(THROTTLE_CURVES)}, "
                f"got {_short(self.throttle_curve)}"
            )

    def commands(self, steering_deg: float, speed_mps: float) -> tuple[float, float]:
        """Physical action to normalised ``(steering, throttle)`` in [-1, 1] (no polarity).

        A NaN steering angle or speed gives straight wheels or zero throttle, never full lock.
        """
        steering_deg = 0.0 if math.isnan(steering_deg) else float(steering_deg)
        speed_mps = 0.0 if math.isnan(speed_mps) else float(speed_mps)
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
        """Build from the JSON form, refusing unknown keys and out-of-range values.

        Args:
            data: the parsed JSON object.
            source: what to name in messages (the file).

        Returns:
            The validated calibration.

        Raises:
            ConfigError: one line naming the key and the range it allows (a misspelt key gets
                a "did you mean" suggestion).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        kw: dict[str, Any] = {}
        try:
            _refuse_unknown(data, _CALIBRATION_KEYS, "")
            lo_us, hi_us = PWM_RANGE_US
            for name in ("steering", "throttle"):
                ch = data.get(name, {})
                if not isinstance(ch, Mapping):
                    raise ConfigError(
                        f"calibration: {name} must be an object with keys {', '.join(_CHANNEL_KEYS)}"
                    )
                _refuse_unknown(ch, _CHANNEL_KEYS, f"{name}.")
                pulses = {
                    key: _check_number(ch.get(key, dflt), f"{name}.{key}", lo_us, hi_us, unit="us")
                    for key, dflt in (("min", PWM_MIN_US), ("mid", PWM_MID_US), ("max", PWM_MAX_US))
                }
                polarity = _check_polarity(ch.get("polarity", 1), name)
                kw[name] = ChannelCalibration(**pulses, polarity=polarity)
            for key, hi, unit in (
                ("max_steering_deg", MAX_STEERING_DEG, "deg"),
                ("max_speed_mps", MAX_SPEED_MPS, "m/s"),
            ):
                if key in data:
                    kw[key] = _check_number(data[key], key, 0.0, hi, unit, lo_open=True)
            if "throttle_limit" in data:
                kw["throttle_limit"] = _check_number(data["throttle_limit"], "throttle_limit", 0, 1)
            if "throttle_curve" in data:
                kw["throttle_curve"] = data["throttle_curve"]
            return cls(**kw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {str(exc).removeprefix('calibration: ')}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Calibration:
        """Read a calibration JSON file (a regular UTF-8 file of at most 64 KiB).

        Raises:
            ConfigError: one line for a missing, unreadable, oversized, non-UTF-8 or non-JSON
                file (a folder, FIFO or device is refused before it is opened), or a bad value.
        """
        p = Path(path)
        where = f"calibration file {str(p)!r}"
        try:
            st = p.stat()
        except FileNotFoundError:
            raise ConfigError(f"{where} not found") from None
        except (OSError, ValueError) as exc:  # a symlink loop, a name too long, a NUL byte
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"cannot read {where} ({reason})") from None
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{where} is a directory; give the JSON file")
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO blocks; a device may never end
            raise ConfigError(f"{where} is not a regular file")
        if st.st_size > MAX_CALIBRATION_BYTES:
            raise ConfigError(
                f"{where} is {st.st_size} bytes; a calibration is at most "
                f"{MAX_CALIBRATION_BYTES // 1024} KiB"
            )
        try:
            with p.open("rb") as fh:
                raw = fh.read(MAX_CALIBRATION_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {where} ({exc.strerror})") from None
        if len(raw) > MAX_CALIBRATION_BYTES:
            raise ConfigError(f"{where} grew past {MAX_CALIBRATION_BYTES // 1024} KiB while read")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{where} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
            ) from None
        except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... nested too deep
            detail = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
            raise ConfigError(f"{where} is not valid JSON ({detail})") from None
        return cls.from_dict(data, source=str(p))

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
