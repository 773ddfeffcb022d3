"""`RaceVectorEnv`: many cars on one track, stepped together with numpy.

A :class:`RaceEnv` pays Python per step and per car for the car model, the projection onto the
track, the reward ``params``, the termination rules and the observation. Here each of those is
one numpy pass over all the cars: the kinematic car (:class:`racer.sim.car.BicycleBatch`), the
projection (:meth:`racer.track.Track.project` of every front point at once), the lap accounting,
the ``params`` (:meth:`racer.rewards.ParamsBuilder.build_many`, as columns), the built-in rewards
(their batched forms, :data:`racer.rewards.builtin.BATCHED`), the ``state`` features and the
camera (every car's floor rays in one texture gather, :meth:`racer.sim.camera.FloorCamera.render_many`;
``RaceEnv`` passes its frame through the car's ``Preprocessor``, the identity on the simulator's
own frame, and the tests hold the two envs' frames equal).
A user's reward function is still called once per car per step with that car's full DeepRacer
``params`` dict (made from the columns only for such a reward).

Semantics are :class:`RaceEnv`'s, car by car: for the same seed and actions each car's
observations, rewards, terminations and ``info`` equal those of a ``RaceEnv`` seeded with
``seed + i`` (``tests/env/test_vector.py``), as Gymnasium's ``SyncVectorEnv`` of ``RaceEnv`` would
give them. The cars do not see each other (each drives its own copy of the track). With a
``race`` (:mod:`racer.env.race_setup`) each car has its own boxes or bot cars, placed at each of
its resets from its own generator as ``RaceEnv`` places them, and contacts, lidar and camera
see them through the same numpy object model as ``RaceEnv``'s world (:mod:`racer.sim.objects`).
The human views (``render``) stay with ``RaceEnv``.

Gymnasium: ``gym.make_vec("racer/Race-v0", num_envs=64, vectorization_mode="vector_entry_point")``
returns one; autoreset is Gymnasium 1.x's ``NEXT_STEP`` (the step after a car's episode ends
resets that car and ignores its action). ``info`` is a dict of arrays with ``_key`` masks, plus
``info["params"]``, indexed by car: ``info["params"][i]`` is car ``i``'s dict, made on demand
from the step's :class:`racer.rewards.ParamsBatch` columns.
Training uses the same core through :class:`racer.train.vec.RaceVecEnv` (stable-baselines3's
``VecEnv``, same-step reset).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from racer.contract.car import CONTROL_HZ, DT_S, MAX_SPEED_MPS, MAX_STEERING_RAD
from racer.contract.observations import (
    CURVATURE_AHEAD_M,
    LOOKAHEAD_M,
    OBSERVATIONS,
    STATE_FEATURES,
)
from racer.env.laps import LAP_TOLERANCE_M
from racer.env.race_env import (
    _AHEAD_M,
    _LINE_AHEAD_M,
    _LINE_SPEED_M,
    DIRECTIONS,
    IMMOBILIZED_SPEED_MPS,
    IMMOBILIZED_STEPS,
    MIN_AVERAGE_SPEED_MPS,
    REVERSED_STEPS,
    ROUND_ROBIN_ADVANCE,
    START_MODES,
    STATUS_CRASHED,
    STATUS_IMMOBILIZED,
    STATUS_IN_PROGRESS,
    STATUS_LAP_COMPLETE,
    STATUS_OFF_TRACK,
    STATUS_REVERSED,
    STATUS_TIME_UP,
    _check_choice,
    _SampleTable,
    observation_space,
)
from racer.env.race_setup import Layout, RaceSetup, line_offsets, place_objects, resolve_race
from racer.env.spaces import ActionSpec, resolve_action_space
from racer.errors import ConfigError
from racer.rewards import ParamsBuilder, RewardPlugin, load_reward
from racer.rewards.builtin import BATCHED
from racer.rewards.params import ObjectColumns, ParamsBatch
from racer.sim import WorldConfig
from racer.sim import objects as om
from racer.sim.camera import FloorCamera, camera_rays
from racer.sim.car import WHEEL_OFFSETS_M, BicycleBatch
from racer.sim.config import FRONT_OFFSET_M
from racer.sim.randomize import Perturbation, RandomizeConfig, Randomizer
from racer.sim.texture import floor_texture
from racer.sim.world import CONTACT_REACH_M
from racer.track import Track, beside, load_track

__all__ = ["RaceVectorEnv", "StepColumns"]

_WHEEL_OFF = np.asarray(WHEEL_OFFSETS_M, dtype=np.float64)


class StepColumns:
    """What one step (or reset) did, car by car, as arrays over the cars it touched.

    Attributes:
        idx: (k,) the cars.
        obs: (k, ...) their observations.
        reward: (k,) rewards (0 for a reset).
        terminated: (k,) bool.
        truncated: (k,) bool.
        info: key -> (k,) array of the ``info`` values every touched car has.
        lap_time_s: (k,) lap times, NaN where no lap was completed.
        params: the cars' :class:`racer.rewards.ParamsBatch` rows, ``params[j]`` for car
            ``idx[j]`` (a list of batches' rows, made on demand).
    """

    __slots__ = (
        "idx",
        "info",
        "lap_time_s",
        "obs",
        "params",
        "reward",
        "status",
        "terminated",
        "truncated",
    )

    def __init__(self, idx: np.ndarray) -> None:
        self.idx = idx
        self.info: dict[str, np.ndarray] = {}
        self.lap_time_s = np.full(len(idx), np.nan)
        self.reward = np.zeros(len(idx))
        self.terminated = np.zeros(len(idx), dtype=bool)
        self.truncated = np.zeros(len(idx), dtype=bool)
        self.obs: np.ndarray | None = None
        self.params: _Rows = _Rows(len(idx))


class _Rows:
    """Car rows of one or two :class:`ParamsBatch` (one per driving direction), by position."""

    __slots__ = ("_parts", "_where")

    def __init__(self, n: int) -> None:
        self._where: list[tuple[ParamsBatch, int] | None] = [None] * n
        self._parts: list[tuple[np.ndarray, ParamsBatch]] = []

    def put(self, positions: np.ndarray, batch: ParamsBatch) -> None:
        for j, p in enumerate(positions.tolist()):
            self._where[p] = (batch, j)
        self._parts.append((positions, batch))

    def column(self, key: str) -> np.ndarray:
        """One ``params`` column over the positions (from the batches, no dicts made)."""
        first = self._parts[0][1].columns[key]
        out = np.empty((len(self._where), *first.shape[1:]), dtype=first.dtype)
        for positions, batch in self._parts:
            out[positions] = batch.columns[key]
        return out

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, j: int) -> dict[str, Any]:
        where = self._where[j]
        if where is None:
            raise IndexError(j)
        return where[0].row(where[1])

    def __iter__(self) -> Any:
        return (self[j] for j in range(len(self._where)))


class RaceVectorEnv(VectorEnv):
    """``num_envs`` cars on one track, stepped together (module docstring).

    Arguments are :class:`RaceEnv`'s (``track``, ``observation``, ``action_space``, ``reward``,
    ``start``, ``direction``, ``max_steps``, ``world_config``), shared by every car, plus
    ``num_envs``, and ``randomize`` (RaceEnv's: each car draws its own episode's world from its
    own generator). The observation and action spaces are ``RaceEnv``'s batched
    (``single_observation_space`` / ``single_action_space`` are one car's).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        track: str | Path | Track = "oval",
        observation: str = "camera",
        action_space: ActionSpec | Mapping[str, Any] | str | Path | None = None,
        reward: str | Callable[[dict[str, Any]], float] | RewardPlugin = "progress",
        start: str = "round_robin",
        direction: str = "forward",
        max_steps: int | None = None,
        world_config: WorldConfig | None = None,
        render_mode: str | None = None,
        race: RaceSetup | Mapping[str, Any] | str | None = None,
        randomize: RandomizeConfig | Perturbation | None = None,
    ) -> None:
        if int(num_envs) < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
        _check_choice("observation", observation, OBSERVATIONS)
        _check_choice("start", start, START_MODES)
        _check_choice("direction", direction, DIRECTIONS)
        if render_mode is not None:
            raise ConfigError(
                "RaceVectorEnv has no render_mode: render one car with racer.env.RaceEnv"
            )
        self.num_envs = n = int(num_envs)
        self.track: Track = track if isinstance(track, Track) else load_track(track)
        self.observation_name = observation
        self.action_spec: ActionSpec = resolve_action_space(action_space)
        self.reward_fn: RewardPlugin = load_reward(reward)
        self._batched_reward = BATCHED.get(self.reward_fn.func)
        self.start_mode = start
        self.direction = direction
        if max_steps is not None and max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps or int(
            math.ceil(self.track.length / MIN_AVERAGE_SPEED_MPS * CONTROL_HZ)
        )
        self.config = world_config if world_config is not None else WorldConfig()
        cfg = self.config
        self._tracks = {False: self.track, True: self.track.reversed()}
        limits = cfg.car_limits()
        self._builders = {rev: ParamsBuilder(t, limits) for rev, t in self._tracks.items()}
        self._tables = {rev: _SampleTable.of(t) for rev, t in self._tracks.items()}
        self._cars = BicycleBatch(cfg.dynamics, n)
        self._cams: list[FloorCamera] = []
        if observation in ("camera", "stereo"):
            texture = floor_texture(self.track, cfg.texture_m_per_px, cfg.texture_margin_m)
            if observation == "camera":
                self._cams = [FloorCamera(cfg.camera, texture, 0.0)]
            else:
                b = cfg.camera.stereo_baseline_m / 2
                self._cams = [
                    FloorCamera(cfg.camera, texture, b),
                    FloorCamera(cfg.camera, texture, -b),
                ]
        self.single_action_space = self.action_spec.gym_space()
        self.single_observation_space = observation_space(observation, cfg)
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.render_mode = None
        self._commands = self._command_table()
        # per-car state
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._episode = np.zeros(n, dtype=np.int64)
        self._rev = np.zeros(n, dtype=bool)
        self._steps = np.zeros(n, dtype=np.int64)
        self._falling = np.zeros(n, dtype=np.int64)
        self._still = np.zeros(n, dtype=np.int64)
        self._progress = np.zeros(n)
        self._start_s = np.zeros(n)
        self._last_s = np.zeros(n)
        self._lap_m = np.zeros(n)
        self._dist = np.zeros(n)
        self._lap_dist = np.zeros(n)
        self._laps = np.zeros(n, dtype=np.int64)
        self._lap_start = np.zeros(n, dtype=np.int64)
        self._done = np.ones(n, dtype=bool)  # finished: reset at the next step (NEXT_STEP)
        space = self.single_observation_space
        self._obs: np.ndarray = np.zeros((n, *tuple(space.shape or ())), dtype=space.dtype)
        self._lidar_row = np.full(cfg.lidar.num_rays, cfg.lidar.max_range_m, dtype=np.float32)
        self._started = False
        self._init_objects(race)
        self._rand: Randomizer | None = None  # sim-to-real randomisation (racer.sim.randomize)
        if randomize is not None:
            self._rand = self._randomizer(randomize)

    # ------------------------------------------------------------------ spaces
    def _command_table(self) -> np.ndarray | None:
        spec = self.action_spec
        if spec.kind != "discrete":
            return None
        return np.asarray([spec.to_command(i) for i in range(len(spec.actions))], dtype=np.float64)

    def _commands_of(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ActionSpace.to_command, elementwise: (steering_deg, speed_mps) per car."""
        if self._commands is not None:
            idx = np.asarray(actions).reshape(-1).astype(np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= len(self._commands)):
                raise IndexError(f"action out of range 0..{len(self._commands) - 1}: {idx}")
            table = self._commands[idx]
            return table[:, 0], table[:, 1]
        a = np.asarray(actions, dtype=np.float64).reshape(-1, 2)
        a = np.where(np.isnan(a), 0.0, a)  # ActionSpace's _unit: NaN reads as 0, then clipped
        np.minimum(np.maximum(a, -1.0, out=a), 1.0, out=a)
        lo, hi = self.action_spec.steering_deg
        steer = lo + (a[:, 0] + 1.0) * 0.5 * (hi - lo)
        lo, hi = self.action_spec.speed_mps
        speed = lo + (a[:, 1] + 1.0) * 0.5 * (hi - lo)
        return steer, speed

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start every car's episode (``seed + i`` for car ``i``, as ``SyncVectorEnv`` seeds).

        ``options`` may hold ``start_s`` and ``reverse`` (scalars or one per car), as
        ``RaceEnv.reset`` takes them.
        """
        n = self.num_envs
        seeds: list[int | None]
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"{len(seeds)} seeds for {n} cars")
        self.seed_cars(seeds)
        cols = self.reset_cars(np.arange(n), options)
        self._started = True
        return self._obs.copy(), self._vector_info(cols, None)

    def seed_cars(self, seeds: list[int | None]) -> None:
        """Seed car ``i`` with ``seeds[i]`` (None: leave it), restarting its round-robin starts."""
        for i, s in enumerate(seeds):
            if s is not None:
                self._rngs[i], _ = seeding.np_random(int(s))
                self._episode[i] = 0

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One control period for every car; cars whose episode ended last step are reset."""
        if not self._started:
            raise RuntimeError("step() called before reset()")
        n = self.num_envs
        done = self._done.copy()
        reset_cols = self.reset_cars(np.nonzero(done)[0]) if done.any() else None
        active = np.nonzero(~done)[0]
        cols = self.step_cars(active, _take(actions, active, n))
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        rewards[active] = cols.reward
        terminated[active] = cols.terminated
        truncated[active] = cols.truncated
        return self._obs.copy(), rewards, terminated, truncated, self._vector_info(cols, reset_cols)

    def car_poses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every car's centre (x, y, m) and heading (rad): copies."""
        m = self._cars
        return m.x_m.copy(), m.y_m.copy(), m.yaw_rad.copy()

    def reversed_cars(self) -> np.ndarray:
        """Which cars drive the track reversed this episode (bool per car, a copy)."""
        return self._rev.copy()

    @property
    def driven_tracks(self) -> dict[bool, Track]:
        """The track as driven, by direction: ``{False: forward, True: reversed}``."""
        return self._tracks

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: no PyBullet client."""

    # ------------------------------------------------------------------ the core
    def reset_cars(self, idx: np.ndarray, options: Mapping[str, Any] | None = None) -> StepColumns:
        """Put cars ``idx`` at their start (RaceEnv.reset's rules) and observe them."""
        idx = np.asarray(idx, dtype=np.intp)
        options = dict(options or {})
        cols = StepColumns(idx)
        if idx.size == 0:
            return cols
        start_s = np.empty(idx.size)
        for j, i in enumerate(idx.tolist()):
            rng = self._rng(i)
            if "reverse" in options:
                self._rev[i] = bool(_per_car(options["reverse"], j))
            elif self.direction == "both":
                self._rev[i] = bool(rng.integers(2))
            else:
                self._rev[i] = self.direction == "reverse"
            track = self._tracks[bool(self._rev[i])]
            if "start_s" in options:
                start_s[j] = float(_per_car(options["start_s"], j))
            elif not track.closed or self.start_mode == "fixed":
                start_s[j] = 0.0
            elif self.start_mode == "random":
                start_s[j] = float(rng.uniform(0.0, track.length))
            else:
                start_s[j] = (int(self._episode[i]) * ROUND_ROBIN_ADVANCE % 1.0) * track.length
            self._episode[i] += 1
            if self._objs is not None:
                layout = _per_car(options["layout"], j) if "layout" in options else None
                self._place_objects(i, layout, float(start_s[j]))
            if self._rand is not None:  # RaceEnv.reset's draw, after the objects'
                self._rand.reset_cars([i], [rng])
        self._place(idx, start_s)
        self._steps[idx] = 0
        self._falling[idx] = 0
        self._still[idx] = 0
        self._progress[idx] = 0.0
        self._laps[idx] = 0
        self._lap_start[idx] = 0
        self._dist[idx] = 0.0
        self._lap_dist[idx] = 0.0
        self._done[idx] = False
        zeros = np.zeros(idx.size)
        proj_s = self._observe_cars(idx, zeros, zeros, cols, first=True)
        del cols.info["_offtrack"]
        closed = np.asarray([self._tracks[bool(r)].closed for r in self._rev[idx]])
        length = np.asarray([self._tracks[bool(r)].length for r in self._rev[idx]])
        self._start_s[idx] = proj_s
        self._last_s[idx] = proj_s
        self._lap_m[idx] = np.where(closed, length, length - proj_s)
        cols.info.update(
            episode_status=np.full(idx.size, "prepare", dtype=object),
            progress=np.zeros(idx.size),
            steps=np.zeros(idx.size, dtype=np.int64),
            start_s=proj_s.copy(),
            reversed=self._rev[idx].copy(),
            laps=np.zeros(idx.size, dtype=np.int64),
            distance_m=np.zeros(idx.size),
            lap_m=self._lap_m[idx].copy(),
        )
        return cols

    def step_cars(self, idx: np.ndarray, actions: Any) -> StepColumns:
        """One control period for cars ``idx`` (``actions`` one per car of ``idx``)."""
        idx = np.asarray(idx, dtype=np.intp)
        cols = StepColumns(idx)
        if idx.size == 0:
            cols.obs = self._obs[idx]
            return cols
        if self._done[idx].any():
            raise RuntimeError("step_cars() called on a finished episode: reset the car first")
        steer_deg, speed_cmd = self._commands_of(actions)
        cfg = self.config
        steer_act, speed_act = steer_deg, speed_cmd
        if self._rand is not None:  # the actuators: latency, steering offset and gain, speed gain
            steer_act, speed_act = self._rand.commands(idx, steer_deg, speed_cmd)
        steer = np.clip(np.radians(steer_act), -MAX_STEERING_RAD, MAX_STEERING_RAD)
        speed = np.clip(speed_act, 0.0, MAX_SPEED_MPS)
        if self._objs is None:
            self._cars.advance(idx, steer, speed, 1.0 / cfg.physics_hz, cfg.substeps)
        else:
            self._drive_among_objects(idx, steer, speed)
        self._steps[idx] += 1
        self._observe_cars(idx, speed_cmd, steer_deg, cols, first=False)
        # the statuses, in RaceEnv.step's order
        lap_due = self._dist[idx] >= (self._laps[idx] + 1) * self._lap_m[idx] - LAP_TOLERANCE_M
        off = cols.info.pop("_offtrack")
        status = np.full(idx.size, STATUS_IN_PROGRESS, dtype=object)
        status[self._still[idx] >= IMMOBILIZED_STEPS] = STATUS_IMMOBILIZED
        status[self._falling[idx] >= REVERSED_STEPS] = STATUS_REVERSED
        status[self._crashed[idx]] = STATUS_CRASHED
        status[off] = STATUS_OFF_TRACK
        status[lap_due] = STATUS_LAP_COMPLETE
        terminated = status != STATUS_IN_PROGRESS
        truncated = ~terminated & (self._steps[idx] >= self.max_steps)
        status[truncated] = STATUS_TIME_UP
        self._done[idx] = terminated | truncated
        if lap_due.any():
            cars = idx[lap_due]
            cols.lap_time_s[lap_due] = (self._steps[cars] - self._lap_start[cars]) * DT_S
            self._lap_dist[cars] -= self._lap_m[cars]
            self._laps[cars] += 1
            self._lap_start[cars] = self._steps[cars]
        cols.terminated = terminated
        cols.truncated = truncated
        steps = self._steps[idx]
        cols.info.update(
            episode_status=status,
            progress=self._progress[idx].copy(),
            steps=steps.copy(),
            sim_time_s=steps * DT_S,
            speed_mps=self._cars.speed_mps[idx].copy(),
            steering_deg=np.asarray(steer_deg, dtype=np.float64),
            throttle_mps=np.asarray(speed_cmd, dtype=np.float64),
            lap_completed=lap_due,
            laps=self._laps[idx].copy(),
            distance_m=self._dist[idx].copy(),
        )
        return cols

    def put_back_cars(
        self, idx: np.ndarray, start_s: np.ndarray, lateral_m: np.ndarray | None = None
    ) -> StepColumns:
        """RaceEnv.put_back for cars ``idx``: at rest at ``start_s``, ``lateral_m`` left of the
        centre line (None: on it), driving on.

        The step count, laps, lap time and distance go on (the jump counts as distance moved).

        Returns:
            The cars' observations and ``info`` (as ``reset_cars`` gives them).
        """
        idx = np.asarray(idx, dtype=np.intp)
        start_s = np.asarray(start_s, dtype=np.float64).reshape(-1)
        cols = StepColumns(idx)
        if idx.size == 0:
            return cols
        self._place(idx, start_s, lateral_m)
        if self._rand is not None:
            self._rand.put_back(idx)
        zeros = np.zeros(idx.size)
        # _observe_cars(first=False) moves the lap counts by the jump and counts the progress;
        # the reversed / immobilized counters then restart, as RaceEnv.put_back does
        self._observe_cars(idx, zeros, zeros, cols, first=False, reward=False)
        del cols.info["_offtrack"]
        self._falling[idx] = 0
        self._still[idx] = 0
        self._done[idx] = False
        cols.info.update(
            episode_status=np.full(idx.size, "prepare", dtype=object),
            progress=self._progress[idx].copy(),
            steps=self._steps[idx].copy(),
            start_s=self._start_s[idx].copy(),
            reversed=self._rev[idx].copy(),
            laps=self._laps[idx].copy(),
            distance_m=self._dist[idx].copy(),
            lap_m=self._lap_m[idx].copy(),
        )
        return cols

    def _place(
        self, idx: np.ndarray, start_s: np.ndarray, lateral_m: np.ndarray | None = None
    ) -> None:
        """Cars ``idx`` at rest on the centre line of their driven track at ``start_s`` (or
        ``lateral_m`` left of it), facing along it."""
        for rev in (False, True):
            sel = np.nonzero(self._rev[idx] == rev)[0]
            if sel.size == 0:
                continue
            track = self._tracks[rev]
            xy = np.asarray(track.point_at(start_s[sel]), dtype=np.float64).reshape(-1, 2)
            yaw = np.asarray(track.heading_at(start_s[sel]), dtype=np.float64).reshape(-1)
            if lateral_m is not None:  # RaceEnv's arithmetic, car by car (put-backs are few)
                lat = np.asarray(lateral_m, dtype=np.float64).reshape(-1)[sel]
                for k in range(sel.size):
                    xy[k] = beside(float(xy[k, 0]), float(xy[k, 1]), float(yaw[k]), float(lat[k]))
            self._cars.reset(idx[sel], xy[:, 0], xy[:, 1], yaw)
        if self._objs is not None:  # World.reset_car: a car placed touching an object
            m = self._cars
            self._crashed[idx] = om.overlaps(
                m.x_m[idx], m.y_m[idx], m.yaw_rad[idx], self._objs.rows(idx)
            )

    def next_lap(self, idx: np.ndarray) -> None:
        """RaceEnv.next_lap for cars ``idx``: go on into the next lap after ``lap_complete``."""
        idx = np.asarray(idx, dtype=np.intp)
        ok = self._done[idx] & (self._laps[idx] > 0) & (self._lap_start[idx] == self._steps[idx])
        if not ok.all():
            raise RuntimeError("next_lap() is only valid right after a lap_complete step")
        self._progress[idx] = 0.0
        self._done[idx] = False

    def _rng(self, i: int) -> np.random.Generator:
        rng = self._rngs[i]
        if rng is None:  # unseeded, as a RaceEnv reset without a seed
            rng, _ = seeding.np_random()
            self._rngs[i] = rng
        return rng

    def _randomizer(self, source: RandomizeConfig | Perturbation) -> Randomizer:
        """RaceEnv's randomiser, one slot per car (racer.sim.randomize)."""
        if not isinstance(source, (RandomizeConfig, Perturbation)):
            raise ConfigError(
                f"randomize must be a RandomizeConfig or a Perturbation, got {type(source).__name__}"
            )
        cfg = self.config
        cams = tuple(c.lateral_m for c in self._cams) or (0.0,)
        texture = floor_texture(self.track, cfg.texture_m_per_px, cfg.texture_margin_m)
        return Randomizer(source, cfg.camera, texture, self.num_envs, cams, frames=bool(self._cams))

    def _observe_cars(
        self,
        idx: np.ndarray,
        speed_cmd: np.ndarray,
        steer_deg: np.ndarray,
        cols: StepColumns,
        first: bool,
        reward: bool = True,
    ) -> np.ndarray:
        """Project, count, build params, reward and observe cars ``idx``; returns arc lengths.

        ``first``: a car just placed at its start (no move to count, no reward); ``reward``:
        whether to call the reward (not after a put-back).
        """
        m = self._cars
        x, y, yaw = m.x_m[idx], m.y_m[idx], m.yaw_rad[idx]
        c, s = np.cos(yaw), np.sin(yaw)
        front = np.empty((idx.size, 2))
        front[:, 0] = x + FRONT_OFFSET_M * c
        front[:, 1] = y + FRONT_OFFSET_M * s
        wheels = np.empty((idx.size, 4, 2))
        wheels[:, :, 0] = x[:, None] + _WHEEL_OFF[:, 0] * c[:, None] - _WHEEL_OFF[:, 1] * s[:, None]
        wheels[:, :, 1] = y[:, None] + _WHEEL_OFF[:, 0] * s[:, None] + _WHEEL_OFF[:, 1] * c[:, None]
        proj_s = np.empty(idx.size)
        offtrack = np.zeros(idx.size, dtype=bool)
        speed = m.speed_mps[idx]
        rewards = cols.reward
        for rev in (False, True):
            sel = np.nonzero(self._rev[idx] == rev)[0]
            if sel.size == 0:
                continue
            cars = idx[sel]
            track = self._tracks[rev]
            proj = track.project(front[sel])
            ps = np.asarray(proj.s, dtype=np.float64).reshape(-1)
            proj_s[sel] = ps
            if not first:  # LapCounter.move and RaceEnv's reversed / immobilized counters
                delta = ps - self._last_s[cars]
                if track.closed:
                    half = 0.5 * track.length
                    delta = np.where(
                        delta > half,
                        delta - track.length,
                        np.where(delta < -half, delta + track.length, delta),
                    )
                self._last_s[cars] = ps
                self._dist[cars] += delta
                self._lap_dist[cars] += delta
                lap_m = self._lap_m[cars]
                prog = np.where(
                    lap_m <= 0.0,
                    100.0,
                    np.clip(
                        100.0 * self._lap_dist[cars] / np.where(lap_m > 0, lap_m, 1.0), 0.0, 100.0
                    ),
                )
                self._progress[cars] = prog
                self._falling[cars] = np.where(delta < -1e-4, self._falling[cars] + 1, 0)
                self._still[cars] = np.where(
                    np.abs(speed[sel]) < IMMOBILIZED_SPEED_MPS, self._still[cars] + 1, 0
                )
            batch = self._builders[rev].build_many(
                front[sel],
                yaw[sel],
                wheels[sel],
                speed_cmd[sel],
                steer_deg[sel],
                speed[sel],
                self._steps[cars],
                self._steps[cars] * DT_S,
                self._progress[cars],
                proj,
                rev,
                **self._object_params(cars),
            )
            cols.params.put(sel, batch)
            offtrack[sel] = batch.columns["is_offtrack"]
            if reward and not first:
                if self._batched_reward is not None:
                    rewards[sel] = self._batched_reward(batch)
                else:
                    reward_fn = self.reward_fn
                    steps = self._steps[cars].tolist()
                    for j in range(sel.size):
                        rewards[sel[j]] = reward_fn(batch.row(j), step=steps[j])
            if self.observation_name in ("state", "state_lidar"):
                self._obs[cars, : len(STATE_FEATURES)] = self._state_features(
                    rev,
                    front[sel],
                    yaw[sel],
                    speed[sel],
                    cars,
                    ps,
                    np.asarray(proj.heading_rad, dtype=np.float64).reshape(-1),
                    batch,
                )
        cols.info["_offtrack"] = offtrack
        if self.observation_name in ("lidar", "state_lidar"):
            tail = slice(len(STATE_FEATURES) if self.observation_name == "state_lidar" else 0, None)
            if self._objs is None:
                self._obs[idx, tail] = self._lidar_row
            else:
                lc = self.config.lidar
                ox = x + lc.forward_m * np.cos(yaw)
                oy = y + lc.forward_m * np.sin(yaw)
                self._obs[idx, tail] = om.lidar_ranges(
                    ox,
                    oy,
                    yaw,
                    self._lidar_angles,
                    lc.max_range_m,
                    lc.height_m,
                    self._objs.rows(idx),
                )
        elif self._cams:
            rand = self._rand
            rframes = None if rand is None else rand.render(idx, x, y, yaw, finish=False)
            for k, cam in enumerate(self._cams):
                frames = cam.render_many(x, y, yaw) if rframes is None else rframes[:, k]
                if self._objs is not None:
                    om.composite(
                        frames,
                        self.config.camera,
                        self._rays,
                        cam.lateral_m,
                        x,
                        y,
                        yaw,
                        self._objs.rows(idx),
                    )
                self._obs[idx, k] = frames
            if rand is not None:  # light, noise, blur, JPEG over the objects too
                frames = self._obs[idx]
                rand.finish(frames, idx, speed, self._steps[idx])
                self._obs[idx] = frames
        cols.obs = self._obs[idx]
        return proj_s

    def _state_features(
        self,
        rev: bool,
        front: np.ndarray,
        yaw: np.ndarray,
        speed: np.ndarray,
        cars: np.ndarray,
        s: np.ndarray,
        proj_heading: np.ndarray,
        batch: ParamsBatch,
    ) -> np.ndarray:
        """RaceEnv._state_features for many cars (the same formulas, elementwise)."""
        table = self._tables[rev]
        k = len(s)
        ahead = s[:, None] + _AHEAD_M[None, :]
        if table.closed:
            ahead %= table.length
        n_look = len(LOOKAHEAD_M)
        px = np.interp(ahead[:, :n_look], table.s, table.x)
        py = np.interp(ahead[:, :n_look], table.s, table.y)
        fx, fy = front[:, :1], front[:, 1:]
        bearing = np.arctan2(py - fy, px - fx) - yaw[:, None]
        bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
        curv = np.interp(ahead[:, n_look:], table.s, table.k)
        err = yaw - proj_heading
        half_w = 0.5 * np.interp(s, table.s, table.w)
        feats = np.empty((k, len(STATE_FEATURES)), dtype=np.float32)
        feats[:, 0] = speed / MAX_SPEED_MPS
        feats[:, 1] = self._cars.steering_rad[cars] / MAX_STEERING_RAD
        feats[:, 2] = np.sin(err)
        feats[:, 3] = np.cos(err)
        feats[:, 4] = batch.columns["lateral_offset"] / half_w
        feats[:, 5] = half_w
        feats[:, 6 : 6 + n_look] = bearing / np.pi
        n0 = 6 + n_look
        feats[:, n0 : n0 + len(CURVATURE_AHEAD_M)] = 0.5 * curv
        n0 += len(CURVATURE_AHEAD_M)
        lx, ly, _, lv = self._builders[rev].line_at_many(s[:, None] + _LINE_AHEAD_M[None, :])
        feats[:, n0] = batch.columns["racing_line_offset"] / half_w
        feats[:, n0 + 1] = batch.columns["racing_line_speed"] / MAX_SPEED_MPS
        n_speed = len(_LINE_SPEED_M)
        feats[:, n0 + 2 : n0 + 2 + n_speed] = lv[:, :n_speed] / MAX_SPEED_MPS
        aim = np.arctan2(ly[:, n_speed:] - fy, lx[:, n_speed:] - fx) - yaw[:, None]
        feats[:, n0 + 2 + n_speed :] = ((aim + np.pi) % (2 * np.pi) - np.pi) / np.pi
        return np.clip(feats, -5.0, 5.0)

    # ------------------------------------------------------------------ objects
    def _init_objects(self, race: RaceSetup | Mapping[str, Any] | str | None) -> None:
        """Per-car boxes and bots (racer.sim.objects), when the race has any."""
        self.race_setup: RaceSetup = resolve_race(race)
        n = self.num_envs
        self._crashed = np.zeros(n, dtype=bool)
        self._n_boxes = self.race_setup.n_boxes
        self._n_bots = self.race_setup.n_bots
        self._objs: om.ObjectArrays | None = None
        self._bots = om.BotArrays.empty(n, self._n_bots)
        self._speed = np.zeros((n, self._n_boxes + self._n_bots))
        self._lines: dict[bool, om.LineOffsets] = {}
        lc = self.config.lidar
        self._lidar_angles = np.radians(np.linspace(-lc.fov_deg / 2, lc.fov_deg / 2, lc.num_rays))
        self._rays = camera_rays(self.config.camera)
        if self._n_boxes + self._n_bots:
            self._objs = om.ObjectArrays.empty(n, self._n_boxes + self._n_bots)

    def _line(self, rev: bool) -> om.LineOffsets:
        line = self._lines.get(rev)
        if line is None:
            line = self._lines[rev] = line_offsets(
                self._builders[rev].racing_line, self._tracks[rev]
            )
        return line

    def _place_objects(self, i: int, layout: Layout | None, start_s: float) -> None:
        """Car ``i``'s objects for its new episode (RaceEnv._place_objects' draws, in order)."""
        objs = self._objs
        assert objs is not None
        rev = bool(self._rev[i])
        track = self._tracks[rev]
        if layout is None:
            layout = place_objects(self.race_setup, track, self._rng(i), start_s)
        if (len(layout.boxes), len(layout.bots)) != (self._n_boxes, self._n_bots):
            raise ConfigError(
                f"a layout of {len(layout.boxes)} boxes and {len(layout.bots)} bots for a race of "
                f"{self._n_boxes} boxes and {self._n_bots} bots"
            )
        size = self.config.box_size_m
        hl, hw, h = 0.5 * size[0], 0.5 * size[1], size[2]
        for k, b in enumerate(layout.boxes):
            objs.x[i, k], objs.y[i, k], objs.yaw[i, k] = b.x_m, b.y_m, b.yaw_rad
            objs.half_l[i, k], objs.half_w[i, k], objs.z1[i, k] = hl, hw, h
            objs.bot[i, k] = False
        bots = self._bots
        for j, bot in enumerate(layout.bots):
            bots.s[i, j] = bot.s_m
            bots.lane[i, j] = bots.target[i, j] = bot.lateral_m
            bots.speed[i, j] = bot.speed_mps
            bots.period_s[i, j] = bot.lane_change_s
            bots.timer_s[i, j] = bot.timer_s
            bots.on_line[i, j] = bot.racing_line
            k = self._n_boxes + j
            objs.half_l[i, k] = 0.5 * om.BOT_SIZE_M[0]
            objs.half_w[i, k] = 0.5 * om.BOT_SIZE_M[1]
            objs.z1[i, k] = om.BOT_SIZE_M[2]
            objs.bot[i, k] = True
        if self._n_bots:
            self._move_bots(np.array([i]), 0.0)

    def _move_bots(self, idx: np.ndarray, dt_s: float) -> None:
        """World._advance_bots for cars ``idx``: on by ``dt_s``, then where they stand."""
        objs = self._objs
        assert objs is not None
        bots = self._bots
        k0 = self._n_boxes
        for rev in (False, True):
            rows = idx[self._rev[idx] == rev]
            if rows.size == 0:
                continue
            track = self._tracks[rev]
            if dt_s:
                bots.advance(rows, dt_s, float(track.length), bool(track.closed))
            line = self._line(rev) if bots.on_line[rows].any() else None
            lat = bots.lateral(rows, line)
            x, y, yaw = om.bot_poses(track, bots.s[rows], lat)
            objs.x[rows, k0:], objs.y[rows, k0:], objs.yaw[rows, k0:] = x, y, yaw
            self._speed[rows, k0:] = bots.speed[rows]

    def _drive_among_objects(self, idx: np.ndarray, steer: np.ndarray, speed: np.ndarray) -> None:
        """World.step's car and contacts for cars ``idx``: bots first, then the car, with a
        contact check at every physics substep while an object is within reach."""
        objs = self._objs
        assert objs is not None
        cfg = self.config
        dt = 1.0 / cfg.physics_hz
        if self._n_bots:
            self._move_bots(idx, 1.0 / CONTROL_HZ)
        m = self._cars
        reach = CONTACT_REACH_M + MAX_SPEED_MPS / CONTROL_HZ
        near = om.nearest_gap(m.x_m[idx], m.y_m[idx], objs.rows(idx)) <= reach
        far = ~near
        if far.any():
            m.advance(idx[far], steer[far], speed[far], dt, cfg.substeps)
        crashed = np.zeros(idx.size, dtype=bool)
        if near.any():
            cars = idx[near]
            hit = np.zeros(cars.size, dtype=bool)
            rows = objs.rows(cars)
            for _ in range(cfg.substeps):
                m.advance(cars, steer[near], speed[near], dt, 1)
                hit |= om.overlaps(m.x_m[cars], m.y_m[cars], m.yaw_rad[cars], rows)
            crashed[near] = hit
        self._crashed[idx] = crashed

    def _object_params(self, cars: np.ndarray) -> dict[str, Any]:
        """build_many's object arguments for cars ``cars``."""
        objs = self._objs
        if objs is None:
            return {}
        return {
            "objects": ObjectColumns(objs.x[cars], objs.y[cars], objs.yaw[cars], self._speed[cars]),
            "is_crashed": self._crashed[cars],
            "camera_hfov_rad": math.radians(self.config.camera.hfov_deg),
        }

    def objects_of(self, i: int) -> om.ObjectArrays | None:
        """Car ``i``'s boxes and bots this step (boxes first; None: the race has none)."""
        return None if self._objs is None else self._objs.rows(np.array([i]))

    # ------------------------------------------------------------------ info
    def _vector_info(self, cols: StepColumns, reset_cols: StepColumns | None) -> dict[str, Any]:
        """Gymnasium's vector ``info``: arrays over all cars with ``_key`` masks."""
        n = self.num_envs
        info: dict[str, Any] = {}
        rows = _Rows(n)
        for part in (cols, reset_cols):
            if part is None or part.idx.size == 0:
                continue
            for key, values in part.info.items():
                if key not in info:
                    dtype = values.dtype if values.dtype != object else object
                    info[key] = np.zeros(n, dtype=dtype)
                    info["_" + key] = np.zeros(n, dtype=bool)
                info[key][part.idx] = values
                info["_" + key][part.idx] = True
            done_lap = ~np.isnan(part.lap_time_s)
            if done_lap.any():
                info.setdefault("lap_time_s", np.zeros(n))
                info.setdefault("_lap_time_s", np.zeros(n, dtype=bool))
                info["lap_time_s"][part.idx[done_lap]] = part.lap_time_s[done_lap]
                info["_lap_time_s"][part.idx[done_lap]] = True
            for j, i in enumerate(part.idx.tolist()):
                rows._where[i] = part.params._where[j]
        info["params"] = rows
        info["_params"] = np.array([w is not None for w in rows._where], dtype=bool)
        return info


def _take(actions: Any, idx: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(actions)
    if a.shape[:1] != (n,):
        raise ValueError(f"expected one action per car ({n}), got shape {a.shape}")
    return a[idx]


def _per_car(value: Any, j: int) -> Any:
    if isinstance(value, (list, tuple, np.ndarray)):
        return value[j]
    return value
