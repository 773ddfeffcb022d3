"""The racing line of a track and the lap-time bound of a car on it.

The line is the centre line moved sideways: the centre line is resampled at a uniform spacing and
each point ``i`` is offset by ``alpha_i`` along the centre line's left normal, with ``alpha_i``
bounded so that the car (half its width plus a safety margin) stays on the road. Two lines:

* **minimum curvature** (Heilmeier et al. 2019): minimise the sum of squared curvature, the
  curvature of each point taken as the second difference of the points across the line (along
  its normal at the previous solution) over the squared spacing. That is linear in ``alpha``, so
  each solve is a box-bounded quadratic programme with a pentadiagonal Hessian (plus a low-rank
  part for a loop's seam), solved by an interior-point method on banded Cholesky factorisations;
  it is re-linearised twice. Like the paper's, it cuts corners (on a plain ring it hugs the
  inside), which is what makes it a good line.
* **minimum time**: the true curvature of each point (turning angle over spacing) linearised
  in its and its neighbours' offsets, plus ``w`` times the line's length, minimised by
  Gauss-Newton steps of the same QP from the minimum-curvature line; a few ``w`` are tried and the
  line whose speed profile laps fastest is kept (the minimum-curvature line is a candidate, so
  minimum time is never slower).

The speed profile of a line is the fastest the car may drive it: the lateral-acceleration limit
``v <= sqrt(a_lat / |k|)`` and the top speed, then an acceleration pass forward and a braking pass
backward (periodic across the seam of a loop). Its lap time is the *bound*: no policy on this car
laps faster than the fastest line's bound (within the model: a point mass with separate lateral and
longitudinal limits, no friction ellipse).

NumPy and SciPy (banded Cholesky, cubic spline) only; results are cached in-process per track geometry and options.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from racer.contract.car import CAR_WIDTH_M, MAX_SPEED_MPS, MAX_STEERING_RAD, WHEELBASE_M
from racer.errors import ConfigError, TrackError
from racer.track.geometry import Track
from racer.util.files import atomic_write_text

FloatArray = NDArray[np.float64]

METHODS = ("min-time", "min-curvature")  # racing_line(method=...)
SPACING_M = 0.1  # m, line point spacing along the centre line (0.05 m: min-time bounds within 0.2%)
_RELINEARISE = 3  # min-curvature QP solves: uniform spacing first, then re-linearised
_GAUSS_NEWTON_STEPS = 8  # most linearised QP steps per line (stops when a step is < 10 um)
_LENGTH_WEIGHTS = (0.2, 0.8, 3.2)  # 1/m^2, length weights tried for min-time, then x0.5 and x2
# around the best (measured on racer's and DeepRacer's tracks: the best lies within 0.1-6.4)
_RIDGE = 1e-9  # relative ridge on the Hessian: keeps nearly free directions (straights) unique
_BORDER_TOL_M = 1e-4  # m, extra clearance kept when a bound is tightened after the border check
_BORDER_PASSES = 4  # border checks (each may tighten bounds and re-solve)
_QP_MAX_ITER = 80  # interior-point iterations before taking the last one
_CACHE_SIZE = 64  # racing lines kept per process
_CSV_HEADER = ("s_m", "x_m", "y_m", "speed_mps")
_NEAR_WAYPOINTS = 12  # border segments searched each side of a point's waypoint


@dataclass(frozen=True)
class CarLimits:
    """The car's limits the speed profile obeys (defaults: racer's simulated 1/18 car).

    Attributes:
        top_speed_mps: Top speed, m/s (``racer.sim.config.MAX_SPEED_MPS``).
        lateral_accel_mps2: Largest lateral acceleration, m/s^2 (the car's grip in turns).
        accel_mps2: Largest forward acceleration, m/s^2.
        brake_mps2: Largest braking deceleration, m/s^2.
        max_curvature_per_m: Tightest curvature the steering allows, 1/m
            (``tan(steering lock) / wheelbase``).
        car_width_m: Width from outer tyre to outer tyre, m.

    Raises:
        ConfigError: A limit that is not finite and positive.
    """

    top_speed_mps: float = MAX_SPEED_MPS
    lateral_accel_mps2: float = 9.0
    accel_mps2: float = 6.0
    brake_mps2: float = 8.0
    max_curvature_per_m: float = math.tan(MAX_STEERING_RAD) / WHEELBASE_M
    car_width_m: float = CAR_WIDTH_M

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            try:
                ok = math.isfinite(float(value)) and float(value) > 0.0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(f"car limit {name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True, eq=False)
class LinePoint:
    """Points on a racing line; every field is shaped like the query's ``xy[..., 0]``.

    Attributes:
        index: Index of the line segment the point lies on (from point ``index`` to the next).
        xy: The point on the line, shape ``(..., 2)``, m.
        distance_m: Distance from the query point to the line, m (0 for :meth:`RacingLine.at_center_s`).
        s_m: Arc length along the line from its point 0, m.
        speed_mps: Profile speed there (interpolated along the segment), m/s.
        heading_rad: Direction of the line there (of the segment), radians from +x.
        curvature: Signed curvature there (interpolated), 1/m, positive = left turn.
    """

    index: Any
    xy: Any
    distance_m: Any
    s_m: Any
    speed_mps: Any
    heading_rad: Any
    curvature: Any


@dataclass(frozen=True, eq=False)
class RacingLine:
    """A line around (or along) a track with its speed profile and lap-time bound.

    Build one with :func:`racing_line` or :func:`centerline_line`. Arrays are read-only (lines
    are cached and shared).

    Attributes:
        track_name: Name of the track.
        closed: A loop (the last point connects back to point 0, which is not repeated).
        method: ``"min-time"``, ``"min-curvature"`` or ``"centerline"``.
        safety_margin_m: Clearance kept between the car's side and the road border, m.
        limits: The car limits of the profile.
        xy: ``(M, 2)`` points in driving order, m.
        s_m: ``(M,)`` arc length along the line from point 0, m.
        length_m: Line length, m (a loop includes the closing segment).
        curvature: ``(M,)`` signed curvature, 1/m, positive = left turn.
        heading_rad: ``(M,)`` direction of travel, radians from +x.
        speed_mps: ``(M,)`` profile speed, m/s.
        time_s: ``(M,)`` time at each point from point 0 along the profile, s.
        lap_time_s: The bound: a loop's flying lap of the periodic profile; an open track's run
            from rest at its start to its end, s.
        standing_lap_time_s: One lap from rest at point 0 (equal to ``lap_time_s`` when open), s.
        center_s_m: ``(M,)`` centre-line arc length of each point (``track.project(xy).s``), m.
        lateral_m: ``(M,)`` signed offset from the centre line, m, positive = left.
        braking: ``(M,)`` the profile is braking-limited at the point.
        track_length_m: Centre-line length of the track, m.
        centerline_lap_time_s: The bound of the centre line itself, for comparison, s.
        exceeds_steering: The line is tighter somewhere than ``limits.max_curvature_per_m``
            (the road leaves no room for a wider line); the profile still uses the grip limit.
    """

    track_name: str
    closed: bool
    method: str
    safety_margin_m: float
    limits: CarLimits
    xy: FloatArray
    s_m: FloatArray
    length_m: float
    curvature: FloatArray
    heading_rad: FloatArray
    speed_mps: FloatArray
    time_s: FloatArray
    lap_time_s: float
    standing_lap_time_s: float
    center_s_m: FloatArray
    lateral_m: FloatArray
    braking: NDArray[np.bool_]
    track_length_m: float = field(default=float("nan"))
    centerline_lap_time_s: float = field(default=float("nan"))
    exceeds_steering: bool = False

    @property
    def n_points(self) -> int:
        """Number of points ``M``."""
        return len(self.xy)

    @cached_property
    def _polyline(self) -> Track:
        # The line as a Track's centre line: reuses its exact, vectorised projection.
        return Track(self.xy, self.xy, self.xy, closed=self.closed, name=self.track_name)

    def _values_at(self, seg: Any, t: Any) -> tuple[Any, Any]:
        """Speed and curvature interpolated at fraction ``t`` of segment ``seg``."""
        nxt = (seg + 1) % self.n_points if self.closed else np.minimum(seg + 1, self.n_points - 1)
        speed = self.speed_mps[seg] + t * (self.speed_mps[nxt] - self.speed_mps[seg])
        curv = self.curvature[seg] + t * (self.curvature[nxt] - self.curvature[seg])
        return speed, curv

    def nearest(self, xy: ArrayLike) -> LinePoint:
        """The nearest points on the line (its polyline) to query points.

        Args:
            xy: Query points, shape ``(..., 2)``, m.

        Returns:
            A :class:`LinePoint` whose fields are shaped like ``xy[..., 0]``.
        """
        poly = self._polyline
        proj = poly.project(xy)
        seg = proj.segment
        along = proj.s - poly._seg_s[seg]
        t = along / poly.segment_lengths[seg]
        speed, curv = self._values_at(seg, t)
        ux = poly._ux[seg]
        uy = poly._uy[seg]
        point = np.stack((self.xy[seg, 0] + along * ux, self.xy[seg, 1] + along * uy), axis=-1)
        return LinePoint(
            index=seg,
            xy=point,
            distance_m=proj.distance,
            s_m=proj.s,
            speed_mps=speed,
            heading_rad=proj.heading_rad,
            curvature=curv,
        )

    @cached_property
    def _center_s_unwrapped(self) -> FloatArray:
        cs = np.asarray(self.center_s_m, dtype=np.float64)
        if not self.closed:
            return np.maximum.accumulate(cs)
        length = self.track_length_m
        d = np.diff(cs)
        d = np.where(d < -0.5 * length, d + length, d)
        d = np.where(d > 0.5 * length, d - length, d)
        u = cs[0] + np.concatenate(([0.0], np.cumsum(d)))
        if u[0] > 0.5 * length:
            u -= length
        return np.maximum.accumulate(u)

    def at_center_s(self, s: ArrayLike) -> LinePoint:
        """The line point beside a centre-line arc length (interpolated between line points).

        Args:
            s: Centre-line arc length from waypoint 0, m; any shape. Wraps on a loop, clamps on
                an open track.

        Returns:
            A :class:`LinePoint` shaped like ``s`` (``distance_m`` is 0).
        """
        s_arr = np.asarray(s, dtype=np.float64)
        cs = self._center_s_unwrapped
        m = self.n_points
        if self.closed:
            length = self.track_length_m
            xp = np.append(cs, cs[0] + length)
            q = cs[0] + np.mod(s_arr - cs[0], length)
        else:
            xp = cs
            q = s_arr
        frac = np.interp(q, xp, np.arange(len(xp), dtype=np.float64))
        seg = np.minimum(np.floor(frac).astype(np.intp), m - 1 if self.closed else m - 2)
        t = frac - seg
        nxt = (seg + 1) % m
        point = self.xy[seg] + t[..., None] * (self.xy[nxt] - self.xy[seg])
        seg_len = self._polyline.segment_lengths[seg]
        speed, curv = self._values_at(seg, t)
        return LinePoint(
            index=seg,
            xy=point,
            distance_m=np.zeros_like(t),
            s_m=self.s_m[seg] + t * seg_len,
            speed_mps=speed,
            heading_rad=self._polyline.segment_headings[seg],
            curvature=curv,
        )

    def summary(self) -> dict[str, Any]:
        """Headline figures, JSON-able.

        Returns:
            ``track``, ``method``, ``length_m`` (the track's), ``line_length_m``, ``bound_s``
            (the lap-time bound), ``standing_lap_s``, ``top_speed_mps``, ``min_speed_mps``,
            ``mean_speed_mps`` (line length / bound), ``safety_margin_m``,
            ``centerline_bound_s``, ``exceeds_steering``.
        """
        return {
            "track": self.track_name,
            "method": self.method,
            "length_m": round(float(self.track_length_m), 4),
            "line_length_m": round(float(self.length_m), 4),
            "bound_s": round(float(self.lap_time_s), 4),
            "standing_lap_s": round(float(self.standing_lap_time_s), 4),
            "top_speed_mps": round(float(self.speed_mps.max()), 4),
            "min_speed_mps": round(float(self.speed_mps.min()), 4),
            "mean_speed_mps": round(float(self.length_m / self.lap_time_s), 4),
            "safety_margin_m": float(self.safety_margin_m),
            "centerline_bound_s": round(float(self.centerline_lap_time_s), 4),
            "exceeds_steering": bool(self.exceeds_steering),
        }

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the line as CSV: header ``s_m,x_m,y_m,speed_mps``, one row per point.

        The file is written to a temporary name beside it and renamed (atomic).

        Args:
            path: Output file.

        Returns:
            The path written.
        """
        out = Path(path)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_CSV_HEADER)
        rows = np.column_stack((self.s_m, self.xy, self.speed_mps))
        writer.writerows([f"{v:.6f}" for v in row] for row in rows)
        atomic_write_text(out, buf.getvalue())
        return out


def load_line_csv(path: str | os.PathLike[str]) -> FloatArray:
    """Read a racing line written by :meth:`RacingLine.to_csv`.

    Args:
        path: The CSV file.

    Returns:
        ``(M, 4)`` array of rows ``s_m, x_m, y_m, speed_mps``.

    Raises:
        TrackError: A missing or malformed file (wrong header, a bad row, non-finite values,
            fewer than 2 rows, arc length not increasing).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackError(f"cannot read racing line {p}: {exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or tuple(c.strip() for c in lines[0].split(",")) != _CSV_HEADER:
        raise TrackError(f"{p}: not a racing line CSV: the header must be {','.join(_CSV_HEADER)}")
    rows: list[list[float]] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        try:
            if len(cells) != 4:
                raise ValueError
            rows.append([float(c) for c in cells])
        except ValueError:
            raise TrackError(
                f"{p}:{number}: expected 4 numbers (s_m,x_m,y_m,speed_mps), got {line.strip()!r}"
            ) from None
    data = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if len(data) < 2:
        raise TrackError(f"{p}: a racing line needs at least 2 rows, got {len(data)}")
    if not np.all(np.isfinite(data)):
        raise TrackError(f"{p}: contains NaN or infinite values")
    if np.any(np.diff(data[:, 0]) <= 0.0):
        row = int(np.flatnonzero(np.diff(data[:, 0]) <= 0.0)[0]) + 3
        raise TrackError(f"{p}:{row}: s_m must increase from row to row")
    return data


# ---------------------------------------------------------------------- speed profile


def _segment_lengths(ds_m: ArrayLike, n_points: int, closed: bool) -> FloatArray:
    n_seg = n_points if closed else n_points - 1
    ds = np.broadcast_to(np.asarray(ds_m, dtype=np.float64), (n_seg,)).astype(np.float64)
    if np.any(~np.isfinite(ds)) or np.any(ds < 0.0):
        raise ValueError("segment lengths must be finite and >= 0")
    return ds


def _passes(
    v_max: FloatArray, ds: FloatArray, accel: float, brake: float, v_start: float | None
) -> tuple[FloatArray, FloatArray]:
    """Forward (acceleration) then backward (braking) pass over an open sequence.

    Both passes are running minima: ``v_i^2 = min_j (v_j^2 + 2 a |s_i - s_j|)`` over the points
    behind (forward) or ahead (backward), which is exactly the point-by-point recursion.

    Returns:
        ``(speed, forward)``: the profile and the forward pass alone.
    """
    s = np.concatenate(([0.0], np.cumsum(ds)))
    v2 = v_max * v_max
    if v_start is not None:
        v2 = v2.copy()
        v2[0] = min(v2[0], v_start * v_start)
    fwd = np.minimum.accumulate(v2 - 2.0 * accel * s) + 2.0 * accel * s
    fwd = np.minimum(fwd, v2)
    back = np.minimum.accumulate((fwd + 2.0 * brake * s)[::-1])[::-1] - 2.0 * brake * s
    prof = np.minimum(fwd, back)
    return np.sqrt(np.maximum(prof, 0.0)), np.sqrt(np.maximum(fwd, 0.0))


def _max_speeds(curvature: FloatArray, limits: CarLimits) -> FloatArray:
    k = np.abs(np.asarray(curvature, dtype=np.float64))
    with np.errstate(divide="ignore"):
        v_lat = np.sqrt(limits.lateral_accel_mps2 / k)
    return np.minimum(limits.top_speed_mps, v_lat)


def _profile(
    curvature: ArrayLike,
    ds_m: ArrayLike,
    limits: CarLimits,
    closed: bool,
    v_start_mps: float | None,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    k = np.asarray(curvature, dtype=np.float64)
    n = len(k)
    ds = _segment_lengths(ds_m, n, closed)
    v_max = _max_speeds(k, limits)
    a, b = limits.accel_mps2, limits.brake_mps2
    if closed and v_start_mps is None:
        # Periodic: start at the slowest point, where the periodic profile equals v_max (the
        # constant profile at that speed is feasible), and run once around back to it.
        i0 = int(np.argmin(v_max))
        order = np.roll(np.arange(n), -i0)
        vm = np.append(v_max[order], v_max[i0])
        speed, fwd = _passes(vm, ds[order], a, b, None)
        out = np.empty(n)
        out[order] = speed[:-1]
        forward = np.empty(n)
        forward[order] = fwd[:-1]
    elif closed:
        vm = np.append(v_max, v_max[0])
        speed, fwd = _passes(vm, ds, a, b, v_start_mps)
        out, forward = speed[:-1], fwd[:-1]
    else:
        out, forward = _passes(v_max, ds, a, b, 0.0 if v_start_mps is None else v_start_mps)
    braking = out < forward - 1e-9
    return out, braking


def speed_profile(
    curvature: ArrayLike,
    ds_m: ArrayLike,
    limits: CarLimits,
    closed: bool,
    v_start_mps: float | None = None,
) -> FloatArray:
    """The fastest speed at each point of a line under the car's limits.

    ``v_max = min(top speed, sqrt(a_lat / |k|))``, then a forward pass limited by acceleration
    (``v_{i+1}^2 <= v_i^2 + 2 a ds_i``) and a backward pass limited by braking.

    Args:
        curvature: ``(M,)`` signed curvature at each point, 1/m.
        ds_m: Segment lengths, m: ``(M,)`` for a loop (the last closes it), ``(M-1,)`` open, or
            one number for a uniform spacing.
        limits: The car's limits.
        closed: A loop: the profile is periodic (the flying lap).
        v_start_mps: Speed at point 0 (0: from rest). Open tracks start from rest when None;
            a loop with a start speed is one lap from point 0 (the return to point 0 is free).

    Returns:
        ``(M,)`` speeds, m/s.
    """
    return _profile(curvature, ds_m, limits, closed, v_start_mps)[0]


def profile_lap_time(speed_mps: ArrayLike, ds_m: ArrayLike, closed: bool) -> float:
    """Time to drive a speed profile: each segment at the mean of its end speeds.

    Exact for constant acceleration along a segment (``v^2`` linear in distance), which is what
    the profile's passes produce.

    Args:
        speed_mps: ``(M,)`` speeds at the points, m/s.
        ds_m: Segment lengths as in :func:`speed_profile`.
        closed: A loop: includes the segment from the last point back to point 0.

    Returns:
        The time, s (``inf`` when a segment of positive length has zero speed at both ends).
    """
    return float(_segment_times(np.asarray(speed_mps, dtype=np.float64), ds_m, closed).sum())


def _segment_times(v: FloatArray, ds_m: ArrayLike, closed: bool) -> FloatArray:
    ds = _segment_lengths(ds_m, len(v), closed)
    v_next = np.roll(v, -1) if closed else v[1:]
    v_here = v if closed else v[:-1]
    mean = 0.5 * (v_here + v_next)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ds > 0.0, ds / mean, 0.0)


# ---------------------------------------------------------------------- geometry helpers


def _vertex_curvature(xy: FloatArray, closed: bool) -> FloatArray:
    """Signed curvature at each point: turning angle over half the adjacent segments."""
    d = (np.roll(xy, -1, axis=0) - xy) if closed else np.diff(xy, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    if closed:
        d_in, d_out, l_in, l_out = np.roll(d, 1, axis=0), d, np.roll(seg, 1), seg
    else:
        d_in, d_out, l_in, l_out = d[:-1], d[1:], seg[:-1], seg[1:]
    cross = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0]
    dot = np.sum(d_in * d_out, axis=1)
    k = np.arctan2(cross, dot) / (0.5 * (l_in + l_out))
    if closed:
        return k
    return np.concatenate(([k[0]], k, [k[-1]]))


def _line_normals(xy: FloatArray, closed: bool) -> FloatArray:
    """Unit left normals of a polyline at its points (central differences)."""
    h = _headings(xy, closed)
    return np.stack((-np.sin(h), np.cos(h)), axis=1)


def _max_curvature(xy: FloatArray, closed: bool) -> float:
    return float(np.abs(_vertex_curvature(xy, closed)).max())


def _headings(xy: FloatArray, closed: bool) -> FloatArray:
    d = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0) if closed else np.gradient(xy, axis=0)
    return np.arctan2(d[:, 1], d[:, 0])


def _segment_lengths_of(xy: FloatArray, closed: bool) -> FloatArray:
    d = (np.roll(xy, -1, axis=0) - xy) if closed else np.diff(xy, axis=0)
    return np.hypot(d[:, 0], d[:, 1])


def _border_distance(
    points: FloatArray, border: FloatArray, near: NDArray[np.intp], closed: bool
) -> FloatArray:
    """Distance from each point to a border polyline, over the segments near its waypoint.

    ``near[i]`` is the waypoint index beside point ``i``; segments within ``_NEAR_WAYPOINTS``
    of it are searched (a valid track's other stretches are farther than its own border).
    """
    n = len(border)
    offsets = np.arange(-_NEAR_WAYPOINTS, _NEAR_WAYPOINTS + 1)
    first = near[:, None] + offsets[None, :]
    if closed:
        first %= n
        second = (first + 1) % n
    else:
        first = np.clip(first, 0, n - 2)
        second = first + 1
    a = border[first]  # (M, W, 2)
    d = border[second] - a
    r = points[:, None, :] - a
    len2 = np.maximum(np.sum(d * d, axis=2), 1e-18)
    t = np.clip(np.sum(r * d, axis=2) / len2, 0.0, 1.0)
    e = r - t[..., None] * d
    return np.sqrt(np.min(np.sum(e * e, axis=2), axis=1))


@dataclass(frozen=True)
class _Frame:
    """The centre line resampled uniformly, with normals and room to each side."""

    xy: FloatArray  # (M, 2)
    normal: FloatArray  # (M, 2) unit left normals
    left_m: FloatArray  # (M,) distance to the left border along the normal
    right_m: FloatArray  # (M,) distance to the right border
    spacing_m: float
    waypoint: NDArray[np.intp]  # (M,) index of the track waypoint just behind each point


_cache_lock = threading.Lock()
_frames: OrderedDict[tuple[str, float], _Frame] = OrderedDict()


def _frame(track: Track, spacing_m: float) -> _Frame:
    """The centre line through a cubic spline (chord-length knots), resampled uniformly."""
    from scipy.interpolate import CubicSpline

    key = (_track_key(track), spacing_m)
    with _cache_lock:
        hit = _frames.get(key)
    if hit is not None:
        return hit
    c = track.center
    pts = np.vstack((c, c[:1])) if track.closed else c
    chord = np.hypot(*np.diff(pts, axis=0).T)
    knots = np.concatenate(([0.0], np.cumsum(chord)))
    spline = CubicSpline(knots, pts, bc_type="periodic" if track.closed else "natural")
    dense_u = np.linspace(0.0, knots[-1], 16 * len(chord) + 1)
    dense = spline(dense_u)
    dense_s = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(dense, axis=0).T))))
    length = float(dense_s[-1])
    if track.closed:
        m = max(8, int(round(length / spacing_m)))
        target = np.arange(m) * (length / m)
    else:
        m = max(8, int(round(length / spacing_m)) + 1)
        target = np.linspace(0.0, length, m)
    u = np.interp(target, dense_s, dense_u)
    tangent = spline(u, 1)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    dl = np.hypot(*(track.left - c).T)
    dr = np.hypot(*(track.right - c).T)
    if track.closed:
        dl, dr = np.append(dl, dl[0]), np.append(dr, dr[0])
    n_wp = track.n_waypoints
    frame = _Frame(
        xy=spline(u),
        normal=np.stack((-tangent[:, 1], tangent[:, 0]), axis=1),
        left_m=np.interp(u, knots, dl),
        right_m=np.interp(u, knots, dr),
        spacing_m=length / (m if track.closed else m - 1),
        waypoint=np.clip(np.searchsorted(knots, u, side="right") - 1, 0, n_wp - 1),
    )
    with _cache_lock:
        _frames[key] = frame
        while len(_frames) > _CACHE_SIZE:
            _frames.popitem(last=False)
    return frame


# ---------------------------------------------------------------------- the quadratic programme


class _BandedSystem:
    """``H = B + U diag(c) U'``: B symmetric pentadiagonal, U a few columns (a loop's wrap).

    Solves ``(H + diag(d)) x = r`` by a banded Cholesky factorisation of ``B + diag(d)`` and the
    Woodbury identity for the low-rank wrap-around rows of a loop.
    """

    def __init__(self, bands: FloatArray, u: FloatArray, c: FloatArray) -> None:
        self.bands = bands  # (3, M) upper form for scipy.linalg: [2] diagonal, [1] +1, [0] +2
        self.u = u  # (M, r)
        self.c = c  # (r,)

    def matvec(self, x: FloatArray) -> FloatArray:
        b = self.bands
        y = b[2] * x
        y[:-1] += b[1, 1:] * x[1:]
        y[1:] += b[1, 1:] * x[:-1]
        y[:-2] += b[0, 2:] * x[2:]
        y[2:] += b[0, 2:] * x[:-2]
        if self.c.size:
            y += self.u @ (self.c * (self.u.T @ x))
        return y

    def factor(self, d: FloatArray) -> Any:
        from scipy.linalg import cho_factor, cho_solve, cho_solve_banded, cholesky_banded

        ab = self.bands.copy()
        ab[2] += d
        chol = cholesky_banded(ab, lower=False, check_finite=False)
        if not self.c.size:
            return lambda r: cho_solve_banded((chol, False), r, check_finite=False)
        z = cho_solve_banded((chol, False), self.u, check_finite=False)
        small = cho_factor(np.diag(1.0 / self.c) + self.u.T @ z, check_finite=False)

        def solve(r: FloatArray) -> FloatArray:
            y = cho_solve_banded((chol, False), r, check_finite=False)
            return y - z @ cho_solve(small, self.u.T @ y, check_finite=False)

        return solve


def _max_step(v: FloatArray, dv: FloatArray) -> float:
    neg = dv < 0.0
    if not neg.any():
        return 1.0
    return float(min(1.0, np.min(-v[neg] / dv[neg])))


def _box_qp(
    h: _BandedSystem, g: FloatArray, lo: FloatArray, hi: FloatArray, x0: FloatArray
) -> FloatArray:
    """Minimise ``0.5 x'Hx + g'x`` subject to ``lo <= x <= hi`` (H positive definite).

    Mehrotra predictor-corrector interior point (Nocedal & Wright, Numerical Optimization,
    ch. 16.6): each Newton step is one banded factorisation; 10-30 steps to 1e-10.
    """
    m = len(g)
    width = hi - lo
    x = lo + np.clip((x0 - lo) / width, 0.1, 0.9) * width
    s_l, s_u = x - lo, hi - x
    z_l = np.ones(m)
    z_u = np.ones(m)
    gnorm = 1.0 + float(np.abs(g).max())
    for _ in range(_QP_MAX_ITER):
        r_d = h.matvec(x) + g - z_l + z_u
        mu = float(s_l @ z_l + s_u @ z_u) / (2 * m)
        if mu < 1e-11 and float(np.abs(r_d).max()) < 1e-9 * gnorm:
            break
        solve = h.factor(z_l / s_l + z_u / s_u)
        # Predictor: the affine step towards complementarity 0.
        dx = solve(-r_d - z_l + z_u)
        dz_l = -z_l - z_l / s_l * dx
        dz_u = -z_u + z_u / s_u * dx
        a = min(_max_step(s_l, dx), _max_step(s_u, -dx), _max_step(z_l, dz_l), _max_step(z_u, dz_u))
        mu_aff = float((s_l + a * dx) @ (z_l + a * dz_l) + (s_u - a * dx) @ (z_u + a * dz_u))
        sigma = (mu_aff / (2 * m) / mu) ** 3
        # Corrector: centring plus the second-order term of the affine step.
        t_l = sigma * mu - dx * dz_l
        t_u = sigma * mu + dx * dz_u
        dx = solve(-r_d + (t_l / s_l - z_l) - (t_u / s_u - z_u))
        dz_l = (t_l - s_l * z_l - z_l * dx) / s_l
        dz_u = (t_u - s_u * z_u + z_u * dx) / s_u
        a = 0.995 * min(
            _max_step(s_l, dx), _max_step(s_u, -dx), _max_step(z_l, dz_l), _max_step(z_u, dz_u)
        )
        a = min(a, 1.0)
        x = x + a * dx
        z_l = z_l + a * dz_l
        z_u = z_u + a * dz_u
        s_l, s_u = np.maximum(x - lo, 1e-300), np.maximum(hi - x, 1e-300)
    return np.clip(x, lo, hi)


def _rows_cols(m: int, width: int, closed: bool) -> NDArray[np.intp]:
    """Columns of rows that each touch ``width`` consecutive points (a loop's rows wrap)."""
    if width == 3:  # curvature rows: point i and its neighbours
        first = np.arange(m) - 1 if closed else np.arange(m - 2)
    else:  # segment rows: points i and i + 1
        first = np.arange(m) if closed else np.arange(m - 1)
    return (first[:, None] + np.arange(width)[None, :]) % m


def _add_rows(
    bands: FloatArray,
    g: FloatArray,
    wrap: list[tuple[FloatArray, float]],
    cols: NDArray[np.intp],
    coef: FloatArray,
    const: FloatArray,
    weight: FloatArray,
) -> None:
    """Add ``sum_rows weight * (const + sum_j coef_j x[cols_j])^2`` to H (bands + wrap) and g.

    Rows whose columns wrap around a loop's seam go to the low-rank part (Woodbury).
    """
    m = len(g)
    width = cols.shape[1]
    inner = cols[:, -1] - cols[:, 0] == width - 1
    g += np.bincount(cols.ravel(), (coef * (weight * const)[:, None]).ravel(), minlength=m)
    ci, wi, ki = cols[inner], weight[inner], coef[inner]
    for j in range(width):
        for k in range(j, width):
            band = 2 - (k - j)  # scipy's upper banded form: entry (i, i + d) at [2 - d, i + d]
            bands[band] += np.bincount(ci[:, k], wi * ki[:, j] * ki[:, k], minlength=m)
    for r in np.flatnonzero(~inner):
        col = np.zeros(m)
        np.add.at(col, cols[r], coef[r])
        wrap.append((col, float(weight[r])))


def _colours(m: int, closed: bool) -> NDArray[np.intp]:
    """Colours of the points such that no curvature row touches two points of one colour."""
    colour = np.arange(m) % 3
    rest = m % 3
    if closed and rest:
        colour[m - rest :] = 3 + np.arange(rest)  # the seam: unique colours
    return colour


def _curvature_jacobian(
    frame: _Frame, alpha: FloatArray, closed: bool, cols: NDArray[np.intp]
) -> tuple[FloatArray, FloatArray]:
    """Curvature at the points and its derivative by the offsets of each row's 3 points.

    Forward differences, one evaluation per colour (curvature at i depends on i-1, i, i+1).
    """
    k0 = _vertex_curvature(frame.xy + alpha[:, None] * frame.normal, closed)
    if not closed:
        k0 = k0[1:-1]
    colour = _colours(len(alpha), closed)
    jac = np.zeros(cols.shape)
    step = 1e-6  # m
    for c in range(int(colour.max()) + 1):
        moved = colour == c
        a = alpha + step * moved
        k = _vertex_curvature(frame.xy + a[:, None] * frame.normal, closed)
        if not closed:
            k = k[1:-1]
        dk = (k - k0) / step
        hit = moved[cols]  # (R, 3): which of the row's points moved
        jac[hit] = np.broadcast_to(dk[:, None], cols.shape)[hit]
    return k0, jac


def _objective(frame: _Frame, alpha: FloatArray, closed: bool, length_weight: float) -> float:
    p = frame.xy + alpha[:, None] * frame.normal
    seg = _segment_lengths_of(p, closed)
    k = _vertex_curvature(p, closed)
    ds_pt = 0.5 * (seg + np.roll(seg, 1)) if closed else 0.5 * (seg[:-1] + seg[1:])
    if not closed:
        k = k[1:-1]
    return float(np.sum(k * k * ds_pt) + length_weight * seg.sum())


def _solve_min_curvature(
    frame: _Frame, lo: FloatArray, hi: FloatArray, closed: bool, alpha0: FloatArray
) -> FloatArray:
    """Minimum curvature as in Heilmeier et al.: second differences of the points along the
    centre line's parameter, a QP in the offsets, re-linearised with the previous spacing.

    ``|p[i-1] - 2 p[i] + p[i+1]|^2 / ds_i^3 ~ k_i^2 ds_i`` with ``ds_i`` frozen: like the paper's
    spline formulation it favours lines that cut corners (a shorter line has smaller second
    differences), which is what makes it a good racing line; on a plain ring it hugs the inside.
    """
    m = len(frame.xy)
    cols = _rows_cols(m, 3, closed)
    stencil = np.array([1.0, -2.0, 1.0])
    lo = np.minimum(lo, hi - 1e-7)
    alpha = np.clip(alpha0, lo, hi)
    for _ in range(_RELINEARISE):
        p = frame.xy + alpha[:, None] * frame.normal
        seg = np.maximum(_segment_lengths_of(p, closed), 0.05 * frame.spacing_m)
        ds_pt = 0.5 * (seg + np.roll(seg, 1)) if closed else 0.5 * (seg[:-1] + seg[1:])
        bands = np.zeros((3, m))
        g = np.zeros(m)
        wrap: list[tuple[FloatArray, float]] = []
        # Only the second difference across the line (its normal at the previous solution)
        # is curvature; the part along it is uneven spacing, which costs nothing.
        nrm = _line_normals(p, closed)
        if not closed:
            nrm = nrm[1:-1]
        coef = stencil * np.einsum("rk,rjk->rj", nrm, frame.normal[cols])
        const = np.einsum("rk,rk->r", nrm, np.einsum("j,rjk->rk", stencil, frame.xy[cols]))
        _add_rows(bands, g, wrap, cols, coef, const, 1.0 / ds_pt**3)
        alpha = _box_qp(_system(bands, wrap), g / float(bands[2].mean()), lo, hi, alpha)
    return alpha


def _system(bands: FloatArray, wrap: list[tuple[FloatArray, float]]) -> _BandedSystem:
    """The banded system scaled to a unit mean diagonal (g must be divided by the same)."""
    m = bands.shape[1]
    scale = float(bands[2].mean())
    b = bands / scale
    b[2] += _RIDGE
    u = np.column_stack([c for c, _ in wrap]) if wrap else np.zeros((m, 0))
    c = np.array([w for _, w in wrap], dtype=np.float64) / scale
    return _BandedSystem(b, u, c)


def _solve_line(
    frame: _Frame,
    lo: FloatArray,
    hi: FloatArray,
    closed: bool,
    length_weight: float,
    alpha0: FloatArray,
    steps: int = _GAUSS_NEWTON_STEPS,
) -> FloatArray:
    """Offsets minimising ``integral k^2 ds + length_weight * length`` (Gauss-Newton steps).

    Each step linearises the curvature of every point in its own and its neighbours' offsets
    and the length quadratically, and solves the box-bounded QP for the step; a step that does
    not lower the objective is halved.
    """
    m = len(frame.xy)
    cols3 = _rows_cols(m, 3, closed)
    cols2 = _rows_cols(m, 2, closed)
    lo = np.minimum(lo, hi - 1e-7)
    alpha = np.clip(alpha0, lo, hi)
    f_now = _objective(frame, alpha, closed, length_weight)
    for _ in range(steps):
        p = frame.xy + alpha[:, None] * frame.normal
        seg = np.maximum(_segment_lengths_of(p, closed), 0.05 * frame.spacing_m)
        ds_pt = 0.5 * (seg + np.roll(seg, 1)) if closed else 0.5 * (seg[:-1] + seg[1:])
        bands = np.zeros((3, m))
        g = np.zeros(m)
        wrap: list[tuple[FloatArray, float]] = []
        k, jac = _curvature_jacobian(frame, alpha, closed, cols3)
        _add_rows(bands, g, wrap, cols3, jac, k, ds_pt)
        if length_weight > 0.0:
            # Segment length |e| ~ |e|^2 / (2 ds) + ds / 2 around the current length ds.
            stencil = np.array([-1.0, 1.0])
            for axis in (0, 1):
                coef = stencil * frame.normal[cols2, axis]
                const = np.sum(stencil * p[cols2, axis], axis=1)
                _add_rows(bands, g, wrap, cols2, coef, const, length_weight / (2.0 * seg))
        step = _box_qp(
            _system(bands, wrap), g / float(bands[2].mean()), lo - alpha, hi - alpha, np.zeros(m)
        )
        for _halving in range(4):
            trial = np.clip(alpha + step, lo, hi)
            f_trial = _objective(frame, trial, closed, length_weight)
            if f_trial <= f_now:
                break
            step = 0.5 * step
        else:
            break
        converged = float(np.abs(trial - alpha).max()) < 1e-5
        alpha, f_now = trial, f_trial
        if converged:
            break
    return alpha


# ---------------------------------------------------------------------- building lines


def _track_key(track: Track) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for a in (track.center, track.left, track.right):
        digest.update(np.ascontiguousarray(a).tobytes())
    digest.update(b"closed" if track.closed else b"open")
    digest.update(track.name.encode())
    return digest.hexdigest()


_cache: OrderedDict[tuple[Any, ...], RacingLine] = OrderedDict()


def _cached(key: tuple[Any, ...], build: Any) -> RacingLine:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    line = build()
    with _cache_lock:
        line = _cache.setdefault(key, line)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return line


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _lap_time(xy: FloatArray, closed: bool, limits: CarLimits) -> float:
    ds = _segment_lengths_of(xy, closed)
    k = _vertex_curvature(xy, closed)
    return profile_lap_time(speed_profile(k, ds, limits, closed), ds, closed)


def _make_line(
    track: Track,
    xy: FloatArray,
    *,
    method: str,
    margin: float,
    limits: CarLimits,
    centerline_bound: float | None,
) -> RacingLine:
    closed = track.closed
    ds = _segment_lengths_of(xy, closed)
    k = _vertex_curvature(xy, closed)
    speed, braking = _profile(k, ds, limits, closed, None)
    seg_t = _segment_times(speed, ds, closed)
    lap = float(seg_t.sum())
    time_s = np.concatenate(([0.0], np.cumsum(seg_t)[: len(xy) - 1]))
    if closed:
        standing = _profile(np.append(k, k[0]), ds, limits, False, 0.0)[0]
        standing_lap = profile_lap_time(standing, ds, False)
    else:
        standing_lap = lap
    proj = track.project(xy)
    s_line = np.concatenate(([0.0], np.cumsum(ds)[: len(xy) - 1]))
    return RacingLine(
        track_name=track.name,
        closed=closed,
        method=method,
        safety_margin_m=float(margin),
        limits=limits,
        xy=_readonly(xy),
        s_m=_readonly(s_line),
        length_m=float(ds.sum()),
        curvature=_readonly(k),
        heading_rad=_readonly(_headings(xy, closed)),
        speed_mps=_readonly(speed),
        time_s=_readonly(time_s),
        lap_time_s=lap,
        standing_lap_time_s=float(standing_lap),
        center_s_m=_readonly(np.asarray(proj.s, dtype=np.float64)),
        lateral_m=_readonly(np.asarray(proj.lateral, dtype=np.float64)),
        braking=_readonly(braking),
        track_length_m=float(track.length),
        centerline_lap_time_s=lap if centerline_bound is None else float(centerline_bound),
        exceeds_steering=bool(np.abs(k).max() > limits.max_curvature_per_m * (1.0 + 1e-6)),
    )


def centerline_line(track: Track, limits: CarLimits | None = None) -> RacingLine:
    """The centre line itself as a line, with its speed profile (method ``"centerline"``).

    Sampled like :func:`racing_line` (a cubic spline through the waypoints, uniform spacing), so
    the two bounds compare like for like.

    Args:
        track: The track.
        limits: The car's limits (defaults: :class:`CarLimits`).

    Returns:
        The cached :class:`RacingLine` of the centre line.
    """
    lim = limits if limits is not None else CarLimits()
    key = (_track_key(track), lim, "centerline", 0.0)

    def build() -> RacingLine:
        frame = _frame(track, SPACING_M)
        return _make_line(
            track, frame.xy, method="centerline", margin=0.0, limits=lim, centerline_bound=None
        )

    return _cached(key, build)


def _bounds(frame: _Frame, half: float, track: Track) -> tuple[FloatArray, FloatArray]:
    lo = -(frame.right_m - half)
    hi = frame.left_m - half
    narrow = np.flatnonzero(lo > hi)
    if narrow.size:
        i = int(narrow[0])
        width = float(frame.left_m[i] + frame.right_m[i])
        raise ConfigError(
            f"track {track.name!r} is {width:.2f} m wide near x={frame.xy[i, 0]:.2f}, "
            f"y={frame.xy[i, 1]:.2f}: too narrow for the car ({2 * half:.2f} m with its "
            "safety margin on both sides); use a smaller --margin"
        )
    if not track.closed:
        # An open line keeps the track's ends: it starts and finishes on the centre line.
        lo[[0, -1]] = 0.0
        hi[[0, -1]] = 0.0
    return lo, hi


def _fit_inside(
    track: Track,
    frame: _Frame,
    lo: FloatArray,
    hi: FloatArray,
    half: float,
    length_weight: float | None,
    alpha0: FloatArray,
) -> FloatArray:
    """Solve, then tighten the bounds wherever a point is closer to a border than ``half``.

    ``length_weight`` None: the minimum-curvature QP; a number: the Gauss-Newton line.
    """
    closed = track.closed

    def solve(lo: FloatArray, hi: FloatArray, alpha0: FloatArray) -> FloatArray:
        if length_weight is None:
            return _solve_min_curvature(frame, lo, hi, closed, alpha0)
        return _solve_line(frame, lo, hi, closed, length_weight, alpha0)

    lo, hi = lo.copy(), hi.copy()
    alpha = solve(lo, hi, alpha0)
    for _ in range(_BORDER_PASSES):
        p = frame.xy + alpha[:, None] * frame.normal
        short_l = half - _border_distance(p, track.left, frame.waypoint, closed)
        short_r = half - _border_distance(p, track.right, frame.waypoint, closed)
        bad_l = short_l > 0.0
        bad_r = short_r > 0.0
        if not (bad_l.any() or bad_r.any()):
            break
        hi = np.where(bad_l, np.minimum(hi, alpha - short_l - _BORDER_TOL_M), hi)
        lo = np.where(bad_r, np.maximum(lo, alpha + short_r + _BORDER_TOL_M), lo)
        mid = 0.5 * (lo + hi)
        lo, hi = np.minimum(lo, mid), np.maximum(hi, mid)
        alpha = solve(lo, hi, np.clip(alpha, lo, hi))
    return alpha


def racing_line(
    track: Track,
    limits: CarLimits | None = None,
    safety_margin_m: float = 0.05,
    method: str = "min-time",
) -> RacingLine:
    """The racing line of a track and its lap-time bound for a car.

    Args:
        track: The track (a loop or an open track, either direction).
        limits: The car's limits (defaults: racer's simulated car, :class:`CarLimits`).
        safety_margin_m: Clearance between the car's side and the border, m (>= 0).
        method: ``"min-time"`` (fastest of a few curvature/length trade-offs) or
            ``"min-curvature"``.

    Returns:
        The cached :class:`RacingLine`: the same object for the same track geometry and options.

    Raises:
        ConfigError: An unknown method, a negative or non-finite margin, or a road too narrow
            for the car with that margin.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown racing line method {method!r}; use one of {', '.join(METHODS)}")
    try:
        margin = float(safety_margin_m)
    except (TypeError, ValueError):
        margin = float("nan")
    if not (math.isfinite(margin) and margin >= 0.0):
        raise ConfigError(f"safety margin must be a finite number >= 0 m, got {safety_margin_m!r}")
    lim = limits if limits is not None else CarLimits()
    key = (_track_key(track), lim, method, margin)

    def build() -> RacingLine:
        frame = _frame(track, SPACING_M)
        half = 0.5 * lim.car_width_m + margin
        lo, hi = _bounds(frame, half, track)
        # Candidates by length weight; None is the minimum-curvature line.
        tried: dict[float | None, tuple[float, FloatArray]] = {}
        alpha = _fit_inside(track, frame, lo, hi, half, None, np.zeros(len(frame.xy)))
        xy = frame.xy + alpha[:, None] * frame.normal
        tried[None] = (_lap_time(xy, track.closed, lim), xy)
        steering_ok = _max_curvature(xy, track.closed) <= lim.max_curvature_per_m
        start = alpha

        def attempt(w: float) -> None:
            if w in tried:
                return
            a = _fit_inside(track, frame, lo, hi, half, w, start)
            xy = frame.xy + a[:, None] * frame.normal
            if steering_ok and _max_curvature(xy, track.closed) > lim.max_curvature_per_m:
                tried[w] = (math.inf, xy)  # tighter than the steering allows: not drivable
            else:
                tried[w] = (_lap_time(xy, track.closed, lim), xy)

        if method == "min-time":
            for w in _LENGTH_WEIGHTS:
                attempt(w)
            best_w = min(tried, key=lambda w: tried[w][0])
            if best_w is not None:
                for w in (best_w / 2.0, best_w * 2.0):
                    attempt(w)
        best = min(tried.values(), key=lambda item: item[0])
        return _make_line(
            track,
            best[1],
            method=method,
            margin=margin,
            limits=lim,
            centerline_bound=centerline_line(track, lim).lap_time_s,
        )

    return _cached(key, build)
