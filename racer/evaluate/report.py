"""Outputs of an evaluation: a rich table, ``results.json``, PNGs of the driven lines, a video.

``trajectories.png`` draws every trial's line on the track; ``racing_line.png`` draws the best
trial's fastest lap (coloured by speed) over the track's optimal racing line (thin, dashed), and
its speed against the optimal speed profile over the centre-line distance, titled with the lap
time, the track's lap-time bound and their ratio ("gap to optimal"). ``best_lap.mp4`` (or
``best_lap.gif`` where no MP4 encoder works) replays the same lap: the chase view and the map side
by side, with speed, steering, progress and the lap clock (:mod:`racer.sim.video`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.race_env import DT_S
from racer.evaluate.evaluator import EvaluationResult, lap_ratio
from racer.evaluate.leaderboard import format_ratio
from racer.track import plot_track
from racer.track.plot import lap_vs_bound, plot_lap_vs_line
from racer.util.files import atomic_write_text

log = logging.getLogger(__name__)

RESULTS_JSON = "results.json"
TRAJECTORIES_PNG = "trajectories.png"
RACING_LINE_PNG = "racing_line.png"
VIDEO_MP4 = "best_lap.mp4"  # best_lap.gif where no MP4 encoder works


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def bound_text(lap_s: float | None, bound_s: float | None) -> str:
    """``6.120 s = 1.11x the bound (5.510 s)``; without a bound just the lap, ``-`` without a lap.

    Args:
        lap_s: the lap time (or average), s.
        bound_s: the track's lap-time bound, s.

    Returns:
        The text.
    """
    if lap_s is None:
        return "-" if bound_s is None else f"- (bound {bound_s:.3f} s)"
    if lap_ratio(lap_s, bound_s) is None or bound_s is None:
        return f"{lap_s:.3f} s"
    return lap_vs_bound(lap_s, bound_s)


def results_table(result: EvaluationResult) -> Any:
    """A :class:`rich.table.Table` with one row per trial and DeepRacer's metric names.

    The title gives the track's lap-time bound and the ``vs bound`` column each trial's
    average lap as a multiple of it.

    Args:
        result: the evaluation.

    Returns:
        The table.
    """
    from rich.markup import escape
    from rich.table import Table

    cfg = result.config
    table = Table(
        title=(
            f"{escape(result.model)} on {escape(result.track)}: {cfg.race.value}, "
            f"{cfg.laps} lap(s) x {cfg.trials} trial(s), "
            f"off-track penalty {cfg.offtrack_penalty_s:g} s"
            + ("" if result.bound_s is None else f", lap-time bound {result.bound_s:.3f} s")
        )
    )
    for name, justify in (
        ("trial", "right"),
        ("episode_status", "left"),
        ("completion_percentage", "right"),
        ("elapsed_time_in_milliseconds", "right"),
        ("lap_times_s", "left"),
        ("average_lap_s", "right"),
        ("vs bound", "right"),
        ("off_track_count", "right"),
        ("crash_count", "right"),
        ("reset_count", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in result.trials:
        table.add_row(
            str(t.trial),
            t.episode_status,
            f"{t.completion_percentage:.1f}",
            str(t.elapsed_time_in_milliseconds),
            ", ".join(f"{x:.3f}" for x in t.lap_times_s) or "-",
            _fmt_s(t.average_lap_s),
            format_ratio(lap_ratio(t.average_lap_s, result.bound_s)),
            str(t.off_track_count),
            str(t.crash_count),
            str(t.reset_count),
        )
    return table


def summary_line(result: EvaluationResult) -> str:
    """One line: completed trials, best average lap against the track's bound, best lap, speed.

    For example ``1/1 trials complete, best average lap 6.120 s = 1.11x the bound (5.510 s),
    best lap 6.050 s, mean completion 100.0%, 212.3x real time``.
    """
    s = result.summary()
    rt = s["realtime_factor"]
    return (
        f"{s['complete_trials']}/{s['trials']} trials complete, best average lap "
        f"{bound_text(s['best_average_lap_s'], result.bound_s)}, "
        f"best lap {_fmt_s(s['best_lap_s'])} s, "
        f"mean completion {s['mean_completion_percentage']:.1f}%"
        + (f", {rt:.1f}x real time" if rt else "")
    )


def write_results_json(result: EvaluationResult, path: str | Path) -> Path:
    """Write the machine-readable results atomically.

    Args:
        result: the evaluation.
        path: the output file.

    Returns:
        The path written.
    """
    out = Path(path)
    text = json.dumps(result.to_dict(), indent=2) + "\n"
    atomic_write_text(out, text, mode=0o644)  # results are for sharing
    return out


def plot_trajectories(result: EvaluationResult, path: str | Path) -> Path:
    """Draw the track with every trial's driven line (put-backs break the line).

    Args:
        result: the evaluation (its ``track_obj`` must be set, as :meth:`Evaluator.run` does).
        path: the output image (PNG).

    Returns:
        The path written.
    """
    if result.track_obj is None:
        raise ValueError("the result carries no track to draw")
    lines = [np.asarray(t.trajectory, dtype=np.float64) for t in result.trials]
    title = f"{result.model} on {result.track} ({result.config.race.value})"
    return plot_track(result.track_obj, path, trajectories=lines, title=title)


def point_speeds(xy: np.ndarray, dt_s: float = DT_S) -> np.ndarray:
    """Speed at each point of a line sampled every ``dt_s`` (NaN rows: put-backs), m/s.

    The mean of the speeds over the segments before and after each point (one of them at the
    ends and next to a put-back); NaN at NaN rows.

    Args:
        xy: ``(M, 2)`` positions, m.
        dt_s: the sampling period, s.

    Returns:
        ``(M,)`` speeds.
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2:
        return np.full(len(pts), np.nan)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1) / dt_s  # NaN across put-backs
    before = np.concatenate(([np.nan], seg))
    after = np.concatenate((seg, [np.nan]))
    both = np.stack((before, after))
    count = np.isfinite(both).sum(axis=0)
    total = np.where(np.isfinite(both), both, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    speed[~np.isfinite(pts).all(axis=1)] = np.nan
    return speed


def plot_racing_line(result: EvaluationResult, path: str | Path) -> Path | None:
    """Draw the best trial's fastest lap over the track's optimal line.

    The lap is the fastest completed lap of the best trial, or the trial's whole line when it
    completed none; drawn by :func:`racer.track.plot.plot_lap_vs_line`, titled with the model
    and the track, the lap against the bound and, over several laps, the trial's average.

    Args:
        result: the evaluation (its ``track_obj`` must be set, as :meth:`Evaluator.run` does).
        path: the output PNG.

    Returns:
        The path written, or None when the track has no racing line (nothing written then).
    """
    track = result.track_obj
    if track is None:
        raise ValueError("the result carries no track to draw")
    try:
        from racer.track.racing_line import racing_line

        line = racing_line(track)  # cached: the one the bound came from
    except Exception as exc:  # the plot is an extra: never fatal
        log.debug("no racing line for %r: %s: %s", track.name, type(exc).__name__, exc)
        return None
    best = result.best_trial()
    lap = best.best_lap_line()
    note = None
    if lap is not None and best.laps > 1 and best.average_lap_s is not None:
        ratio = format_ratio(lap_ratio(best.average_lap_s, float(line.lap_time_s)))
        note = f"average of {best.laps} laps {best.average_lap_s:.3f} s = {ratio}"
    xy = best.trajectory if lap is None else lap  # no complete lap: the trial's whole line
    return plot_lap_vs_line(
        track,
        line,
        xy,
        point_speeds(xy),
        path,
        driver=f"{result.model} on {result.track}",
        lap_s=None if lap is None else best.best_lap_s,
        completion_pct=best.completion_percentage,
        note=note,
    )


def best_lap_replay(result: EvaluationResult) -> Any:
    """The best trial's fastest lap as a :class:`racer.sim.video.LapReplay` (None: nothing driven).

    The lap is the one ``racing_line.png`` draws: the fastest completed lap of the best trial,
    else the trial's whole drive. One frame per control step of the lap (put-backs show the car
    where it was put); the boxes of an object-avoidance trial are placed (bots are not shown).

    Args:
        result: the evaluation (its ``track_obj`` must be set).

    Returns:
        The replay, or None when the trial has no step to show.
    """
    from racer.sim.video import LapReplay

    best = result.best_trial()
    traj = np.asarray(best.trajectory, dtype=np.float64).reshape(-1, 2)
    poses = None if best.poses is None else np.asarray(best.poses, dtype=np.float64)
    if poses is not None and poses.shape != (len(traj), 4):
        poses = None  # not recorded with this trajectory: derive the pose from the line
    lap_s = None
    rows = slice(1, len(traj))  # the first row is the car at rest before the first step
    if best.lap_times_s:
        lap = int(np.argmin(best.lap_times_s))
        start = best.lap_ends[lap - 1] + 1 if lap > 0 else 1
        rows = slice(start, best.lap_ends[lap] + 1)
        lap_s = best.lap_times_s[lap]
    xy = traj[rows]
    if not np.isfinite(xy).all(axis=1).any():
        return None
    boxes = [
        (float(b["x_m"]), float(b["y_m"]), float(b["yaw_rad"]))
        for b in (best.layout or {}).get("boxes", [])
    ]
    title = f"{result.model} on {result.track}"
    if poses is None:
        return LapReplay.from_front_points(
            xy, point_speeds(xy), track=result.track_obj, lap_time_s=lap_s, title=title, boxes=boxes
        )
    p = poses[rows]
    return LapReplay.from_front_points(
        xy,
        p[:, 2],
        yaw_rad=p[:, 0],
        steering_rad=p[:, 1],
        progress_pct=p[:, 3],
        lap_time_s=lap_s,
        title=title,
        boxes=boxes,
    )


def write_video(result: EvaluationResult, path: str | Path, progress: bool | None = None) -> Any:
    """Write the video of the best lap (:func:`best_lap_replay`): MP4, else GIF.

    Args:
        result: the evaluation (its ``track_obj`` must be set).
        path: the MP4's path (a GIF takes the same name with ``.gif``).
        progress: show a progress bar; None = on a terminal, for long laps.

    Returns:
        The :class:`racer.sim.video.VideoFile`, or None when nothing was driven.
    """
    from racer.sim.video import write_lap_video

    if result.track_obj is None:
        raise ValueError("the result carries no track to draw")
    replay = best_lap_replay(result)
    if replay is None:
        return None
    video = write_lap_video(path, result.track_obj, replay, progress=progress)
    if video.note:
        log.warning("%s: an animated GIF instead of an MP4: %s", video.path, video.note)
    return video


def write_outputs(
    result: EvaluationResult, out_dir: str | Path, video: bool = False
) -> dict[str, Path]:
    """Write ``results.json``, ``trajectories.png``, ``racing_line.png`` and the video.

    ``racing_line.png`` is left out when the track has no racing line; the video
    (``best_lap.mp4``, or ``best_lap.gif`` where no MP4 encoder works: one warning says why)
    unless ``video`` is true (``racer evaluate --out`` sets it) and something was driven.

    Args:
        result: the evaluation.
        out_dir: the folder (created when missing).
        video: write the video of the best lap (seconds of rendering).

    Returns:
        ``{"results": path, "trajectories": path, "racing_line": path, "video": path}``.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "results": write_results_json(result, folder / RESULTS_JSON),
        "trajectories": plot_trajectories(result, folder / TRAJECTORIES_PNG),
    }
    racing = plot_racing_line(result, folder / RACING_LINE_PNG)
    if racing is not None:
        written["racing_line"] = racing
    if video:
        clip = write_video(result, folder / VIDEO_MP4)
        if clip is not None:
            written["video"] = clip.path
    return written
