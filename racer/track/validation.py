"""Geometric validation of a :class:`~racer.track.geometry.Track`.

A track is usable when its road is a proper strip: positive widths, a centre line that does not
cross itself, borders that cross neither themselves nor each other, and a centre line that never
bends tighter than half the road width (otherwise the inner border folds over). Every failure is a
:class:`~racer.errors.TrackError` with one line naming the track or file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from racer.errors import TrackError
from racer.track.geometry import Track

FloatArray = NDArray[np.float64]

RADIUS_MARGIN = 1.05  # centre-line radius must exceed half the width by 5 %
# Size bounds, checked before anything is allocated from a file. DeepRacer's tracks have 100-300
# waypoints 0.15-0.3 m apart, fit in a 30 m square and are 20-70 m long.
MAX_WAYPOINTS = 100_000  # 20 km of road at DeepRacer's spacing
MAX_COORDINATE_M = 1_000.0  # |x| and |y| of every point: a 2 km square
MAX_TRACK_LENGTH_M = 10_000.0  # centre line: 100,000 racing-line points at 0.1 m
ROAD_WIDTH_RANGE_M = (0.2, 5.0)  # the 0.19 m car must fit; DeepRacer's roads are 0.6-1.1 m
_CROSS_CHUNK = 256  # rows of segment pairs tested per batch (memory bound)
_BRUTE_FORCE_PAIRS = 4_000_000  # up to this many segment pairs, test them all (~0.1 s)
_GRID_CHUNK_PAIRS = 200_000  # candidate pairs tested per batch on the grid (~30 MB)
_GRID_PAIRS_PER_SEGMENT = 16  # candidate-pair budget, per segment (roads need under 4)
_LONG_SEGMENT_CELLS = 64  # a segment covering more cells is compared with every other one
_GRID_ENTRIES_PER_SEGMENT = 8  # grow the cells until segments cover this many on average


# Local border folds (repair_border_folds): a border running backwards over at most this many
# segments, on the inside of a turn tighter than half the road width, is pinched to one point.
MAX_FOLD_SEGMENTS = 12  # DeepRacer's Tokyo fold spans a few; a whole turn folded is no road
_FOLD_GAP = 2  # backward stretches this few forward segments apart are one fold
_FOLD_WIDEN = 3  # a pinch may take in this many more points each side to run forward again
_FOLD_NEIGHBOURS = 8  # segments each side of a pinch checked for new crossings
MAX_PINCH_SEGMENTS = MAX_FOLD_SEGMENTS + 2 * (_FOLD_GAP + _FOLD_WIDEN) + 2  # a border at rest


class TrackTooDenseError(TrackError):
    """So many segments lie so close together that checking them would not be bounded."""


def _orient(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, cx, cy) -> FloatArray:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _segments(p: FloatArray, closed: bool) -> tuple[FloatArray, FloatArray]:
    """Start and end points of a polyline's segments (a loop includes the closing one)."""
    p1 = np.roll(p, -1, axis=0)
    return (p, p1) if closed else (p[:-1], p1[:-1])


def _first_crossing(
    p: FloatArray, q: FloatArray, *, closed_p: bool, closed_q: bool, same: bool
) -> tuple[int, int] | None:
    """First pair of crossing segments between polylines ``p`` and ``q``.

    Small inputs test every pair; larger ones only the pairs that share a cell of a uniform
    grid (expected O(n) for a road, where segments are spread out). The answer is the same:
    the lexicographically first ``(i, j)``.

    Args:
        p: ``(n, 2)`` polyline.
        q: ``(m, 2)`` polyline.
        closed_p: ``p`` is a loop (its last point connects to the first).
        closed_q: ``q`` is a loop.
        same: ``p`` and ``q`` are the same polyline: adjacent segments are not compared.

    Returns:
        Segment indices ``(i, j)`` of a crossing, or None.

    Raises:
        TrackTooDenseError: more candidate pairs than the budget (64 per segment) share cells.
    """
    n, m = len(p) - (0 if closed_p else 1), len(q) - (0 if closed_q else 1)
    if n <= 0 or m <= 0:
        return None
    if n * m <= _BRUTE_FORCE_PAIRS:
        return _first_crossing_brute(p, q, closed_p=closed_p, closed_q=closed_q, same=same)
    return _first_crossing_grid(p, q, closed_p=closed_p, closed_q=closed_q, same=same)


