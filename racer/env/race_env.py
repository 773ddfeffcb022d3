"""`RaceEnv`: the Gymnasium environment of a car on a painted DeepRacer-style track."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from racer.env.spaces import ActionSpec, resolve_action_space
from racer.errors import ConfigError
from racer.rewards import ObjectInfo, ParamsBuilder, RewardPlugin, StepInputs, load_reward
from racer.sim import World, WorldConfig
from racer.track import Track, load_track
from racer.track.racing_line import RacingLine

CONTROL_HZ = 15  # DeepRacer camera rate: one agent decision per frame
DT_S = 1.0 / CONTROL_HZ
REVERSED_STEPS = 15  # DeepRacer: progress falling for this many steps in a row ends the episode
IMMOBILIZED_STEPS = 30  # 2 s below IMMOBILIZED_SPEED_MPS ends the episode
IMMOBILIZED_SPEED_MPS = 0.05  # measured speed counted as "not moving"
MIN_AVERAGE_SPEED_MPS = 0.4  # default time limit: a lap slower than this is not racing
ROUND_ROBIN_ADVANCE = 0.1  # fraction of the lap the round-robin start moves each episode
LOOKAHEAD_M = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # centre-line points the `state` observation aims at
CURVATURE_AHEAD_M = (0.0, 1.0, 2.0, 3.0)  # curvature samples in the `state` observation
LINE_SPEED_AHEAD_M = (0.0, 1.0, 2.0)  # racing-line speed samples in `state` (0.0 first: at the car)
LINE_AIM_AHEAD_M = (0.5, 1.0, 2.0)  # racing-line points the `state` observation aims at
OBSERVATIONS = ("camera", "stereo", "lidar", "state")
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

STATE_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("speed", "measured speed / 4", "m/s / 4"),
    ("steering", "actual steering / 30 deg", "1"),
    ("sin_heading_error", "sin(car yaw - track heading)", "1"),
    ("cos_heading_error", "cos(car yaw - track heading)", "1"),
    ("lateral", "signed offset from centre / half width (+ = left)", "1"),
    ("half_width", "half the road width", "m"),
    *(
        (f"aim_{d:g}m", f"bearing of the centre line {d:g} m ahead, car frame / pi", "1")
        for d in LOOKAHEAD_M
    ),
    *(
        (f"curvature_{d:g}m", f"centre-line curvature {d:g} m ahead x 0.5", "m")
        for d in CURVATURE_AHEAD_M
    ),
    ("line_offset", "signed offset from the racing line / half width (+ = left of it)", "1"),
    *(
        (f"line_speed_{d:g}m", f"racing-line profile speed {d:g} m ahead / 4", "m/s / 4")
        for d in LINE_SPEED_AHEAD_M
    ),
    *(
        (f"line_aim_{d:g}m", f"bearing of the racing line {d:g} m ahead, car frame / pi", "1")
        for d in LINE_AIM_AHEAD_M
    ),
)


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

    ``state`` features (not available on a real car; for fast experiments and teachers):

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
    the reward ``params``.

    ## Arguments
    - ``track``: built-in name, user-library name, ``random:SEED``, or a path (DeepRacer ``.npy``,
      ``.track.toml``); or a :class:`racer.track.Track`.
    - ``observation``: ``camera`` | ``stereo`` | ``lidar`` | ``state``.
    - ``action_space``: ``"discrete"`` | ``"continuous"`` | a model_metadata-style mapping | a
      ``model_metadata.json`` path | an :class:`ActionSpec`.
    - ``reward``: see Rewards.
    - ``start``: ``round_robin`` (advance 10% of the lap each episode) | ``random`` | ``fixed``.
    - ``direction``: ``forward`` | ``reverse`` | ``both`` (random per episode).
    - ``max_steps``: step limit per episode (truncation).
    - ``world_config``: :class:`racer.sim.WorldConfig` (physics rate, camera pose and field of view,
      lidar).
    - ``render_mode``: ``None`` | ``"rgb_array"``; ``render_view``: ``chase`` | ``topdown``.

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
    ) -> None:
        self._init_kwargs = dict(
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

        self._episode = 0
        self._reset_state()

    # ------------------------------------------------------------------ spaces
    def _make_observation_space(self) -> gym.Space:
        if self.observation_name == "camera":
            h, w = self.world.config.camera.height_px, self.world.config.camera.width_px
            return gym.spaces.Box(0, 255, shape=(1, h, w), dtype=np.uint8)
        if self.observation_name == "stereo":
            h, w = self.world.config.camera.height_px, self.world.config.camera.width_px
            return gym.spaces.Box(0, 255, shape=(2, h, w), dtype=np.uint8)
        if self.observation_name == "lidar":
            lidar = self.world.config.lidar
            return gym.spaces.Box(
                0.0, float(lidar.max_range_m), shape=(lidar.num_rays,), dtype=np.float32
            )
        return gym.spaces.Box(-5.0, 5.0, shape=(len(STATE_FEATURES),), dtype=np.float32)

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self._reversed_dir = False
        self._start_s = 0.0
        self._travelled_m = 0.0
        self._last_s = 0.0
        self._progress = 0.0
        self._steps = 0
        self._lap_start_step = 0
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

        x, y = track.point_at(start_s)
        yaw = float(track.heading_at(start_s))
        self.world.reset_car(float(x), float(y), yaw)
        state = self.world.car_state()
        proj = track.project(np.asarray(state.front_xy, dtype=np.float64))
        self._start_s = float(proj.s)
        self._last_s = self._start_s
        self._done = False
        params = self._build_params(state, 0.0, 0.0, proj)
        self._last_proj = proj
        info = {
            "episode_status": "prepare",
            "progress": 0.0,
            "steps": 0,
            "start_s": self._start_s,
            "reversed": self._reversed_dir,
            "params": params,
        }
        return self._observe(state, params), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one action for one control period (1/15 s) and judge the result."""
        if self._done:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        steering_deg, speed_mps = self.action_spec.to_command(action)
        self.world.step(math.radians(steering_deg), speed_mps)
        self._steps += 1
        state = self.world.car_state()

        track = self.driven_track
        proj = track.project(np.asarray(state.front_xy, dtype=np.float64))
        s = float(proj.s)
        delta = s - self._last_s
        if track.closed:  # unwrap across the seam
            half = 0.5 * track.length
            if delta > half:
                delta -= track.length
            elif delta < -half:
                delta += track.length
        self._last_s = s
        self._travelled_m += delta
        lap_m = self._lap_m()
        self._progress = float(min(100.0, max(0.0, 100.0 * self._travelled_m / lap_m)))
        self._falling = self._falling + 1 if delta < -1e-4 else 0
        self._still = self._still + 1 if abs(state.speed_mps) < IMMOBILIZED_SPEED_MPS else 0

        params = self._build_params(state, speed_mps, steering_deg, proj)
        offtrack = bool(params["is_offtrack"])  # read before the (untrusted) reward runs
        # The plugin hands the reward its own copy of params (racer.rewards.plugin): `params`
        # here stays racer's, for termination and `info`.
        reward = self.reward_fn(params, step=self._steps)

        status = STATUS_IN_PROGRESS
        if self._travelled_m >= lap_m - 1e-6:
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
            info["lap_time_s"] = (self._steps - self._lap_start_step) * DT_S
        self._last_proj = proj
        return self._observe(state, params), float(reward), terminated, truncated, info

    def next_lap(self) -> None:
        """Go on into the next lap after ``lap_complete``, without stopping the car.

        An episode ends when a lap is done; a multi-lap evaluation calls this instead of
        ``reset()`` so the car keeps its speed and pose. Progress restarts at 0 (measured from the
        same start line) and the next ``lap_time_s`` counts from this step.
        """
        if not (self._done and self._travelled_m >= self._lap_m() - 1e-6):
            raise RuntimeError("next_lap() is only valid right after a lap_complete step")
        self._travelled_m -= self._lap_m()
        self._progress = 0.0
        self._lap_start_step = self._steps
        self._done = False

    def _lap_m(self) -> float:
        track = self.driven_track
        return track.length if track.closed else track.length - self._start_s

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
            start_s=self._start_s,
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
        if name == "camera":
            return self.world.camera()[None]
        if name == "stereo":
            return self.world.stereo()
        if name == "lidar":
            return self.world.lidar()
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
        feats[0] = state.speed_mps / 4.0
        feats[1] = state.steering_rad / math.radians(30.0)
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
        feats[n0 + 1] = params["racing_line_speed"] / 4.0
        n_speed = len(_LINE_SPEED_M)
        feats[n0 + 2 : n0 + 2 + n_speed] = lv[:n_speed] / 4.0
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


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        import difflib

        near = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"{what} {value!r} is not valid{hint}: use one of {', '.join(choices)}")
