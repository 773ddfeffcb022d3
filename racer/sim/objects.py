"""Boxes and bot cars as oriented boxes, in numpy: contacts, lidar and the camera's view of them.

One object model serves :class:`racer.sim.World` (one car) and
:class:`racer.env.RaceVectorEnv` (many cars, each with its own objects), so the two agree step
for step. Every object is an upright box: a centre ``(x, y)``, a yaw, half a length and half a
width, and a bottom and top height. Every function here takes arrays shaped ``(cars, objects)``
(:class:`ObjectArrays`) and the cars' poses ``(cars,)``, and works on all of them at once:

- :func:`nearest_gap`: how far each car's centre is from the nearest object's bounding circle
  (the world checks contacts at every physics substep only while this is within reach);
- :func:`overlaps`: footprint overlap of the car's body rectangle with any object (the separating
  axis test of two rectangles), i.e. a contact;
- :func:`lidar_ranges`: horizontal rays against the objects' rectangles (the slab test);
- :func:`in_view` and :func:`composite`: which objects a camera sees and their pixels drawn over
  the floor frame (each pixel's ray against the box, the nearest hit wins, each face lit by a
  fixed sun: simple flat shading);
- :func:`bot_poses`: where a bot driving a line (centre line plus a lateral offset) stands.

PyBullet is not involved: its bodies stay only for the human views (:mod:`racer.sim.views`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racer.sim.car import BODY_LENGTH_M, BODY_TOP_M, BODY_WIDTH_M
from racer.sim.config import CameraConfig
from racer.sim.texture import rgb_to_gray

__all__ = [
    "BOT_SIZE_M",
    "CAR_HALF_LENGTH_M",
    "CAR_HALF_WIDTH_M",
    "ObjectArrays",
    "bot_poses",
    "composite",
    "in_view",
    "lidar_ranges",
    "nearest_gap",
    "overlaps",
]

CAR_HALF_LENGTH_M = BODY_LENGTH_M / 2  # the car's footprint (collision box), centred on the car
CAR_HALF_WIDTH_M = BODY_WIDTH_M / 2
BOT_SIZE_M = (BODY_LENGTH_M, BODY_WIDTH_M, BODY_TOP_M)  # a bot car: the car's box, from the floor
BOX_RGB = (0.85, 0.55, 0.2)  # obstacle boxes: cardboard orange
BOT_RGB = (0.8, 0.1, 0.1)  # bot cars: red
# Direction to the light, in the car's frame (a light that rides with the camera: a face's shade
# depends on how it is turned to the car, and the frame needs no world-frame sun)
SUN = np.array([0.4, -0.3, 1.0]) / math.sqrt(0.4**2 + 0.3**2 + 1.0)
AMBIENT = 0.55  # ambient share of a face's brightness; the rest is Lambert's cosine law
VIEW_MARGIN = 1.2  # widen the frustum test by this factor of the object's radius


@dataclass
class ObjectArrays:
    """Objects of several cars: every field is shaped ``(cars, objects)``.

    Attributes:
        x: Centre x, m.
        y: Centre y, m.
        yaw: Heading, rad.
        half_l: Half the length (along the heading), m.
        half_w: Half the width, m.
        z0: Bottom height, m.
        z1: Top height, m.
        bot: A bot car (True) or a box (False): its colour in the camera.
    """

    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    half_l: np.ndarray
    half_w: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    bot: np.ndarray

    @classmethod
    def empty(cls, cars: int, objects: int) -> ObjectArrays:
        """Arrays for ``cars`` cars of ``objects`` objects each (all zero: fill them in)."""
        z = np.zeros((cars, objects))
        return cls(
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            np.zeros((cars, objects), dtype=bool),
        )

    @property
    def count(self) -> int:
        """Objects per car."""
        return int(self.x.shape[1])

    def rows(self, idx: np.ndarray) -> ObjectArrays:
        """The objects of cars ``idx`` (copies)."""
        return ObjectArrays(
            self.x[idx],
            self.y[idx],
            self.yaw[idx],
            self.half_l[idx],
            self.half_w[idx],
            self.z0[idx],
            self.z1[idx],
            self.bot[idx],
        )

    @property
    def radius(self) -> np.ndarray:
        """Radius of each object's footprint circle, m."""
        return np.hypot(self.half_l, self.half_w)


