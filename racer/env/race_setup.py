"""What is on the track besides the car: DeepRacer's race formats and where their objects go.

One home for the objects of a race, used by training (:class:`racer.env.RaceEnv` and
:class:`racer.env.RaceVectorEnv`, ``race=``; agent.toml's ``[race]``) and by evaluation
(:mod:`racer.evaluate.races`), so that a model meets in evaluation the objects it trained with:

- ``time-trial``: the car alone.
- ``object-avoidance``: ``boxes`` static boxes, placed ``box_placement``:

  - ``random``: every episode anew from the car's seeded generator: the usable lap (from
    ``START_CLEAR_M`` after the start to ``FINISH_CLEAR_M`` before it) cut into equal sectors,
    one box per sector at a random arc length in its middle 60%, in the middle of a random lane;
  - ``fixed``: the same random draw every episode (from ``seed``), relative to the start;
  - ``alternating``: DeepRacer's default layout: one box in the middle of each sector, lanes
    alternating left, right, left...

- ``head-to-head``: ``bots`` bot cars at ``bot_speed_mps``, started ahead of the car and spread
  over the lap, driving the centre line (``bot_line = "center"``) or the racing line
  (``"racing"``); with ``bot_lane_change_s`` they drive a lane (a quarter of the width left or
  right of the centre, drawn per episode) and change lanes every that many seconds.

Objects are placed relative to the episode's start, so a car never starts inside one.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.errors import ConfigError
from racer.sim.objects import LineOffsets

__all__ = [
    "BOX_PLACEMENTS",
    "BOT_LINES",
    "BotPlacement",
    "BoxPlacement",
    "Layout",
    "RaceFormat",
    "RaceSetup",
    "bot_starts",
    "line_offsets",
    "place_boxes",
    "apply_layout",
    "place_objects",
    "resolve_race",
]

DEFAULT_BOXES = 3  # DeepRacer's object-avoidance default
DEFAULT_BOTS = 1
DEFAULT_BOT_SPEED_MPS = 0.8  # slower than a lapping car so it has to overtake
START_CLEAR_M = 2.0  # no box within this distance after the start line, m
FINISH_CLEAR_M = 1.0  # no box within this distance before the start line, m
BOT_MIN_GAP_M = 2.0  # the first bot starts at least this far ahead of the car, m
BOX_LANE_FRACTION = 0.25  # box centre at +-width/4: the middle of the left/right lane
BOX_PLACEMENTS = ("random", "fixed", "alternating")
BOT_LINES = ("center", "racing")


class RaceFormat(enum.StrEnum):
    """DeepRacer's race formats."""

    TIME_TRIAL = "time-trial"
    OBJECT_AVOIDANCE = "object-avoidance"
    HEAD_TO_HEAD = "head-to-head"


_FORMATS = {f.value for f in RaceFormat}
#: The fixed placement's generator is (seed, this): a stream apart from evaluation's (seed, trial)
_FIXED_STREAM = 1_000_003


