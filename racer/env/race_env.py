"""`RaceEnv`: the Gymnasium environment of a car on a painted DeepRacer-style track."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racer.car.preprocess import Preprocessor, camera_steps
from racer.contract.car import CONTROL_HZ, DT_S, MAX_SPEED_MPS, MAX_STEERING_RAD
from racer.contract.observations import (
    CURVATURE_AHEAD_M,
    LINE_AIM_AHEAD_M,
    LINE_SPEED_AHEAD_M,
    LOOKAHEAD_M,
    OBSERVATIONS,
    STATE_FEATURES,
)
from racer.env.laps import LapCounter
from racer.env.race_setup import (
    RaceSetup,
    apply_layout,
    line_offsets,
    place_objects,
    resolve_race,
)
from racer.env.spaces import ActionSpec, resolve_action_space
from racer.errors import ConfigError
from racer.rewards import ObjectInfo, ParamsBuilder, RewardPlugin, StepInputs, load_reward
from racer.sim import World, WorldConfig
from racer.sim.randomize import Perturbation, RandomizeConfig, Randomizer
from racer.track import Track, load_track
from racer.track.racing_line import RacingLine

REVERSED_STEPS = 15  # DeepRacer: progress falling for this many steps in a row ends the episode
IMMOBILIZED_STEPS = 30  # 2 s below IMMOBILIZED_SPEED_MPS ends the episode
IMMOBILIZED_SPEED_MPS = 0.05  # measured speed counted as "not moving"
MIN_AVERAGE_SPEED_MPS = 0.4  # default time limit: a lap slower than this is not racing
ROUND_ROBIN_ADVANCE = 0.1  # fraction of the lap the round-robin start moves each episode
START_MODES = ("round_robin", "random", "fixed")
DIRECTIONS = ("forward", "reverse", "both")
RENDER_VIEWS = ("chase", "topdown")

#: DeepRacer's episode_status values, as the simtrace and `info["episode_status"]` use them.
STATUS_IN_PROGRESS = "in_progress"
STATUS_OFF_TRACK = "off_track"
STATUS_CRASHED = "crashed"
STATUS_REVERSED = "reversed"
STATUS_IMMOBILIZED = "immobilized"
STATUS_LAP_COMPLETE = "lap_complete"
STATUS_TIME_UP = "time_up"


class RaceEnv(gym.Env):
    """A 1/18-scale car on a painted track, DeepRacer's rules.

    ## Description
    The car drives on a flat floor painted with the track (dark road, white borders, dashed yellow
    centre line), simulated with PyBullet at a fine physics step and controlled at 15 Hz. The
    agent picks steering and speed; the reward comes from a DeepRacer-style reward function
    ``reward_function(params)``. There are no walls: leaving the road ends the episode.

    ## Action Space
    DeepRacer's, as ``model_metadata.json`` defines it (:class:`racer.env.ActionSpec`):

    - discrete (default): ``Discrete(n)``, action ``i`` is the pair
      ``(steering_angle_deg, speed_mps)`` number ``i`` of the list; the default list is
      steering {-30, -15, 0, 15, 30} deg x speed {1, 2} m/s.
    - continuous: ``Box(-1, 1, (2,))`` normalised (steering, speed), mapped linearly onto the
      steering range (deg) and the speed range (m/s).

    Positive steering turns left (counter-clockwise).

    ## Observation Space
    ``observation=``:

    | name | space | what |
    |---|---|---|
    | ``camera`` | ``Box(0, 255, (1, 120, 160), uint8)`` | front camera, grayscale |
    | ``stereo`` | ``Box(0, 255, (2, 120, 160), uint8)`` | left and right front cameras |
    | ``lidar`` | ``Box(0, max_range, (64,), float32)`` | ranges in metres over +-150 deg |
    | ``state`` | ``Box(-5, 5, (23,), float32)`` | privileged features (table below) |
    | ``state_lidar`` | ``Box(-5, 5, (87,), float32)`` | ``state``, then the 64 lidar ranges (m) |

    ``state`` features (not available on a real car; for fast experiments and teachers;
    :data:`racer.contract.observations.STATE_FEATURES` names them in this order):

    | index | meaning | unit |
    |---|---|---|
    | 0 | measured speed / 4 | m/s / 4 |
    | 1 | actual steering / 30 deg | 1 |
    | 2, 3 | sin, cos of (car yaw - track heading) | 1 |
    | 4 | signed offset from the centre line / half width, + = left | 1 |
    | 5 | half the road width | m |
    | 6-11 | bearing of the centre line 0.5, 1, 1.5, 2, 3, 4 m ahead in the car frame / pi | 1 |
    | 12-15 | centre-line curvature 0, 1, 2, 3 m ahead x 0.5 | 1/m x 0.5 |
    | 16 | signed offset from the racing line / half width, + = left of it | 1 |
    | 17-19 | racing-line profile speed 0, 1, 2 m ahead / 4 | m/s / 4 |
    | 20-22 | bearing of the racing line 0.5, 1, 2 m ahead in the car frame / pi | 1 |

    "Ahead" is measured along the centre line from the front point's projection. The racing line
    is :func:`racer.track.racing_line` for the driven direction and the car's limits
    (:attr:`racing_line`).

    ## Rewards
    ``reward=`` takes a built-in name (``progress`` by default), a path ``file.py`` or
    ``file.py:function``, an installed plugin name, or a callable; it receives DeepRacer's
    ``params`` (DESIGN.md "Reward parameters"). A plugin that fails or returns a value that is not
    a finite number within +-1e5 raises :class:`racer.errors.RewardError`.

    ## Episode End
    Termination (``info["episode_status"]``, DeepRacer's names): ``off_track`` (no wheel on the
    road), ``crashed`` (contact with a box or a bot car), ``reversed`` (progress falling for 15
    steps in a row), ``immobilized`` (slower than 0.05 m/s for 2 s), ``lap_complete`` (progress
    reaches 100). Truncation: ``time_up`` after ``max_steps`` (default: the lap length at
    0.4 m/s). ``info`` carries ``progress``, ``lap_time_s`` (on a complete lap), ``steps`` and
    the reward ``params``, and the lap accounting (:mod:`racer.env.laps`): ``lap_completed``
    (bool), ``laps`` (completed since the start) and ``distance_m`` (driven along the track since
    the start, signed, unwrapped across the start line); ``reset()``'s also ``lap_m`` (one lap).

    Multi-lap driving: after ``lap_complete``, ``next_lap()`` goes on into the next lap without
    stopping the car; ``put_back(start_s)`` puts the car back on the track after an incident and
    drives on (DeepRacer's continuous evaluation), the laps and the distance still counting.

    ## Arguments
    - ``track``: built-in name, user-library name, ``random:SEED``, or a path (DeepRacer ``.npy``,
      ``.track.toml``); or a :class:`racer.track.Track`.
    - ``observation``: ``camera`` | ``stereo`` | ``lidar`` | ``state`` | ``state_lidar``.
    - ``action_space``: ``"discrete"`` | ``"continuous"`` | a model_metadata-style mapping | a
      ``model_metadata.json`` path | an :class:`ActionSpec`.
    - ``reward``: see Rewards.
    - ``start``: ``round_robin`` (advance 10% of the lap each episode) | ``random`` | ``fixed``.
    - ``direction``: ``forward`` | ``reverse`` | ``both`` (random per episode).
    - ``max_steps``: step limit per episode (truncation).
    - ``world_config``: :class:`racer.sim.WorldConfig` (physics rate, camera pose and field of view,
      lidar).
    - ``render_mode``: ``None`` | ``"rgb_array"``; ``render_view``: ``chase`` | ``topdown``.
    - ``race``: the objects on the track (:class:`racer.env.race_setup.RaceSetup`, a mapping of
      its fields, or a format name): boxes or bot cars placed at every ``reset()`` from the
      episode's generator, relative to the start (``options["layout"]``: a given
      :class:`racer.env.race_setup.Layout` instead). Touching one ends the episode ``crashed``.

    - ``randomize``: sim-to-real randomisation (:mod:`racer.sim.randomize`): a
      :class:`~racer.sim.randomize.RandomizeConfig` draws the light, floor, surroundings, camera
      and actuation of each episode at ``reset()`` (one integer from the episode's generator), a
      :class:`~racer.sim.randomize.Perturbation` fixes named levels; None: the plain world.

    ## Version History
    - v0: initial version; ``state`` gained the racing-line features 16-22 (and reward
      ``params`` the ``racing_line_*`` keys) before any release.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(
        self,
        track: str | Path | Track = "oval",
        observation: str = "camera",
        action_space: ActionSpec | Mapping[str, Any] | str | Path | None = None,
        reward: str | Callable[[dict[str, Any]], float] | RewardPlugin = "progress",
        start: str = "round_robin",
        direction: str = "forward",
        max_steps: int | None = None,
        world_config: WorldConfig | None = None,
        render_mode: str | None = None,
        render_view: str = "chase",
        race: RaceSetup | Mapping[str, Any] | str | None = None,
        randomize: RandomizeConfig | Perturbation | None = None,
    ) -> None:
        self._init_kwargs = dict(
            randomize=randomize,
            race=race,
            track=track,
            observation=observation,
            action_space=action_space,
            reward=reward,
            start=start,
            direction=direction,
            max_steps=max_steps,
            world_config=world_config,
            render_mode=render_mode,
            render_view=render_view,
        )
        _check_choice("observation", observation, OBSERVATIONS)
        _check_choice("start", start, START_MODES)
        _check_choice("direction", direction, DIRECTIONS)
        _check_choice("render_view", render_view, RENDER_VIEWS)
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode {render_mode!r} is not valid: use None or 'rgb_array'")

        self.track: Track = track if isinstance(track, Track) else load_track(track)
        self.race_setup: RaceSetup = resolve_race(race)  # boxes / bots placed at every reset
        self.observation_name = observation
        self.action_spec: ActionSpec = resolve_action_space(action_space)
        self.reward_fn: RewardPlugin = load_reward(reward)
        self.start_mode = start
        self.direction = direction
        self.render_mode = render_mode
        self.render_view = render_view
        if max_steps is not None and max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps or int(
            math.ceil(self.track.length / MIN_AVERAGE_SPEED_MPS * CONTROL_HZ)
        )

        self.world = World(self.track, world_config)
        # Both driving directions share the painted world; geometry and params use the track as
        # driven this episode.
        self._tracks = {False: self.track, True: self.track.reversed()}
        limits = self.world.config.car_limits()
        self._builders = {rev: ParamsBuilder(t, limits) for rev, t in self._tracks.items()}
        self._tables = {rev: _SampleTable.of(t) for rev, t in self._tracks.items()}
        self._feats = np.empty(len(STATE_FEATURES), dtype=np.float32)
        self._hfov_rad = math.radians(self.world.config.camera.hfov_deg)
        self._last_proj: Any = None

        self.action_space = self.action_spec.gym_space()
        self.observation_space = self._make_observation_space()
        # Image observations go through the car's Preprocessor with the steps a camera bundle
        # carries (racer.car.preprocess.camera_steps): the simulator and the car transform a
        # frame by one code path (the identity on the simulator's gray frame).
        self.preprocessor: Preprocessor | None = None
        if self.observation_name in ("camera", "stereo"):
            obs_shape = self.observation_space.shape
            assert obs_shape is not None
            self.preprocessor = Preprocessor(
                camera_steps(width=obs_shape[-1], height=obs_shape[-2]), expected_shape=obs_shape
            )

        self.randomize = randomize
        self._rand: Randomizer | None = None  # sim-to-real randomisation (racer.sim.randomize)
        if randomize is not None and self.observation_name in ("camera", "stereo"):
            self._rand = _randomizer(randomize, self.world, self.observation_name, 1)
        elif randomize is not None:
            self._rand = _randomizer(randomize, self.world, None, 1)  # actuation only

        self._episode = 0
        self._reset_state()

    # ------------------------------------------------------------------ spaces
    def _make_observation_space(self) -> gym.Space:
        return observation_space(self.observation_name, self.world.config)

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self._reversed_dir = False
        self._laps = LapCounter()  # distance, progress, laps and lap times (racer.env.laps)
        self._progress = 0.0
        self._steps = 0
        self._falling = 0
        self._still = 0
        self._done = True

    @property
    def driven_track(self) -> Track:
        """The track as driven this episode (reversed when the episode runs backwards)."""
        return self._tracks[self._reversed_dir]

    @property
    def racing_line(self) -> RacingLine:
        """The optimal racing line of the driven track at this car's limits (computed once)."""
        return self._builders[self._reversed_dir].racing_line

    @property
    def progress(self) -> float:
        """Percent of the lap done this episode, 0-100."""
        return self._progress

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        ``options`` may hold ``start_s`` (arc length along the driven track, m) and
        ``reverse`` (bool) to place the car exactly; otherwise ``start``/``direction`` decide.
        """
        super().reset(seed=seed)
        if seed is not None:  # a seed restarts every sequence, the round-robin starts included
            self._episode = 0
        options = dict(options or {})
        self._reset_state()
        if "reverse" in options:
            self._reversed_dir = bool(options["reverse"])
        elif self.direction == "both":
            self._reversed_dir = bool(self.np_random.integers(2))
        else:
            self._reversed_dir = self.direction == "reverse"
        track = self.driven_track
        if "start_s" in options:
            start_s = float(options["start_s"])
        elif not track.closed or self.start_mode == "fixed":
            start_s = 0.0
        elif self.start_mode == "random":
            start_s = float(self.np_random.uniform(0.0, track.length))
        else:
            start_s = (self._episode * ROUND_ROBIN_ADVANCE % 1.0) * track.length
        self._episode += 1
        self._place_objects(options, start_s)
        if self._rand is not None:  # this episode's world: one draw from the episode's generator
            self._rand.reset_cars([0], [self.np_random])

        state, proj = self._place_car(start_s)
        self._laps.start(track, float(proj.s))
        self._done = False
        params = self._build_params(state, 0.0, 0.0, proj)
        self._last_proj = proj
        info = {
            "episode_status": "prepare",
            "progress": 0.0,
            "steps": 0,
            "start_s": self._laps.start_s_m,
            "reversed": self._reversed_dir,
            "laps": 0,
            "distance_m": 0.0,
            "lap_m": self._laps.lap_m,
            "params": params,
        }
        return self._observe(state, params), info

    def _place_objects(self, options: Mapping[str, Any], start_s: float) -> None:
        """This episode's boxes and bots (``options["layout"]`` or drawn from ``np_random``)."""
        setup = self.race_setup
        layout = options.get("layout")
        if layout is None and not (setup.n_boxes or setup.n_bots):
            return  # no race objects: the world's objects (an evaluation's) stay as they are
        track = self.driven_track
        if layout is None:
            layout = place_objects(setup, track, self.np_random, start_s)
        line = None
        if any(b.racing_line for b in layout.bots):
            line = line_offsets(self.racing_line, track)
        apply_layout(self.world, layout, track, line)

    def _place_car(self, start_s: float, lateral_m: float = 0.0) -> tuple[Any, Any]:
        """Put the car at rest at ``start_s``, ``lateral_m`` left of the centre line (+ = left),
        facing along the driven track."""
        track = self.driven_track
        x, y, yaw = track.lane_pose(start_s, lateral_m)
        self.world.reset_car(x, y, yaw)
        if self.preprocessor is not None:
            self.preprocessor.reset()  # a new drive: no frames of the last episode
        state = self.world.car_state()
        return state, track.project(np.asarray(state.front_xy, dtype=np.float64))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one action for one control period (1/15 s) and judge the result."""
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        steering_deg, speed_mps = self.action_spec.to_command(action)
        steer_act, speed_act = steering_deg, speed_mps
        if self._rand is not None:  # the actuators: latency, steering offset and gain, speed gain
            s_act, v_act = self._rand.commands([0], np.array([steering_deg]), np.array([speed_mps]))
            steer_act, speed_act = float(s_act[0]), float(v_act[0])
        self.world.step(math.radians(steer_act), speed_act)
        self._steps += 1
        state = self.world.car_state()

        track = self.driven_track
        proj = track.project(np.asarray(state.front_xy, dtype=np.float64))
        delta = self._laps.move(float(proj.s))  # unwrapped across the start line
        self._progress = self._laps.progress
        self._falling = self._falling + 1 if delta < -1e-4 else 0
        self._still = self._still + 1 if abs(state.speed_mps) < IMMOBILIZED_SPEED_MPS else 0

        params = self._build_params(state, speed_mps, steering_deg, proj)
        offtrack = bool(params["is_offtrack"])  # read before the (untrusted) reward runs
        # The plugin hands the reward its own copy of params (racer.rewards.plugin): `params`
        # here stays racer's, for termination and `info`.
        reward = self.reward_fn(params, step=self._steps)

        status = STATUS_IN_PROGRESS
        if self._laps.lap_due():
            status = STATUS_LAP_COMPLETE
        elif offtrack:
            status = STATUS_OFF_TRACK
        elif state.crashed:
            status = STATUS_CRASHED
        elif self._falling >= REVERSED_STEPS:
            status = STATUS_REVERSED
        elif self._still >= IMMOBILIZED_STEPS:
            status = STATUS_IMMOBILIZED
        terminated = status != STATUS_IN_PROGRESS
        truncated = not terminated and self._steps >= self.max_steps
        if truncated:
            status = STATUS_TIME_UP
        self._done = terminated or truncated
        info: dict[str, Any] = {
            "episode_status": status,
            "progress": self._progress,
            "steps": self._steps,
            "sim_time_s": self._steps * DT_S,
            "speed_mps": state.speed_mps,
            "steering_deg": steering_deg,
            "throttle_mps": speed_mps,
            "params": params,
        }
        if status == STATUS_LAP_COMPLETE:
            info["lap_time_s"] = self._laps.complete_lap(self._steps, DT_S)
        info["lap_completed"] = status == STATUS_LAP_COMPLETE
        info["laps"] = self._laps.laps
        info["distance_m"] = self._laps.distance_m
        self._last_proj = proj
        return self._observe(state, params), float(reward), terminated, truncated, info

    def next_lap(self) -> None:
        """Go on into the next lap after ``lap_complete``, without stopping the car.

        An episode ends when a lap is done; a multi-lap evaluation calls this instead of
        ``reset()`` so the car keeps its speed and pose. Progress restarts at 0 (measured from the
        same start line) and the next ``lap_time_s`` counts from this step; ``info["laps"]`` and
        ``info["distance_m"]`` go on counting from the start.
        """
        laps = self._laps
        if not (self._done and laps.laps > 0 and laps.lap_start_step == self._steps):
            raise RuntimeError("next_lap() is only valid right after a lap_complete step")
        self._progress = 0.0
        self._done = False

    def put_back(self, start_s: float, lateral_m: float = 0.0) -> tuple[np.ndarray, dict[str, Any]]:
        """Put the car back at rest on the track and drive on: DeepRacer's continuous evaluation.

        The car goes on the centre line at ``start_s`` (arc length along the driven track, m),
        or ``lateral_m`` to its left (+) or right (-), e.g. a lane, facing along the track, as
        ``reset()`` places it; but the drive goes on: the step count,
        the laps, the lap time and the distance keep counting from the episode's start, and the
        jump counts as distance moved (a car put back behind where it was loses that distance).
        Valid at any time after ``reset()``, typically after an ``off_track``, ``crashed``,
        ``reversed`` or ``immobilized`` step.

        Returns:
            ``(observation, info)`` as ``reset()`` gives them.
        """
        if self._last_proj is None:
            raise RuntimeError("put_back() called before reset()")
        state, proj = self._place_car(float(start_s), float(lateral_m))
        if self._rand is not None:
            self._rand.put_back([0])
        self._laps.move(float(proj.s))
        self._progress = self._laps.progress
        self._falling = 0
        self._still = 0
        self._done = False
        params = self._build_params(state, 0.0, 0.0, proj)
        self._last_proj = proj
        info = {
            "episode_status": "prepare",
            "progress": self._progress,
            "steps": self._steps,
            "start_s": self._laps.start_s_m,
            "reversed": self._reversed_dir,
            "laps": self._laps.laps,
            "distance_m": self._laps.distance_m,
            "lap_m": self._laps.lap_m,
            "params": params,
        }
        return self._observe(state, params), info

    # ------------------------------------------------------------------ helpers
    def _build_params(
        self, state: Any, speed_cmd: float, steering_cmd: float, proj: Any
    ) -> dict[str, Any]:
        world_objects = self.world.objects() if self.world.has_objects else ()
        objects = [
            ObjectInfo(o.x_m, o.y_m, o.yaw_rad, o.speed_mps, o.kind == "bot") for o in world_objects
        ]
        inputs = StepInputs(
            front_xy=(float(state.front_xy[0]), float(state.front_xy[1])),
            heading_rad=float(state.yaw_rad),
            wheels_xy=state.wheels_xy,
            speed_cmd_mps=speed_cmd,
            steering_cmd_deg=steering_cmd,
            measured_speed_mps=float(state.speed_mps),
            steps=self._steps,
            start_s=self._laps.start_s_m,
            prev_progress=self._progress,
            sim_time_s=self._steps * DT_S,
            is_crashed=bool(state.crashed),
            is_reversed=self._reversed_dir,
            objects=objects,
            camera_hfov_rad=self._hfov_rad,
            progress=self._progress,
            projection=proj,
        )
        return self._builders[self._reversed_dir].build(inputs)

    def _observe(self, state: Any, params: dict[str, Any]) -> np.ndarray:
        name = self.observation_name
        if self.preprocessor is not None and self._rand is not None:
            return self.preprocessor(_randomized_frame(self._rand, self.world, state, self._steps))
        if self.preprocessor is not None:  # camera / stereo: the car's own preprocessing
            return self.preprocessor(
                self.world.camera() if name == "camera" else self.world.stereo()
            )
        if name == "lidar":
            return self.world.lidar()
        if name == "state_lidar":  # the track ahead and the objects around (races with objects)
            return np.concatenate((self._state_features(state, params), self.world.lidar()))
        return self._state_features(state, params)

    def _state_features(self, state: Any, params: dict[str, Any]) -> np.ndarray:
        """The privileged ``state`` vector, from this step's projection of the front point.

        The racing line at the car itself comes from this step's ``params`` (racer's own dict,
        not the reward's copy); only the samples ahead are looked up here.
        """
        proj = self._last_proj
        s = float(proj.s)
        yaw = float(state.yaw_rad)
        table = self._tables[self._reversed_dir]
        ahead = s + _AHEAD_M
        if table.closed:
            ahead %= table.length
        px = np.interp(ahead, table.s, table.x)
        py = np.interp(ahead, table.s, table.y)
        fx, fy = state.front_xy
        bearing = np.arctan2(py[: len(LOOKAHEAD_M)] - fy, px[: len(LOOKAHEAD_M)] - fx) - yaw
        bearing = (bearing + np.pi) % (2 * np.pi) - np.pi
        curv = np.interp(ahead[len(LOOKAHEAD_M) :], table.s, table.k)
        err = yaw - float(proj.heading_rad)
        half_w = 0.5 * float(np.interp(s, table.s, table.w))
        feats = self._feats
        feats[0] = state.speed_mps / MAX_SPEED_MPS
        feats[1] = state.steering_rad / MAX_STEERING_RAD
        feats[2] = math.sin(err)
        feats[3] = math.cos(err)
        feats[4] = float(proj.lateral) / half_w
        feats[5] = half_w
        feats[6 : 6 + len(LOOKAHEAD_M)] = bearing / np.pi
        n0 = 6 + len(LOOKAHEAD_M)
        feats[n0 : n0 + len(CURVATURE_AHEAD_M)] = 0.5 * curv
        n0 += len(CURVATURE_AHEAD_M)
        lx, ly, _, lv = self._builders[self._reversed_dir].line_at_many(s + _LINE_AHEAD_M)
        feats[n0] = params["racing_line_offset"] / half_w
        feats[n0 + 1] = params["racing_line_speed"] / MAX_SPEED_MPS
        n_speed = len(_LINE_SPEED_M)
        feats[n0 + 2 : n0 + 2 + n_speed] = lv[:n_speed] / MAX_SPEED_MPS
        aim = np.arctan2(ly[n_speed:] - fy, lx[n_speed:] - fx) - yaw
        feats[n0 + 2 + n_speed :] = ((aim + np.pi) % (2 * np.pi) - np.pi) / np.pi
        return np.clip(feats, -5.0, 5.0)

    def render(self) -> np.ndarray | None:
        """A picture for people (not the observation): chase or top-down view, RGB uint8."""
        if self.render_mode != "rgb_array":
            return None
        if self.render_view == "topdown":
            return self.world.render_topdown()
        return self.world.render_chase()

    def close(self) -> None:
        """Release the PyBullet client."""
        world = getattr(self, "world", None)
        if world is not None:
            world.close()

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        return {"init_kwargs": self._init_kwargs, "episode": self._episode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["init_kwargs"])  # type: ignore[misc]
        self._episode = state["episode"]


def _randomizer(
    source: RandomizeConfig | Perturbation, world: World, observation: str | None, n: int
) -> Randomizer:
    """The env's :class:`racer.sim.randomize.Randomizer` for its camera(s) (none: actuation)."""
    if not isinstance(source, (RandomizeConfig, Perturbation)):
        raise ConfigError(
            f"randomize must be a RandomizeConfig or a Perturbation, got {type(source).__name__}"
        )
    cfg = world.config.camera
    laterals: tuple[float, ...] = (0.0,)
    if observation == "stereo":
        laterals = (cfg.stereo_baseline_m / 2, -cfg.stereo_baseline_m / 2)
    return Randomizer(source, cfg, world.texture, n, laterals, frames=observation is not None)


def _randomized_frame(rand: Randomizer, world: World, state: Any, steps: int) -> np.ndarray:
    """The randomised camera frame(s) of the world's car: the floor and backdrop, the world's
    objects drawn over them, then light, noise, blur and JPEG (Randomizer.finish)."""
    x, y, yaw = np.array([state.x_m]), np.array([state.y_m]), np.array([state.yaw_rad])
    frames = rand.render([0], x, y, yaw, finish=False)
    if world.has_objects:
        from racer.sim import objects as om
        from racer.sim.camera import camera_rays

        cfg = world.config.camera
        rays = camera_rays(cfg)
        for k, lateral in enumerate(rand.laterals):
            om.composite(frames[:, k], cfg, rays, lateral, x, y, yaw, world.object_arrays())
    rand.finish(frames, [0], np.array([state.speed_mps]), np.array([steps]))
    return frames[0, 0] if frames.shape[1] == 1 else frames[0]


_AHEAD_M = np.asarray(LOOKAHEAD_M + CURVATURE_AHEAD_M, dtype=np.float64)
#: Racing-line samples ahead in the `state` observation (the one at the car is in `params`):
#: the speeds past the first, then the aims.
_LINE_SPEED_M = LINE_SPEED_AHEAD_M[1:]
_LINE_AHEAD_M = np.asarray((*_LINE_SPEED_M, *LINE_AIM_AHEAD_M), dtype=np.float64)


class _SampleTable:
    """Centre-line x, y, curvature and width against arc length, for ``np.interp`` look-ups.

    A closed track's table repeats its first waypoint at ``s = length`` so interpolation runs
    across the seam; look-ups wrap their arc length into ``[0, length)`` first.
    """

    __slots__ = ("closed", "k", "length", "s", "w", "x", "y")
    closed: bool
    length: float
    s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    k: np.ndarray
    w: np.ndarray

    @classmethod
    def of(cls, track: Track) -> _SampleTable:
        t = cls()
        t.closed = bool(track.closed)
        t.length = float(track.length)
        s = np.asarray(track.s, dtype=np.float64)
        center = np.asarray(track.center, dtype=np.float64)
        k = np.asarray(track.curvature_at(s), dtype=np.float64)
        w = np.asarray(track.widths, dtype=np.float64)
        if t.closed:
            s = np.append(s, t.length)
            center = np.vstack((center, center[:1]))
            k = np.append(k, k[0])
            w = np.append(w, w[0])
        t.s, t.x, t.y, t.k, t.w = s, center[:, 0].copy(), center[:, 1].copy(), k, w
        return t


def observation_space(name: str, config: WorldConfig) -> gym.spaces.Box:
    """One car's observation space for observation ``name`` (RaceEnv's and RaceVectorEnv's)."""
    cam = config.camera
    if name == "camera":
        return gym.spaces.Box(0, 255, shape=(1, cam.height_px, cam.width_px), dtype=np.uint8)
    if name == "stereo":
        return gym.spaces.Box(0, 255, shape=(2, cam.height_px, cam.width_px), dtype=np.uint8)
    if name == "lidar":
        lidar = config.lidar
        return gym.spaces.Box(
            0.0, float(lidar.max_range_m), shape=(lidar.num_rays,), dtype=np.float32
        )
    if name == "state_lidar":
        n = len(STATE_FEATURES) + config.lidar.num_rays
        return gym.spaces.Box(-5.0, 5.0, shape=(n,), dtype=np.float32)
    return gym.spaces.Box(-5.0, 5.0, shape=(len(STATE_FEATURES),), dtype=np.float32)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        import difflib

        near = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"{what} {value!r} is not valid{hint}: use one of {', '.join(choices)}")
