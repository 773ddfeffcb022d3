"""Drawing a track (and optionally trajectories, or a racing line, on it) to an image file.

matplotlib is imported inside :func:`plot_track` / :func:`plot_racing_line` with the Agg backend, so importing
:mod:`racer.track` stays light and works on machines without a display.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from racer.errors import MissingDependencyError
from racer.track.geometry import Track

if TYPE_CHECKING:
    from racer.track.racing_line import RacingLine

ROAD_COLOR = "#2b2b2b"  # dark asphalt
FLOOR_COLOR = "#cfd8c4"  # pale floor around the road
CENTER_COLOR = "#f2c21b"  # dashed yellow centre line
_N_ARROWS = 4  # direction arrows along the lap
_DPI = 150


def plot_track(
    track: Track,
    path: str | os.PathLike[str],
    *,
    trajectories: Sequence[ArrayLike] | None = None,
    title: str | None = None,
) -> Path:
    """Draw a track to an image file (PNG, SVG, PDF: by the file's suffix).

    The road is filled dark between white borders, with a dashed yellow centre line, a
    chequered start/finish line at waypoint 0, and arrows in the driving direction.

    Args:
        track: The track.
        path: Output file.
        trajectories: Optional ``(M, 2)`` point sequences drawn over the road (e.g. laps), or
            ``(M, 3)`` with the speed (m/s) as third column: drawn coloured by speed.
        title: Title; defaults to the name, length and width.

    Returns:
        The path written.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    plt = _pyplot()
    out = Path(path)
    fig, ax = _road_figure(plt, track)
    try:
        trajs = [np.asarray(traj, dtype=np.float64) for traj in (trajectories or [])]
        for i, t in enumerate(trajs):
            if t.ndim != 2 or t.shape[1] < 2:
                raise ValueError(f"trajectory {i} must have shape (M, 2) or (M, 3), got {t.shape}")
        speeds = [t[:, 2] for t in trajs if t.shape[1] >= 3 and len(t) > 1]
        if speeds:  # colour every line by speed on one shared scale
            from matplotlib.collections import LineCollection

            vmin = float(min(v.min() for v in speeds))
            vmax = float(max(v.max() for v in speeds))
            norm = plt.Normalize(vmin, max(vmax, vmin + 1e-6))
            lc = None
            for t in trajs:
                if t.shape[1] < 3 or len(t) < 2:
                    continue
                segs = np.stack((t[:-1, :2], t[1:, :2]), axis=1)
                lc = LineCollection(list(segs), cmap="plasma", norm=norm, linewidths=1.8, zorder=6)
                lc.set_array(0.5 * (t[:-1, 2] + t[1:, 2]))
                ax.add_collection(lc)
            if lc is not None:
                fig.colorbar(lc, ax=ax, shrink=0.7, label="speed (m/s)")
        for t in trajs:
            if t.shape[1] < 3:
                ax.plot(t[:, 0], t[:, 1], lw=1.2, alpha=0.85, zorder=6)

        if title is None:
            if abs(track.max_width - track.min_width) < 0.005:
                width = f"{track.min_width:.2f} m wide"
            else:
                width = f"{track.min_width:.2f}-{track.max_width:.2f} m wide"
            kind = track.direction if track.closed else "open"
            title = f"{track.name}: {track.length:.1f} m, {width}, {kind}"
        _finish(fig, ax, track, title, out)
    finally:
        plt.close(fig)
    return out


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise MissingDependencyError(
            "plotting tracks needs matplotlib: pip install 'matplotlib>=3.8'"
        ) from None
    return plt


def _road_figure(plt: Any, track: Track) -> tuple[Any, Any]:
    """A figure sized to the track with the road drawn: surface, borders, centre line, start
    line and direction arrows."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    span = np.ptp(np.vstack((track.left, track.right)), axis=0)
    aspect = float(np.clip(span[0] / max(span[1], 1e-6), 0.6, 2.5))
    fig, ax = plt.subplots(figsize=(6.0 * aspect**0.5 + 1.0, 6.0 / aspect**0.5 + 1.0))
    try:
        ax.set_facecolor(FLOOR_COLOR)
        fig.patch.set_facecolor("white")
        if track.closed:
            verts = np.vstack((track.outer, track.outer[:1], track.inner[::-1], track.inner[-1:]))
            n_out, n_in = len(track.outer) + 1, len(track.inner) + 1
            codes = (
                [MplPath.MOVETO]
                + [MplPath.LINETO] * (n_out - 2)
                + [MplPath.CLOSEPOLY]
                + [MplPath.MOVETO]
                + [MplPath.LINETO] * (n_in - 2)
                + [MplPath.CLOSEPOLY]
            )
        else:
            ring = np.vstack((track.left, track.right[::-1]))
            verts = np.vstack((ring, ring[:1]))
            codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(ring) - 1) + [MplPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=ROAD_COLOR, edgecolor="none"))

        def closed_line(a: np.ndarray) -> np.ndarray:
            return np.vstack((a, a[:1])) if track.closed else a

        for border in (track.left, track.right):
            b = closed_line(border)
            ax.plot(b[:, 0], b[:, 1], color="white", lw=2.0, solid_capstyle="round")
        c = closed_line(track.center)
        ax.plot(c[:, 0], c[:, 1], color=CENTER_COLOR, lw=1.2, ls=(0, (4, 4)))

        # Start/finish line across the road at waypoint 0, chequered white/black.
        a, b = track.left[0], track.right[0]
        ticks = np.linspace(0.0, 1.0, 9)
        for k in range(len(ticks) - 1):
            p0 = a + (b - a) * ticks[k]
            p1 = a + (b - a) * ticks[k + 1]
            ax.plot(
                [p0[0], p1[0]],
                [p0[1], p1[1]],
                color="white" if k % 2 == 0 else "black",
                lw=4.0,
                solid_capstyle="butt",
                zorder=4,
            )

        # Direction arrows on the centre line.
        arrow_len = min(0.6, 0.05 * track.length)
        starts = (np.arange(_N_ARROWS) + 0.5) * (track.length / _N_ARROWS)
        if not track.closed:
            starts = np.clip(starts, 0.0, track.length - arrow_len)
        for s0 in starts:
            p0 = track.point_at(s0)
            p1 = track.point_at(s0 + arrow_len)
            ax.annotate(
                "",
                xy=(p1[0], p1[1]),
                xytext=(p0[0], p0[1]),
                arrowprops={"arrowstyle": "-|>", "color": "#ff7f0e", "lw": 2.0},
                zorder=5,
            )

    except BaseException:
        plt.close(fig)
        raise
    return fig, ax


def _finish(fig: Any, ax: Any, track: Track, title: str, out: Path) -> None:
    """Title, equal axes framed on the road, and save."""
    out.parent.mkdir(parents=True, exist_ok=True)
    ax.set_title(title)
    ax.set_aspect("equal")
    lo = np.min(np.vstack((track.left, track.right)), axis=0)
    hi = np.max(np.vstack((track.left, track.right)), axis=0)
    pad = 0.05 * float(np.max(hi - lo)) + 0.3
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(lo[1] - pad, hi[1] + pad)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    fig.tight_layout()
    fig.savefig(out, dpi=_DPI)


def plot_racing_line(
    line: RacingLine,
    track: Track,
    path: str | os.PathLike[str],
    title: str | None = None,
) -> Path:
    """Draw a racing line on its track: the line coloured by speed, braking points marked.

    The road is drawn as by :func:`plot_track`; the line is coloured by its profile speed
    (with a colour bar), and a marker shows where each braking zone starts.

    Args:
        line: The racing line (:func:`racer.track.racing_line`).
        track: The track it was computed on.
        path: Output file (PNG, SVG, PDF: by the file's suffix).
        title: Title; defaults to the track, the method and the lap-time bound.

    Returns:
        The path written.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    out = Path(path)
    fig, ax = _road_figure(plt, track)
    try:
        xy, v = line.xy, line.speed_mps
        if line.closed:
            xy, v = np.vstack((xy, xy[:1])), np.append(v, v[0])
        segs = np.stack((xy[:-1], xy[1:]), axis=1)
        norm = plt.Normalize(float(v.min()), max(float(v.max()), float(v.min()) + 1e-6))
        lc = LineCollection(
            list(segs), cmap="plasma", norm=norm, linewidths=2.2, capstyle="round", zorder=6
        )
        lc.set_array(0.5 * (v[:-1] + v[1:]))
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, shrink=0.7, label="speed (m/s)")
        brake = np.asarray(line.braking, dtype=bool)
        before = np.roll(brake, 1) if line.closed else np.concatenate(([False], brake[:-1]))
        starts = np.flatnonzero(brake & ~before)
        if starts.size:
            ax.scatter(
                line.xy[starts, 0],
                line.xy[starts, 1],
                marker="v",
                s=46,
                color="#e8202a",
                edgecolors="white",
                linewidths=0.8,
                zorder=7,
                label="braking starts",
            )
            ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
        if title is None:
            title = (
                f"{track.name}: {line.method} line, bound {line.lap_time_s:.2f} s "
                f"(centre line {line.centerline_lap_time_s:.2f} s)"
            )
        _finish(fig, ax, track, title, out)
    finally:
        plt.close(fig)
    return out