@dataclass(frozen=True)
class RaceSetup:
    """The objects of a race: format, boxes and bot cars (module docstring)."""

    race: RaceFormat = RaceFormat.TIME_TRIAL
    """The race format: time-trial, object-avoidance or head-to-head."""
    boxes: int = DEFAULT_BOXES
    """Object avoidance: number of boxes."""
    box_placement: str = "random"
    """Object avoidance: random (every episode), fixed (one draw from seed) or alternating."""
    bots: int = DEFAULT_BOTS
    """Head-to-head: number of bot cars."""
    bot_speed_mps: float = DEFAULT_BOT_SPEED_MPS
    """Head-to-head: bot car speed, m/s."""
    bot_lane_change_s: float = 0.0
    """Head-to-head: seconds between a bot's lane changes (0: bots keep to their line)."""
    bot_line: str = "center"
    """Head-to-head: the line bots drive, center or racing."""
    seed: int = 0
    """The draw of the fixed box placement."""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "race", RaceFormat(self.race))
        except ValueError:
            valid = ", ".join(f.value for f in RaceFormat)
            raise ConfigError(f"race {self.race!r} is not valid: use one of {valid}") from None
        for name in ("boxes", "bots"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.box_placement not in BOX_PLACEMENTS:
            raise ConfigError(
                f"box_placement {self.box_placement!r} is not valid: use one of "
                + ", ".join(BOX_PLACEMENTS)
            )
        if self.bot_line not in BOT_LINES:
            raise ConfigError(
                f"bot_line {self.bot_line!r} is not valid: use one of " + ", ".join(BOT_LINES)
            )
        if not 0.0 <= self.bot_speed_mps <= 4.0:
            raise ConfigError(f"bot_speed_mps must be within 0-4 m/s, got {self.bot_speed_mps}")
        if not math.isfinite(self.bot_lane_change_s) or self.bot_lane_change_s < 0.0:
            raise ConfigError(f"bot_lane_change_s must be >= 0, got {self.bot_lane_change_s}")
        if self.bot_lane_change_s > 0.0 and self.bot_line == "racing":
            raise ConfigError(
                "bot_lane_change_s must be 0 for bots on the racing line (they do not change lanes)"
            )

    @property
    def n_boxes(self) -> int:
        """Boxes on the track in this format."""
        return int(self.boxes) if self.race == RaceFormat.OBJECT_AVOIDANCE else 0

    @property
    def n_bots(self) -> int:
        """Bot cars on the track in this format."""
        return int(self.bots) if self.race == RaceFormat.HEAD_TO_HEAD else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["race"] = self.race.value
        return data


def resolve_race(race: RaceSetup | Mapping[str, Any] | str | None) -> RaceSetup:
    """A :class:`RaceSetup` from a setup, a mapping of its fields, a format name or None."""
    if race is None:
        return RaceSetup()
    if isinstance(race, RaceSetup):
        return race
    if isinstance(race, str):
        return RaceSetup(race=RaceFormat(race) if race in _FORMATS else race)  # type: ignore[arg-type]
    fields = {f.name for f in dataclasses.fields(RaceSetup)}
    unknown = sorted(set(race) - fields)
    if unknown:
        raise ConfigError(f"unknown race setting {unknown[0]!r}: use {', '.join(sorted(fields))}")
    return RaceSetup(**dict(race))


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


@dataclass(frozen=True)
class BotPlacement:
    """One bot car at the start of an episode.

    Attributes:
        s_m: arc length along the driven track, m.
        lateral_m: its lane: offset from its line, m (+ = left).
        speed_mps: its speed, m/s.
        lane_change_s: seconds between lane changes (0: none).
        timer_s: seconds of the first lane-change period already gone.
        racing_line: it drives the racing line.
    """

    s_m: float
    lateral_m: float
    speed_mps: float
    lane_change_s: float = 0.0
    timer_s: float = 0.0
    racing_line: bool = False


@dataclass(frozen=True)
class Layout:
    """The objects of one episode: boxes, then bots (the order the world and params list them)."""

    boxes: tuple[BoxPlacement, ...] = ()
    bots: tuple[BotPlacement, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"boxes": [...], "bots": [...]}``."""
        return {
            "boxes": [dataclasses.asdict(b) for b in self.boxes],
            "bots": [dataclasses.asdict(b) for b in self.bots],
        }


def place_boxes(
    track: Any,
    n: int,
    rng: np.random.Generator | None,
    start_s: float = 0.0,
    alternating: bool = False,
) -> list[BoxPlacement]:
    """Box positions, spread over the lap, in the left or right lane, off the start area.

    The usable part of the lap (from ``START_CLEAR_M`` after the start to ``FINISH_CLEAR_M``
    before it) is cut into ``n`` equal sectors; each box lies in the middle 60% of its sector,
    at a random arc length, in the middle of a random lane (``+-width/4``); ``alternating``: in
    the middle of its sector, lanes alternating left, right... (``rng`` unused).

    Args:
        track: the driven :class:`racer.track.Track`.
        n: the number of boxes.
        rng: the generator (one trial's or one episode's).
        start_s: the start line's arc length, m.
        alternating: DeepRacer's evenly spaced, lane-alternating layout.

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
        if alternating or rng is None:
            u, lane = 0.5, (1.0 if k % 2 == 0 else -1.0)
        else:
            u = rng.uniform(0.2, 0.8)
            lane = 1.0 if rng.integers(2) else -1.0
        s = start_s + START_CLEAR_M + (k + u) * sector
        if track.closed:
            s %= float(track.length)
        width = float(track.width_at(s))
        lateral = lane * BOX_LANE_FRACTION * width
        x, y, yaw = track.lane_pose(s, lateral)
        out.append(BoxPlacement(s_m=float(s), lateral_m=lateral, x_m=x, y_m=y, yaw_rad=yaw))
    return out


def bot_starts(track: Any, n: int, start_s: float = 0.0) -> list[float]:
    """Arc lengths of ``n`` bot cars: ahead of the car, spread evenly over the lap.

    The first bot starts ``BOT_MIN_GAP_M`` ahead of the car, the others follow at equal spacing,
    the last still ``BOT_MIN_GAP_M`` or more ahead of the car's start from behind.

    Args:
        track: the track the bots drive (as driven).
        n: the number of bots.
        start_s: the car's start, m.

    Returns:
        One arc length per bot, m.
    """
    length = float(track.length)
    spacing = (length - 2.0 * BOT_MIN_GAP_M) / max(n, 1)
    starts = [start_s + BOT_MIN_GAP_M + k * spacing for k in range(n)]
    return [s % length if track.closed else min(s, length) for s in starts]


def place_objects(
    setup: RaceSetup, track: Any, rng: np.random.Generator, start_s: float = 0.0
) -> Layout:
    """The objects of one episode (or evaluation trial) that starts at ``start_s``.

    Draws from ``rng`` only what the setup needs (random boxes, bots' lanes and lane-change
    phases), in a fixed order, so that every env makes the same layout from the same generator.

    Args:
        setup: the race setup.
        track: the driven track.
        rng: the episode's generator (the car's seeded ``np_random``, or an evaluation trial's).
        start_s: the car's start, m.
    """
    boxes: list[BoxPlacement] = []
    if setup.n_boxes:
        if setup.box_placement == "alternating":
            boxes = place_boxes(track, setup.n_boxes, None, start_s, alternating=True)
        elif setup.box_placement == "fixed":
            fixed = np.random.default_rng([int(setup.seed), _FIXED_STREAM])
            boxes = place_boxes(track, setup.n_boxes, fixed, start_s)
        else:
            boxes = place_boxes(track, setup.n_boxes, rng, start_s)
    bots: list[BotPlacement] = []
    for s in bot_starts(track, setup.n_bots, start_s) if setup.n_bots else []:
        period = float(setup.bot_lane_change_s)
        lateral, timer = 0.0, 0.0
        if period > 0.0:
            lane = 1.0 if rng.integers(2) else -1.0
            lateral = lane * BOX_LANE_FRACTION * float(track.width_at(s))
            timer = float(rng.uniform(0.0, period))
        bots.append(
            BotPlacement(
                s_m=float(s),
                lateral_m=lateral,
                speed_mps=float(setup.bot_speed_mps),
                lane_change_s=period,
                timer_s=timer,
                racing_line=setup.bot_line == "racing",
            )
        )
    return Layout(tuple(boxes), tuple(bots))


def line_offsets(line: Any, track: Any) -> LineOffsets:
    """The racing line's offset from the centre line against centre-line arc length.

    Args:
        line: a :class:`racer.track.racing_line.RacingLine` of ``track``.
        track: the driven track.
    """
    s = np.asarray(line.center_s_m, dtype=np.float64)
    lat = np.asarray(line.lateral_m, dtype=np.float64)
    order = np.argsort(s, kind="stable")
    return LineOffsets(s[order], lat[order], float(track.length), bool(track.closed))


def apply_layout(world: Any, layout: Layout, track: Any, line: LineOffsets | None) -> None:
    """Clears the world's objects and puts ``layout``'s on it (boxes first, then bots).

    Args:
        world: a :class:`racer.sim.World`.
        layout: the objects.
        track: the driven track (the bots drive it).
        line: the driven track's racing line (for bots on it).
    """
    world.clear_objects()
    for b in layout.boxes:
        world.add_box(b.x_m, b.y_m, b.yaw_rad)
    for bot in layout.bots:
        world.add_bot(
            bot.s_m,
            bot.speed_mps,
            bot.lateral_m,
            track=track,
            lane_change_s=bot.lane_change_s,
            lane_change_timer_s=bot.timer_s,
            line=line if bot.racing_line else None,
        )
