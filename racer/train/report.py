"""`racer report RUN`: PNG plots of a training run.

- ``learning.png``: mean return, mean progress and lap completion per iteration (metrics.csv),
  with the deterministic evaluations (eval.csv) on the progress panel;
- ``lap_times.png``: the time of every completed training lap (simtrace), with a running best;
- ``trajectories.png``: the track with the best evaluation's laps, coloured by speed;
- ``racing_line.png``: the best evaluation's fastest lap (coloured by speed) over the track's
  optimal racing line (thin, dashed), and its speed against the optimal profile over the
  centre-line distance, titled with the lap time, the track's lap-time bound and their ratio;
- ``actions.png``: how often each action was chosen (discrete) or where steering/speed went
  (continuous), from the simtrace;
- ``best_lap.mp4`` (``best_lap.gif`` where no MP4 encoder works; only when asked, as ``racer
  report`` does): the same lap as ``racing_line.png`` replayed, the chase view and the map side
  by side with speed, steering, progress and the lap clock (:mod:`racer.sim.video`). Poses come
  from the npz's ``pose_<k>`` arrays (heading, steering, progress per row); a run written before
  they were saved gets them derived from the positions.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.race_env import DT_S
from racer.track import Track
from racer.track.plot import plot_lap_vs_line
from racer.train.run_folder import RunFolder

log = logging.getLogger(__name__)

LAP_TIMES_KEY = "lap_time_s"  # optional in the npz: per episode, NaN where no lap was completed
POSE_KEY = "pose_{k}"  # optional in the npz: episode k's (T, 3) heading, steering (rad), progress %
VIDEO_MP4 = "best_lap.mp4"  # best_lap.gif where no MP4 encoder works
COMPLETE_FRACTION = 0.99  # an episode that covered this much of its lap completed it


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _col(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in ("", None) else np.nan for r in rows])


def _simtrace_rows(run: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in RunFolder(run).simtrace_files():
        rows.extend(_read_csv(path))
    return rows


def write_report(run: Path, out: Path | None = None, video: bool = False) -> list[Path]:
    """Write the report for ``run`` into ``out`` (default ``RUN/report``); return the paths.

    Args:
        run: the run folder.
        out: the folder for the files.
        video: also write the video of the best evaluation lap (seconds of rendering).

    Returns:
        The files written: the PNGs, then the video.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = RunFolder.open(run)
    out = out or folder.report_dir
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    metrics = _read_csv(folder.metrics_csv_path)
    evals = _read_csv(folder.eval_csv_path)
    fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    if metrics:
        steps = _col(metrics, "steps")
        axes[0].plot(steps, _col(metrics, "mean_return"), color="tab:blue")
        axes[1].plot(steps, _col(metrics, "mean_progress"), color="tab:green", label="training")
        axes[2].plot(steps, 100 * _col(metrics, "completion_rate"), color="tab:purple")
    if evals:
        e_steps = _col(evals, "steps")
        axes[1].plot(
            e_steps, _col(evals, "mean_progress"), "o-", color="tab:orange", label="evaluation"
        )
        laps = _col(evals, "laps")
        eps = _col(evals, "episodes")
        axes[2].plot(e_steps, 100 * laps / np.maximum(eps, 1), "o-", color="tab:orange")
    axes[0].set_ylabel("mean episode return")
    axes[1].set_ylabel("mean progress %")
    if metrics or evals:
        axes[1].legend(loc="lower right")
    axes[2].set_ylabel("laps completed %")
    axes[2].set_xlabel("environment steps")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{run.name}: learning")
    fig.tight_layout()
    written.append(_save(fig, out / "learning.png"))

    trace = _simtrace_rows(run)
    lap_rows = [float(r["tstamp"]) for r in trace if r.get("episode_status") == "lap_complete"]
    fig, ax = plt.subplots(figsize=(8, 4))
    if lap_rows:
        times = np.array(lap_rows)
        ax.plot(np.arange(1, len(times) + 1), times, ".", color="tab:blue", label="lap")
        ax.plot(
            np.arange(1, len(times) + 1),
            np.minimum.accumulate(times),
            color="tab:red",
            label="best so far",
        )
        ax.legend()
        ax.set_title(f"{len(times)} training laps, best {times.min():.2f} s")
    else:
        ax.text(
            0.5,
            0.5,
            "no completed training lap yet",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("completed lap #")
    ax.set_ylabel("lap time (s)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    written.append(_save(fig, out / "lap_times.png"))

    written.append(_trajectories(run, out / "trajectories.png"))
    racing = _racing_line(run, out / "racing_line.png")
    if racing is not None:
        written.append(racing)

    fig, ax = plt.subplots(figsize=(8, 4))
    actions = [r["action"] for r in trace if r.get("action")]
    if actions and " " not in actions[0]:
        idx = np.array([int(a) for a in actions])
        counts = np.bincount(idx)
        labels = _action_labels(run, len(counts))
        ax.bar(range(len(counts)), 100 * counts / counts.sum(), color="tab:blue")
        ax.set_xticks(range(len(counts)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("% of steps")
    elif actions:
        steer = _col(trace, "steer")
        speed = _col(trace, "throttle")
        h = ax.hist2d(steer, speed, bins=30, cmap="viridis")
        fig.colorbar(h[3], ax=ax, label="steps")
        ax.set_xlabel("steering (deg)")
        ax.set_ylabel("speed (m/s)")
    else:
        ax.text(0.5, 0.5, "no simtrace yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("action usage")
    fig.tight_layout()
    written.append(_save(fig, out / "actions.png"))
    if video:
        clip = write_video(run, out / VIDEO_MP4)
        if clip is not None:
            written.append(clip.path)
    return written


def _action_labels(run: Path, n: int) -> list[str]:
    meta = RunFolder(run).model_metadata() or {}
    try:
        return [f"{a['steering_angle']:g}°, {a['speed']:g} m/s" for a in meta["action_space"]][:n]
    except (ValueError, KeyError, TypeError):
        return [str(i) for i in range(n)]


def _trajectories(run: Path, path: Path) -> Path:
    from racer.track import load_track, plot_track
    from racer.train.pipeline import eval_track

    cfg = RunFolder.open(run).config()
    track = load_track(eval_track(cfg))
    trajs = _load_trajectories(run)[0]
    return plot_track(track, path, trajectories=trajs, title=f"{run.name}: best evaluation laps")


def _load_trajectories(run: Path) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The best evaluation's ``(T, 3)`` episodes (x, y, speed) and, when saved, their lap times."""
    npz = RunFolder(run).best_trajectories_path
    if not npz.exists():
        return [], None
    with np.load(npz) as data:
        keys = sorted((k for k in data.files if k.startswith("arr_")), key=lambda k: int(k[4:]))
        trajs = [np.asarray(data[k], dtype=np.float64) for k in keys]
        laps = np.asarray(data[LAP_TIMES_KEY], dtype=np.float64) if LAP_TIMES_KEY in data else None
    return trajs, laps


@dataclass
class EvalLap:
    """One episode of the best evaluation, as drawn against the racing line.

    Attributes:
        xy: ``(T, 2)`` positions, m.
        speed_mps: ``(T,)`` measured speed, m/s.
        lap_time_s: the lap time when the episode completed its lap, else None.
        covered: the fraction of the lap it drove, 0-1.
        index: the episode's index in ``best_trajectories.npz``.
    """

    xy: np.ndarray
    speed_mps: np.ndarray
    lap_time_s: float | None
    covered: float
    index: int = 0


def best_evaluation_lap(run: Path, track: Track) -> EvalLap | None:
    """The fastest completed lap of the run's best evaluation, else its longest episode.

    Episodes are read from ``best_trajectories.npz``; their lap times from its ``lap_time_s``
    array when the run saved one, else inferred: an episode that covered its whole lap (each
    starts at rest somewhere on the lap) completed it in one control period per row.

    Args:
        run: the run folder.
        track: the evaluation track, as driven.

    Returns:
        The lap, or None without trajectories.
    """
    trajs, saved = _load_trajectories(run)
    laps: list[EvalLap] = []
    length = float(track.length)
    for i, t in enumerate(trajs):
        if t.ndim != 2 or t.shape[1] < 3 or len(t) < 2:
            continue
        s = np.asarray(track.project(t[:, :2]).s, dtype=np.float64)
        ds = np.diff(s)
        if track.closed:
            ds = (ds + 0.5 * length) % length - 0.5 * length
        need = length if track.closed else max(length - float(s[0]), 1e-6)
        covered = float(np.clip(ds.sum() / need, 0.0, 1.0))
        lap_s: float | None
        if saved is not None and i < len(saved):
            lap_s = float(saved[i]) if math.isfinite(float(saved[i])) else None
        else:
            lap_s = len(t) * DT_S if covered >= COMPLETE_FRACTION else None
        laps.append(EvalLap(t[:, :2], t[:, 2], lap_s, covered, i))
    if not laps:
        return None
    done = [lap for lap in laps if lap.lap_time_s is not None]
    if done:
        return min(done, key=lambda lap: float(lap.lap_time_s or 0.0))
    return max(laps, key=lambda lap: lap.covered)


def _racing_line(run: Path, path: Path) -> Path | None:
    """``racing_line.png``: the best evaluation lap against the track's optimal line."""
    from racer.track import load_track
    from racer.train.pipeline import eval_track

    track = load_track(eval_track(RunFolder.open(run).config()))  # evaluations drive it forward
    try:
        from racer.track.racing_line import racing_line

        line = racing_line(track)
    except Exception as exc:  # the plot is an extra: never fatal
        log.debug("no racing line for %r: %s: %s", track.name, type(exc).__name__, exc)
        return None
    lap = best_evaluation_lap(run, track)
    return plot_lap_vs_line(
        track,
        line,
        np.empty((0, 2)) if lap is None else lap.xy,
        np.empty(0) if lap is None else lap.speed_mps,
        path,
        driver=run.name,
        lap_name="evaluation lap",
        lap_s=None if lap is None else lap.lap_time_s,
        completion_pct=None if lap is None else 100.0 * lap.covered,
        from_rest=True,  # training evaluation laps start from rest
    )


def write_video(run: Path, path: Path, progress: bool | None = None) -> Any:
    """Write the video of the lap ``racing_line.png`` draws (:func:`best_evaluation_lap`).

    Args:
        run: the run folder.
        path: the MP4's path (a GIF takes the same name with ``.gif``).
        progress: show a progress bar; None = on a terminal, for long laps.

    Returns:
        The :class:`racer.sim.video.VideoFile`, or None without trajectories.
    """
    from racer.sim.video import LapReplay, write_lap_video
    from racer.track import load_track
    from racer.train.pipeline import eval_track

    track = load_track(eval_track(RunFolder.open(run).config()))  # evaluations drive it forward
    lap = best_evaluation_lap(run, track)
    if lap is None:
        return None
    pose = _load_pose(run, lap.index, len(lap.xy))
    replay = LapReplay.from_front_points(
        lap.xy,
        lap.speed_mps,
        yaw_rad=None if pose is None else pose[:, 0],
        steering_rad=None if pose is None else pose[:, 1],
        progress_pct=None if pose is None else pose[:, 2],
        track=track,
        lap_time_s=lap.lap_time_s,
        title=f"{run.name} on {track.name}",
    )
    clip = write_lap_video(path, track, replay, progress=progress)
    if clip.note:
        log.warning("%s: an animated GIF instead of an MP4: %s", clip.path, clip.note)
    return clip


def _load_pose(run: Path, index: int, rows: int) -> np.ndarray | None:
    """Episode ``index``'s ``(rows, 3)`` pose array from the npz, None when absent or mismatched."""
    with np.load(RunFolder(run).best_trajectories_path) as data:
        key = POSE_KEY.format(k=index)
        if key not in data.files:
            return None
        pose = np.asarray(data[key], dtype=np.float64)
    return pose if pose.shape == (rows, 3) else None


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
