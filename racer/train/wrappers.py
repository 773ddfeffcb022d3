"""The training-side wrapper around RaceEnv: compact step records and reward failures as data.

Inside a subprocess vector env an exception kills the worker and the learner only sees a broken
pipe. The wrapper turns a :class:`racer.errors.RacerError` raised in ``step`` (a failing reward
plugin) into a terminal step with ``info["fatal_error"]`` so the learner process can stop the run
with the plugin's own message, after its last checkpoint stays intact. It also replaces the full
reward ``params`` in ``info`` (which holds the waypoint list) by a small simtrace record, so the
per-step traffic between processes stays small.
"""

from __future__ import annotations

import signal
from typing import Any

import gymnasium as gym

from racer.errors import RacerError

#: Fields of ``info["trace"]``, in order (the simtrace CSV columns the env knows).
TRACE_FIELDS = (
    "x",
    "y",
    "yaw_deg",
    "steer_deg",
    "throttle_mps",
    "all_wheels_on_track",
    "progress",
    "closest_waypoint",
    "track_len",
    "tstamp",
    "episode_status",
)


class TrainingWrapper(gym.Wrapper):
    """Compact ``info`` and reward failures reported as data (see module docstring).

    Args:
        env: a :class:`racer.env.RaceEnv`.
        ignore_sigint: ignore Ctrl-C in this process (subprocess workers: the learner handles it
            and closes the workers cleanly).
    """

    def __init__(self, env: gym.Env, ignore_sigint: bool = False) -> None:
        super().__init__(env)
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._last_obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._last_obs = obs
        info.pop("params", None)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except RacerError as exc:
            return (
                self._last_obs,
                0.0,
                True,
                False,
                {"fatal_error": str(exc), "episode_status": "error", "progress": 0.0},
            )
        self._last_obs = obs
        p = info.pop("params")
        prev_i, next_i = p["closest_waypoints"]
        wps = p["waypoints"]
        x, y = p["x"], p["y"]
        dp = (wps[prev_i][0] - x) ** 2 + (wps[prev_i][1] - y) ** 2
        dn = (wps[next_i][0] - x) ** 2 + (wps[next_i][1] - y) ** 2
        info["trace"] = (
            x,
            y,
            p["heading"],
            info["steering_deg"],
            info["throttle_mps"],
            p["all_wheels_on_track"],
            info["progress"],
            prev_i if dp <= dn else next_i,
            p["track_length"],
            p["sim_time"],
            info["episode_status"],
        )
        return obs, float(reward), terminated, truncated, info
