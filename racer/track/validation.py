"""Geometric validation of a :class:`~racer.track.geometry.Track`.

A track is usable when its road is a proper strip: positive widths, a centre line that does not
cross itself, borders that cross neither themselves nor each other, and a centre line that never
bends tighter than half the road width (otherwise the inner border folds over). Every failure is a
:class:`~racer.errors.TrackError` with one line naming the track or file and the problem.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from racer.errors import TrackError
from racer.track.geometry import Track

FloatArray = NDArray[np.float64]

RADIUS_MARGIN = 1.05  # centre-line radius must exceed half the width by 5 %
_CROSS_CHUNK = 256  # rows of segment pairs tested per batch (memory bound)


def _orient(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cx, cy) -> FloatArray:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _first_crossing(
    p: FloatArray, q: FloatArray, *, closed_p: bool, closed_q: bool, same: bool
) -> tuple[int, int] | None:
    """First pair of properly crossing segments between polylines ``p`` and ``q``.

    Args:
        p: ``(n, 2)`` polyline.
        q: ``(m, 2)`` polyline.
        closed_p: ``p`` is a loop (its last point connects to the first).
        closed_q: ``q`` is a loop.
        same: ``p`` and ``q`` are the same polyline: adjacent segments are not compared.

    Returns:
        Segment indices ``(i, j)`` of a crossing, or None.
    """
    p0 = p
    p1 = np.roll(p, -1, axis=0)
    if not closed_p:
        p0, p1 = p0[:-1], p1[:-1]
    q0 = q
    q1 = np.roll(q, -1, axis=0)
    if not closed_q:
        q0, q1 = q0[:-1], q1[:-1]
    n, m = len(p0), len(q0)
    jj = np.arange(m)[None, :]
    for lo in range(0, n, _CROSS_CHUNK):
        hi = min(n, lo + _CROSS_CHUNK)
        ax, ay = p0[lo:hi, 0:1], p0[lo:hi, 1:2]
        bx, by = p1[lo:hi, 0:1], p1[lo:hi, 1:2]
        cx, cy, dx, dy = q0[:, 0], q0[:, 1], q1[:, 0], q1[:, 1]
        o1 = _orient(ax, ay, bx, by, cx, cy)
        o2 = _orient(ax, ay, bx, by, dx, dy)
        o3 = _orient(cx, cy, dx, dy, ax, ay)
        o4 = _orient(cx, cy, dx, dy, bx, by)
        # Closed intervals: segments that touch (a crossing through a vertex) count too; the
        # bounding-box test rules out collinear segments that do not overlap.
        hit = (o1 * o2 <= 0.0) & (o3 * o4 <= 0.0)
        hit &= (np.minimum(ax, bx) <= np.maximum(cx, dx)) & (
            np.minimum(cx, dx) <= np.maximum(ax, bx)
        )
        hit &= (np.minimum(ay, by) <= np.maximum(cy, dy)) & (
            np.minimum(cy, dy) <= np.maximum(ay, by)
        )
        if same:
            ii = np.arange(lo, hi)[:, None]
            near = np.abs(ii - jj) <= 1
            if closed_p:
                near |= np.abs(ii - jj) == n - 1
            hit &= ~near
        found = np.argwhere(hit)
        if len(found):
            return int(found[0, 0]) + lo, int(found[0, 1])
    return None


def _steps(points: FloatArray, closed: bool) -> FloatArray:
    """Segment vectors of a polyline (a loop includes the closing segment)."""
    return (np.roll(points, -1, axis=0) - points) if closed else np.diff(points, axis=0)


def _inside(point: FloatArray, ring: FloatArray) -> bool:
    x, y = float(point[0]), float(point[1])
    x0, y0 = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddle = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) * (x1 - x0) / np.where(y1 != y0, y1 - y0, 1.0)
    return bool(np.count_nonzero(straddle & (x < xc)) % 2)


def validate_track(
    track: Track, *, where: str | None = None, radius_margin: float | None = RADIUS_MARGIN
) -> Track:
    """Check that a track's geometry makes a proper road.

    Checks: widths > 0; the centre line does not cross itself; neither border crosses itself;
    the borders do not cross each other (nor, on a loop, is the inner border outside the outer);
    the centre line's radius of curvature exceeds half the local width times ``radius_margin``.

    Args:
        track: The track to check.
        where: What to name in the message (a file path); defaults to ``track '<name>'``.
        radius_margin: Factor by which the radius must exceed the half width; None skips the
            radius check (for tracks whose borders are given, like DeepRacer files, where the
            border-crossing checks are exact and a noisy centre line may bend locally tighter).

    Returns:
        The same track, for chaining.

    Raises:
        TrackError: The first problem found, in one line.
    """
    label = where if where is not None else f"track {track.name!r}"

    def fail(problem: str) -> TrackError:
        return TrackError(f"{label}: {problem}")

    n = track.n_waypoints
    if n < 4:
        raise fail(f"too few waypoints: {n} (at least 4 distinct points are needed)")
    bad = np.flatnonzero(~(track.widths > 1e-6))
    if bad.size:
        i = int(bad[0])
        raise fail(f"road width at waypoint {i} is {track.widths[i]:.3g} m; it must be > 0")
    closed = track.closed
    hit = _first_crossing(track.center, track.center, closed_p=closed, closed_q=closed, same=True)
    if hit is not None:
        raise fail(f"the centre line crosses itself (segments {hit[0]} and {hit[1]})")
    for side, border in (("left", track.left), ("right", track.right)):
        hit = _first_crossing(border, border, closed_p=closed, closed_q=closed, same=True)
        if hit is not None:
            raise fail(
                f"the {side} border crosses itself near waypoints {hit[0]} and {hit[1]} "
                "(a turn too tight for the road width?)"
            )
    # Each border segment must run the same way as its centre-line segment: where it runs
    # backwards the road folds over itself (a turn tighter than half the width).
    d_center = _steps(track.center, closed)
    for side, border in (("left", track.left), ("right", track.right)):
        d_border = _steps(border, closed)
        backwards = np.flatnonzero(np.sum(d_center * d_border, axis=1) <= 0.0)
        if backwards.size:
            raise fail(
                f"the {side} border runs backwards at waypoint {int(backwards[0])} "
                "(a turn too tight for the road width)"
            )
    hit = _first_crossing(track.left, track.right, closed_p=closed, closed_q=closed, same=False)
    if hit is None:
        hit = _first_crossing(
            track.center, track.left, closed_p=closed, closed_q=closed, same=False
        ) or _first_crossing(
            track.center, track.right, closed_p=closed, closed_q=closed, same=False
        )
    if hit is not None:
        raise fail(f"the borders cross each other or the centre line near waypoint {hit[0]}")
    if closed and not _inside(track.inner[0], track.outer):
        raise fail("the inner border lies outside the outer border")
    if radius_margin is None:
        return track
    radius = 1.0 / np.maximum(np.abs(track.curvatures), 1e-12)
    tight = np.flatnonzero(radius * 2.0 <= track.widths * radius_margin)
    if tight.size:
        i = int(tight[np.argmin(radius[tight])])
        raise fail(
            f"turn at waypoint {i} is too tight: radius {radius[i]:.2f} m for a road "
            f"{track.widths[i]:.2f} m wide (the radius must exceed half the width)"
        )
    return track
