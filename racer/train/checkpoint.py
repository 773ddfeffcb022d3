"""Checkpoints: model (with optimizer state), observation normaliser, RNG states; atomically.

Layout in ``<run>/checkpoints/``::

    step-000010240.zip                  stable-baselines3 model, optimizer state included
    step-000010240.norm.pkl             VecNormalize statistics (when used)
    step-000010240.rng.pt               torch / numpy / python RNG states
    step-000010240.best_model.zip.keep  the run's best model at that moment (a hard link)
    step-000010240.best_trajectories.npz.keep
    step-000010240.json                 what the run's logs held then (see below): written last
    latest.json                         the same, for the newest checkpoint: written after it

Every file is written to a temporary name and renamed, and a checkpoint's ``.json`` only after
the rest, so a run killed at any instant resumes from a complete checkpoint. A checkpoint whose
files are damaged (a truncated zip) is skipped with a warning for the previous kept one.

The ``.json`` records the byte size of every log (``metrics.csv``, ``eval.csv``,
``simtrace/worker-*.csv``, DRfC's ``training-simtrace/*-iteration.csv`` and
``metrics/TrainingMetrics*.json``) and the counters (iteration, wall time, DRfC's episode
numbers) at the checkpoint;
:func:`rewind_run` cuts the logs back to it on resume, so rows written between the checkpoint
and a kill never appear twice, and puts back the best model of that moment. Checkpoints are the
run's own files (trusted); submissions to a leaderboard are ONNX bundles and never go through
this path.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from racer.errors import ConfigError
from racer.train.io import atomic_link, atomic_write, atomic_write_json, writing
from racer.train.run_folder import (
    BEST_MODEL,
    BEST_TRAJECTORIES,
    EVAL_CSV,
    METRICS_CSV,
    RunFolder,
    cut_metrics,
)

LATEST = "latest.json"
#: The run's best-model files: each checkpoint keeps the version of its moment.
BEST_FILES = (BEST_MODEL, BEST_TRAJECTORIES)
BEST_SUFFIX = ".keep"  # step-N.best_model.zip.keep: not a step-*.zip checkpoint itself
_NAME = re.compile(r"step-(\d+)")

Warn = Callable[[str], None]


def log_sizes(run_dir: Path) -> dict[str, int]:
    """Byte size of each log of a run, by path relative to the run folder."""
    sizes: dict[str, int] = {}
    for p in RunFolder(run_dir).log_files():
        with contextlib.suppress(OSError):
            sizes[p.relative_to(run_dir).as_posix()] = p.stat().st_size
    return sizes


def save_checkpoint(
    model: Any, folder: Path, keep: int, seed: int, state: dict[str, Any] | None = None
) -> Path:
    """Write a checkpoint of ``model`` (and its VecNormalize, if any); prune to ``keep``.

    Args:
        model: the stable-baselines3 model.
        folder: ``<run>/checkpoints``.
        keep: checkpoints kept (the newest).
        seed: the run's seed (stored with the RNG states).
        state: the training counters to continue from (metrics iteration, wall time, ...).

    Raises:
        DiskFullError: the disk filled up; the previous checkpoint is intact.
    """
    run_dir = folder.parent
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    steps = int(model.num_timesteps)
    name = f"step-{steps:09d}"
    zip_path = folder / f"{name}.zip"
    atomic_write(zip_path, lambda tmp: model.save(tmp))
    venv = model.get_env()
    norm = _find_vecnormalize(venv)
    if norm is not None:
        atomic_write(folder / f"{name}.norm.pkl", lambda tmp: norm.save(str(tmp)))
    rng = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "seed": seed,
    }

    def write_rng(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a Python file: a full disk is an OSError, not torch's
            torch.save(rng, fh)

    atomic_write(folder / f"{name}.rng.pt", write_rng)
    if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
        atomic_write(folder / f"{name}.replay.pkl", lambda tmp: model.save_replay_buffer(tmp))
    best = []
    for best_name in BEST_FILES:
        src = run_dir / best_name
        if src.is_file():
            atomic_link(src, folder / f"{name}.{best_name}{BEST_SUFFIX}")
            best.append(best_name)
    meta = {
        "name": name,
        "steps": steps,
        "state": state or {},
        "logs": log_sizes(run_dir),
        "best": best,
    }
    atomic_write_json(folder / f"{name}.json", meta)
    atomic_write_json(folder / LATEST, meta)
    _prune(folder, keep)
    return zip_path


def _steps_of(name: str) -> int:
    m = _NAME.fullmatch(name)
    return int(m.group(1)) if m else -1


def _names(folder: Path) -> list[str]:
    """Checkpoint names on disk, newest first (by steps: names outgrow their 9 digits)."""
    names = {p.name.split(".")[0] for p in folder.glob("step-*.zip")}
    return sorted((n for n in names if _steps_of(n) >= 0), key=_steps_of, reverse=True)


def _prune(folder: Path, keep: int) -> None:
    for old in _names(folder)[keep:]:
        for p in folder.glob(f"{old}.*"):
            p.unlink(missing_ok=True)


def _find_vecnormalize(venv: Any) -> Any:
    from stable_baselines3.common.vec_env import VecNormalize

    while venv is not None:
        if isinstance(venv, VecNormalize):
            return venv
        venv = getattr(venv, "venv", None)
    return None


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    if not isinstance(meta.get("steps"), int):
        return None
    return meta


def _entry(folder: Path, name: str, meta: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "steps": int(meta["steps"]) if meta else _steps_of(name),
        "zip": folder / f"{name}.zip",
        "meta": meta,
    }
    for key, suffix in (("norm", ".norm.pkl"), ("rng", ".rng.pt"), ("replay", ".replay.pkl")):
        p = folder / f"{name}{suffix}"
        out[key] = p if p.exists() else None
    return out


def checkpoint_candidates(folder: Path) -> list[dict[str, Any]]:
    """Every complete checkpoint, newest first (not yet checked for damage).

    A checkpoint is complete once its ``.json`` is written; one from before these files existed
    counts when ``latest.json`` names it or a later one.

    Raises:
        ConfigError: no checkpoint at all.
    """
    run = folder.parent
    if not folder.is_dir():
        raise ConfigError(
            f"{run}: no checkpoint to resume from ({folder} is missing: the run stopped before "
            "its first checkpoint); start it again without --resume"
        )
    latest = _read_meta(folder / LATEST)
    latest_steps = _steps_of(latest["name"]) if latest else -1
    out = []
    for name in _names(folder):
        meta = _read_meta(folder / f"{name}.json")
        if meta is None and _steps_of(name) > latest_steps:
            continue  # written after latest.json: maybe incomplete
        if meta is None and latest is not None and latest["name"] == name:
            meta = latest
        out.append(_entry(folder, name, meta))
    if not out:
        raise ConfigError(
            f"{run}: no checkpoint to resume from (no complete step-*.zip in {folder}); start "
            "it again without --resume"
        )
    return out


_EOCD = b"PK\x05\x06"  # a zip's end-of-central-directory record: the file's last 22 bytes
_EOCD_SIZE = 22
#: Members each checkpoint zip must hold (stable-baselines3's model; torch.save's archive).
_REQUIRED = {"zip": ("data", "policy.pth"), "rng": ("data.pkl",)}


def _zip_problem(path: Path, required: tuple[str, ...]) -> str | None:
    """Why a zip is damaged (truncated, a member failing its CRC, members missing), or None.

    A truncated model zip can still open: the policy's own zip is stored inside it, and its
    end record is found instead. So the end record must end the file, and the members be there.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                fh.seek(max(0, size - _EOCD_SIZE - len(zf.comment)))
                if fh.read(4) != _EOCD:
                    return f"{path.name} is damaged (truncated: its end record is not at its end)"
            names = zf.namelist()
            for member in required:
                if not any(n == member or n.endswith("/" + member) for n in names):
                    return f"{path.name} is damaged (no {member} inside)"
            bad = zf.testzip()
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, RuntimeError) as exc:
        return f"{path.name} is damaged ({exc})"
    except Exception as exc:  # zlib.error and friends from a corrupt member
        return f"{path.name} is damaged ({type(exc).__name__}: {exc})"
    if bad is not None:
        return f"{path.name} is damaged (member {bad} fails its checksum)"
    return None


