"""Race formats and their settings: time trial, object avoidance, head-to-head against bots.

DeepRacer's three formats, set up on a :class:`racer.sim.World` before each trial:

- ``time-trial``: the car alone on the track.
- ``object-avoidance``: ``boxes`` static boxes on the road, at seeded arc lengths spread over the
  lap (one per equal sector, outside the start area), each in the middle of the left or the right
  lane (seeded), as DeepRacer places them.
- ``head-to-head``: ``bots`` bot cars driving the centre line at ``bot_speed_mps``, started
  ahead of the car and spread evenly over the lap.

:class:`RaceConfig` also holds DeepRacer's evaluation rules (laps, off-track and crash penalties,
reset limit, time limit); every field has a one-line docstring.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.errors import ConfigError

DEFAULT_TRIALS = 3  # DeepRacer's console evaluation runs 3 trials
DEFAULT_OFFTRACK_PENALTY_S = 5.0  # seconds added per off-track (DeepRacer races use 1-5 s)
DEFAULT_CRASH_PENALTY_S = 5.0  # seconds added per collision with a box or a bot car
DEFAULT_RESET_LIMIT = 10_000  # DeepRacer's "unlimited" resets; the time limit bounds a trial
DEFAULT_TIME_LIMIT_PER_LAP_S = 180.0  # simulated seconds per requested lap before time_up
DEFAULT_BOXES = 3  # DeepRacer's object-avoidance default
DEFAULT_BOTS = 1
DEFAULT_BOT_SPEED_MPS = 0.8  # slower than a lapping car so it has to overtake
LEADERBOARD_LAPS = 3  # DeepRacer ranks the average of 3 consecutive laps
START_CLEAR_M = 2.0  # no box within this distance after the start line, m
FINISH_CLEAR_M = 1.0  # no box within this distance before the start line, m
BOT_MIN_GAP_M = 2.0  # the first bot starts at least this far ahead of the car, m
BOX_LANE_FRACTION = 0.25  # box centre at +-width/4: the middle of the left/right lane


class RaceFormat(enum.StrEnum):
    """DeepRacer's race formats."""

    TIME_TRIAL = "time-trial"
    OBJECT_AVOIDANCE = "object-avoidance"
    HEAD_TO_HEAD = "head-to-head"