def _cell_entries(
    a: FloatArray, b: FloatArray, idx: NDArray[np.int64], origin: FloatArray, cell_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(cell id, segment index)`` of every grid cell the bounding box of each segment
    ``idx`` covers (cell ids are ``ix * 2**31 + iy``)."""
    lo = np.floor((np.minimum(a[idx], b[idx]) - origin) / cell_m).astype(np.int64)
    hi = np.floor((np.maximum(a[idx], b[idx]) - origin) / cell_m).astype(np.int64)
    wx, wy = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    counts = wx * wy
    rows = np.repeat(np.arange(len(idx), dtype=np.int64), counts)
    k = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    wxs = wx[rows]
    cell = (lo[rows, 0] + k % wxs) * 2**31 + lo[rows, 1] + k // wxs
    return cell, idx[rows]


def _cells_covered(a: FloatArray, b: FloatArray, origin: FloatArray, cell_m: float) -> FloatArray:
    """How many grid cells each segment's bounding box covers."""
    lo = np.floor((np.minimum(a, b) - origin) / cell_m)
    hi = np.floor((np.maximum(a, b) - origin) / cell_m)
    return np.prod(hi - lo + 1.0, axis=1)


def _first_crossing_grid(
    p: FloatArray, q: FloatArray, *, closed_p: bool, closed_q: bool, same: bool
) -> tuple[int, int] | None:
    """:func:`_first_crossing` on a uniform grid (see there).

    Cells are about one segment long. A segment whose bounding box covers more than
    ``_LONG_SEGMENT_CELLS`` cells is compared with every segment of the other line instead;
    other pairs are compared when their bounding boxes share a cell (two crossing segments
    always do: the crossing lies in both boxes). The cells grow until those long segments'
    pairs and the cell entries fit their budgets; the pairs sharing cells must then fit theirs.
    """
    a, b = _segments(p, closed_p)
    c, d = _segments(q, closed_q)
    n, m = len(a), len(c)
    budget = _GRID_PAIRS_PER_SEGMENT * (n + m)
    pts = np.vstack((a, b, c, d))
    origin = pts.min(axis=0)
    extent = float(np.max(pts.max(axis=0) - origin))
    lengths = np.concatenate((np.hypot(*(b - a).T), np.hypot(*(d - c).T)))
    # At least extent / 2**30: cell indices stay below 2**31 in x and y.
    cell_m = max(float(np.median(lengths)), extent / 2.0**30, 1e-9)
    while True:
        cover_p = _cells_covered(a, b, origin, cell_m)
        cover_q = _cells_covered(c, d, origin, cell_m)
        long_p = np.flatnonzero(cover_p > _LONG_SEGMENT_CELLS)
        long_q = np.flatnonzero(cover_q > _LONG_SEGMENT_CELLS)
        entries = cover_p.sum() + cover_q.sum() - cover_p[long_p].sum() - cover_q[long_q].sum()
        long_pairs = len(long_p) * m + len(long_q) * n
        if cell_m >= extent or (
            entries <= _GRID_ENTRIES_PER_SEGMENT * (n + m) and long_pairs <= budget // 2
        ):
            break
        cell_m *= 2.0
    short_p = np.flatnonzero(cover_p <= _LONG_SEGMENT_CELLS)
    short_q = np.flatnonzero(cover_q <= _LONG_SEGMENT_CELLS)
    cell_p, seg_p = _cell_entries(a, b, short_p, origin, cell_m)
    cell_q, seg_q = _cell_entries(c, d, short_q, origin, cell_m)
    order = np.argsort(cell_q, kind="stable")
    cell_q, seg_q = cell_q[order], seg_q[order]
    left = np.searchsorted(cell_q, cell_p, side="left")
    count = np.searchsorted(cell_q, cell_p, side="right") - left
    total = int(count.sum())
    if total + long_pairs > budget:
        raise TrackTooDenseError(
            f"{total + long_pairs} pairs of segments lie close together (the check allows "
            f"{budget}, {_GRID_PAIRS_PER_SEGMENT} per segment): lines bunched this closely "
            "are not a road"
        )
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    ii = np.concatenate(
        (np.repeat(seg_p, count), np.repeat(long_p, m), np.tile(np.arange(n), len(long_q)))
    )
    jj = np.concatenate(
        (
            seg_q[np.repeat(left, count) + offset],
            np.tile(np.arange(m), len(long_p)),
            np.repeat(long_q, n),
        )
    )
    if same:  # each unordered pair once (a crossing is symmetric), never neighbours
        keep = jj - ii > 1
        if closed_p:
            keep &= ~((ii == 0) & (jj == n - 1))
        ii, jj = ii[keep], jj[keep]
    best: int | None = None
    for lo in range(0, len(ii), _GRID_CHUNK_PAIRS):
        i, j = ii[lo : lo + _GRID_CHUNK_PAIRS], jj[lo : lo + _GRID_CHUNK_PAIRS]
        hit = _segments_touch(
            a[i, 0], a[i, 1], b[i, 0], b[i, 1], c[j, 0], c[j, 1], d[j, 0], d[j, 1]
        )
        if hit.any():
            key = int(np.min(i[hit] * m + j[hit]))
            best = key if best is None else min(best, key)
    return None if best is None else (best // m, best % m)


def _segments_touch(
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    cx: FloatArray,
    cy: FloatArray,
    dx: FloatArray,
    dy: FloatArray,
) -> NDArray[np.bool_]:
    """Whether segments ``ab`` and ``cd`` cross or touch, broadcasting.

    Closed intervals: segments that touch (a crossing through a vertex) count too; the
    bounding-box test rules out collinear segments that do not overlap.
    """
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    hit = (o1 * o2 <= 0.0) & (o3 * o4 <= 0.0)
    hit &= (np.minimum(ax, bx) <= np.maximum(cx, dx)) & (np.minimum(cx, dx) <= np.maximum(ax, bx))
    hit &= (np.minimum(ay, by) <= np.maximum(cy, dy)) & (np.minimum(cy, dy) <= np.maximum(ay, by))
    return hit


def _first_crossing_brute(
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
    p0, p1 = _segments(p, closed_p)
    q0, q1 = _segments(q, closed_q)
    n, m = len(p0), len(q0)
    jj = np.arange(m)[None, :]
    for lo in range(0, n, _CROSS_CHUNK):
        hi = min(n, lo + _CROSS_CHUNK)
        ax, ay = p0[lo:hi, 0:1], p0[lo:hi, 1:2]
        bx, by = p1[lo:hi, 0:1], p1[lo:hi, 1:2]
        cx, cy, dx, dy = q0[:, 0], q0[:, 1], q1[:, 0], q1[:, 1]
        hit = _segments_touch(ax, ay, bx, by, cx, cy, dx, dy)
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


# -------------------------------------------------------------------- local border folds


@dataclass(frozen=True, slots=True)
class BorderFold:
    """A local fold of a border that :func:`repair_border_folds` repaired.

    Attributes:
        side: ``"left"`` or ``"right"`` of the driving direction.
        first: First waypoint whose border point was moved.
        last: Last one (on a loop the stretch may wrap past waypoint 0: ``last < first``).
        moved_m: The farthest any of those border points moved, m.
    """

    side: str
    first: int
    last: int
    moved_m: float

    def describe(self) -> str:
        """One clause for a warning line."""
        return (
            f"the {self.side} border folds back at waypoints {self.first}-{self.last} (a turn "
            "tighter than half the road width); repaired by joining its points there at one "
            f"corner point (moved up to {self.moved_m:.2f} m)"
        )


def _backward(center: FloatArray, border: FloatArray, closed: bool) -> NDArray[np.bool_]:
    """Border segments that run against their centre-line segment.

    A segment of length zero (a border point that stands still while the centre line turns
    round it: a pinched fold) does not run backwards.
    """
    d_center = _steps(center, closed)
    d_border = _steps(border, closed)
    moving = np.any(d_border != 0.0, axis=1)
    return (np.sum(d_center * d_border, axis=1) <= 0.0) & moving


def _runs(mask: NDArray[np.bool_], closed: bool, gap: int = 0) -> list[tuple[int, int]]:
    """Stretches of True in ``mask`` as ``(start, count)``; on a loop a stretch may wrap.

    Stretches separated by at most ``gap`` False entries are one.
    """
    m = len(mask)
    if not mask.any():
        return []
    if closed and mask.all():
        return [(0, m)]
    shift = int(np.flatnonzero(~mask)[0]) if closed else 0
    idx = (np.flatnonzero(np.roll(mask, -shift)) if closed else np.flatnonzero(mask)).tolist()
    runs: list[list[int]] = [[idx[0], idx[0]]]
    for i in idx[1:]:
        if i - runs[-1][1] <= gap + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [((a + shift) % m, b - a + 1) for a, b in runs]


def _line_crossing(
    p0: FloatArray, p1: FloatArray, q0: FloatArray, q1: FloatArray
) -> FloatArray | None:
    """Where the lines through ``p0 p1`` and ``q0 q1`` meet (None when parallel)."""
    d, e = p1 - p0, q1 - q0
    den = d[0] * e[1] - d[1] * e[0]
    if abs(den) <= 1e-12 * max(float(np.hypot(*d) * np.hypot(*e)), 1e-300):
        return None
    t = ((q0[0] - p0[0]) * e[1] - (q0[1] - p0[1]) * e[0]) / den
    return p0 + t * d


def _distinct(points: FloatArray, closed: bool) -> tuple[FloatArray, NDArray[np.intp]]:
    """A polyline without repeated consecutive points, and each kept point's original index."""
    before = np.roll(points, 1, axis=0)
    keep = np.any(points != before, axis=1)
    if not closed or not keep.any():
        keep[0] = True
    idx = np.flatnonzero(keep)
    return points[idx], idx


def _pinch(
    center: FloatArray, border: FloatArray, closed: bool, start: int, count: int
) -> tuple[FloatArray, BorderFold] | None:
    """Join a fold's border points at one point so that the border runs forward again.

    The fold is border segments ``start .. start + count - 1``. Its points (and, when that is
    not enough, up to :data:`_FOLD_WIDEN` more each side) all move to one point, the one that
    moves them least among the stretch's own points and the corner where the border lines
    entering and leaving it meet: the border stands still there while the centre line turns
    round it. Accepted when both joining segments run forward and nothing crosses near it.

    Returns:
        The repaired border and what was done, or None when no such point exists.
    """
    n = len(border)
    d_center = _steps(center, closed)
    for widen in range(_FOLD_WIDEN + 1):
        a, b = start - widen, start + count + widen  # the points that move, unwrapped
        if closed:
            if b - a + 1 + 4 + 2 * _FOLD_NEIGHBOURS > n:
                return None
        elif a < 2 or b > n - 3:
            return None
        window = np.arange(a, b + 1) % n
        prev, nxt = (a - 1) % n, (b + 1) % n
        old = border[window]
        candidates = list(old)
        corner = _line_crossing(border[(a - 2) % n], border[prev], border[nxt], border[(b + 2) % n])
        if corner is not None:
            candidates.append(corner)
        moved = [float(np.max(np.hypot(*(old - x).T))) for x in candidates]
        for k in np.argsort(moved, kind="stable"):
            x = candidates[k]
            d_in, d_out = d_center[prev], d_center[b % n]
            if np.dot(d_in, x - border[prev]) <= 0.0 or np.dot(d_out, border[nxt] - x) <= 0.0:
                continue
            trial = border.copy()
            trial[window] = x
            near = np.arange(a - 1 - _FOLD_NEIGHBOURS, b + 2 + _FOLD_NEIGHBOURS)
            if not closed:
                near = near[(near >= 0) & (near < n)]
            local, _ = _distinct(trial[near % n], False)
            hit = _first_crossing_brute(local, local, closed_p=False, closed_q=False, same=True)
            if hit is not None:
                continue
            joints = np.stack((border[prev], x, border[nxt]))
            road = center[near % n]
            hit = _first_crossing_brute(joints, road, closed_p=False, closed_q=False, same=False)
            if hit is not None:
                continue
            fold = BorderFold("", int(window[0]), int(window[-1]), moved[k])
            return trial, fold
    return None


def repair_border_folds(track: Track) -> tuple[Track, list[BorderFold]]:
    """Repair the local folds of a track's borders.

    On the inside of a turn whose radius is smaller than half the road width, a border built by
    offsetting the centre line runs backwards for a few waypoints (DeepRacer's
    ``Tokyo_Training_track`` has one). The road there is still drivable: the border only needs
    to stand still while the centre line turns round it. Each stretch of at most
    :data:`MAX_FOLD_SEGMENTS` backward segments is pinched to one point (see :func:`_pinch`).
    Longer stretches, and folds that cannot be pinched without crossing something, are left as
    they are for :func:`validate_track` to refuse.

    Args:
        track: The track, unvalidated.

    Returns:
        ``(track, folds)``: the same object and ``[]`` when nothing was folded; otherwise a new
        track with the repaired borders and one :class:`BorderFold` per repair.
    """
    closed = track.closed
    n = track.n_waypoints
    borders = {"left": np.array(track.left), "right": np.array(track.right)}
    folds: list[BorderFold] = []
    for side, border in borders.items():
        for start, count in _runs(_backward(track.center, border, closed), closed, _FOLD_GAP):
            if count > min(MAX_FOLD_SEGMENTS, n // 8):
                continue
            done = _pinch(track.center, border, closed, start, count)
            if done is not None:
                border[:] = done[0]
                folds.append(BorderFold(side, done[1].first, done[1].last, done[1].moved_m))
    if not folds:
        return track, []
    repaired = Track(
        track.center,
        borders["left"],
        borders["right"],
        closed=closed,
        name=track.name,
        description=track.description,
        source=track.source,
    )
    return repaired, folds


def validate_track(
    track: Track, *, where: str | None = None, radius_margin: float | None = RADIUS_MARGIN
) -> Track:
    """Check that a track's geometry makes a proper road.

    Checks: at most :data:`MAX_WAYPOINTS` waypoints, every point within
    :data:`MAX_COORDINATE_M` of the origin in x and y, a centre line at most
    :data:`MAX_TRACK_LENGTH_M` long; widths > 0; the centre line does not cross itself; neither
    border crosses itself;
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
    if n > MAX_WAYPOINTS:
        raise fail(f"{n} waypoints; a track has at most {MAX_WAYPOINTS}")
    for side, line in (("centre line", track.center), ("left", track.left), ("right", track.right)):
        far = np.flatnonzero(np.max(np.abs(line), axis=1) > MAX_COORDINATE_M)
        if far.size:
            i = int(far[0])
            where_xy = f"({line[i, 0]:.4g}, {line[i, 1]:.4g})"
            raise fail(
                f"the {side} point {i} {where_xy} is more than {MAX_COORDINATE_M:g} m from the "
                "origin in x or y; coordinates are metres"
            )
    if track.length > MAX_TRACK_LENGTH_M:
        raise fail(
            f"the centre line is {track.length:.0f} m long; at most {MAX_TRACK_LENGTH_M:g} m"
        )
    bad = np.flatnonzero(~(track.widths > 1e-6))
    if bad.size:
        i = int(bad[0])
        raise fail(f"road width at waypoint {i} is {track.widths[i]:.3g} m; it must be > 0")
    closed = track.closed

    def first_crossing(
        p: FloatArray, q: FloatArray, *, closed_p: bool, closed_q: bool, same: bool
    ) -> tuple[int, int] | None:
        try:
            return _first_crossing(p, q, closed_p=closed_p, closed_q=closed_q, same=same)
        except TrackTooDenseError as exc:
            raise fail(str(exc)) from None

    hit = first_crossing(track.center, track.center, closed_p=closed, closed_q=closed, same=True)
    if hit is not None:
        raise fail(f"the centre line crosses itself (segments {hit[0]} and {hit[1]})")
    for side, border in (("left", track.left), ("right", track.right)):
        points, index = _distinct(border, closed)  # a pinched fold repeats a point
        hit = first_crossing(points, points, closed_p=closed, closed_q=closed, same=True)
        if hit is not None:
            raise fail(
                f"the {side} border crosses itself near waypoints {index[hit[0]]} and "
                f"{index[hit[1]]} (a turn too tight for the road width?)"
            )
    # Each border segment must run the same way as its centre-line segment: where it runs
    # backwards the road folds over itself (a turn tighter than half the width). A border point
    # may stand still for a few waypoints (a pinched fold, the inside of a hairpin), not longer.
    for side, border in (("left", track.left), ("right", track.right)):
        still = ~np.any(_steps(border, closed) != 0.0, axis=1)
        for start, count in _runs(still, closed):
            if count > MAX_PINCH_SEGMENTS:
                raise fail(
                    f"the {side} border stands still over {count} waypoints from waypoint "
                    f"{start}; a border must follow the road"
                )
        backwards = np.flatnonzero(_backward(track.center, border, closed))
        if backwards.size:
            raise fail(
                f"the {side} border runs backwards at waypoint {int(backwards[0])} "
                "(a turn too tight for the road width)"
            )
    hit = first_crossing(track.left, track.right, closed_p=closed, closed_q=closed, same=False)
    if hit is None:
        hit = first_crossing(
            track.center, track.left, closed_p=closed, closed_q=closed, same=False
        ) or first_crossing(track.center, track.right, closed_p=closed, closed_q=closed, same=False)
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
