"""The :class:`Track` model: a centre line with its borders, and vectorised geometry on it.

A track is a polyline of waypoints in driving order (the centre line) with a left and a right
border point at each waypoint. A closed track (a loop) does not repeat its first waypoint; its last
segment runs from waypoint ``N-1`` back to waypoint 0. All geometry is exact for that polyline:
projection finds the nearest point on the centre-line segments, and :meth:`Track.on_track` tests
the road polygon formed by the border points (even-odd rule over the border rings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from racer.errors import TrackError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
FloatField = NDArray[np.float64] | np.float64  # an array, or a NumPy scalar for one point
IntField = NDArray[np.intp] | np.intp

_CHUNK_POINTS = 2048  # points projected per batch, bounds memory to ~CHUNK x segments x 8 bytes
_MIN_SEGMENT_M = 1e-9  # m, shorter consecutive waypoints are duplicates
TURN_CURVATURE = 0.3  # 1/m, |curvature| above this counts as turning (radius < 3.3 m)
_TURN_SMOOTH_M = 0.6  # m, window of the moving average applied to curvature before counting turns
_TURN_MERGE_GAP_M = 0.5  # m, same-direction turning stretches closer than this are one turn
_TURN_MIN_LENGTH_M = 0.3  # m, shorter turning stretches are noise


@dataclass(frozen=True, slots=True)
class Projection:
    """A point (or points) projected onto the centre line.

    Every field is an array shaped like ``xy[..., 0]`` (a NumPy scalar for one point).

    Attributes:
        s: Arc length of the nearest centre-line point from waypoint 0, m, in ``[0, length)``
            for a closed track and ``[0, length]`` for an open one.
        distance: Distance from the centre line, m, >= 0.
        lateral: Signed distance, m: positive left of the centre line in the driving direction.
        segment: Index ``i`` of the nearest segment, from waypoint ``i`` to waypoint ``i + 1``.
        heading_rad: Direction of the track at the nearest point, radians counter-clockwise
            from +x, in ``(-pi, pi]``.
    """

    s: FloatField
    distance: FloatField
    lateral: FloatField
    segment: IntField
    heading_rad: FloatField


def beside(x_m: float, y_m: float, yaw_rad: float, lateral_m: float) -> tuple[float, float]:
    """The point ``lateral_m`` to the left (+) of (``x_m``, ``y_m``) for a heading ``yaw_rad``
    (the one arithmetic of lanes: :meth:`Track.lane_pose`, the envs' put-backs)."""
    if lateral_m == 0.0:
        return x_m, y_m
    return x_m - lateral_m * math.sin(yaw_rad), y_m + lateral_m * math.cos(yaw_rad)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _signed_area(ring: FloatArray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


class Track:
    """A race track: centre line, borders and widths, with vectorised geometry.

    Build one with :func:`racer.track.load_track` (built-in name, user-library name or file),
    :func:`racer.track.generate_track`, or directly from arrays. The constructor checks shapes
    and finiteness only; :func:`racer.track.validate_track` checks the geometry.

    Args:
        center: ``(N, 2)`` centre-line waypoints in driving order, m. A closed track must not
            repeat its first point at the end.
        left: ``(N, 2)`` border points on the left of the driving direction, m.
        right: ``(N, 2)`` border points on the right of the driving direction, m.
        closed: True for a loop (the last waypoint connects back to the first).
        name: Track name.
        description: Free text shown by ``racer tracks``.
        source: Where the track came from: ``"built-in"``, ``"user"``, ``"file"``, ``"generated"``.

    Raises:
        TrackError: Arrays with the wrong shape, non-finite values, too few waypoints, or two
            consecutive identical waypoints.
    """

    def __init__(
        self,
        center: ArrayLike,
        left: ArrayLike,
        right: ArrayLike,
        *,
        closed: bool,
        name: str = "track",
        description: str = "",
        source: str = "",
    ) -> None:
        c = np.array(center, dtype=np.float64)
        lb = np.array(left, dtype=np.float64)
        rb = np.array(right, dtype=np.float64)
        for label, a in (("centre line", c), ("left border", lb), ("right border", rb)):
            if a.ndim != 2 or a.shape[1] != 2:
                raise TrackError(f"{label} must be an (N, 2) array of points, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise TrackError(f"{label} contains NaN or infinite coordinates")
        if not (c.shape == lb.shape == rb.shape):
            raise TrackError(
                f"centre line and borders differ in length: {len(c)}, {len(lb)}, {len(rb)} points"
            )
        n = len(c)
        if n < 4:
            raise TrackError(f"too few waypoints: {n} (at least 4 distinct points are needed)")
        self.name: str = name
        self.description: str = description
        self.source: str = source
        self.closed: bool = bool(closed)

        b = np.roll(c, -1, axis=0) if closed else c[1:]
        a = c if closed else c[:-1]
        d = b - a
        seglen = np.hypot(d[:, 0], d[:, 1])
        short = np.flatnonzero(seglen < _MIN_SEGMENT_M)
        if short.size:
            i = int(short[0])
            raise TrackError(
                f"waypoints {i} and {(i + 1) % n} are identical; remove the duplicate point"
            )
        u = d / seglen[:, None]

        self.center: FloatArray = _readonly(c)
        self.left: FloatArray = _readonly(lb)
        self.right: FloatArray = _readonly(rb)
        self.widths: FloatArray = _readonly(np.hypot(*(lb - rb).T))
        self.length: float = float(seglen.sum())
        seg_s = np.concatenate(([0.0], np.cumsum(seglen)[:-1]))
        self.s: FloatArray = _readonly(seg_s if closed else np.append(seg_s, self.length))
        self.segment_lengths: FloatArray = _readonly(seglen)
        self.segment_headings: FloatArray = _readonly(np.arctan2(u[:, 1], u[:, 0]))
        self.curvatures: FloatArray = _readonly(self._vertex_curvature(u, seglen))

        # Inner / outer: the inner border is on the side the track turns towards overall.
        if closed:
            turns_left = _signed_area(c) > 0.0
        else:
            turns_left = float(np.sum(self.curvatures * self._vertex_weights(seglen))) >= 0.0
        self.inner: FloatArray = self.left if turns_left else self.right
        self.outer: FloatArray = self.right if turns_left else self.left

        # Projection as one small matrix product: for a point p, the row [px, py, 1] @ _proj_mat
        # gives, per segment i (from a_i along unit u_i), the coordinate along the segment
        # t_i = (p - a_i) . u_i and the signed offset c_i = u_i x (p - a_i) (+ = left). The
        # squared distance to the segment is c_i^2 + (t_i - clip(t_i, 0, length_i))^2.
        self._k = len(seglen)
        self._seg_s = seg_s
        self._ax = np.ascontiguousarray(a[:, 0])
        self._ay = np.ascontiguousarray(a[:, 1])
        self._ux = np.ascontiguousarray(u[:, 0])
        self._uy = np.ascontiguousarray(u[:, 1])
        ax, ay, ux, uy = self._ax, self._ay, self._ux, self._uy
        self._proj_mat = np.vstack(
            (
                np.concatenate((ux, -uy)),
                np.concatenate((uy, ux)),
                np.concatenate((-(ax * ux + ay * uy), uy * ax - ux * ay)),
            )
        )
        self._proj_rows = tuple(np.ascontiguousarray(row) for row in self._proj_mat)
        # Python lists: scalar look-ups in the single-point path are faster than array indexing.
        self._lists = tuple(
            v.tolist() for v in (ax, ay, ux, uy, seglen, seg_s, self.segment_headings)
        )

        # Border rings of the road polygon; a point is on the road when a ray from it towards +x
        # crosses these edges an odd number of times (exact for the polygon of the border
        # points). For edge e from (x0, y0) to (x1, y1), [px, py, 1] @ _ring_mat gives
        # y0 - py, y1 - py, and px - x_cross (x_cross: where the edge meets the line y = py).
        if closed:
            rings = [(lb, np.roll(lb, -1, axis=0)), (rb, np.roll(rb, -1, axis=0))]
        else:
            ring = np.concatenate((lb, rb[::-1]))
            rings = [(ring, np.roll(ring, -1, axis=0))]
        e0 = np.concatenate([r[0] for r in rings])
        e1 = np.concatenate([r[1] for r in rings])
        dy = e1[:, 1] - e0[:, 1]
        slope = (e1[:, 0] - e0[:, 0]) / np.where(dy != 0.0, dy, 1.0)  # dx/dy; unused when dy = 0
        n_e = len(e0)
        ones, zeros = np.ones(n_e), np.zeros(n_e)
        self._n_edges = n_e
        self._ring_mat = np.vstack(
            (
                np.concatenate((zeros, zeros, ones)),
                np.concatenate((-ones, -ones, -slope)),
                np.concatenate((e0[:, 1], e1[:, 1], e0[:, 1] * slope - e0[:, 0])),
            )
        )
        self._ring_rows = tuple(np.ascontiguousarray(row) for row in self._ring_mat)

    # ------------------------------------------------------------------ construction helpers

    def _vertex_weights(self, seglen: FloatArray) -> FloatArray:
        """Arc length attributed to each waypoint (half of each adjacent segment), m."""
        if self.closed:
            return 0.5 * (seglen + np.roll(seglen, 1))
        w = np.zeros(len(seglen) + 1)
        w[:-1] += 0.5 * seglen
        w[1:] += 0.5 * seglen
        return w

    def _vertex_curvature(self, u: FloatArray, seglen: FloatArray) -> FloatArray:
        """Signed curvature at each waypoint, 1/m: turning angle over the adjacent arc length."""
        if self.closed:
            u_in, u_out = np.roll(u, 1, axis=0), u
            l_in, l_out = np.roll(seglen, 1), seglen
        else:
            u_in, u_out = u[:-1], u[1:]
            l_in, l_out = seglen[:-1], seglen[1:]
        cross = u_in[:, 0] * u_out[:, 1] - u_in[:, 1] * u_out[:, 0]
        dot = np.sum(u_in * u_out, axis=1)
        k = np.arctan2(cross, dot) / (0.5 * (l_in + l_out))
        if self.closed:
            return k
        # Open ends: repeat the neighbour's curvature.
        return np.concatenate(([k[0]], k, [k[-1]]))

    # ------------------------------------------------------------------ basic properties

    @property
    def n_waypoints(self) -> int:
        """Number of waypoints ``N``."""
        return len(self.center)

    @property
    def direction(self) -> str:
        """Driving direction: ``"counter-clockwise"`` or ``"clockwise"`` (loops), ``"open"``."""
        if not self.closed:
            return "open"
        return "counter-clockwise" if _signed_area(self.center) > 0.0 else "clockwise"

    @property
    def min_width(self) -> float:
        """Narrowest road width, m."""
        return float(self.widths.min())

    @property
    def max_width(self) -> float:
        """Widest road width, m."""
        return float(self.widths.max())

    @property
    def min_radius(self) -> float:
        """Smallest radius of curvature of the centre line, m (``inf`` for a straight)."""
        k = float(np.abs(self.curvatures).max())
        return float("inf") if k == 0.0 else 1.0 / k

    def __repr__(self) -> str:
        kind = "closed" if self.closed else "open"
        return (
            f"Track({self.name!r}, {kind}, {self.n_waypoints} waypoints, "
            f"length={self.length:.2f} m, width={self.min_width:.2f}-{self.max_width:.2f} m)"
        )

    def waypoints_list(self) -> list[tuple[float, float]]:
        """Centre-line waypoints as a list of ``(x, y)`` tuples (cached; DeepRacer's format).

        Returns:
            The same list object on every call; do not modify it.
        """
        return self._waypoints_list

    @cached_property
    def _waypoints_list(self) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in self.center]

    # ------------------------------------------------------------------ projection

    def project(self, xy: ArrayLike) -> Projection:
        """Project points onto the centre line (the nearest point of the polyline).

        Args:
            xy: Points, shape ``(..., 2)``, m.

        Returns:
            A :class:`Projection` whose fields are shaped like ``xy[..., 0]``.
        """
        p = np.asarray(xy, dtype=np.float64)
        if p.shape == (2,):
            return self._project_one(float(p[0]), float(p[1]))
        if p.ndim == 0 or p.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2), got {p.shape}")
        flat = p.reshape(-1, 2)
        m = len(flat)
        k = self._k
        seg = np.empty(m, dtype=np.intp)
        m0, m1, m2 = self._proj_rows
        for lo in range(0, m, _CHUNK_POINTS):
            hi = min(m, lo + _CHUNK_POINTS)
            # [px, py, 1] @ _proj_mat written out elementwise: the single-point path does the
            # same arithmetic, so one point projects identically alone or in a batch
            r = flat[lo:hi, :1] * m0 + flat[lo:hi, 1:] * m1 + m2
            t = r[:, :k]
            c = r[:, k:]
            e = t - np.minimum(np.maximum(t, 0.0), self.segment_lengths)
            seg[lo:hi] = (e * e + c * c).argmin(axis=1)
        # The nearest segment's along, distance and side, by _project_one's formulas.
        dx = flat[:, 0] - self._ax[seg]
        dy = flat[:, 1] - self._ay[seg]
        ux, uy = self._ux[seg], self._uy[seg]
        seglen = self.segment_lengths[seg]
        along = np.minimum(np.maximum(dx * ux + dy * uy, 0.0), seglen)
        ex = dx - along * ux
        ey = dy - along * uy
        dist = np.sqrt(ex * ex + ey * ey)
        cross = ux * dy - uy * dx
        # A point at the end of segment i belongs to the start of segment i + 1.
        at_end = along >= seglen
        if not self.closed:
            at_end &= seg < k - 1
        if at_end.any():
            seg = np.where(at_end, (seg + 1) % k, seg)
            along = np.where(at_end, 0.0, along)
        shape = p.shape[:-1]
        return Projection(
            s=(self._seg_s[seg] + along).reshape(shape),
            distance=dist.reshape(shape),
            lateral=np.copysign(dist, np.where(cross >= 0.0, 1.0, -1.0)).reshape(shape),
            segment=seg.reshape(shape),
            heading_rad=self.segment_headings[seg].reshape(shape),
        )

    def _project_one(self, px: float, py: float) -> Projection:
        k = self._k
        m0, m1, m2 = self._proj_rows
        r = px * m0 + py * m1 + m2
        t = r[:k]
        c = r[k:]
        e = t - np.minimum(np.maximum(t, 0.0), self.segment_lengths)
        i = int((e * e + c * c).argmin())
        ax, ay, ux, uy, seglen, seg_s, headings = self._lists
        dx = px - ax[i]
        dy = py - ay[i]
        along = min(max(dx * ux[i] + dy * uy[i], 0.0), seglen[i])
        ex = dx - along * ux[i]
        ey = dy - along * uy[i]
        dist = math.sqrt(ex * ex + ey * ey)
        cross = ux[i] * dy - uy[i] * dx
        if along >= seglen[i] and (self.closed or i < k - 1):
            i = (i + 1) % k
            along = 0.0
        return Projection(
            s=np.float64(seg_s[i] + along),
            distance=np.float64(dist),
            lateral=np.float64(dist if cross >= 0.0 else -dist),
            segment=np.intp(i),
            heading_rad=np.float64(headings[i]),
        )

    def s_to_progress(self, s: ArrayLike, start_s: float = 0.0) -> FloatArray:
        """Convert arc length to lap progress.

        Args:
            s: Arc length from waypoint 0, m.
            start_s: Arc length of the start point, m.

        Returns:
            Percent 0-100 of the way from ``start_s`` in the driving direction. On a closed
            track it wraps (in ``[0, 100)``); on an open track it is clamped to ``[0, 100]``
            over the stretch from ``start_s`` to the end.
        """
        s_arr = np.asarray(s, dtype=np.float64)
        if self.closed:
            return np.mod(s_arr - start_s, self.length) * (100.0 / self.length)
        span = self.length - start_s
        if span <= 0.0:
            return np.full_like(s_arr, 100.0)
        return np.clip((s_arr - start_s) * (100.0 / span), 0.0, 100.0)

    def progress(self, xy: ArrayLike, start_s: float = 0.0) -> FloatArray:
        """Lap progress of points, percent 0-100 from ``start_s`` in the driving direction.

        Args:
            xy: Points, shape ``(..., 2)``, m.
            start_s: Arc length of the start point, m.

        Returns:
            Progress shaped like ``xy[..., 0]`` (see :meth:`s_to_progress`).
        """
        return self.s_to_progress(self.project(xy).s, start_s)

    def waypoint_pair(self, segment: ArrayLike) -> IntArray:
        """``[prev, next]`` waypoint indices of segments.

        Args:
            segment: Segment indices (as in :attr:`Projection.segment`).

        Returns:
            Integer array shaped ``segment.shape + (2,)``.
        """
        seg = np.asarray(segment, dtype=np.intp)
        nxt = (seg + 1) % self.n_waypoints if self.closed else seg + 1
        return np.stack((seg, nxt), axis=-1)

    def closest_waypoints(self, xy: ArrayLike) -> IntArray:
        """Indices of the waypoints just behind and just ahead of points, by arc length.

        Correct across the seam of a loop: a point just before waypoint 0 gets ``[N-1, 0]``.

        Args:
            xy: Points, shape ``(..., 2)``, m.

        Returns:
            Integer array shaped ``xy.shape``: ``[..., 0]`` behind, ``[..., 1]`` ahead.
        """
        return self.waypoint_pair(self.project(xy).segment)

    # ------------------------------------------------------------------ queries by arc length

    def _wrap_s(self, s: ArrayLike) -> FloatArray:
        s_arr = np.asarray(s, dtype=np.float64)
        if self.closed:
            return np.mod(s_arr, self.length)
        return np.clip(s_arr, 0.0, self.length)

    def _locate(self, s: ArrayLike) -> tuple[IntArray, FloatArray]:
        sw = self._wrap_s(s)
        i = np.clip(np.searchsorted(self._seg_s, sw, side="right") - 1, 0, self._k - 1)
        return i, sw - self._seg_s[i]

    def point_at(self, s: ArrayLike) -> FloatArray:
        """Centre-line point at arc length ``s`` (wraps on a loop, clamps on an open track).

        Args:
            s: Arc length from waypoint 0, m; any shape.

        Returns:
            Points shaped ``s.shape + (2,)``, m.
        """
        i, t = self._locate(s)
        return np.stack((self._ax[i] + t * self._ux[i], self._ay[i] + t * self._uy[i]), axis=-1)

    def heading_at(self, s: ArrayLike) -> FloatArray:
        """Track heading at arc length ``s``, radians counter-clockwise from +x.

        Args:
            s: Arc length from waypoint 0, m; any shape.

        Returns:
            Heading of the centre-line segment there, shaped like ``s``.
        """
        i, _ = self._locate(s)
        return self.segment_headings[i]

    def lane_pose(self, s: float, lateral_m: float = 0.0) -> tuple[float, float, float]:
        """The pose ``lateral_m`` left (+) of the centre line at arc length ``s``, facing along
        the track: ``(x, y, heading)`` (a lane, a box's place, a car put back).

        Args:
            s: Arc length from waypoint 0, m.
            lateral_m: Offset from the centre line, m, + = left of the direction of travel.
        """
        x, y = np.asarray(self.point_at(s), dtype=np.float64).reshape(-1)
        yaw = float(self.heading_at(s))
        bx, by = beside(float(x), float(y), yaw, lateral_m)
        return bx, by, yaw

    def _interp_vertex(self, values: FloatArray, s: ArrayLike) -> FloatArray:
        sw = self._wrap_s(s)
        if self.closed:
            xp = np.append(self.s, self.length)
            fp = np.append(values, values[0])
        else:
            xp, fp = self.s, values
        return np.interp(sw, xp, fp)

    def curvature_at(self, s: ArrayLike) -> FloatArray:
        """Signed centre-line curvature at arc length ``s``, 1/m (positive: left turn).

        Args:
            s: Arc length from waypoint 0, m; any shape.

        Returns:
            Curvature interpolated linearly between waypoints, shaped like ``s``.
        """
        return self._interp_vertex(self.curvatures, s)

    def width_at(self, s: ArrayLike) -> FloatArray:
        """Road width at arc length ``s``, m, interpolated linearly between waypoints.

        Args:
            s: Arc length from waypoint 0, m; any shape.

        Returns:
            Width shaped like ``s``.
        """
        return self._interp_vertex(self.widths, s)

    # ------------------------------------------------------------------ road polygon

    def on_track(self, xy: ArrayLike) -> NDArray[np.bool_]:
        """Whether points lie on the road: inside the polygon formed by the border points.

        For a loop the road is the region inside the outer border and outside the inner one;
        for an open track it is the polygon left border -> right border (reversed). The test is
        the exact even-odd ray-crossing rule on those polygons (a point exactly on a border may
        fall either way).

        Args:
            xy: Points, shape ``(..., 2)``, m.

        Returns:
            Boolean array shaped like ``xy[..., 0]``.
        """
        p = np.asarray(xy, dtype=np.float64)
        if p.ndim == 0 or p.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2), got {p.shape}")
        flat = p.reshape(-1, 2)
        n_e = self._n_edges
        out = np.empty(len(flat), dtype=bool)
        for lo in range(0, len(flat), _CHUNK_POINTS):
            hi = min(len(flat), lo + _CHUNK_POINTS)
            r0, r1, r2 = self._ring_rows  # [px, py, 1] @ _ring_mat, elementwise (see project)
            r = flat[lo:hi, :1] * r0 + flat[lo:hi, 1:] * r1 + r2
            straddle = (r[:, :n_e] > 0.0) != (r[:, n_e : 2 * n_e] > 0.0)
            out[lo:hi] = (straddle & (r[:, 2 * n_e :] < 0.0)).sum(axis=1) & 1
        if p.ndim == 1:
            return out[0]  # type: ignore[return-value]
        return out.reshape(p.shape[:-1])

    # ------------------------------------------------------------------ derived tracks, metadata

    def reversed(self) -> Track:
        """The same road driven the other way.

        A loop keeps waypoint 0 (so the start line stays where it is) and runs the others in
        reverse order; an open track starts at its former end. Left and right swap.

        Returns:
            A new :class:`Track` named ``"<name>-reversed"`` (or the original name when this
            track was itself reversed).
        """
        if self.closed:
            order = np.concatenate(([0], np.arange(self.n_waypoints - 1, 0, -1)))
        else:
            order = np.arange(self.n_waypoints - 1, -1, -1)
        suffix = "-reversed"
        name = self.name[: -len(suffix)] if self.name.endswith(suffix) else f"{self.name}{suffix}"
        return Track(
            self.center[order],
            self.right[order],
            self.left[order],
            closed=self.closed,
            name=name,
            description=self.description,
            source=self.source,
        )

    def turn_spans(self, threshold: float = TURN_CURVATURE) -> list[tuple[float, float, int]]:
        """Stretches of sustained turning along the lap.

        Curvature is smoothed over ~0.6 m; stretches with ``|curvature| > threshold`` in the same
        direction closer than 0.5 m are merged, and stretches shorter than 0.3 m are dropped.

        Args:
            threshold: Curvature above which the track counts as turning, 1/m.

        Returns:
            ``(start_s, end_s, sign)`` per turn (``sign`` +1 left, -1 right); on a loop a turn
            may wrap past waypoint 0 (``end_s < start_s``).
        """
        n = self.n_waypoints
        spacing = self.length / max(1, self._k)
        win = max(1, int(round(_TURN_SMOOTH_M / spacing)))
        kernel = np.ones(win) / win
        if self.closed:
            padded = np.concatenate(
                (self.curvatures[-win:], self.curvatures, self.curvatures[:win])
            )
            k = np.convolve(padded, kernel, mode="same")[win:-win]
        else:
            k = np.convolve(self.curvatures, kernel, mode="same")
        spans: list[tuple[float, float, int]] = []
        weights = self._vertex_weights(self.segment_lengths)
        for sign in (1, -1):
            mask = sign * k > threshold
            if not mask.any():
                continue
            if self.closed and mask.all():
                spans.append((0.0, self.length, sign))
                continue
            # Rotate a loop so that it starts outside a turn: runs never wrap.
            shift = int(np.flatnonzero(~mask)[0]) if self.closed else 0
            order = np.roll(np.arange(n), -shift)
            w_rot = weights[order]
            edges = np.diff(np.concatenate(([0], mask[order].astype(np.int8), [0])))
            runs: list[list[int]] = []
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                if runs and float(w_rot[runs[-1][1] : a].sum()) < _TURN_MERGE_GAP_M:
                    runs[-1][1] = int(b)  # b is exclusive
                else:
                    runs.append([int(a), int(b)])
            if self.closed and len(runs) > 1:
                # The last and first runs may be one turn across the rotation point.
                gap = float(w_rot[runs[-1][1] :].sum() + w_rot[: runs[0][0]].sum())
                if gap < _TURN_MERGE_GAP_M:
                    first = runs.pop(0)
                    runs[-1][1] = first[1] + n
            for first_i, end_i in runs:
                idx = order[np.arange(first_i, end_i) % n]
                if float(weights[idx].sum()) < _TURN_MIN_LENGTH_M:
                    continue
                spans.append((float(self.s[idx[0]]), float(self.s[idx[-1]]), sign))
        spans.sort(key=lambda span: span[0])
        return spans

    def turns(self, threshold: float = TURN_CURVATURE) -> int:
        """Number of turns: stretches of sustained curvature (see :meth:`turn_spans`).

        Args:
            threshold: Curvature above which the track counts as turning, 1/m.

        Returns:
            The count of turns.
        """
        return len(self.turn_spans(threshold))
