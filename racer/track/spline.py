"""Cubic splines through control points, and resampling a smooth centre line by arc length.

Used by the ``.track.toml`` loader and the random generator: control points go through an
interpolating cubic spline (periodic for a loop, natural for an open track) parameterised by
chord length, which is then resampled at a near-uniform arc-length spacing and offset along its
normals to build the borders. NumPy only (a small dense solve; tracks have tens of control points).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from racer.errors import TrackError

FloatArray = NDArray[np.float64]

_DENSE_PER_SPAN = 64  # samples per control span when measuring arc length


class CubicSpline:
    """An interpolating cubic spline ``u -> y`` through ``(knots[i], values[i])``.

    Args:
        knots: Increasing parameter values, shape ``(n,)`` (for a periodic spline, ``n + 1``
            knots with the last closing the loop back to the first value).
        values: Values at the knots, shape ``(n, d)`` (periodic: one fewer than knots).
        periodic: Periodic (closed loop) or natural (zero second derivative at both ends).
    """

    def __init__(self, knots: FloatArray, values: FloatArray, *, periodic: bool) -> None:
        y = np.asarray(values, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        u = np.asarray(knots, dtype=np.float64)
        if periodic:
            y = np.concatenate((y, y[:1]))
        h = np.diff(u)
        if np.any(h <= 0.0):
            raise TrackError("control points must be distinct (two consecutive points coincide)")
        n = len(y)  # knots including the closing one when periodic
        slope = np.diff(y, axis=0) / h[:, None]
        if periodic:
            m = n - 1  # unknown second derivatives M_0 .. M_{m-1}; M_m = M_0
            a = np.zeros((m, m))
            rhs = np.zeros((m, y.shape[1]))
            for i in range(m):
                h_prev = h[i - 1]  # h[-1] closes the loop
                a[i, (i - 1) % m] += h_prev
                a[i, i] += 2.0 * (h_prev + h[i])
                a[i, (i + 1) % m] += h[i]
                rhs[i] = 6.0 * (slope[i] - slope[i - 1])
            second = np.linalg.solve(a, rhs)
            second = np.concatenate((second, second[:1]))
        else:
            a = np.zeros((n, n))
            rhs = np.zeros((n, y.shape[1]))
            a[0, 0] = a[-1, -1] = 1.0
            for i in range(1, n - 1):
                a[i, i - 1] = h[i - 1]
                a[i, i] = 2.0 * (h[i - 1] + h[i])
                a[i, i + 1] = h[i]
                rhs[i] = 6.0 * (slope[i] - slope[i - 1])
            second = np.linalg.solve(a, rhs)
        self.knots = u
        self._y = y
        self._m = second
        self._h = h

    def __call__(self, u: FloatArray, der: int = 0) -> FloatArray:
        """Evaluate the spline (or its first or second derivative) at parameters ``u``.

        Args:
            u: Parameters within ``[knots[0], knots[-1]]``, shape ``(k,)``.
            der: 0, 1 or 2.

        Returns:
            Values shaped ``(k, d)``.
        """
        uu = np.clip(np.asarray(u, dtype=np.float64), self.knots[0], self.knots[-1])
        i = np.clip(np.searchsorted(self.knots, uu, side="right") - 1, 0, len(self._h) - 1)
        h = self._h[i][:, None]
        a = (self.knots[i + 1][:, None] - uu[:, None]) / h  # weight of the left knot
        b = 1.0 - a
        y0, y1 = self._y[i], self._y[i + 1]
        m0, m1 = self._m[i], self._m[i + 1]
        if der == 0:
            return a * y0 + b * y1 + ((a**3 - a) * m0 + (b**3 - b) * m1) * h * h / 6.0
        if der == 1:
            return (y1 - y0) / h + ((1.0 - 3.0 * a * a) * m0 + (3.0 * b * b - 1.0) * m1) * h / 6.0
        if der == 2:
            return a * m0 + b * m1
        raise ValueError("der must be 0, 1 or 2")


def smooth_centerline(
    points: FloatArray,
    *,
    closed: bool,
    spacing_m: float,
    widths: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fit a cubic spline through control points and resample it by arc length.

    Args:
        points: Control points ``(n, 2)`` in driving order, m (a loop must not repeat its first).
        closed: Periodic spline (loop) or natural spline (open track, both ends kept).
        spacing_m: Target distance between resampled waypoints, m.
        widths: Optional road width at each control point, m; interpolated along the spline and
            clamped to the given range.

    Returns:
        ``(center, normals, widths)``: waypoints ``(N, 2)``, unit left normals ``(N, 2)``, and
        widths ``(N,)`` (``None`` in gives zeros out).

    Raises:
        TrackError: Fewer than 4 control points or coinciding consecutive points.
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 4:
        raise TrackError(f"too few control points: {len(p)} (at least 4 are needed)")
    chord = np.hypot(*np.diff(np.concatenate((p, p[:1])) if closed else p, axis=0).T)
    if np.any(chord <= 1e-9):
        raise TrackError("two consecutive control points coincide; remove the duplicate")
    knots = np.concatenate(([0.0], np.cumsum(chord)))
    spline = CubicSpline(knots, p, periodic=closed)
    w_spline = None
    if widths is not None:
        w_spline = CubicSpline(knots, np.asarray(widths, dtype=np.float64), periodic=closed)

    dense_u = np.linspace(knots[0], knots[-1], _DENSE_PER_SPAN * (len(knots) - 1) + 1)
    dense = spline(dense_u)
    dense_s = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(dense, axis=0).T))))
    length = float(dense_s[-1])
    if closed:
        n = max(4, int(round(length / spacing_m)))
        target = np.arange(n) * (length / n)
    else:
        n = max(4, int(round(length / spacing_m)) + 1)
        target = np.linspace(0.0, length, n)
    u = np.interp(target, dense_s, dense_u)
    center = spline(u)
    tangent = spline(u, der=1)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    normals = np.stack((-tangent[:, 1], tangent[:, 0]), axis=1)
    if w_spline is None:
        w = np.zeros(len(center))
    else:
        given = np.asarray(widths, dtype=np.float64)
        w = np.clip(w_spline(u)[:, 0], given.min(), given.max())
    return center, normals, w
