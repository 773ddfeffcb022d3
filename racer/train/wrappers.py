"""The training side of one ``RaceEnv``: reward failures as data, compact ``info``.

:class:`TrainingWrapper` turns any exception raised in ``step`` or ``reset`` (a failing
reward plugin: its :class:`racer.errors.RewardError` names the file, line and step) into a
terminal step with ``info["fatal_error"]``, so the learner process stops the run with that one
line and the last checkpoint stays intact. It also replaces the full reward ``params`` in
``info`` (which holds the waypoint list) by a small simtrace record, so the per-step traffic
between processes stays small. The first step of an episode also carries
``info["trace_prepare"]``: the same record for the car at rest where the episode started (DRfC's
``prepare`` row).

Training itself steps its cars through :class:`racer.train.vec.RaceVecEnv`, which gives the
callbacks the same ``info`` from the vectorised env; this wrapper stays the reference it is tested
against (``tests/train/test_vec.py``) and drives the pre-flight check's single env.
"""

from __future__ import annotations

import signal
import traceback
from typing import Any

import gymnasium as gym

from racer.errors import RacerError
from racer.rewards.plugin import REWARD_STUCK_EXIT_STATUS, set_hard_stop
from racer.train.run_folder import TRACE_FIELDS

__all__ = ["TRACE_FIELDS", "TrainingWrapper"]

WORKER_POLL_S = 0.5  # how often a learner waiting on a worker checks that it is still alive
WORKER_STALL_S = 300.0  # a step silent this long (beyond the reward's limit) is stuck: stop
CLOSE_WAIT_S = 5.0  # at close, how long a worker gets to finish its step and exit cleanly


class TrainingWrapper(gym.Wrapper):
    """Compact ``info`` and reward failures reported as data (see module docstring).

    Args:
        env: a :class:`racer.env.RaceEnv`.
        ignore_sigint: ignore Ctrl-C in this process (subprocess workers: the learner handles it
            and closes the workers cleanly).
    """

    def __init__(self, env: gym.Env, ignore_sigint: bool = False) -> None:
        super().__init__(env)
        if ignore_sigint:  # a subprocess worker: the learner reports what ends it
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            set_hard_stop(REWARD_STUCK_EXIT_STATUS, announce=False)
        self._last_obs: Any = None
        self._fatal: str | None = None
        self._prepare: tuple[Any, ...] | None = None  # the start's trace, for the first step

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        try:
            obs, info = self.env.reset(**kwargs)
        except Exception as exc:
            if self._last_obs is None:  # the very first reset: nothing to stand in, say it
                raise
            self._fatal = self._fatal or self._describe(exc, "reset")
            return self._last_obs, {"fatal_error": self._fatal}
        self._last_obs = obs
        p = info.pop("params", None)
        self._prepare = None if p is None else _trace(p, 0.0, 0.0, 0.0, "prepare")
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._fatal is not None:
            return self._fatal_step(self._fatal)
        try:
            return self._step(action)
        except Exception as exc:
            self._fatal = self._describe(exc, "step")
            return self._fatal_step(self._fatal)

    def _fatal_step(self, message: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        info = {"fatal_error": message, "episode_status": "error", "progress": 0.0}
        return self._last_obs, 0.0, True, False, info

    def _describe(self, exc: Exception, what: str) -> str:
        """One line for the learner: a RacerError's own message, else type, text and place."""
        if isinstance(exc, RacerError):
            return str(exc)
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        text = " ".join(str(exc).split())[:200]
        reward = getattr(self.env.unwrapped, "reward_fn", None)
        source = f" (reward: {reward.source})" if reward is not None else ""
        return f"the training env's {what} failed: {type(exc).__name__}: {text}{where}{source}"

    def _step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._last_obs = obs
        p = info.pop("params")
        info["trace"] = _trace(
            p, info["steering_deg"], info["throttle_mps"], info["progress"], info["episode_status"]
        )
        if self._prepare is not None:
            info["trace_prepare"], self._prepare = self._prepare, None
        return obs, float(reward), terminated, truncated, info


def _trace(
    p: dict[str, Any], steer_deg: float, throttle_mps: float, progress: float, status: str
) -> tuple[Any, ...]:
    """The :data:`TRACE_FIELDS` of a step from the env's reward params and ``info``."""
    prev_i, next_i = p["closest_waypoints"]
    wps = p["waypoints"]
    x, y = p["x"], p["y"]
    dp = (wps[prev_i][0] - x) ** 2 + (wps[prev_i][1] - y) ** 2
    dn = (wps[next_i][0] - x) ** 2 + (wps[next_i][1] - y) ** 2
    return (
        x,
        y,
        p["heading"],
        steer_deg,
        throttle_mps,
        p["all_wheels_on_track"],
        progress,
        prev_i if dp <= dn else next_i,
        p["track_length"],
        p["sim_time"],
        status,
    )
