"""Drawing a track (and optionally trajectories, or a racing line, on it) to an image file.

- :func:`plot_track`: the road, optionally with driven lines (coloured by speed when given);
- :func:`plot_racing_line`: the optimal racing line on the road, coloured by its speed profile;
- :func:`plot_lap_vs_line`: a driven lap over the racing line, and its speed against the
  line's profile, titled with the lap time against the lap-time bound (:func:`lap_vs_bound`);
  the evaluation report and the training report both draw their ``racing_line.png`` with it.

matplotlib is imported inside the plotting functions with the Agg backend, so importing
:mod:`racer.track` stays light and works on machines without a display.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from racer.errors import ConfigError, MissingDependencyError
from racer.track.geometry import Track

if TYPE_CHECKING:
    from racer.track.racing_line import RacingLine

ROAD_COLOR = "#2b2b2b"  # dark asphalt
FLOOR_COLOR = "#cfd8c4"  # pale floor around the road
CENTER_COLOR = "#f2c21b"  # dashed yellow centre line
_N_ARROWS = 4  # direction arrows along the lap
_DPI = 150
_LAP_DPI = 110  # the two-panel lap-vs-line figure: 1430 x 605 px
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")  # formats matplotlib writes without extra software


def check_image_path(path: str | os.PathLike[str]) -> Path:
    """Refuse an output image path whose suffix is not a supported format, before drawing.

    Args:
        path: The image file to write.

    Returns:
        The path.

    Raises:
        ConfigError: One line naming the suffix and listing the supported ones.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        got = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ConfigError(
            f"cannot draw to {str(out)!r}: {got}; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    return out


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
        ConfigError: The path's suffix is not one of :data:`IMAGE_SUFFIXES`.
        MissingDependencyError: matplotlib is not installed.
    """
    out = check_image_path(path)
    plt = _pyplot()
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
        ConfigError: The path's suffix is not one of :data:`IMAGE_SUFFIXES`.
        MissingDependencyError: matplotlib is not installed.
    """
    out = check_image_path(path)
    plt = _pyplot()
    from matplotlib.collections import LineCollection

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


def lap_vs_bound(lap_s: float, bound_s: float) -> str:
    """A lap time against the track's lap-time bound: ``6.120 s = 1.11x the bound (5.510 s)``.

    Args:
        lap_s: the lap time (or an average of laps), s.
        bound_s: the bound (:attr:`racer.track.RacingLine.lap_time_s`), s; without a usable
            one (not finite, not positive) the text is the lap time alone.

    Returns:
        The text.
    """
    if not (np.isfinite(bound_s) and bound_s > 0.0):
        return f"{lap_s:.3f} s"
    return f"{lap_s:.3f} s = {lap_s / bound_s:.2f}x the bound ({bound_s:.3f} s)"


def plot_lap_vs_line(
    track: Track,
    line: RacingLine,
    lap_xy: ArrayLike,
    lap_speed_mps: ArrayLike,
    path: str | os.PathLike[str],
    *,
    driver: str,
    lap_name: str = "lap",
    lap_s: float | None = None,
    completion_pct: float | None = None,
    note: str | None = None,
    from_rest: bool = False,
) -> Path:
    """Draw a driven lap over the optimal racing line, and its speed against the line's profile.

    Left: the road's borders, the racing line thin and dashed, the driven lap coloured by
    speed. Right: speed over the centre-line distance, the driven lap against the line's speed
    profile (NaN rows of the lap, and its wrap past the start line, break the curve).

    The title is built from the pieces, the bound being the line's lap time:
    ``DRIVER: best LAP_NAME 6.120 s = 1.11x the bound (5.510 s); NOTE`` for a timed lap,
    ``DRIVER: no complete LAP_NAME (40.0%); bound 5.510 s`` for a partial one, and
    ``DRIVER: no LAP_NAME yet; bound 5.510 s`` for none (empty ``lap_xy``).

    Args:
        track: the track, in the driven direction.
        line: its racing line (:func:`racer.track.racing_line`).
        lap_xy: ``(M, 2)`` the driven points, m; may be empty; NaN rows where the car was put
            back.
        lap_speed_mps: ``(M,)`` the speed at each point, m/s.
        path: output file (PNG, SVG, PDF: by the file's suffix); its folder is created.
        driver: who drove, first in the title (``"model on oval"``, a run's name).
        lap_name: what the lap is (``"lap"``, ``"evaluation lap"``).
        lap_s: the lap's time, s; None when the lap was not completed.
        completion_pct: how much of the lap was driven, percent, when it was not completed.
        note: more text after the lap time (for example the average of several laps).
        from_rest: the lap started from rest (a training evaluation lap): compare it with the
            line's lap from rest (:attr:`RacingLine.standing_lap_time_s`), not its flying lap.

    Returns:
        The path written.

    Raises:
        ConfigError: The path's suffix is not one of :data:`IMAGE_SUFFIXES`.
        MissingDependencyError: matplotlib is not installed.
    """
    out = check_image_path(path)
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    out.parent.mkdir(parents=True, exist_ok=True)
    xy = np.asarray(lap_xy, dtype=np.float64).reshape(-1, 2)
    v = np.asarray(lap_speed_mps, dtype=np.float64).reshape(-1)
    opt_xy = np.asarray(line.xy, dtype=np.float64)
    opt_v = np.asarray(line.speed_mps, dtype=np.float64)
    finite_v = v[np.isfinite(v)]
    vmax = max(float(np.max(opt_v)), float(finite_v.max()) if finite_v.size else 0.0, 0.1)
    vmin = min(float(np.min(opt_v)), float(finite_v.min()) if finite_v.size else vmax)
    norm = plt.Normalize(vmin, max(vmax, vmin + 1e-6))  # the colours span the speeds seen

    def loop(a: np.ndarray) -> np.ndarray:
        return np.vstack((a, a[:1])) if track.closed else a

    fig, (ax_map, ax_v) = plt.subplots(
        1, 2, figsize=(13.0, 5.5), gridspec_kw={"width_ratios": [1.15, 1.0]}
    )
    try:
        for border in (track.left, track.right):
            b = loop(border)
            ax_map.plot(b[:, 0], b[:, 1], color="0.45", lw=1.2)
        o = loop(opt_xy)
        ax_map.plot(
            o[:, 0], o[:, 1], color="black", lw=0.9, ls=(0, (4, 3)), label="optimal line", zorder=4
        )
        if len(xy) > 1:
            segs = np.stack((xy[:-1], xy[1:]), axis=1)
            seg_v = 0.5 * (v[:-1] + v[1:])
            keep = np.isfinite(segs).all(axis=(1, 2)) & np.isfinite(seg_v)
            if keep.any():
                lc = LineCollection(
                    list(segs[keep]), cmap="plasma", norm=norm, linewidths=2.2, zorder=5
                )
                lc.set_array(seg_v[keep])
                ax_map.add_collection(lc)
                fig.colorbar(lc, ax=ax_map, shrink=0.8, label="driven speed (m/s)")
                ax_map.plot([], [], color=plt.get_cmap("plasma")(0.6), lw=2.2, label="driven lap")
        ax_map.legend(loc="upper right", fontsize=8)
        ax_map.set_aspect("equal")
        ax_map.autoscale_view()
        ax_map.set_xlabel("x (m)")
        ax_map.set_ylabel("y (m)")

        center_s = np.asarray(line.center_s_m, dtype=np.float64)
        order = np.argsort(center_s)
        ax_v.plot(
            center_s[order],
            opt_v[order],
            color="black",
            lw=1.0,
            ls=(0, (4, 3)),
            label="optimal profile",
        )
        if len(xy):
            ax_v.plot(_centre_distance(track, xy), v, color="tab:orange", lw=1.4, label="driven")
        ax_v.set_xlim(0.0, float(track.length))
        ax_v.set_ylim(0.0, 1.08 * vmax)
        ax_v.set_xlabel("centre-line distance from the start (m)")
        ax_v.set_ylabel("speed (m/s)")
        ax_v.grid(alpha=0.3)
        ax_v.legend(loc="lower right", fontsize=8)
        bound_s = float(line.standing_lap_time_s if from_rest else line.lap_time_s)
        title = _lap_title(driver, lap_name, lap_s, bound_s, completion_pct, len(xy), note)
        if from_rest:
            title = title.replace("the bound (", "the bound from rest (").replace(
                "; bound ", "; bound from rest "
            )
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(out, dpi=_LAP_DPI)
    finally:
        plt.close(fig)
    return out


def _lap_title(
    driver: str,
    lap_name: str,
    lap_s: float | None,
    bound_s: float,
    completion_pct: float | None,
    points: int,
    note: str | None,
) -> str:
    """The title of :func:`plot_lap_vs_line` (see there)."""
    if lap_s is not None:
        head = f"best {lap_name} {lap_vs_bound(lap_s, bound_s)}" + (f"; {note}" if note else "")
    elif points == 0:
        head = f"no {lap_name} yet; bound {bound_s:.3f} s"
    else:
        done = "" if completion_pct is None else f" ({completion_pct:.1f}%)"
        head = f"no complete {lap_name}{done}; bound {bound_s:.3f} s"
    return f"{driver}: {head}"


def _centre_distance(track: Track, xy: np.ndarray) -> np.ndarray:
    """Centre-line arc length of each point, NaN where a curve must break (put-back, wrap)."""
    s = np.full(len(xy), np.nan)
    ok = np.isfinite(xy).all(axis=1)
    if ok.any():
        s[ok] = np.asarray(track.project(xy[ok]).s, dtype=np.float64)
    if track.closed and len(s) > 1:
        # Break the curve where it wraps past the start line (a jump of over half a lap).
        s[np.flatnonzero(np.abs(np.diff(s)) > 0.5 * float(track.length)) + 1] = np.nan
    return s
