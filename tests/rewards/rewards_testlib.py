"""Helpers for the racer.rewards tests: hand-computed tracks and car poses."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from racer.rewards import ObjectInfo, StepInputs
from racer.rewards.check import car_wheels
from racer.track import Track

PLUGINS = Path(__file__).parent / "plugins"
RADIUS_M = 5.0
WIDTH_M = 1.0
N_WAYPOINTS = 200


def circle_track(n: int = N_WAYPOINTS, radius: float = RADIUS_M, width: float = WIDTH_M) -> Track:
    """A counter-clockwise circle: waypoint k at angle 2*pi*k/n, left border inside."""
    theta = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    unit = np.c_[np.cos(theta), np.sin(theta)]
    return Track(
        radius * unit,
        (radius - width / 2) * unit,
        (radius + width / 2) * unit,
        closed=True,
        name="circle",
    )


def strip_track(length: float = 10.0, width: float = 1.0, n: int = 21) -> Track:
    """An open straight strip along +x from (0, 0), left border at +y."""
    x = np.linspace(0.0, length, n)
    zeros = np.zeros(n)
    return Track(
        np.c_[x, zeros],
        np.c_[x, zeros + width / 2],
        np.c_[x, zeros - width / 2],
        closed=False,
        name="strip",
    )


PoseFn = Callable[..., StepInputs]


def make_pose(
    track: Track,
    s: float,
    lateral_m: float = 0.0,
    *,
    heading_offset_deg: float = 0.0,
    steering_deg: float = 0.0,
    speed_mps: float = 1.0,
    steps: int = 1,
    start_s: float = 0.0,
    prev_progress: float = 0.0,
    objects: Sequence[ObjectInfo] = (),
    is_reversed: bool = False,
) -> StepInputs:
    """StepInputs for a car whose front point is ``lateral_m`` left of the centre at ``s``."""
    heading = float(track.heading_at(s))
    centre = np.asarray(track.point_at(s), dtype=float)
    front = centre + lateral_m * np.array((-math.sin(heading), math.cos(heading)))
    yaw = heading + math.radians(heading_offset_deg)
    return StepInputs(
        front_xy=(float(front[0]), float(front[1])),
        heading_rad=yaw,
        wheels_xy=car_wheels(front, yaw),
        speed_cmd_mps=speed_mps,
        steering_cmd_deg=steering_deg,
        measured_speed_mps=0.9 * speed_mps,
        steps=steps,
        start_s=start_s,
        prev_progress=prev_progress,
        sim_time_s=steps / 15.0,
        objects=tuple(objects),
        is_reversed=is_reversed,
    )
