"""Outputs of an evaluation: a rich table, ``results.json`` and a PNG of the driven lines."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from racer.evaluate.evaluator import EvaluationResult
from racer.track import plot_track

RESULTS_JSON = "results.json"
TRAJECTORIES_PNG = "trajectories.png"


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def results_table(result: EvaluationResult) -> Any:
    """A :class:`rich.table.Table` with one row per trial and DeepRacer's metric names.

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
        )
    )
    for name, justify in (
        ("trial", "right"),
        ("episode_status", "left"),
        ("completion_percentage", "right"),
        ("elapsed_time_in_milliseconds", "right"),
        ("lap_times_s", "left"),
        ("average_lap_s", "right"),
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
            str(t.off_track_count),
            str(t.crash_count),
            str(t.reset_count),
        )
    return table


def summary_line(result: EvaluationResult) -> str:
    """One line: completed trials, best average and lap, speed as a multiple of real time."""
    s = result.summary()
    rt = s["realtime_factor"]
    return (
        f"{s['complete_trials']}/{s['trials']} trials complete, best average lap "
        f"{_fmt_s(s['best_average_lap_s'])} s, best lap {_fmt_s(s['best_lap_s'])} s, "
        f"mean completion {s['mean_completion_percentage']:.1f}%"
        + (f", {rt:.1f}x real time" if rt else "")
    )


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    _atomic_write_bytes(out, text.encode("utf-8"))
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


def write_outputs(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json`` and ``trajectories.png`` into ``out_dir``.

    Args:
        result: the evaluation.
        out_dir: the folder (created when missing).

    Returns:
        ``{"results": path, "trajectories": path}``.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "results": write_results_json(result, folder / RESULTS_JSON),
        "trajectories": plot_trajectories(result, folder / TRAJECTORIES_PNG),
    }
