"""A built-in centre-line follower: pure pursuit on the track geometry.

It is not a learned policy: it reads the car's true pose from the simulator, so it is a teacher,
a baseline and a test of the physics (steering sign, speed control, progress), never something to
deploy. The demo drives it, the tests use it to prove every built-in track can be lapped, and
``racer rewards check`` style tools use it to produce realistic poses.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from racer.contract.actions import ActionSpace
from racer.contract.car import MAX_STEERING_DEG, WHEELBASE_M
from racer.env.race_env import RaceEnv


class CenterlineFollower:
    """Pure-pursuit driver for a :class:`RaceEnv`.

    Args:
        env: the environment to drive (unwrapped or wrapped; ``env.unwrapped`` is used).
        speed_mps: cruise speed on straights.
        min_speed_mps: speed in the tightest turns.
        lookahead_m: pure-pursuit look-ahead distance at cruise speed.
    """

    def __init__(
        self,
        env: Any,
        speed_mps: float = 1.5,
        min_speed_mps: float = 0.8,
        lookahead_m: float = 0.45,
    ) -> None:
        self.env: RaceEnv = env.unwrapped
        self.speed_mps = speed_mps
        self.min_speed_mps = min_speed_mps
        self.lookahead_m = lookahead_m

    def command(self) -> tuple[float, float]:
        """The (steering_deg, speed_mps) the follower wants now."""
        env = self.env
        state = env.world.car_state()
        track = env.driven_track
        # Rear axle reference for pure pursuit.
        yaw = float(state.yaw_rad)
        rear = np.array(
            [
                state.x_m - 0.5 * WHEELBASE_M * math.cos(yaw),
                state.y_m - 0.5 * WHEELBASE_M * math.sin(yaw),
            ]
        )
        s = float(track.project(rear).s)
        curv_ahead = np.abs(track.curvature_at(s + np.linspace(0.0, 1.2, 7))).max()
        # Slow down for tight turns: v = cruise at k = 0, min at k >= 1.5 1/m.
        frac = min(1.0, float(curv_ahead) / 1.5)
        speed = self.speed_mps + (self.min_speed_mps - self.speed_mps) * frac
        lookahead = self.lookahead_m * (0.6 + 0.4 * speed / self.speed_mps)
        target = track.point_at(s + lookahead)
        alpha = math.atan2(target[1] - rear[1], target[0] - rear[0]) - yaw
        alpha = (alpha + math.pi) % (2 * math.pi) - math.pi
        dist = float(np.hypot(*(target - rear)))
        steer = math.degrees(math.atan2(2.0 * WHEELBASE_M * math.sin(alpha), max(dist, 1e-3)))
        steer = max(-MAX_STEERING_DEG, min(MAX_STEERING_DEG, steer))
        return steer, speed

    def act(self) -> Any:
        """The env action closest to :meth:`command` in the env's action space."""
        steer, speed = self.command()
        return command_to_action(self.env.action_spec, steer, speed)


def command_to_action(spec: ActionSpace, steering_deg: float, speed_mps: float) -> Any:
    """The action of ``spec`` closest to a physical command (the inverse of ``to_command``).

    Discrete: the index of the nearest (steering, speed) pair, steering weighted per 30 deg and
    speed per 2 m/s. Continuous: the normalised ``[-1, 1]`` pair, clipped to the ranges. This is
    :meth:`racer.contract.ActionSpace.to_action`.
    """
    return spec.to_action(steering_deg, speed_mps)


class VectorCenterlineFollower:
    """:class:`CenterlineFollower` for every car of a :class:`racer.env.RaceVectorEnv` at once.

    The same pure pursuit, in numpy over the cars (speeds in turns from the curvature 0-1.2 m
    ahead, the look-ahead point on the centre line); for benchmarks and batched baselines.
    """

    def __init__(
        self,
        venv: Any,
        speed_mps: float = 1.5,
        min_speed_mps: float = 0.8,
        lookahead_m: float = 0.45,
    ) -> None:
        self.venv = venv
        self.speed_mps = speed_mps
        self.min_speed_mps = min_speed_mps
        self.lookahead_m = lookahead_m

    def commands(self) -> tuple[np.ndarray, np.ndarray]:
        """(steering_deg, speed_mps) per car."""
        venv = self.venv
        x, y, yaw = venv.car_poses()
        rev = venv.reversed_cars()
        steer = np.zeros(len(x))
        speed = np.zeros(len(x))
        for flag in (False, True):
            sel = np.nonzero(rev == flag)[0]
            if sel.size == 0:
                continue
            track = venv.driven_tracks[flag]
            c, s_ = np.cos(yaw[sel]), np.sin(yaw[sel])
            rear = np.stack((x[sel] - 0.5 * WHEELBASE_M * c, y[sel] - 0.5 * WHEELBASE_M * s_), 1)
            s = np.asarray(track.project(rear).s, dtype=np.float64)
            ahead = s[:, None] + np.linspace(0.0, 1.2, 7)[None, :]
            curv = np.abs(track.curvature_at(ahead)).max(axis=1)
            frac = np.minimum(1.0, curv / 1.5)
            v = self.speed_mps + (self.min_speed_mps - self.speed_mps) * frac
            look = self.lookahead_m * (0.6 + 0.4 * v / self.speed_mps)
            target = np.asarray(track.point_at(s + look), dtype=np.float64).reshape(-1, 2)
            d = target - rear
            alpha = np.arctan2(d[:, 1], d[:, 0]) - yaw[sel]
            alpha = (alpha + np.pi) % (2 * np.pi) - np.pi
            dist = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-3)
            st = np.degrees(np.arctan2(2.0 * WHEELBASE_M * np.sin(alpha), dist))
            steer[sel] = np.clip(st, -MAX_STEERING_DEG, MAX_STEERING_DEG)
            speed[sel] = v
        return steer, speed

    def act(self) -> np.ndarray:
        """The actions closest to :meth:`commands` in the env's action space, one per car."""
        steer, speed = self.commands()
        spec = self.venv.action_spec
        if spec.kind == "discrete":
            return np.asarray([spec.to_action(a, b) for a, b in zip(steer, speed, strict=True)])
        lo, hi = spec.steering_deg
        a0 = 2.0 * (steer - lo) / (hi - lo) - 1.0
        lo, hi = spec.speed_mps
        a1 = 2.0 * (speed - lo) / (hi - lo) - 1.0
        return np.clip(np.stack((a0, a1), axis=1), -1.0, 1.0).astype(np.float32)
