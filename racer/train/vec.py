"""Training's vector env: stable-baselines3's ``VecEnv`` over :class:`racer.env.RaceVectorEnv`.

:class:`RaceVecEnv` steps every training car in this process, in numpy, one
:class:`~racer.env.RaceVectorEnv` per track (a recipe with several tracks spreads its cars
over them round-robin, as before). It speaks SB3's protocol: a car whose episode ends is reset
in the same step, its last observation in ``info["terminal_observation"]`` and
``info["TimeLimit.truncated"]`` set on a time-up. And it gives the training callbacks what
:class:`racer.train.wrappers.TrainingWrapper` gave them per car: ``info["trace"]`` (the
simtrace row's env fields, made from the params columns without building a dict),
``info["trace_prepare"]`` on an episode's first step, and a reward that raises becomes
``info["fatal_error"]`` on every car of its track, so the learner stops the run with that one
line and the last checkpoint stays intact.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from racer.env.vector import RaceVectorEnv, StepColumns
from racer.errors import RacerError

__all__ = ["RaceVecEnv"]


class RaceVecEnv(VecEnv):
    """Many training cars, stepped together (module docstring).

    Args:
        tracks: the track of each car (car ``i`` drives ``tracks[i]``).
        seeds: each car's seed for its first reset.
        **env_kwargs: :class:`RaceVectorEnv`'s other arguments (observation, action_space,
            reward, start, direction, max_steps, world_config).
    """

    def __init__(self, tracks: Sequence[str], seeds: Sequence[int], **env_kwargs: Any) -> None:
        if len(tracks) != len(seeds) or not tracks:
            raise ValueError("one track and one seed per car, at least one car")
        order: dict[str, list[int]] = {}
        for i, t in enumerate(tracks):
            order.setdefault(str(t), []).append(i)
        self.groups: list[tuple[RaceVectorEnv, np.ndarray]] = [
            (RaceVectorEnv(len(cars), track=t, **env_kwargs), np.asarray(cars, dtype=np.intp))
            for t, cars in order.items()
        ]
        first = self.groups[0][0]
        super().__init__(len(tracks), first.single_observation_space, first.single_action_space)
        self.reward_fn = first.reward_fn
        self._seeds_first = [int(s) for s in seeds]
        self._actions: np.ndarray | None = None
        self._prepare: list[tuple[Any, ...] | None] = [None] * self.num_envs
        self._fatal: str | None = None
        space = first.single_observation_space
        shape = tuple(space.shape or ())
        self._obs: np.ndarray = np.zeros((self.num_envs, *shape), dtype=space.dtype)

    # ------------------------------------------------------------------ VecEnv protocol
    def reset(self) -> np.ndarray:
        for venv, cars in self.groups:
            seeds: list[int | None] = [None] * len(cars)
            if self._seeds_first:
                seeds = [self._seeds_first[i] for i in cars.tolist()]
            try:
                venv.seed_cars(seeds)
                cols = venv.reset_cars(np.arange(len(cars)))
            except Exception as exc:
                raise _as_racer_error(exc, venv, "reset") from exc
            self._store_reset(cars, cols)
        self._seeds_first = []
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> Any:
        assert self._actions is not None
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float32)
        dones = np.zeros(n, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(n)]
        for venv, cars in self.groups:
            if self._fatal is not None:
                self._fatal_infos(cars, infos, dones)
                continue
            try:
                cols = venv.step_cars(np.arange(len(cars)), self._actions[cars])
            except Exception as exc:
                self._fatal = _describe(exc, venv, "step")
                self._fatal_infos(cars, infos, dones)
                continue
            rewards[cars] = cols.reward
            done = cols.terminated | cols.truncated
            dones[cars] = done
            self._obs[cars] = cols.obs
            traces = _traces(cols)
            info = cols.info
            status = info["episode_status"].tolist()
            progress = info["progress"].tolist()
            steps = info["steps"].tolist()
            laps = info["laps"].tolist()
            lap_times = cols.lap_time_s.tolist()
            truncated = cols.truncated.tolist()
            for j, i in enumerate(cars.tolist()):
                d = {
                    "episode_status": status[j],
                    "progress": progress[j],
                    "steps": steps[j],
                    "laps": laps[j],
                    "trace": traces[j],
                }
                if status[j] == "lap_complete":
                    d["lap_time_s"] = lap_times[j]
                prepare = self._prepare[i]
                if prepare is not None:
                    d["trace_prepare"] = prepare
                    self._prepare[i] = None
                infos[i] = d
            ended = np.nonzero(done)[0]
            if ended.size:
                for j in ended.tolist():
                    i = int(cars[j])
                    infos[i]["terminal_observation"] = self._obs[i].copy()
                    infos[i]["TimeLimit.truncated"] = bool(truncated[j])
                try:
                    reset_cols = venv.reset_cars(ended)
                except Exception as exc:
                    self._fatal = _describe(exc, venv, "reset")
                    self._fatal_infos(cars, infos, dones)
                    continue
                self._store_reset(cars[ended], reset_cols)
        return self._obs.copy(), rewards, dones, infos

    def _store_reset(self, cars: np.ndarray, cols: StepColumns) -> None:
        assert cols.obs is not None
        self._obs[cars] = cols.obs
        n = len(cols.idx)
        zeros = np.zeros(n)
        traces = _traces(cols, steer=zeros, throttle=zeros, progress=zeros, status="prepare")
        for j, i in enumerate(cars.tolist()):
            self._prepare[i] = traces[j]

    def _fatal_infos(
        self, cars: np.ndarray, infos: list[dict[str, Any]], dones: np.ndarray
    ) -> None:
        for i in cars.tolist():
            infos[i] = {"fatal_error": self._fatal, "episode_status": "error", "progress": 0.0}
            dones[i] = True

    def close(self) -> None:
        for venv, _ in self.groups:
            venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self._venv_of(i), attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._get_indices(indices):
            setattr(self._venv_of(i), attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        return [
            getattr(self._venv_of(i), method_name)(*method_args, **method_kwargs)
            for i in self._get_indices(indices)
        ]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def _venv_of(self, i: int) -> RaceVectorEnv:
        for venv, cars in self.groups:
            if i in cars:
                return venv
        raise IndexError(i)


def _traces(
    cols: StepColumns,
    steer: np.ndarray | None = None,
    throttle: np.ndarray | None = None,
    progress: np.ndarray | None = None,
    status: str | None = None,
) -> list[tuple[Any, ...]]:
    """The :data:`racer.train.run_folder.TRACE_FIELDS` of each car, from the params columns."""
    rows = cols.params
    x = rows.column("x")
    y = rows.column("y")
    closest = rows.column("closest_waypoints")
    first = rows._parts[0][1]
    wps = np.asarray(first.shared["waypoints"], dtype=np.float64)
    prev_i, next_i = closest[:, 0], closest[:, 1]
    dp = (wps[prev_i, 0] - x) ** 2 + (wps[prev_i, 1] - y) ** 2
    dn = (wps[next_i, 0] - x) ** 2 + (wps[next_i, 1] - y) ** 2
    nearest = np.where(dp <= dn, prev_i, next_i)
    n = len(x)
    info = cols.info
    steer_l = (info["steering_deg"] if steer is None else steer).tolist()
    throttle_l = (info["throttle_mps"] if throttle is None else throttle).tolist()
    progress_l = (info["progress"] if progress is None else progress).tolist()
    status_l = [status] * n if status is not None else info["episode_status"].tolist()
    length = float(first.shared["track_length"])
    return list(
        zip(
            x.tolist(),
            y.tolist(),
            rows.column("heading").tolist(),
            steer_l,
            throttle_l,
            rows.column("all_wheels_on_track").tolist(),
            progress_l,
            nearest.tolist(),
            [length] * n,
            rows.column("sim_time").tolist(),
            status_l,
            strict=True,
        )
    )


def _describe(exc: BaseException, venv: RaceVectorEnv, what: str) -> str:
    """One line for the learner: a RacerError's own message, else type, text and place."""
    if isinstance(exc, RacerError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    text = " ".join(str(exc).split())[:200]
    return (
        f"the training env's {what} failed: {type(exc).__name__}: {text}{where}"
        f" (reward: {venv.reward_fn.source})"
    )


def _as_racer_error(exc: BaseException, venv: RaceVectorEnv, what: str) -> RacerError:
    return exc if isinstance(exc, RacerError) else RacerError(_describe(exc, venv, what))