@dataclass
class RaceConfig:
    """How a model is evaluated: format, rules and seeds."""

    race: RaceFormat = RaceFormat.TIME_TRIAL
    """The race format."""
    trials: int = DEFAULT_TRIALS
    """Independent trials, each from the start line."""
    laps: int = 1
    """Consecutive laps per trial (the leaderboard uses 3)."""
    offtrack_penalty_s: float = DEFAULT_OFFTRACK_PENALTY_S
    """Seconds added to the elapsed (and lap) time per off-track."""
    crash_penalty_s: float = DEFAULT_CRASH_PENALTY_S
    """Seconds added per collision with a box or a bot car."""
    reset_limit: int = DEFAULT_RESET_LIMIT
    """Resets allowed per trial; the incident after the last allowed reset ends the trial."""
    time_limit_per_lap_s: float = DEFAULT_TIME_LIMIT_PER_LAP_S
    """Simulated driving seconds per requested lap before the trial ends with ``time_up``."""
    boxes: int = DEFAULT_BOXES
    """Object avoidance: number of boxes."""
    bots: int = DEFAULT_BOTS
    """Head-to-head: number of bot cars."""
    bot_speed_mps: float = DEFAULT_BOT_SPEED_MPS
    """Head-to-head: bot car speed, m/s."""
    seed: int = 0
    """Seed of object placement (trial ``k`` uses ``seed`` and ``k``)."""

    def __post_init__(self) -> None:
        try:
            self.race = RaceFormat(self.race)
        except ValueError:
            valid = ", ".join(f.value for f in RaceFormat)
            raise ConfigError(f"race {self.race!r} is not valid: use one of {valid}") from None
        for name, low in (("trials", 1), ("laps", 1), ("reset_limit", 0), ("boxes", 0)):
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if self.bots < 0:
            raise ConfigError(f"bots must be >= 0, got {self.bots}")
        for name in ("offtrack_penalty_s", "crash_penalty_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a number >= 0, got {value}")
        if not math.isfinite(self.time_limit_per_lap_s) or self.time_limit_per_lap_s <= 0:
            raise ConfigError(f"time_limit_per_lap_s must be > 0, got {self.time_limit_per_lap_s}")
        if not 0.0 <= self.bot_speed_mps <= 4.0:
            raise ConfigError(f"bot_speed_mps must be within 0-4 m/s, got {self.bot_speed_mps}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["race"] = self.race.value
        return data


@dataclass(frozen=True)
class BoxPlacement:
    """One obstacle box.

    Attributes:
        s_m: arc length along the driven track, m.
        lateral_m: offset from the centre line, m (+ = left of the driving direction).
        x_m: centre x, m.
        y_m: centre y, m.
        yaw_rad: rotation (the track heading there), rad.
    """

    s_m: float
    lateral_m: float
    x_m: float
    y_m: float
    yaw_rad: float


def trial_rng(seed: int, trial: int) -> np.random.Generator:
    """The random generator of one trial: independent streams per (seed, trial)."""
    return np.random.default_rng([int(seed), int(trial)])


def place_boxes(
    track: Any, n: int, rng: np.random.Generator, start_s: float = 0.0
) -> list[BoxPlacement]:
    """Seeded box positions, spread over the lap, in the left or right lane, off the start area.

    The usable part of the lap (from ``START_CLEAR_M`` after the start to ``FINISH_CLEAR_M``
    before it) is cut into ``n`` equal sectors; each box lies in the middle 60% of its sector,
    at a random arc length, in the middle of a random lane (``+-width/4``).

    Args:
        track: the driven :class:`racer.track.Track`.
        n: the number of boxes.
        rng: the generator (see :func:`trial_rng`).
        start_s: the start line's arc length, m.

    Returns:
        The placements, in driving order.

    Raises:
        ConfigError: the track is too short for ``n`` boxes.
    """
    if n == 0:
        return []
    usable = float(track.length) - START_CLEAR_M - FINISH_CLEAR_M
    sector = usable / n
    if sector < 1.0:
        raise ConfigError(
            f"track {track.name!r} ({track.length:.1f} m) is too short for {n} boxes; use fewer"
        )
    out: list[BoxPlacement] = []
    for k in range(n):
        u = rng.uniform(0.2, 0.8)
        lane = 1.0 if rng.integers(2) else -1.0
        s = start_s + START_CLEAR_M + (k + u) * sector
        if track.closed:
            s %= float(track.length)
        width = float(track.width_at(s))
        lateral = lane * BOX_LANE_FRACTION * width
        cx, cy = np.asarray(track.point_at(s), dtype=np.float64).reshape(-1)
        yaw = float(track.heading_at(s))
        x = float(cx) - lateral * math.sin(yaw)
        y = float(cy) + lateral * math.cos(yaw)
        out.append(BoxPlacement(s_m=float(s), lateral_m=lateral, x_m=x, y_m=y, yaw_rad=yaw))
    return out


def bot_starts(track: Any, n: int, start_s: float = 0.0) -> list[float]:
    """Arc lengths of ``n`` bot cars: ahead of the car, spread evenly over the lap.

    The first bot starts ``BOT_MIN_GAP_M`` ahead of the car, the others follow at equal spacing,
    the last still ``BOT_MIN_GAP_M`` or more ahead of the car's start from behind.

    Args:
        track: the track the bots drive (the world's track).
        n: the number of bots.
        start_s: the car's start, m.

    Returns:
        One arc length per bot, m.
    """
    length = float(track.length)
    spacing = (length - 2.0 * BOT_MIN_GAP_M) / max(n, 1)
    starts = [start_s + BOT_MIN_GAP_M + k * spacing for k in range(n)]
    return [s % length if track.closed else min(s, length) for s in starts]


def setup_race(world: Any, track: Any, config: RaceConfig, trial: int) -> dict[str, Any]:
    """Clear the world's objects and place this trial's boxes or bots.

    Args:
        world: the :class:`racer.sim.World`.
        track: the driven track (forward direction; the world's own track).
        config: the race settings.
        trial: the trial index (seeds the placement).

    Returns:
        A JSON-ready description: ``{"boxes": [...], "bots": [...]}``.
    """
    world.clear_objects()
    rng = trial_rng(config.seed, trial)
    layout: dict[str, Any] = {"boxes": [], "bots": []}
    if config.race == RaceFormat.OBJECT_AVOIDANCE:
        for b in place_boxes(track, config.boxes, rng):
            world.add_box(b.x_m, b.y_m, b.yaw_rad)
            layout["boxes"].append(dataclasses.asdict(b))
    elif config.race == RaceFormat.HEAD_TO_HEAD:
        for s in bot_starts(track, config.bots):
            world.add_bot(s, config.bot_speed_mps, 0.0)
            layout["bots"].append({"s_m": s, "speed_mps": config.bot_speed_mps})
    return layout
