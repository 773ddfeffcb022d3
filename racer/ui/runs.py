"""What the console shows of a run: read from its folder (:class:`racer.train.RunFolder`).

A run's status comes from its training job when the console started it (``training``,
``stopping``, ``done``, ``stopped``, ``failed``), else from the folder itself (a run trained
with the CLI: ``done`` when its ``metrics.csv`` reached the budget, else ``stopped``). Its best
average lap is the best training evaluation whose laps all completed (``eval.csv``) or the best
complete evaluation made from the console, and its gap is that lap over the track's lap-time
bound (:func:`racer.evaluate.evaluator.lap_time_bound_s`, as ``racer evaluate`` reports it).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import RacerError
from racer.train.run_folder import RunFolder
from racer.ui.jobs import Job, JobStore
from racer.ui.workspace import Workspace

STAMP = "%Y%m%d-%H%M%S"  # an evaluation folder's name
EVALUATIONS = "ui-evaluations"  # evaluations started from the console: RUN/ui-evaluations/<stamp>/
TRACE_TAIL_BYTES = 400_000  # the end of a simtrace file read for the latest episodes
MAX_POINTS = 600  # points per drawn line (a long episode is thinned)
MAX_EPISODES_DRAWN = 12  # latest training episodes drawn on the map


def read_csv_rows(path: Path, start: int = 0) -> tuple[list[dict[str, str]], int]:
    """Rows of a CSV log from byte ``start`` (0: from the header); the offset to read on from.

    Only whole lines are read (a row being written is left for the next call). The header is
    always taken from the file's first line.
    """
    try:
        with open(path, "rb") as fh:
            header = fh.readline()
            data_start = fh.tell()
            fh.seek(max(start, data_start))
            chunk = fh.read()
    except OSError:
        return [], start
    end = chunk.rfind(b"\n")
    if end < 0 or not header.endswith(b"\n"):
        return [], max(start, 0)
    body = chunk[: end + 1]
    names = next(csv.reader([header.decode("utf-8", errors="replace")]))
    rows = [
        dict(zip(names, row, strict=False))
        for row in csv.reader(io.StringIO(body.decode("utf-8", errors="replace")))
        if row
    ]
    return rows, max(start, data_start) + len(body)


def _float(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@functools.lru_cache(maxsize=64)
def track_bound_s(track: str) -> float | None:
    """The lap-time bound of a track, s (None when it has none or does not load); cached."""
    from racer.evaluate.evaluator import lap_time_bound_s
    from racer.track import load_track

    try:
        return lap_time_bound_s(load_track(track))
    except RacerError:
        return None


def run_track(cfg: Any) -> str:
    """The track a run is evaluated on: its first named track (``oval`` when only random)."""
    named = [t for t in cfg.env.tracks if t != "random"]
    return named[0] if named else "oval"


def list_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The console's evaluations of a run, newest first: ``results.json`` and its files."""
    out = []
    folder = run_dir / EVALUATIONS
    for sub in sorted(folder.glob("*"), reverse=True) if folder.is_dir() else []:
        results = sub / "results.json"
        entry: dict[str, Any] = {"id": sub.name, "files": sorted(p.name for p in sub.iterdir())}
        try:
            entry["results"] = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entry["results"] = None
        out.append(entry)
    return out


def best_average(run: RunFolder, cfg: Any) -> tuple[float | None, str]:
    """The run's best average lap, s, and where it comes from."""
    best: float | None = None
    where = ""
    rows, _ = read_csv_rows(run.eval_csv_path)
    for row in rows:
        laps, episodes = _float(row.get("laps")), _float(row.get("episodes"))
        lap = _float(row.get("mean_lap_time_s"))
        if (
            lap is not None
            and laps
            and episodes
            and laps >= episodes
            and (best is None or lap < best)
        ):
            best, where = lap, f"training evaluation at {row.get('steps')} steps ({int(laps)} laps)"
    for ev in list_evaluations(run.path):
        summary = (ev.get("results") or {}).get("summary") or {}
        lap = _float(summary.get("best_average_lap_s"))
        if lap is not None and (best is None or lap < best):
            best, where = lap, f"evaluation {ev['id']}"
    return best, where


def run_status(run: RunFolder, cfg: Any, job: Job | None) -> str:
    """``training``, ``stopping``, ``done``, ``stopped``, ``failed`` or ``new``."""
    if job is not None:
        if job.state == "running":
            return "training"
        if job.state in ("stopping", "done", "stopped", "failed"):
            return job.state
    rows, _ = read_csv_rows(run.metrics_csv_path)
    steps = int(_float(rows[-1].get("steps")) or 0) if rows else 0
    if not run.final_model_path.is_file() and not run.best_model_path.is_file():
        return "new" if steps == 0 else "stopped"
    return "done" if steps >= cfg.budget.steps else "stopped"


