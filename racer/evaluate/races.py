"""Race formats and their settings: time trial, object avoidance, head-to-head against bots.

DeepRacer's three formats, set up on a :class:`racer.sim.World` before each trial:

- ``time-trial``: the car alone on the track.
- ``object-avoidance``: ``boxes`` static boxes on the road, spread over the lap (one per equal
  sector, outside the start area), each in the middle of the left or the right lane; placed
  ``box_placement``: ``random`` (seeded per trial), ``fixed`` or DeepRacer's ``alternating``.
- ``head-to-head``: ``bots`` bot cars at ``bot_speed_mps``, started ahead of the car and spread
  evenly over the lap, on the centre or the racing line, changing lanes every
  ``bot_lane_change_s`` when set.

The objects come from the env's placement (:mod:`racer.env.race_setup`, the one home of the race
setup that training uses too): :attr:`RaceConfig.setup` is the race as a
:class:`racer.env.race_setup.RaceSetup`, and :func:`setup_race` places trial ``k``'s objects
from the generator :func:`trial_rng` gives it.

:class:`RaceConfig` also holds DeepRacer's evaluation rules (laps, off-track and crash penalties,
reset limit, time limit); every field has a one-line docstring.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.env.race_setup import (  # the race's objects live with the env: one placement code
    BOT_MIN_GAP_M,
    BOX_LANE_FRACTION,
    DEFAULT_BOT_SPEED_MPS,
    DEFAULT_BOTS,
    DEFAULT_BOXES,
    FINISH_CLEAR_M,
    START_CLEAR_M,
    BoxPlacement,
    RaceFormat,
    RaceSetup,
    apply_layout,
    bot_starts,
    place_boxes,
    place_objects,
)
from racer.errors import ConfigError

__all__ = [
    "BOT_MIN_GAP_M",
    "BOX_LANE_FRACTION",
    "DEFAULT_BOTS",
    "DEFAULT_BOT_SPEED_MPS",
    "DEFAULT_BOXES",
    "FINISH_CLEAR_M",
    "LEADERBOARD_LAPS",
    "START_CLEAR_M",
    "BoxPlacement",
    "RaceConfig",
    "RaceFormat",
    "bot_starts",
    "place_boxes",
    "setup_race",
    "trial_rng",
]

DEFAULT_TRIALS = 3  # DeepRacer's console evaluation runs 3 trials
DEFAULT_OFFTRACK_PENALTY_S = 5.0  # seconds added per off-track (DeepRacer races use 1-5 s)
DEFAULT_CRASH_PENALTY_S = 5.0  # seconds added per collision with a box or a bot car
DEFAULT_RESET_LIMIT = 10_000  # DeepRacer's "unlimited" resets; the time limit bounds a trial
DEFAULT_TIME_LIMIT_PER_LAP_S = 180.0  # simulated seconds per requested lap before time_up
LEADERBOARD_LAPS = 3  # DeepRacer ranks the average of 3 consecutive laps


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
    box_placement: str = "random"
    """Object avoidance: random (per trial), fixed (one draw from seed) or alternating."""
    bot_lane_change_s: float = 0.0
    """Head-to-head: seconds between a bot's lane changes (0: bots keep to their line)."""
    bot_line: str = "center"
    """Head-to-head: the line bots drive, center or racing."""
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
        self.setup  # noqa: B018  (checks the object settings: RaceSetup's rules)

    @property
    def setup(self) -> RaceSetup:
        """The objects of this race, as training's env takes them (:class:`RaceSetup`)."""
        return RaceSetup(
            race=self.race,
            boxes=self.boxes,
            box_placement=self.box_placement,
            bots=self.bots,
            bot_speed_mps=self.bot_speed_mps,
            bot_lane_change_s=self.bot_lane_change_s,
            bot_line=self.bot_line,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["race"] = self.race.value
        return data


def trial_rng(seed: int, trial: int) -> np.random.Generator:
    """The random generator of one trial: independent streams per (seed, trial)."""
    return np.random.default_rng([int(seed), int(trial)])


def setup_race(
    world: Any, track: Any, config: RaceConfig, trial: int, line: Any = None
) -> dict[str, Any]:
    """Clear the world's objects and place this trial's boxes or bots.

    The placement is training's (:func:`racer.env.race_setup.place_objects`) with the trial's
    generator, from the start line.

    Args:
        world: the :class:`racer.sim.World`.
        track: the driven track (forward direction; the world's own track).
        config: the race settings.
        trial: the trial index (seeds the placement).
        line: the driven track's racing-line offsets
            (:func:`racer.env.race_setup.line_offsets`), for bots on the racing line.

    Returns:
        A JSON-ready description: ``{"boxes": [...], "bots": [...]}``.
    """
    layout = place_objects(config.setup, track, trial_rng(config.seed, trial))
    if line is None and any(b.racing_line for b in layout.bots):
        from racer.env.race_setup import line_offsets
        from racer.track.racing_line import racing_line

        line = line_offsets(racing_line(track, world.config.car_limits()), track)
    apply_layout(world, layout, track, line)
    return layout.to_dict()
