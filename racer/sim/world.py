"""The simulated world: one PyBullet client holding a track's painted floor, the car, boxes and
bot cars, with the car's sensors (front camera, stereo pair, lidar).

Each :class:`World` owns its own ``BulletClient`` in DIRECT mode and never touches PyBullet's
global client, so many worlds run side by side in one process. The views for people (chase
camera, top-down map) and PyBullet's reference render of the front camera live in
:mod:`racer.sim.views`; ``World`` keeps thin methods that call them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from racer.sim._quiet import quiet_fds  # isort: skip  (silences pybullet's import banner)
import pybullet as p
from pybullet_utils.bullet_client import BulletClient

from racer.sim import objects as om
from racer.sim.camera import FloorCamera, camera_rays
from racer.sim.car import (
    STEER_JOINTS,
    WHEEL_OFFSETS_M,
    BicycleModel,
    ackermann_angles,
    car_urdf_path,
)
from racer.sim.config import (
    CONTROL_HZ,
    FRONT_OFFSET_M,
    MAX_SPEED_MPS,
    MAX_STEERING_RAD,
    WorldConfig,
)
from racer.sim.texture import FloorTexture, floor_texture
from racer.track import Track

GROUP_CAR = 2  # collision group of the ego car (rays and other cars' rays skip it)
GROUP_OBJECT = 4  # collision group of boxes and bot cars (what the lidar sees)
# Objects nearer than this plus a step's travel are checked at every substep, m: more than the
# car's half-diagonal (0.164 m), so no contact within a step can be missed.
CONTACT_REACH_M = 0.25
BOX_RGBA = (0.85, 0.55, 0.2, 1.0)  # obstacle boxes: cardboard orange
BOT_RGBA = (0.8, 0.1, 0.1, 1.0)  # bot cars: red
HIDDEN_XYZ = (0.0, 0.0, -50.0)  # where the ego car waits while its own camera renders, m


@dataclass(frozen=True)
class CarState:
    """The car after the last step.

    Attributes:
        x_m: Car centre (mid-wheelbase, on the ground) x, m.
        y_m: Car centre y, m.
        yaw_rad: Heading, rad, counter-clockwise from +x, in (-pi, pi].
        speed_mps: Measured forward speed, m/s.
        steering_rad: Actual steering angle (bicycle model, + = left), rad.
        front_xy: (2,) point 0.09 m ahead of the centre: DeepRacer's reported x, y, m.
        wheels_xy: (4, 2) wheel contact points FL, FR, RL, RR, m.
        crashed: The car touched a box or a bot car during the last step.
    """

    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float
    steering_rad: float
    front_xy: np.ndarray
    wheels_xy: np.ndarray
    crashed: bool


@dataclass(frozen=True)
class ObjectState:
    """A box or a bot car.

    Attributes:
        id: The id returned by ``add_box`` / ``add_bot``.
        kind: ``"box"`` or ``"bot"``.
        x_m: Centre x, m.
        y_m: Centre y, m.
        yaw_rad: Heading, rad.
        speed_mps: Speed along its heading, m/s (0 for boxes).
        size_m: (length, width, height) of its footprint box, m.
        s_m: Bots: arc length along the centre line, m; boxes: None.
        lateral_m: Bots: offset from the centre line (+ = left), m; boxes: None.
    """

    id: int
    kind: str
    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float
    size_m: tuple[float, float, float]
    s_m: float | None = None
    lateral_m: float | None = None


@dataclass
class _Object:
    body: int
    kind: str
    x_m: float
    y_m: float
    yaw_rad: float
    speed_mps: float
    size_m: tuple[float, float, float]
    s_m: float | None = None
    lateral_m: float | None = None
    puppet: bool = False
    motion: om.BotArrays | None = None  # a driving bot's state (one car, one bot)
    track: Any = None  # the track a driving bot drives, as driven
    line: om.LineOffsets | None = None  # the racing line a bot on it follows

    @property
    def radius_m(self) -> float:
        return 0.5 * math.hypot(self.size_m[0], self.size_m[1])


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw))


class World:
    """A track, a car and objects in their own PyBullet client.

    Args:
        track: A :class:`racer.track.Track`.
        config: World settings; defaults to ``WorldConfig()``.

    The car starts at rest on the first waypoint, facing along the track.
    """

    def __init__(self, track: Track, config: WorldConfig | None = None) -> None:
        self._bc: BulletClient | None = None
        self.track: Track = track
        self.config = config if config is not None else WorldConfig()
        cfg = self.config
        with quiet_fds():
            self._bc = BulletClient(connection_mode=p.DIRECT)
        self._cid: int = self._bc._client
        cid = self._cid
        self._car = p.loadURDF(car_urdf_path(), [0, 0, 0], physicsClientId=cid)
        p.setCollisionFilterGroupMask(self._car, -1, GROUP_CAR, GROUP_OBJECT, physicsClientId=cid)
        self._steer_joints = self._joint_indices(self._car, STEER_JOINTS)
        self._model = BicycleModel(cfg.dynamics)
        self.texture: FloorTexture = floor_texture(
            track, cfg.texture_m_per_px, cfg.texture_margin_m
        )
        self._cam = FloorCamera(cfg.camera, self.texture, 0.0)
        self._stereo: tuple[FloorCamera, FloorCamera] | None = None
        self._rays: np.ndarray | None = None  # the camera's pixel rays, for drawing objects
        self._arrays: om.ObjectArrays | None = None  # the objects as arrays (None: stale)
        self._floor_body: int | None = None  # the floor mesh, made by racer.sim.views on demand
        self._objects: dict[int, _Object] = {}
        self._box_shapes: dict[tuple[float, float, float], tuple[int, int]] = {}
        self._next_id = 0
        self._crashed = False
        self._pose_synced = False
        self.sim_time_s = 0.0
        lc = cfg.lidar
        self._lidar_angles = np.radians(np.linspace(-lc.fov_deg / 2, lc.fov_deg / 2, lc.num_rays))
        self._lidar_empty = np.full(lc.num_rays, lc.max_range_m, dtype=np.float32)
        start = np.asarray(track.point_at(0.0), dtype=np.float64).reshape(-1)
        self.reset_car(float(start[0]), float(start[1]), float(track.heading_at(0.0)))

    # ------------------------------------------------------------------ lifecycle

    @property
    def client_id(self) -> int:
        """The PyBullet physics client id this world owns (-1 once closed)."""
        return self._cid if self._bc is not None else -1

    def close(self) -> None:
        """Disconnects the world's PyBullet client; the world is unusable afterwards."""
        bc, self._bc = self._bc, None
        if bc is not None:
            try:
                p.disconnect(physicsClientId=bc._client)
            finally:
                bc._client = -1  # keep BulletClient.__del__ from disconnecting a reused id

    def __del__(self) -> None:
        # A bare try (not contextlib): module globals may be gone at interpreter shutdown.
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ car

    def reset_car(self, x_m: float, y_m: float, yaw_rad: float) -> None:
        """Places the car at rest (zero speed, straight wheels) with its centre at (x_m, y_m)."""
        self._model.reset(x_m, y_m, yaw_rad)
        self._crashed = False
        self._pose_synced = False
        self.sim_time_s = 0.0
        if self._objects:
            self._crashed = self._touching()

    def step(self, steering_rad: float, speed_mps: float) -> None:
        """Applies a command, then simulates one control period (1 / CONTROL_HZ s).

        Bots advance first; the car then follows the command over the physics substeps, and
        contacts with objects are checked at every substep while any object is within reach.

        Args:
            steering_rad: Steering command, rad (+ = left), clipped to +/-30 degrees.
            speed_mps: Speed command, m/s, clipped to [0, 4].
        """
        steer = min(max(float(steering_rad), -MAX_STEERING_RAD), MAX_STEERING_RAD)
        speed = min(max(float(speed_mps), 0.0), MAX_SPEED_MPS)
        cfg = self.config
        n = cfg.substeps
        dt = 1.0 / cfg.physics_hz
        m = self._model
        self._pose_synced = False
        self.sim_time_s += 1.0 / CONTROL_HZ
        if not self._objects:
            m.advance(steer, speed, dt, n)
            self._crashed = False
            return
        self._advance_bots(1.0 / CONTROL_HZ)
        reach = CONTACT_REACH_M + MAX_SPEED_MPS / CONTROL_HZ
        crashed = False
        if self._nearest_object_m() > reach:
            m.advance(steer, speed, dt, n)
        else:  # contacts at every substep (the same rule as racer.env.RaceVectorEnv's)
            for _ in range(n):
                m.advance(steer, speed, dt, 1)
                if not crashed:
                    crashed = self._touching()
        self._crashed = crashed

    def car_state(self) -> CarState:
        """The car's state after the last step (or reset)."""
        m = self._model
        c, s = math.cos(m.yaw_rad), math.sin(m.yaw_rad)
        front = np.array([m.x_m + FRONT_OFFSET_M * c, m.y_m + FRONT_OFFSET_M * s])
        off = np.asarray(WHEEL_OFFSETS_M)
        wheels = np.empty((4, 2))
        wheels[:, 0] = m.x_m + off[:, 0] * c - off[:, 1] * s
        wheels[:, 1] = m.y_m + off[:, 0] * s + off[:, 1] * c
        return CarState(
            x_m=m.x_m,
            y_m=m.y_m,
            yaw_rad=m.yaw_rad,
            speed_mps=m.speed_mps,
            steering_rad=m.steering_rad,
            front_xy=front,
            wheels_xy=wheels,
            crashed=self._crashed,
        )

    # ------------------------------------------------------------------ sensors

    def camera(self) -> np.ndarray:
        """The front camera frame: (H, W) uint8 gray, (120, 160) by default."""
        m = self._model
        img = self._cam.render(m.x_m, m.y_m, m.yaw_rad)
        if self._objects:
            self._composite_objects(img, 0.0)
        return img

    def stereo(self) -> np.ndarray:
        """The stereo pair: (2, H, W) uint8 gray, left camera first."""
        cfg = self.config.camera
        if self._stereo is None:
            b = cfg.stereo_baseline_m / 2
            self._stereo = (
                FloorCamera(cfg, self.texture, b),
                FloorCamera(cfg, self.texture, -b),
            )
        m = self._model
        out = np.empty((2, cfg.height_px, cfg.width_px), dtype=np.uint8)
        for i, cam in enumerate(self._stereo):
            out[i] = cam.render(m.x_m, m.y_m, m.yaw_rad)
            if self._objects:
                self._composite_objects(out[i], cam.lateral_m)
        return out

    def lidar(self) -> np.ndarray:
        """Lidar ranges: (num_rays,) float32 metres, clipped at max_range_m.

        Ray i points at ``angles[i]`` from the car's heading (counter-clockwise positive), from
        -fov/2 (right, index 0) to +fov/2 (left). The rays are horizontal, ``height_m`` above the
        ground, so they see boxes and bot cars but not the floor.
        """
        lc = self.config.lidar
        if not self._objects:
            return self._lidar_empty.copy()
        m = self._model
        x, y, yaw = np.array([m.x_m]), np.array([m.y_m]), np.array([m.yaw_rad])
        ox = x + lc.forward_m * np.cos(yaw)
        oy = y + lc.forward_m * np.sin(yaw)
        ranges = om.lidar_ranges(
            ox, oy, yaw, self._lidar_angles, lc.max_range_m, lc.height_m, self.object_arrays()
        )
        return ranges[0]

    @property
    def lidar_angles_rad(self) -> np.ndarray:
        """Angle of each lidar ray from the car's heading, rad (a copy)."""
        return self._lidar_angles.copy()

    # ------------------------------------------------------------------ objects

    def add_box(
        self,
        x_m: float,
        y_m: float,
        yaw_rad: float = 0.0,
        size_m: tuple[float, float, float] | None = None,
    ) -> int:
        """Adds a static obstacle box standing on the floor.

        Args:
            x_m: Centre x, m.
            y_m: Centre y, m.
            yaw_rad: Rotation about z, rad.
            size_m: (length, width, height), m; defaults to ``config.box_size_m``.

        Returns:
            The object's id.
        """
        sx, sy, sz = size_m if size_m is not None else self.config.box_size_m
        size = (float(sx), float(sy), float(sz))
        shapes = self._box_shapes.get(size)
        cid = self._cid
        if shapes is None:
            half = [v / 2 for v in size]
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
            vis = p.createVisualShape(
                p.GEOM_BOX, halfExtents=half, rgbaColor=BOX_RGBA, physicsClientId=cid
            )
            shapes = (col, vis)
            self._box_shapes[size] = shapes
        body = p.createMultiBody(
            0,
            shapes[0],
            shapes[1],
            basePosition=[x_m, y_m, size[2] / 2],
            baseOrientation=_yaw_quat(yaw_rad),
            physicsClientId=cid,
        )
        p.setCollisionFilterGroupMask(body, -1, GROUP_OBJECT, -1, physicsClientId=cid)
        obj = _Object(body, "box", float(x_m), float(y_m), float(yaw_rad), 0.0, size)
        return self._register(obj)

    def add_bot(
        self,
        s_m: float,
        speed_mps: float,
        lateral_m: float = 0.0,
        *,
        track: Any = None,
        lane_change_s: float = 0.0,
        lane_change_timer_s: float = 0.0,
        line: om.LineOffsets | None = None,
    ) -> int:
        """Adds a bot car that drives along the track at constant speed.

        Args:
            s_m: Starting arc length along the (driven) track, m.
            speed_mps: Constant speed along the driving direction, m/s.
            lateral_m: Offset from the centre line (or the racing line), m (+ = left of the
                driving direction).
            track: The track the bot drives, as driven (e.g. ``track.reversed()``); default:
                the world's track.
            lane_change_s: Seconds between lane changes: every so often the bot moves over to
                ``-lateral_m``, then back (0: never).
            lane_change_timer_s: Seconds of the first lane-change period already gone.
            line: The racing line's offsets: the bot drives it, ``lateral_m`` beside it.

        Returns:
            The object's id.
        """
        cid = self._cid
        body = p.loadURDF(car_urdf_path(), [0, 0, 0], physicsClientId=cid)
        p.changeVisualShape(body, -1, rgbaColor=BOT_RGBA, physicsClientId=cid)
        p.setCollisionFilterGroupMask(body, -1, GROUP_OBJECT, -1, physicsClientId=cid)
        motion = om.BotArrays.empty(1, 1)
        motion.s[0, 0] = float(s_m)
        motion.lane[0, 0] = motion.target[0, 0] = float(lateral_m)
        motion.speed[0, 0] = float(speed_mps)
        motion.period_s[0, 0] = float(lane_change_s)
        motion.timer_s[0, 0] = float(lane_change_timer_s)
        motion.on_line[0, 0] = line is not None
        obj = _Object(
            body,
            "bot",
            0.0,
            0.0,
            0.0,
            float(speed_mps),
            om.BOT_SIZE_M,
            float(s_m),
            float(lateral_m),
            motion=motion,
            track=track if track is not None else self.track,
            line=line,
        )
        self._place_bot(obj, advance_s=0.0)
        return self._register(obj)

    def add_puppet(self, x_m: float, y_m: float, yaw_rad: float) -> int:
        """Adds a car that the world never moves by itself: another driver moves it.

        A puppet is a bot car (kind ``"bot"``: contacts, lidar, camera and the reward's object
        params see it as one) whose pose and reported speed change only through
        :meth:`move_object`, e.g. a second controllable car driven by its own model.

        Args:
            x_m: Centre (mid-wheelbase) x, m.
            y_m: Centre y, m.
            yaw_rad: Heading, rad.

        Returns:
            The object's id.
        """
        cid = self._cid
        body = p.loadURDF(car_urdf_path(), [0, 0, 0], physicsClientId=cid)
        p.changeVisualShape(body, -1, rgbaColor=BOT_RGBA, physicsClientId=cid)
        p.setCollisionFilterGroupMask(body, -1, GROUP_OBJECT, -1, physicsClientId=cid)
        obj = _Object(body, "bot", float(x_m), float(y_m), float(yaw_rad), 0.0, om.BOT_SIZE_M)
        obj.puppet = True
        i = self._register(obj)
        self.move_object(i, x_m, y_m, yaw_rad)
        return i

    def move_object(
        self, object_id: int, x_m: float, y_m: float, yaw_rad: float, speed_mps: float = 0.0
    ) -> None:
        """Sets an object's pose and reported speed (any kind; a bot keeps driving from there).

        Args:
            object_id: The id returned by ``add_box`` / ``add_bot`` / ``add_puppet``.
            x_m: Centre x, m.
            y_m: Centre y, m.
            yaw_rad: Heading, rad.
            speed_mps: Speed along its heading, m/s (what ``objects()`` reports).
        """
        o = self._objects[object_id]
        o.x_m, o.y_m, o.yaw_rad = float(x_m), float(y_m), float(yaw_rad)
        o.speed_mps = float(speed_mps)
        self._arrays = None
        if o.motion is not None:  # a driving bot drives on from its new place, at this speed
            proj = o.track.project(np.array([o.x_m, o.y_m]))
            o.s_m, o.lateral_m = float(proj.s), float(proj.lateral)
            o.motion.s[0, 0] = o.s_m
            o.motion.lane[0, 0] = o.motion.target[0, 0] = o.lateral_m
            o.motion.speed[0, 0] = o.speed_mps
            o.motion.on_line[0, 0] = False
        z = o.size_m[2] / 2 if o.kind == "box" else 0.0
        p.resetBasePositionAndOrientation(
            o.body, [o.x_m, o.y_m, z], _yaw_quat(o.yaw_rad), physicsClientId=self._cid
        )

    @property
    def has_objects(self) -> bool:
        """True when boxes or bot cars are in the world."""
        return bool(self._objects)

    def objects(self) -> list[ObjectState]:
        """States of all boxes and bot cars, in the order they were added."""
        return [
            ObjectState(
                id=i,
                kind=o.kind,
                x_m=o.x_m,
                y_m=o.y_m,
                yaw_rad=o.yaw_rad,
                speed_mps=o.speed_mps,
                size_m=o.size_m,
                s_m=o.s_m,
                lateral_m=o.lateral_m,
            )
            for i, o in self._objects.items()
        ]

    def remove_object(self, object_id: int) -> None:
        """Removes one box or bot car by id."""
        obj = self._objects.pop(object_id)
        self._arrays = None
        p.removeBody(obj.body, physicsClientId=self._cid)

    def clear_objects(self) -> None:
        """Removes every box and bot car."""
        for i in list(self._objects):
            self.remove_object(i)
        self._crashed = False

    def object_in_camera(self) -> bool:
        """Whether any box or bot car lies (at least partly) in the front camera's view."""
        return bool(self._objects) and bool(self._in_view(0.0).any())

    def object_arrays(self) -> om.ObjectArrays:
        """The objects as :class:`racer.sim.objects.ObjectArrays` of one car (in id order)."""
        arrays = self._arrays
        if arrays is None:
            objs = list(self._objects.values())
            arrays = om.ObjectArrays.empty(1, len(objs))
            for k, o in enumerate(objs):
                arrays.x[0, k], arrays.y[0, k], arrays.yaw[0, k] = o.x_m, o.y_m, o.yaw_rad
                arrays.half_l[0, k] = 0.5 * o.size_m[0]
                arrays.half_w[0, k] = 0.5 * o.size_m[1]
                arrays.z1[0, k] = o.size_m[2]
                arrays.bot[0, k] = o.kind == "bot"
            self._arrays = arrays
        return arrays

    # ------------------------------------------------------------------ human views

    # The views for people and the reference render live in racer.sim.views, imported on first
    # use: the agent's sensors never load it.

    def render_chase(self, width: int = 320, height: int = 240) -> np.ndarray:
        """A view from behind and above the car (PyBullet's TinyRenderer), for people.

        Returns:
            (height, width, 3) uint8 RGB.
        """
        from racer.sim import views

        return views.render_chase(self, width, height)

    def render_topdown(self, width: int = 400, height: int = 400) -> np.ndarray:
        """The whole track from above with the car and objects drawn on it, for people.

        Returns:
            (height, width, 3) uint8 RGB; north (+y) is up.
        """
        from racer.sim import views

        return views.render_topdown(self, width, height)

    def camera_reference(self, lateral_m: float = 0.0, flat: bool = True) -> np.ndarray:
        """The front camera rendered by PyBullet's TinyRenderer (slow; for tests and benchmarks).

        Args:
            lateral_m: Sideways offset of the camera, m (+ = left).
            flat: Ambient-only lighting, so that floor pixels show the texture's own colours.

        Returns:
            (H, W) uint8 gray, the same pose and intrinsics as :meth:`camera`.
        """
        from racer.sim import views

        return views.camera_reference(self, lateral_m, flat)

    # ------------------------------------------------------------------ internals

    def _joint_indices(self, body: int, names: tuple[str, ...]) -> list[int]:
        found = {}
        for j in range(p.getNumJoints(body, physicsClientId=self._cid)):
            info = p.getJointInfo(body, j, physicsClientId=self._cid)
            found[info[1].decode()] = j
        return [found[n] for n in names]

    def _register(self, obj: _Object) -> int:
        i = self._next_id
        self._next_id += 1
        self._objects[i] = obj
        self._arrays = None
        return i

    def _car_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = self._model
        return np.array([m.x_m]), np.array([m.y_m]), np.array([m.yaw_rad])

    def _sync_car(self, steering: bool = False) -> None:
        m = self._model
        if not self._pose_synced:
            p.resetBasePositionAndOrientation(
                self._car, [m.x_m, m.y_m, 0.0], _yaw_quat(m.yaw_rad), physicsClientId=self._cid
            )
            self._pose_synced = True
        if steering:
            for j, a in zip(self._steer_joints, ackermann_angles(m.steering_rad), strict=True):
                p.resetJointState(self._car, j, a, physicsClientId=self._cid)

    def _nearest_object_m(self) -> float:
        x, y, _ = self._car_arrays()
        return float(om.nearest_gap(x, y, self.object_arrays())[0])

    def _touching(self) -> bool:
        """Whether the car's footprint overlaps an object's (racer.sim.objects.overlaps)."""
        x, y, yaw = self._car_arrays()
        return bool(om.overlaps(x, y, yaw, self.object_arrays())[0])

    def _place_bot(self, o: _Object, advance_s: float) -> None:
        """Moves a driving bot on by ``advance_s`` seconds and puts it where it then is."""
        motion, t = o.motion, o.track
        assert motion is not None
        rows = np.array([0])
        if advance_s:
            motion.advance(rows, advance_s, float(t.length), bool(t.closed))
        lat = motion.lateral(rows, o.line)
        x, y, yaw = om.bot_poses(t, motion.s, lat)
        o.s_m, o.lateral_m = float(motion.s[0, 0]), float(lat[0, 0])
        o.speed_mps = float(motion.speed[0, 0])
        o.x_m, o.y_m, o.yaw_rad = float(x[0, 0]), float(y[0, 0]), float(yaw[0, 0])
        self._arrays = None
        p.resetBasePositionAndOrientation(
            o.body, [o.x_m, o.y_m, 0.0], _yaw_quat(o.yaw_rad), physicsClientId=self._cid
        )

    def _advance_bots(self, dt_s: float) -> None:
        for o in self._objects.values():
            if o.motion is not None:
                self._place_bot(o, dt_s)

    def _camera_pose(self, lateral_m: float) -> tuple[list[float], list[float], list[float]]:
        cfg = self.config.camera
        m = self._model
        c, s = math.cos(m.yaw_rad), math.sin(m.yaw_rad)
        pitch = math.radians(cfg.pitch_deg)
        eye = [
            m.x_m + cfg.forward_m * c - lateral_m * s,
            m.y_m + cfg.forward_m * s + lateral_m * c,
            cfg.height_m,
        ]
        fwd = [math.cos(pitch) * c, math.cos(pitch) * s, -math.sin(pitch)]
        up = [math.sin(pitch) * c, math.sin(pitch) * s, math.cos(pitch)]
        return eye, fwd, up

    def _camera_matrices(self, lateral_m: float) -> tuple[Any, Any]:
        cfg = self.config.camera
        eye, fwd, up = self._camera_pose(lateral_m)
        target = [eye[i] + fwd[i] for i in range(3)]
        cid = self._cid
        view = p.computeViewMatrix(eye, target, up, physicsClientId=cid)
        proj = p.computeProjectionMatrixFOV(
            cfg.vfov_deg, cfg.width_px / cfg.height_px, cfg.near_m, cfg.far_m, physicsClientId=cid
        )
        return view, proj

    def _render(
        self, width: int, height: int, view: Any, proj: Any, flat: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        light: dict[str, Any] = (
            {"lightAmbientCoeff": 1.0, "lightDiffuseCoeff": 0.0, "lightSpecularCoeff": 0.0}
            if flat
            else {"lightDirection": [0.4, -0.3, 1.0], "lightAmbientCoeff": 0.6}
        )
        _, _, rgba, _, seg = p.getCameraImage(
            width,
            height,
            view,
            proj,
            renderer=p.ER_TINY_RENDERER,
            shadow=0,
            physicsClientId=self._cid,
            **light,
        )
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)
        seg = np.asarray(seg).reshape(height, width)
        return rgba, seg

    def _render_without_car(
        self, width: int, height: int, view: Any, proj: Any, flat: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Renders with the ego car moved out of sight: the camera does not see its own body."""
        cid = self._cid
        p.resetBasePositionAndOrientation(self._car, HIDDEN_XYZ, (0, 0, 0, 1), physicsClientId=cid)
        self._pose_synced = False
        try:
            return self._render(width, height, view, proj, flat)
        finally:
            self._sync_car()

    def _in_view(self, lateral_m: float) -> np.ndarray:
        x, y, yaw = self._car_arrays()
        return om.in_view(self.config.camera, lateral_m, x, y, yaw, self.object_arrays())[0]

    def _composite_objects(self, img: np.ndarray, lateral_m: float) -> None:
        """Draws the objects over a floor frame (racer.sim.objects.composite), in place."""
        cfg = self.config.camera
        if self._rays is None:
            self._rays = camera_rays(cfg)
        x, y, yaw = self._car_arrays()
        om.composite(img[None], cfg, self._rays, lateral_m, x, y, yaw, self.object_arrays())