def nearest_gap(cx: np.ndarray, cy: np.ndarray, objs: ObjectArrays) -> np.ndarray:
    """Distance from each car's centre to the nearest object's footprint circle, m (inf: none)."""
    if objs.count == 0:
        return np.full(len(cx), np.inf)
    d = np.hypot(objs.x - cx[:, None], objs.y - cy[:, None]) - objs.radius
    return d.min(axis=1)


def overlaps(cx: np.ndarray, cy: np.ndarray, cyaw: np.ndarray, objs: ObjectArrays) -> np.ndarray:
    """Whether each car's body rectangle overlaps (or touches) any object's footprint.

    The separating axis test of two rectangles: they are apart exactly when, along one of the
    four edge directions, their projections do not overlap.

    Returns:
        (cars,) bool.
    """
    if objs.count == 0:
        return np.zeros(len(cx), dtype=bool)
    ca, sa = np.cos(cyaw)[:, None], np.sin(cyaw)[:, None]
    cb, sb = np.cos(objs.yaw), np.sin(objs.yaw)
    dx = objs.x - cx[:, None]
    dy = objs.y - cy[:, None]
    al, aw = CAR_HALF_LENGTH_M, CAR_HALF_WIDTH_M
    bl, bw = objs.half_l, objs.half_w
    # |cos| and |sin| of the angle between the car's and the object's axes
    c = np.abs(ca * cb + sa * sb)
    s = np.abs(sa * cb - ca * sb)
    apart = np.abs(dx * ca + dy * sa) > al + bl * c + bw * s  # car's length axis
    apart |= np.abs(-dx * sa + dy * ca) > aw + bl * s + bw * c  # car's width axis
    apart |= np.abs(dx * cb + dy * sb) > bl + al * c + aw * s  # object's length axis
    apart |= np.abs(-dx * sb + dy * cb) > bw + al * s + aw * c  # object's width axis
    return np.asarray((~apart).any(axis=1))


def lidar_ranges(
    ox: np.ndarray,
    oy: np.ndarray,
    yaw: np.ndarray,
    angles: np.ndarray,
    max_range_m: float,
    height_m: float,
    objs: ObjectArrays,
) -> np.ndarray:
    """Ranges of horizontal rays from each car's lidar to the objects, clipped at max_range_m.

    Args:
        ox: (cars,) lidar origin x, m.
        oy: (cars,) lidar origin y, m.
        yaw: (cars,) car headings, rad.
        angles: (rays,) ray angles from the heading, rad (counter-clockwise positive).
        max_range_m: The range of a ray that hits nothing, m.
        height_m: Height of the rays: objects whose span does not include it are not seen, m.
        objs: The cars' objects.

    Returns:
        (cars, rays) float32, m; 0 for a lidar inside an object.
    """
    n = len(ox)
    out = np.full((n, len(angles)), max_range_m)
    if objs.count:
        a = yaw[:, None] + angles[None, :]  # (cars, rays)
        ux, uy = np.cos(a)[:, :, None], np.sin(a)[:, :, None]
        cb, sb = np.cos(objs.yaw)[:, None, :], np.sin(objs.yaw)[:, None, :]
        # ray origin and direction in each object's frame: (cars, 1 | rays, objects)
        dx = (ox[:, None] - objs.x)[:, None, :]
        dy = (oy[:, None] - objs.y)[:, None, :]
        px = dx * cb + dy * sb
        py = -dx * sb + dy * cb
        vx = ux * cb + uy * sb
        vy = -ux * sb + uy * cb
        t = _slab_2d(px, py, vx, vy, objs.half_l[:, None, :], objs.half_w[:, None, :])
        seen = (objs.z0 <= height_m) & (objs.z1 >= height_m)
        t = np.where(seen[:, None, :], t, np.inf)
        np.minimum(out, t.min(axis=2), out=out)
    return out.astype(np.float32)