def checkpoint_damage(ckpt: dict[str, Any]) -> str | None:
    """Why a checkpoint's files cannot be loaded (a truncated or corrupt zip), or None."""
    for key, required in _REQUIRED.items():
        path = ckpt[key]
        if path is not None:
            why = _zip_problem(path, required)
            if why is not None:
                return why
    for key in ("norm", "replay"):
        path = ckpt[key]
        if path is not None and path.stat().st_size == 0:
            return f"{path.name} is empty"
    return None


def usable_checkpoints(folder: Path, warn: Warn | None = None) -> list[dict[str, Any]]:
    """Complete, undamaged checkpoints, newest first; each damaged newer one gets a warning.

    Raises:
        ConfigError: none is usable (one line naming what is wrong with the newest).
    """
    candidates = checkpoint_candidates(folder)
    usable = []
    problems = []
    for ckpt in candidates:
        why = checkpoint_damage(ckpt)
        if why is None:
            usable.append(ckpt)
        elif not usable:
            problems.append(why)
    if not usable:
        raise ConfigError(
            f"{folder.parent}: no usable checkpoint to resume from ({'; '.join(problems[:2])}"
            f"{'; ...' if len(problems) > 2 else ''}); start the run again without --resume"
        )
    if problems and warn is not None:
        newest = candidates[0]
        warn(
            f"{folder / newest['name']}: {problems[0]}; resuming from the previous checkpoint "
            f"{usable[0]['name']} ({newest['steps'] - usable[0]['steps']} steps earlier)"
        )
    return usable


