"""The racing expert: drives the optimal racing line at its speed profile, on the true pose.

Like :class:`racer.env.follower.CenterlineFollower` it is privileged (it reads the simulator's
pose), so it is a teacher, a reference row on a leaderboard and a check of the physics, never a
policy for a real car. It proves the lap-time bound is drivable: on every built-in track it laps
within a few percent of :attr:`racer.track.RacingLine.lap_time_s` without leaving the road.

Steering is pure pursuit from the rear axle onto the racing line, with a look-ahead that grows
with speed (``lookahead_m = min_lookahead_m + lookahead_s * speed``). Speed is the profile speed
where the car will be at the end of this control period, so the motor's and the brake's limits,
which the profile already obeys, bring the car onto the profile without overshoot.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racer.contract.car import DT_S, MAX_STEERING_DEG, WHEELBASE_M
from racer.env.race_env import RaceEnv
from racer.track.racing_line import RacingLine, racing_line

MIN_LOOKAHEAD_M = 0.25  # pure-pursuit look-ahead at standstill, m
LOOKAHEAD_S = 0.12  # look-ahead grows by this many seconds of travel, s (0.73 m at 4 m/s)
SPEED_LEAD_S = DT_S  # the speed command is the profile this far ahead in time: one period


class LineTable:
    """A racing line as arrays against its own arc length, for fast ``np.interp`` look-ups.

    A closed line repeats its first point at ``s = length`` so look-ups run across the seam.
    """

    __slots__ = ("closed", "length", "s", "v", "x", "y")

    def __init__(self, line: RacingLine) -> None:
        s = np.asarray(line.s_m, dtype=np.float64)
        xy = np.asarray(line.xy, dtype=np.float64)
        v = np.asarray(line.speed_mps, dtype=np.float64)
        self.closed = bool(line.closed)
        self.length = float(line.length_m)
        if self.closed:
            s = np.append(s, self.length)
            xy = np.vstack((xy, xy[:1]))
            v = np.append(v, v[0])
        self.s, self.x, self.y, self.v = s, xy[:, 0].copy(), xy[:, 1].copy(), v

    def wrap(self, s: Any) -> Any:
        """Arc length folded into the line (closed) or clipped to its ends (open)."""
        if self.closed:
            return np.mod(s, self.length)
        return np.clip(s, 0.0, self.length)

    def point(self, s: float) -> tuple[float, float]:
        """The line's point at arc length ``s``."""
        s = float(self.wrap(s))
        return float(np.interp(s, self.s, self.x)), float(np.interp(s, self.s, self.y))

    def speed(self, s: float) -> float:
        """The profile speed at arc length ``s``."""
        return float(np.interp(float(self.wrap(s)), self.s, self.v))


class RacingLineExpert:
    """Pure pursuit on the racing line at the profile speed, for a :class:`RaceEnv`.

    Args:
        env: the environment to drive (``env.unwrapped`` is used); it provides the racing line
            of the direction driven this episode (:attr:`RaceEnv.racing_line`).
        speed_scale: multiplies the profile speed (1.0 races at the car's limits).
        safety_margin_m: drive a line kept this far from the borders (beyond half the car's
            width) instead of the env's; a wider margin leaves a student room for its errors.
        min_lookahead_m: pure-pursuit look-ahead at standstill, m.
        lookahead_s: extra look-ahead per m/s of speed, s.
    """

    def __init__(
        self,
        env: Any,
        speed_scale: float = 1.0,
        min_lookahead_m: float = MIN_LOOKAHEAD_M,
        lookahead_s: float = LOOKAHEAD_S,
        safety_margin_m: float | None = None,
    ) -> None:
        self.env: RaceEnv = env.unwrapped
        self.speed_scale = speed_scale
        self.safety_margin_m = safety_margin_m
        self.min_lookahead_m = min_lookahead_m
        self.lookahead_s = lookahead_s
        self._tables: dict[int, LineTable] = {}
        self._own_lines: dict[int, RacingLine] = {}

    @property
    def line(self) -> RacingLine:
        """The line driven this episode: the env's, or one with this expert's margin."""
        if self.safety_margin_m is None:
            return self.env.racing_line
        env = self.env
        track = env.driven_track
        line = self._own_lines.get(id(track))
        if line is None:  # one per driving direction (the env keeps both tracks alive)
            line = self._own_lines[id(track)] = racing_line(
                track, env.world.config.car_limits(), safety_margin_m=self.safety_margin_m
            )
        return line

    def _table(self, line: RacingLine) -> LineTable:
        table = self._tables.get(id(line))
        if table is None:
            table = self._tables[id(line)] = LineTable(line)
        return table

    def command(self) -> tuple[float, float]:
        """The (steering_deg, speed_mps) the expert wants now."""
        env = self.env
        state = env.world.car_state()
        line = self.line
        table = self._table(line)
        yaw = float(state.yaw_rad)
        v = max(0.0, float(state.speed_mps))
        rx = state.x_m - 0.5 * WHEELBASE_M * math.cos(yaw)
        ry = state.y_m - 0.5 * WHEELBASE_M * math.sin(yaw)
        s = float(line.nearest(np.array((rx, ry))).s_m)
        lookahead = self.min_lookahead_m + self.lookahead_s * v
        tx, ty = table.point(s + lookahead)
        alpha = math.atan2(ty - ry, tx - rx) - yaw
        alpha = (alpha + math.pi) % (2 * math.pi) - math.pi
        dist = max(math.hypot(tx - rx, ty - ry), 1e-3)
        steer = math.degrees(math.atan2(2.0 * WHEELBASE_M * math.sin(alpha), dist))
        steer = max(-MAX_STEERING_DEG, min(MAX_STEERING_DEG, steer))
        # Where the car will be after this period (front of the car: 0.5 wheelbase ahead).
        speed = table.speed(s + 0.5 * WHEELBASE_M + v * SPEED_LEAD_S) * self.speed_scale
        return steer, speed

    def act(self) -> Any:
        """The env action closest to :meth:`command` in the env's action space."""
        steer, speed = self.command()
        return self.env.action_spec.to_action(steer, speed)