def _slab_2d(
    px: np.ndarray, py: np.ndarray, vx: np.ndarray, vy: np.ndarray, hl: np.ndarray, hw: np.ndarray
) -> np.ndarray:
    """Distance along unit rays (p + t v) to the rectangle |x| <= hl, |y| <= hw; inf: a miss."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ix = 1.0 / vx
        iy = 1.0 / vy
        t1, t2 = (-hl - px) * ix, (hl - px) * ix
        t3, t4 = (-hw - py) * iy, (hw - py) * iy
    # a ray parallel to a slab: inside it for every t, or never
    inside_x = np.abs(px) <= hl
    inside_y = np.abs(py) <= hw
    par_x = vx == 0.0
    par_y = vy == 0.0
    lo_x = np.where(par_x, np.where(inside_x, -np.inf, np.inf), np.minimum(t1, t2))
    hi_x = np.where(par_x, np.where(inside_x, np.inf, -np.inf), np.maximum(t1, t2))
    lo_y = np.where(par_y, np.where(inside_y, -np.inf, np.inf), np.minimum(t3, t4))
    hi_y = np.where(par_y, np.where(inside_y, np.inf, -np.inf), np.maximum(t3, t4))
    t_in = np.maximum(lo_x, lo_y)
    t_out = np.minimum(hi_x, hi_y)
    hit = (t_out >= t_in) & (t_out >= 0.0)
    return np.where(hit, np.maximum(t_in, 0.0), np.inf)


def _camera_frame(cfg: CameraConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The camera's forward, right and up axes in the car frame, and its focal length, px."""
    p = math.radians(cfg.pitch_deg)
    fwd = np.array([math.cos(p), 0.0, -math.sin(p)])
    right = np.array([0.0, -1.0, 0.0])
    up = np.array([math.sin(p), 0.0, math.cos(p)])
    f = (cfg.width_px / 2) / math.tan(math.radians(cfg.hfov_deg) / 2)
    return fwd, right, up, f