def latest_checkpoint(folder: Path, warn: Warn | None = None) -> dict[str, Any]:
    """The newest usable checkpoint: ``{"name", "steps", "zip", "norm", "rng", "replay", "meta"}``.

    A damaged newest checkpoint falls back to the previous kept one (``warn`` is told).
    """
    return usable_checkpoints(folder, warn)[0]


def restore_rng(path: Path | None) -> None:
    """Restore the RNG states saved with a checkpoint (as far as the libraries allow)."""
    if path is None:
        return
    rng = torch.load(path, weights_only=False)
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])


def _count_lines(path: Path, start: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(start)
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _cut(path: Path, size: int) -> int:
    """Truncate ``path`` to ``size`` bytes; the rows removed (0 when it is not longer)."""
    try:
        current = path.stat().st_size
    except OSError:
        return 0
    if current <= size:
        return 0
    rows = _count_lines(path, size)
    with writing(path):
        os.truncate(path, size)
    return rows


def _cut_by_steps(path: Path, steps: int) -> int:
    """Legacy checkpoints: drop the CSV rows whose ``steps`` column is past ``steps``."""
    if not path.is_file():
        return 0
    text = path.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or "steps" not in rows[0]:
        return 0
    col = rows[0].index("steps")
    kept = [rows[0]]
    for row in rows[1:]:
        try:
            if int(row[col]) <= steps:
                kept.append(row)
        except (IndexError, ValueError):
            pass
    dropped = len(rows) - len(kept)
    if dropped:
        out = io.StringIO()
        csv.writer(out).writerows(kept)
        text = out.getvalue()

        def write(tmp: Path) -> None:
            tmp.write_text(text)

        atomic_write(path, write)
    return dropped


def rewind_run(run_dir: Path, ckpt: dict[str, Any]) -> dict[str, int]:
    """Cut the run's logs back to the checkpoint a resume starts from.

    Rows written after the checkpoint (by a run killed later, or by the newer checkpoint a
    damaged one was skipped for) are removed from ``metrics.csv``, ``eval.csv``, every
    ``simtrace/worker-*.csv`` and DRfC's traces and metrics files (a metrics JSON file keeps
    its entries of that moment and stays valid JSON), and the best model of the checkpoint's
    moment is put back.

    Returns:
        Rows removed, by log path relative to the run folder (only those with rows removed).
    """
    meta = ckpt.get("meta") or {}
    removed: dict[str, int] = {}
    logs = meta.get("logs")
    if not isinstance(logs, dict):  # a checkpoint written before logs were recorded
        for name in (METRICS_CSV, EVAL_CSV):
            n = _cut_by_steps(run_dir / name, int(ckpt["steps"]))
            if n:
                removed[name] = n
        return removed
    for path in RunFolder(run_dir).log_files():
        rel = path.relative_to(run_dir).as_posix()
        if not path.is_file():
            continue
        if rel in logs:
            cut = cut_metrics if path.suffix == ".json" else _cut
            n = cut(path, int(logs[rel]))
        else:  # created after the checkpoint: every row in it came later
            n = (
                path.read_bytes().count(b"\n{")  # metrics JSON: one entry per "\n{"
                if path.suffix == ".json"
                else max(0, _count_lines(path, 0) - 1)
            )
            with writing(path):
                path.unlink()
        if n:
            removed[rel] = n
    best = meta.get("best")
    if isinstance(best, list):
        folder = ckpt["zip"].parent
        for best_name in BEST_FILES:
            current = run_dir / best_name
            saved = folder / f"{ckpt['name']}.{best_name}{BEST_SUFFIX}"
            if best_name in best and saved.is_file():
                if not (current.exists() and os.path.samefile(saved, current)):
                    atomic_link(saved, current)
            elif best_name not in best and current.is_file():
                current.unlink()  # written by an evaluation after the checkpoint
    return removed
