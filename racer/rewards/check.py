"""Checking a reward function before training: drive synthetic car poses through it.

No physics: :func:`generate_runs` places the car on the track from its geometry alone, in a few
*situations* (on the centre line, near the border, off the track, driving backwards, zig-zag
steering, objects ahead), each as short runs of consecutive steps so that ``steps``,
``progress`` and ``sim_time`` evolve as in an episode. :func:`check_reward` feeds them to a
:class:`~racer.rewards.plugin.RewardPlugin` through :class:`~racer.rewards.params.ParamsBuilder`
and reports the value range per situation, the ``params`` keys the function reads, and every
failure, each with the one-line message training would stop with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.errors import RewardError
from racer.rewards.params import DEEPRACER_KEYS, EXTRA_KEYS, ObjectInfo, ParamsBuilder, StepInputs
from racer.rewards.plugin import RewardPlugin

if TYPE_CHECKING:
    from racer.track import Track

__all__ = [
    "SITUATIONS",
    "CheckReport",
    "RecordingParams",
    "SituationResult",
    "car_wheels",
    "check_reward",
    "generate_runs",
]

CONTROL_DT_S = 1.0 / 15.0  # DeepRacer camera rate: one step per frame
WHEELBASE_M = 0.164  # 1/18-scale car (DESIGN.md, "The car and the world")
AXLE_TRACK_M = 0.162  # distance between left and right wheels
FRONT_POINT_M = 0.09  # DeepRacer's x, y sit about over the front axle, ahead of the centre
SPEEDS_MPS = (0.5, 1.0, 2.0, 3.0, 4.0)  # DeepRacer's usual action-space speeds
STEERING_DEG = (-30.0, -15.0, -5.0, 0.0, 5.0, 15.0, 30.0)
NEAR_BORDER_MARGIN_M = 0.05  # keeps the outer wheels inside the border line on curves
OFF_TRACK_BEYOND_M = 0.5  # farthest off-track pose past the border: every wheel off the road
MAX_FAILURES_KEPT = 3  # distinct failure messages kept per situation

#: Situation name -> what it places the car in.
SITUATIONS: dict[str, str] = {
    "on_line": "on the centre line, heading along the track",
    "near_border": "front at 0.45 x width from the centre (less where a wheel would cross)",
    "off_track": "front 0.6 x width to 0.5 m beyond the border: some or all wheels off",
    "reversed": "heading flipped, driving backwards (progress falls)",
    "zigzag": "on the line, steering alternating +-25 deg",
    "objects": "on the line with two boxes ahead and a bot behind",
}


class RecordingParams(dict):  # type: ignore[type-arg]
    """A ``params`` dict that remembers which keys the reward function read.

    Attributes:
        accessed: Keys read through ``params[key]``, ``params.get(key)`` or ``key in params``
            (all keys when it iterates over items or values).
    """

    __slots__ = ("accessed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accessed: set[str] = set()

    def __getitem__(self, key: Any) -> Any:
        self.accessed.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.accessed.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed.add(key)  # type: ignore[arg-type]
        return super().__contains__(key)

    def items(self) -> Any:
        self.accessed.update(self.keys())
        return super().items()

    def values(self) -> Any:
        self.accessed.update(self.keys())
        return super().values()


@dataclass(slots=True)
class SituationResult:
    """Rewards one situation produced.

    Attributes:
        name: Situation name (a key of :data:`SITUATIONS`).
        description: What the situation places the car in.
        values: Every valid reward returned.
        calls: How many times the function ran.
        failures: How many calls failed.
        messages: Up to :data:`MAX_FAILURES_KEPT` distinct failure messages.
    """

    name: str
    description: str
    values: list[float] = field(default_factory=list)
    calls: int = 0
    failures: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def min(self) -> float:
        """Smallest reward (NaN when none)."""
        return min(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        """Largest reward (NaN when none)."""
        return max(self.values) if self.values else math.nan

    @property
    def mean(self) -> float:
        """Mean reward (NaN when none)."""
        return sum(self.values) / len(self.values) if self.values else math.nan


@dataclass(slots=True)
class CheckReport:
    """What :func:`check_reward` found.

    Attributes:
        plugin: The checked reward.
        track_name: The track the poses were drawn on.
        situations: One result per situation, in :data:`SITUATIONS` order.
        keys_read: ``params`` keys the function read, sorted.
        unknown_keys: Keys it asked for that ``params`` does not have (typos?), sorted.
        notes: Warnings about the reward's shape (e.g. off-track pays as much as on-line).
    """

    plugin: RewardPlugin
    track_name: str
    situations: list[SituationResult]
    keys_read: list[str]
    unknown_keys: list[str]
    notes: list[str]

    @property
    def failures(self) -> int:
        """Total failed calls."""
        return sum(r.failures for r in self.situations)

    @property
    def ok(self) -> bool:
        """True when no call failed."""
        return self.failures == 0


def car_wheels(front_xy: np.ndarray, yaw_rad: float) -> np.ndarray:
    """Wheel contact points of the 1/18 car whose front point is ``front_xy``.

    Args:
        front_xy: (2,) DeepRacer's x, y (about over the front axle), metres.
        yaw_rad: Car heading, radians.

    Returns:
        (4, 2) front-left, front-right, rear-left, rear-right wheel points, metres.
    """
    fwd = np.array((math.cos(yaw_rad), math.sin(yaw_rad)))
    left = np.array((-fwd[1], fwd[0]))
    centre = np.asarray(front_xy, dtype=np.float64) - FRONT_POINT_M * fwd
    half_base = 0.5 * WHEELBASE_M * fwd
    half_track = 0.5 * AXLE_TRACK_M * left
    return np.stack(
        (
            centre + half_base + half_track,
            centre + half_base - half_track,
            centre - half_base + half_track,
            centre - half_base - half_track,
        )
    )


def _place(track: Track, s: float, lateral_frac: float) -> tuple[np.ndarray, float, float]:
    """Point at arc length ``s`` and ``lateral_frac`` x width to the left; its track heading."""
    width = float(track.width_at(s))
    heading = float(track.heading_at(s))
    centre = np.asarray(track.point_at(s), dtype=np.float64).reshape(2)
    left = np.array((-math.sin(heading), math.cos(heading)))
    return centre + lateral_frac * width * left, heading, width


def generate_runs(
    track: Track,
    situation: str,
    *,
    runs: int = 8,
    steps: int = 12,
    seed: int = 0,
) -> Iterator[list[StepInputs]]:
    """Synthetic episodes for one situation, without the physics simulator.

    Each run starts at a different place along the track and lasts ``steps`` consecutive steps;
    the car moves along the centre line at its commanded speed for one control period per step.
    ``prev_progress`` is left at 0: :func:`check_reward` threads it from the built params.

    Args:
        track: The track.
        situation: A key of :data:`SITUATIONS`.
        runs: Runs (start points), spread evenly over the lap.
        steps: Steps per run.
        seed: Seed for the perturbations.

    Yields:
        One list of :class:`~racer.rewards.params.StepInputs` per run.

    Raises:
        ValueError: Unknown situation.
    """
    if situation not in SITUATIONS:
        raise ValueError(f"unknown situation {situation!r}; one of {', '.join(SITUATIONS)}")
    rng = np.random.default_rng([seed, list(SITUATIONS).index(situation)])
    length = float(track.length)
    closed = bool(track.closed)
    backwards = situation == "reversed"
    span = 0.7 * length if not closed else length
    for run in range(runs):
        speed = SPEEDS_MPS[run % len(SPEEDS_MPS)]
        start_s = (run + 0.5) / runs * span
        if not closed and backwards:
            start_s = length - start_s
        side = 1.0 if run % 2 == 0 else -1.0
        objects: tuple[ObjectInfo, ...] = ()
        if situation == "objects":
            objects = _objects_near(track, start_s, length, closed)
        inputs: list[StepInputs] = []
        for k in range(steps):
            travelled = speed * CONTROL_DT_S * k
            s = start_s - travelled if backwards else start_s + travelled
            s = s % length if closed else min(max(s, 0.0), length - 1e-6)
            if situation in ("on_line", "objects", "zigzag"):
                lateral = float(rng.normal(0.0, 0.02))
            elif situation == "near_border":
                lateral = side * _near_border_frac(float(track.width_at(s)))
            elif situation == "off_track":
                width = float(track.width_at(s))
                hi = max(0.6 * width, 0.5 * width + OFF_TRACK_BEYOND_M) / width
                lateral = side * float(rng.uniform(0.6, hi))
            else:  # reversed: anywhere on the road
                lateral = float(rng.uniform(-0.2, 0.2))
            front, track_heading, _ = _place(track, s, lateral)
            yaw = track_heading + math.radians(float(rng.normal(0.0, 5.0)))
            if backwards:
                yaw += math.pi
            if situation == "zigzag":
                steering = 25.0 if k % 2 == 0 else -25.0
            elif situation in ("on_line", "objects"):
                curvature = float(track.curvature_at(s))
                steering = math.degrees(math.atan(WHEELBASE_M * curvature))
                steering = float(np.clip(steering + rng.normal(0.0, 3.0), -30.0, 30.0))
            else:
                steering = float(STEERING_DEG[int(rng.integers(len(STEERING_DEG)))])
            inputs.append(
                StepInputs(
                    front_xy=(float(front[0]), float(front[1])),
                    heading_rad=yaw,
                    wheels_xy=car_wheels(front, yaw),
                    speed_cmd_mps=speed,
                    steering_cmd_deg=steering,
                    measured_speed_mps=speed * float(rng.uniform(0.85, 1.0)),
                    steps=k + 1,
                    start_s=start_s,
                    prev_progress=0.0,
                    sim_time_s=(k + 1) * CONTROL_DT_S,
                    is_reversed=backwards,
                    objects=objects,
                )
            )
        yield inputs


def _near_border_frac(width_m: float) -> float:
    """Lateral offset (fraction of the width) near the border with every wheel still inside."""
    inside_m = 0.5 * width_m - 0.5 * AXLE_TRACK_M - NEAR_BORDER_MARGIN_M
    return max(min(0.45, inside_m / width_m), 0.0)


def _objects_near(
    track: Track, start_s: float, length: float, closed: bool
) -> tuple[ObjectInfo, ...]:
    """Two static boxes ahead of ``start_s`` (either side of the line) and a bot car behind."""
    placed = []
    for offset_m, lateral, speed in ((1.0, 0.25, 0.0), (3.0, -0.25, 0.0), (-1.5, 0.0, 1.0)):
        s = start_s + offset_m
        s = s % length if closed else min(max(s, 0.0), length - 1e-6)
        xy, heading, _ = _place(track, s, lateral)
        placed.append(
            ObjectInfo(
                x_m=float(xy[0]),
                y_m=float(xy[1]),
                heading_rad=heading,
                speed_mps=speed,
                is_bot=speed > 0.0,
            )
        )
    return tuple(placed)


def check_reward(
    plugin: RewardPlugin,
    track: Track,
    *,
    runs: int = 8,
    steps: int = 12,
    seed: int = 0,
) -> CheckReport:
    """Drive every situation's synthetic runs through ``plugin`` and summarise.

    Args:
        plugin: The reward to check.
        track: The track to draw poses on.
        runs: Runs per situation.
        steps: Consecutive steps per run.
        seed: Seed for the perturbations.

    Returns:
        The report: value range per situation, keys read, failures, notes.
    """
    builder = ParamsBuilder(track)
    results: list[SituationResult] = []
    accessed: set[str] = set()
    for name, description in SITUATIONS.items():
        result = SituationResult(name=name, description=description)
        for run in generate_runs(track, name, runs=runs, steps=steps, seed=seed):
            prev_progress = 0.0
            for inp in run:
                inp.prev_progress = prev_progress
                params = RecordingParams(builder.build(inp))
                prev_progress = params["progress"]
                params.accessed.clear()
                result.calls += 1
                try:
                    value = plugin(params, step=inp.steps)
                except RewardError as exc:
                    result.failures += 1
                    message = str(exc)
                    if message not in result.messages and len(result.messages) < MAX_FAILURES_KEPT:
                        result.messages.append(message)
                else:
                    result.values.append(value)
                accessed |= params.accessed
        results.append(result)
    known = set(DEEPRACER_KEYS) | set(EXTRA_KEYS)
    keys_read = sorted(k for k in accessed if isinstance(k, str) and k in known)
    unknown = sorted(str(k) for k in accessed if not (isinstance(k, str) and k in known))
    return CheckReport(
        plugin=plugin,
        track_name=str(getattr(track, "name", "?")),
        situations=results,
        keys_read=keys_read,
        unknown_keys=unknown,
        notes=_notes(results, unknown),
    )


def _notes(results: list[SituationResult], unknown: list[str]) -> list[str]:
    """Plain-language warnings about the reward's shape."""
    by_name = {r.name: r for r in results}
    notes = []
    values = [v for r in results for v in r.values]
    if values and max(values) == min(values):
        notes.append(f"the reward is constant ({values[0]:g}): it gives the agent nothing to learn")
    on_line = by_name["on_line"].mean
    for other, what in (
        ("off_track", "off-track poses pay"),
        ("reversed", "driving backwards pays"),
    ):
        mean = by_name[other].mean
        varied = len(values) > 1 and max(values) != min(values)
        if varied and not (math.isnan(on_line) or math.isnan(mean)) and mean >= on_line:
            notes.append(f"{what} as much as on-line driving (mean {mean:.3g} vs {on_line:.3g})")
    if unknown:
        notes.append(
            f"the function asks for keys that params does not have: {', '.join(unknown)} (typo?)"
        )
    return notes
