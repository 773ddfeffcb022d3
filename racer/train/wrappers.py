"""The training side of the env stack: reward failures as data, workers that cannot hang a run.

Inside a subprocess vector env an exception kills the worker and the learner only sees a broken
pipe. :class:`TrainingWrapper` turns any exception raised in ``step`` or ``reset`` (a failing
reward plugin: its :class:`racer.errors.RewardError` names the file, line and step) into a
terminal step with ``info["fatal_error"]``, so the learner process stops the run with that one
line and the last checkpoint stays intact. It also replaces the full reward ``params`` in
``info`` (which holds the waypoint list) by a small simtrace record, so the per-step traffic
between processes stays small. The first step of an episode also carries
``info["trace_prepare"]``: the same record for the car at rest where the episode started (DRfC's
``prepare`` row).

:class:`GuardedSubprocVecEnv` is stable-baselines3's ``SubprocVecEnv`` with the two ways it can
hang closed: a worker that dies (``os._exit`` through a back door, a signal, the out-of-memory
killer) makes the learner wait forever on its pipe, and ``close()`` after a failed step waits
for answers that never come. Here every wait polls the pipe and checks the worker is alive, a
worker silent for longer than a stall limit is stopped, and both end the run with one
:class:`racer.errors.RacerError` line naming the worker and the reward.
"""

from __future__ import annotations

import contextlib
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import SubprocVecEnv

from racer.errors import RacerError
from racer.rewards.plugin import REWARD_STUCK_EXIT_STATUS, set_hard_stop
from racer.train.run_folder import TRACE_FIELDS

__all__ = ["TRACE_FIELDS", "GuardedSubprocVecEnv", "TrainingWrapper"]

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


class GuardedSubprocVecEnv(SubprocVecEnv):
    """``SubprocVecEnv`` whose waits cannot hang on a dead or stuck worker (module docstring).

    Every answer is awaited by polling the pipe every :data:`WORKER_POLL_S` and checking the
    worker process; the cost on the happy path is one ``poll`` system call per worker and step.

    Args:
        env_fns: One factory per worker.
        start_method: ``multiprocessing`` start method (stable-baselines3's default if None).
        reward_source: The reward, as the user gave it, for the one-line messages.
        stall_s: A worker silent this long is stopped and the run ends.
    """

    def __init__(
        self,
        env_fns: list[Callable[[], gym.Env]],
        start_method: str | None = None,
        *,
        reward_source: str = "",
        stall_s: float = WORKER_STALL_S,
    ) -> None:
        self._reward_source = reward_source
        self._stall_s = float(stall_s)
        self._pending: list[bool] = [False] * len(env_fns)
        super().__init__(env_fns, start_method)

    # -- the guarded wait ---------------------------------------------------------------------

    def _recv(self, i: int) -> Any:
        remote, process = self.remotes[i], self.processes[i]
        start = time.monotonic()
        while not remote.poll(WORKER_POLL_S):
            if not process.is_alive():
                raise self._died(i)
            waited = time.monotonic() - start
            if waited > self._stall_s:
                process.kill()
                raise RacerError(
                    f"training worker {i} did not answer for {waited:.0f} s "
                    f"(reward {self._reward_source or '?'} stuck in code its time limit cannot "
                    "stop?); stopped the run; its last checkpoint is kept"
                )
        try:
            answer = remote.recv()
        except (EOFError, OSError):
            raise self._died(i) from None
        self._pending[i] = False
        return answer

    def _send(self, i: int, message: Any) -> None:
        try:
            self.remotes[i].send(message)
        except (BrokenPipeError, EOFError, OSError):
            raise self._died(i) from None
        self._pending[i] = True

    def _died(self, i: int) -> RacerError:
        process = self.processes[i]
        process.join(1.0)
        code = process.exitcode
        if code == REWARD_STUCK_EXIT_STATUS:
            return RacerError(
                f"training worker {i}: its reward {self._reward_source or '?'} ran past its time "
                "limit and caught every stop (a bare except or `except BaseException` in a "
                "loop?); the run stops, its last checkpoint is kept"
            )
        if code is not None and code < 0:
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"ended with exit status {code}"
        return RacerError(
            f"training worker {i} {how} in the middle of a step; its reward "
            f"{self._reward_source or '?'} may end the process (os._exit(), os.kill()) or the "
            "worker ran out of memory; the run stops, its last checkpoint is kept"
        )

    # -- SubprocVecEnv's methods, on the guarded wait --------------------------------------------

    def step_async(self, actions: np.ndarray) -> None:
        for i, action in enumerate(actions):
            self._send(i, ("step", action))
        self.waiting = True

    def step_wait(self) -> Any:
        results = [self._recv(i) for i in range(len(self.remotes))]
        self.waiting = False
        obs, rews, dones, infos, reset_infos = zip(*results, strict=True)
        self.reset_infos = list(reset_infos)
        return _stack_obs(obs, self.observation_space), np.stack(rews), np.stack(dones), infos

    def reset(self) -> Any:
        for i in range(len(self.remotes)):
            self._send(i, ("reset", (self._seeds[i], self._options[i])))
        results = [self._recv(i) for i in range(len(self.remotes))]
        obs, reset_infos = zip(*results, strict=True)
        self.reset_infos = list(reset_infos)
        self._reset_seeds()
        self._reset_options()
        return _stack_obs(obs, self.observation_space)

    def _ask(self, indices: Any, message: Any) -> list[Any]:
        targets = list(self._get_indices(indices))
        for i in targets:
            self._send(i, message)
        return [self._recv(i) for i in targets]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """Attribute of the envs (see ``VecEnv.get_attr``)."""
        return self._ask(indices, ("get_attr", attr_name))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute of the envs (see ``VecEnv.set_attr``)."""
        self._ask(indices, ("set_attr", (attr_name, value)))

    def has_attr(self, attr_name: str) -> bool:
        """Whether every env has the attribute (see ``VecEnv.has_attr``)."""
        return all(self._ask(None, ("has_attr", attr_name)))

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of the envs (see ``VecEnv.env_method``)."""
        return self._ask(indices, ("env_method", (method_name, method_args, method_kwargs)))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        """Whether the envs are wrapped in ``wrapper_class`` (see ``VecEnv.env_is_wrapped``)."""
        return self._ask(indices, ("is_wrapped", wrapper_class))

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Rendered frames of every env (see ``VecEnv.get_images``)."""
        return self._ask(None, ("render", None))

    def close(self) -> None:
        """Stop every worker: the live ones cleanly, within :data:`CLOSE_WAIT_S`, the rest hard."""
        if self.closed:
            return
        deadline = time.monotonic() + CLOSE_WAIT_S
        for i, (remote, process) in enumerate(zip(self.remotes, self.processes, strict=True)):
            with contextlib.suppress(EOFError, OSError):
                left_s = max(0.0, deadline - time.monotonic())
                if self._pending[i] and process.is_alive() and remote.poll(left_s):
                    remote.recv()
                    self._pending[i] = False
                if not self._pending[i] and process.is_alive():
                    remote.send(("close", None))
        for process in self.processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for remote in self.remotes:
            with contextlib.suppress(OSError):
                remote.close()
        self.closed = True


def _stack_obs(obs: Sequence[Any], space: gym.spaces.Space) -> Any:
    from stable_baselines3.common.vec_env.subproc_vec_env import _stack_obs as sb3_stack_obs

    return sb3_stack_obs(obs, space)  # type: ignore[arg-type]