def _in_car_frame(
    cx: np.ndarray, cy: np.ndarray, cyaw: np.ndarray, objs: ObjectArrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object centres (x forward, y left) and yaws relative to each car: (cars, objects)."""
    c, s = np.cos(cyaw)[:, None], np.sin(cyaw)[:, None]
    dx = objs.x - cx[:, None]
    dy = objs.y - cy[:, None]
    return dx * c + dy * s, -dx * s + dy * c, objs.yaw - cyaw[:, None]


def in_view(
    cfg: CameraConfig,
    lateral_m: float,
    cx: np.ndarray,
    cy: np.ndarray,
    cyaw: np.ndarray,
    objs: ObjectArrays,
) -> np.ndarray:
    """Which objects may show in a car's front camera (a frustum test with a margin).

    Args:
        cfg: The camera.
        lateral_m: The camera's sideways offset (stereo), m (+ = left).
        cx: (cars,) car centre x, m.
        cy: (cars,) car centre y, m.
        cyaw: (cars,) headings, rad.
        objs: The cars' objects.

    Returns:
        (cars, objects) bool.
    """
    if objs.count == 0:
        return np.zeros((len(cx), 0), dtype=bool)
    fwd, right, up, _ = _camera_frame(cfg)
    ox, oy, _ = _in_car_frame(cx, cy, cyaw, objs)
    r = VIEW_MARGIN * np.hypot(objs.radius, 0.5 * (objs.z1 - objs.z0))
    d = (ox - cfg.forward_m, oy - lateral_m, 0.5 * (objs.z0 + objs.z1) - cfg.height_m)
    z = d[0] * fwd[0] + d[1] * fwd[1] + d[2] * fwd[2]
    x = d[0] * right[0] + d[1] * right[1] + d[2] * right[2]
    y = d[0] * up[0] + d[1] * up[1] + d[2] * up[2]
    tan_h = math.tan(math.radians(cfg.hfov_deg) / 2)
    tan_v = math.tan(math.radians(cfg.vfov_deg) / 2)
    ok = (z >= -r) & (z <= cfg.far_m + r)
    ok &= np.abs(x) <= z * tan_h + r * math.sqrt(1 + tan_h * tan_h)
    ok &= np.abs(y) <= z * tan_v + r * math.sqrt(1 + tan_v * tan_v)
    return np.asarray(ok)


def composite(
    frames: np.ndarray,
    cfg: CameraConfig,
    rays: np.ndarray,
    lateral_m: float,
    cx: np.ndarray,
    cy: np.ndarray,
    cyaw: np.ndarray,
    objs: ObjectArrays,
) -> None:
    """Draws the objects each car's camera sees over its floor frame, in place.

    Each pixel inside an object's projected outline casts its ray (:func:`racer.sim.camera.camera_rays`)
    against the object's box; where it hits nearer than the floor and than any other object, the
    pixel takes the face's gray: the object's colour lit by :data:`SUN` (ambient plus Lambert).

    Args:
        frames: (cars, H, W) uint8 floor frames, overwritten where objects show.
        cfg: The camera.
        rays: (H, W, 3) ray directions in the car frame, optical-axis component 1.
        lateral_m: The camera's sideways offset, m (+ = left).
        cx: (cars,) car centre x, m.
        cy: (cars,) car centre y, m.
        cyaw: (cars,) headings, rad.
        objs: The cars' objects.
    """
    visible = in_view(cfg, lateral_m, cx, cy, cyaw, objs)
    if not visible.any():
        return
    h, w = cfg.height_px, cfg.width_px
    fwd, right, up, f = _camera_frame(cfg)
    ox, oy, oyaw = _in_car_frame(cx, cy, cyaw, objs)
    eye = np.array([cfg.forward_m, lateral_m, cfg.height_m])
    down = -rays[:, :, 2]
    floor_t = np.full((h, w), np.inf)
    np.divide(cfg.height_m, down, out=floor_t, where=down > 1e-12)
    for i in np.nonzero(visible.any(axis=1))[0].tolist():
        depth = np.full((h, w), np.inf)
        gray = np.zeros((h, w), dtype=np.uint8)
        for k in np.nonzero(visible[i])[0].tolist():
            box = _Box(ox[i, k], oy[i, k], oyaw[i, k], objs, i, k)
            r0, r1, c0, c1 = box.pixel_bounds(eye, fwd, right, up, f, h, w, cfg.near_m)
            if r0 >= r1 or c0 >= c1:
                continue
            sub = rays[r0:r1, c0:c1]
            t, shade = box.hit(eye, sub)
            t = np.where((t >= cfg.near_m) & (t <= cfg.far_m), t, np.inf)
            near = (t < depth[r0:r1, c0:c1]) & (t <= floor_t[r0:r1, c0:c1])
            if near.any():
                depth[r0:r1, c0:c1][near] = t[near]
                gray[r0:r1, c0:c1][near] = shade[near]
        drawn = np.isfinite(depth)
        frames[i][drawn] = gray[drawn]


class _Box:
    """One object in one car's frame, for the camera."""

    __slots__ = ("c", "gray", "hl", "hw", "s", "x", "y", "z0", "z1")

    def __init__(self, x: float, y: float, yaw: float, objs: ObjectArrays, i: int, k: int) -> None:
        self.x, self.y = float(x), float(y)
        self.c, self.s = math.cos(float(yaw)), math.sin(float(yaw))
        self.hl, self.hw = float(objs.half_l[i, k]), float(objs.half_w[i, k])
        self.z0, self.z1 = float(objs.z0[i, k]), float(objs.z1[i, k])
        rgb = np.asarray(BOT_RGB if objs.bot[i, k] else BOX_RGB)
        # gray of each face (+x, -x, +y, -y in the object's frame, top), lit by the sun
        normals = [
            (self.c, self.s, 0.0),
            (-self.c, -self.s, 0.0),
            (-self.s, self.c, 0.0),
            (self.s, -self.c, 0.0),
            (0.0, 0.0, 1.0),
        ]
        self.gray = np.zeros(6, dtype=np.uint8)
        for j, n in enumerate(normals):
            lam = max(0.0, float(np.dot(n, SUN)))
            level = np.clip(rgb * (AMBIENT + (1.0 - AMBIENT) * lam) * 255.0, 0, 255)
            self.gray[j] = rgb_to_gray(level.astype(np.uint8)[None, :])[0]
        self.gray[5] = self.gray[4]  # the bottom face is never seen from above the floor

    def pixel_bounds(
        self,
        eye: np.ndarray,
        fwd: np.ndarray,
        right: np.ndarray,
        up: np.ndarray,
        f: float,
        h: int,
        w: int,
        near: float,
    ) -> tuple[int, int, int, int]:
        """Rows r0:r1 and columns c0:c1 that hold the box's image (the whole frame if unsure)."""
        corners = []
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                lx, ly = sx * self.hl, sy * self.hw
                px = self.x + lx * self.c - ly * self.s
                py = self.y + lx * self.s + ly * self.c
                for z in (self.z0, self.z1):
                    corners.append((px, py, z))
        d = np.asarray(corners) - eye
        zc = d @ fwd
        if (zc <= near).any():
            return 0, h, 0, w
        col = (d @ right) / zc * f + w / 2
        row = h / 2 - 1.0 - (d @ up) / zc * f
        c0 = max(0, int(math.floor(col.min())) - 1)
        c1 = min(w, int(math.ceil(col.max())) + 2)
        r0 = max(0, int(math.floor(row.min())) - 1)
        r1 = min(h, int(math.ceil(row.max())) + 2)
        return r0, r1, c0, c1

    def hit(self, eye: np.ndarray, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ray parameter of the first hit (inf: a miss) and the hit face's gray, per ray."""
        ex, ey = eye[0] - self.x, eye[1] - self.y
        px = ex * self.c + ey * self.s
        py = -ex * self.s + ey * self.c
        pz = eye[2] - 0.5 * (self.z0 + self.z1)
        vx = rays[..., 0] * self.c + rays[..., 1] * self.s
        vy = -rays[..., 0] * self.s + rays[..., 1] * self.c
        vz = rays[..., 2]
        hz = 0.5 * (self.z1 - self.z0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = []
            hi = []
            for p, v, half in ((px, vx, self.hl), (py, vy, self.hw), (pz, vz, hz)):
                t1 = (-half - p) / v
                t2 = (half - p) / v
                inside = abs(p) <= half
                par = v == 0.0
                lo.append(np.where(par, -np.inf if inside else np.inf, np.minimum(t1, t2)))
                hi.append(np.where(par, np.inf if inside else -np.inf, np.maximum(t1, t2)))
        los = np.stack(lo)
        t_in = los.max(axis=0)
        t_out = np.minimum(np.minimum(hi[0], hi[1]), hi[2])
        hit = (t_out >= t_in) & (t_in >= 0.0)
        axis = los.argmax(axis=0)  # the slab entered last: the face hit
        # the face's side: the ray runs against the face's outward normal
        face = np.where(
            axis == 0,
            np.where(vx < 0, 0, 1),
            np.where(axis == 1, np.where(vy < 0, 2, 3), np.where(vz < 0, 4, 5)),
        )
        return np.where(hit, t_in, np.inf), self.gray[face]


def bot_poses(
    track: object, s_m: np.ndarray, lateral_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres and headings of bots at arc lengths ``s_m``, ``lateral_m`` left of the centre line.

    Args:
        track: The track the bots drive (``point_at``, ``heading_at``), as driven.
        s_m: Arc lengths, m (any shape).
        lateral_m: Offsets from the centre line, m (+ = left), shaped like ``s_m``.

    Returns:
        x, y (m) and yaw (rad), shaped like ``s_m``; the bots face along the track.
    """
    s = np.asarray(s_m, dtype=np.float64)
    lat = np.asarray(lateral_m, dtype=np.float64)
    xy = np.asarray(track.point_at(s.reshape(-1)), dtype=np.float64).reshape(-1, 2)  # type: ignore[attr-defined]
    yaw = np.asarray(track.heading_at(s.reshape(-1)), dtype=np.float64).reshape(-1)  # type: ignore[attr-defined]
    lat_f = lat.reshape(-1)
    x = xy[:, 0] - lat_f * np.sin(yaw)
    y = xy[:, 1] + lat_f * np.cos(yaw)
    return x.reshape(s.shape), y.reshape(s.shape), yaw.reshape(s.shape)


LANE_CHANGE_MPS = 0.4  # how fast a bot moves sideways while it changes lanes, m/s


@dataclass
class LineOffsets:
    """A line's lateral offset from the centre line against centre-line arc length (np.interp).

    Args:
        s_m: Increasing centre-line arc lengths, m.
        lateral_m: The line's offset there, m (+ = left).
        length_m: The track's length, m.
        closed: A closed track (look-ups wrap around the seam).
    """

    s_m: np.ndarray
    lateral_m: np.ndarray
    length_m: float
    closed: bool

    def at(self, s: np.ndarray) -> np.ndarray:
        """The offset at arc lengths ``s``, m."""
        if self.closed:
            return np.asarray(np.interp(s, self.s_m, self.lateral_m, period=self.length_m))
        return np.asarray(np.interp(s, self.s_m, self.lateral_m))


@dataclass
class BotArrays:
    """The driving state of bot cars: every field is shaped ``(cars, bots)``.

    A bot drives its car's track as driven at a constant speed, ``lane`` left of the centre
    line (or of the racing line where ``on_line``). With a ``period_s`` it changes lanes: every
    ``period_s`` seconds its target swaps sides (``target`` to ``-target``) and ``lane`` follows
    at :data:`LANE_CHANGE_MPS`.

    Attributes:
        s: Arc length along the driven track, m.
        lane: Current offset, m (+ = left).
        target: The offset it steers to, m.
        speed: Speed, m/s.
        period_s: Seconds between lane changes (0: none).
        timer_s: Seconds since the last lane change.
        on_line: Drives the racing line (``lane`` then adds to the line's offset).
    """

    s: np.ndarray
    lane: np.ndarray
    target: np.ndarray
    speed: np.ndarray
    period_s: np.ndarray
    timer_s: np.ndarray
    on_line: np.ndarray

    @classmethod
    def empty(cls, cars: int, bots: int) -> BotArrays:
        """Zeroed arrays (fill them in)."""
        z = np.zeros((cars, bots))
        return cls(
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            np.zeros((cars, bots), dtype=bool),
        )

    def advance(self, rows: np.ndarray, dt_s: float, length_m: float, closed: bool) -> None:
        """Moves the bots of cars ``rows`` on by ``dt_s`` (in place)."""
        s = self.s[rows] + self.speed[rows] * dt_s
        speed = self.speed[rows]
        if closed:
            s = s % length_m
        else:
            end = s >= length_m
            s = np.where(end, length_m, np.maximum(s, 0.0))
            speed = np.where(end, 0.0, speed)
        period = self.period_s[rows]
        timer = self.timer_s[rows] + dt_s
        swap = (period > 0.0) & (timer >= period)
        target = np.where(swap, -self.target[rows], self.target[rows])
        timer = np.where(swap, timer - period, timer)
        lane = self.lane[rows]
        step = LANE_CHANGE_MPS * dt_s
        lane = lane + np.clip(target - lane, -step, step)
        self.s[rows], self.speed[rows], self.timer_s[rows] = s, speed, timer
        self.target[rows], self.lane[rows] = target, lane

    def lateral(self, rows: np.ndarray, line: LineOffsets | None) -> np.ndarray:
        """Each bot's offset from the centre line, m: its lane plus the racing line's where on it."""
        lat = self.lane[rows]
        if line is not None and self.on_line[rows].any():
            lat = lat + np.where(self.on_line[rows], line.at(self.s[rows]), 0.0)
        return lat