def summary(ws: Workspace, jobs: JobStore, name: str) -> dict[str, Any]:
    """One row of the Models list."""
    run = RunFolder(ws.run_dir(name))
    out: dict[str, Any] = {"name": name}
    try:
        run = RunFolder.open(run.path)
        cfg = run.config()
    except RacerError as exc:
        out.update(status="broken", error=str(exc))
        return out
    train_jobs = [j for j in jobs.for_run(name) if j.kind == "train"]
    job = train_jobs[0] if train_jobs else None
    rows, _ = read_csv_rows(run.metrics_csv_path)
    last = rows[-1] if rows else {}
    track = run_track(cfg)
    budget = cfg.budget.steps
    if job is not None and "--steps" in job.argv[:-1]:  # "train more": the resume's budget
        with contextlib.suppress(ValueError):
            budget = int(job.argv[job.argv.index("--steps") + 1])
        cfg.budget.steps = budget
    best, where = best_average(run, cfg)
    bound = track_bound_s(track)
    out.update(
        status=run_status(run, cfg, job),
        steps=int(_float(last.get("steps")) or 0),
        budget=budget,
        track=track,
        tracks=list(cfg.env.tracks),
        observation=cfg.env.observation,
        algorithm=cfg.algorithm.name,
        action_space=cfg.action_spec().to_model_metadata(),
        reward=cfg.env.reward,
        best_average_s=best,
        best_from=where,
        bound_s=bound,
        gap=(best / bound - 1.0) if best is not None and bound else None,
        has_model=run.best_model_path.is_file() or run.final_model_path.is_file(),
        has_thumbnail=run.best_trajectories_path.is_file(),
        modified=max(
            (p.stat().st_mtime for p in (run.metrics_csv_path, run.config_path) if p.exists()),
            default=0.0,
        ),
        job=job.to_dict() if job is not None else None,
        error=job.error if job is not None and job.state == "failed" else "",
    )
    return out


def list_runs(ws: Workspace) -> list[str]:
    """The run folders' names (folders with ``config.toml``), newest first."""
    found = []
    for path in ws.runs.iterdir() if ws.runs.is_dir() else []:
        if path.is_dir() and (path / "config.toml").is_file():
            found.append((path.stat().st_mtime, path.name))
    return [name for _, name in sorted(found, reverse=True)]


def best_laps(run: RunFolder) -> list[np.ndarray]:
    """The best evaluation's driven lines (x, y, speed) from ``best_trajectories.npz``."""
    try:
        with np.load(run.best_trajectories_path) as data:
            keys = sorted((k for k in data.files if k.startswith("arr_")), key=lambda k: int(k[4:]))
            return [np.asarray(data[k], dtype=np.float64) for k in keys]
    except (OSError, ValueError, KeyError):
        return []


def _thin(points: list[list[float]]) -> list[list[float]]:
    step = max(1, math.ceil(len(points) / MAX_POINTS))
    return points[::step] if step > 1 else points


def latest_episodes(
    run: RunFolder, count: int = 3, max_episodes: int = MAX_EPISODES_DRAWN
) -> list[dict[str, Any]]:
    """The last ``count`` whole training episodes of each worker's simtrace (x, y, status), of
    the first workers until ``max_episodes`` are found (many cars train at once)."""
    episodes: list[dict[str, Any]] = []
    files = sorted(run.simtrace_files(), key=lambda p: _worker_index(p.stem))
    for path in files:
        if len(episodes) >= max_episodes:
            break
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - TRACE_TAIL_BYTES))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        lines = text.splitlines()
        if size > TRACE_TAIL_BYTES:
            lines = lines[1:]  # the first line may be cut
        by_episode: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for line in lines:
            cols = line.split(",")
            if len(cols) < 17 or cols[0] == "episode":
                continue
            ep = cols[0]
            if ep not in by_episode:
                by_episode[ep] = {"episode": int(ep) if ep.isdigit() else ep, "points": []}
                order.append(ep)
            x, y = _float(cols[2]), _float(cols[3])
            if x is not None and y is not None:
                by_episode[ep]["points"].append([round(x, 3), round(y, 3)])
            by_episode[ep]["status"] = cols[15]
            by_episode[ep]["progress"] = _float(cols[11])
            by_episode[ep]["done"] = cols[9] == "True"
        done = [by_episode[e] for e in order if by_episode[e].get("done")]
        for episode in done[-count:]:
            episode["worker"] = path.stem
            episode["points"] = _thin(episode["points"])
            episodes.append(episode)
    return episodes


def _worker_index(stem: str) -> int:
    tail = stem.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@functools.lru_cache(maxsize=32)
def track_geometry(track: str) -> dict[str, Any]:
    """A track's outline for the pages' SVG maps: centre line and borders, metres."""
    from racer.track import load_track

    t = load_track(track)

    def pts(a: np.ndarray) -> list[list[float]]:
        return _thin([[round(float(x), 3), round(float(y), 3)] for x, y in a])

    lo = np.minimum(t.inner.min(axis=0), t.outer.min(axis=0))
    hi = np.maximum(t.inner.max(axis=0), t.outer.max(axis=0))
    return {
        "name": t.name,
        "closed": bool(t.closed),
        "length_m": round(float(t.length), 3),
        "width_m": round(float(np.mean(t.widths)), 3),
        "center": pts(t.center),
        "left": pts(t.left),
        "right": pts(t.right),
        "bbox": [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])],
    }
