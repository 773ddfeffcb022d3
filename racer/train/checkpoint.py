"""Checkpoints: model (with optimizer state), observation normaliser, RNG states; atomically.

Layout in ``<run>/checkpoints/``::

    step-000010240.zip           stable-baselines3 model, optimizer state included
    step-000010240.norm.pkl      VecNormalize statistics (when used)
    step-000010240.rng.pt        torch / numpy / python RNG states
    latest.json                  {"name": "step-000010240", "steps": 10240}: written last

Every file is written to a temporary name and renamed, and ``latest.json`` only after the rest, so a
run killed at any instant resumes from a complete checkpoint. Checkpoints are the run's own files
(trusted); submissions to a leaderboard are ONNX bundles and never go through this path.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from racer.errors import ConfigError
from racer.train.io import atomic_write, atomic_write_json

LATEST = "latest.json"


def save_checkpoint(model: Any, folder: Path, keep: int, seed: int) -> Path:
    """Write a checkpoint of ``model`` (and its VecNormalize, if any); prune to ``keep``."""
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
    atomic_write(folder / f"{name}.rng.pt", lambda tmp: torch.save(rng, tmp))
    if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
        atomic_write(folder / f"{name}.replay.pkl", lambda tmp: model.save_replay_buffer(tmp))
    atomic_write_json(folder / LATEST, {"name": name, "steps": steps})
    _prune(folder, keep)
    return zip_path


def _prune(folder: Path, keep: int) -> None:
    names = sorted({p.name.split(".")[0] for p in folder.glob("step-*.zip")})
    for old in names[:-keep]:
        for p in folder.glob(f"{old}.*"):
            p.unlink(missing_ok=True)


def _find_vecnormalize(venv: Any) -> Any:
    from stable_baselines3.common.vec_env import VecNormalize

    while venv is not None:
        if isinstance(venv, VecNormalize):
            return venv
        venv = getattr(venv, "venv", None)
    return None


def latest_checkpoint(folder: Path) -> dict[str, Any]:
    """The newest complete checkpoint: ``{"name", "steps", "zip", "norm", "rng", "replay"}``."""
    meta_path = folder / LATEST
    if not meta_path.exists():
        raise ConfigError(f"{folder.parent}: no checkpoint to resume from (no {LATEST})")
    try:
        meta = json.loads(meta_path.read_text())
        name = meta["name"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{meta_path}: unreadable ({exc})") from None
    out: dict[str, Any] = {"name": name, "steps": int(meta["steps"]), "zip": folder / f"{name}.zip"}
    if not out["zip"].exists():
        raise ConfigError(f"{out['zip']}: checkpoint named by {LATEST} is missing")
    for key, suffix in (("norm", ".norm.pkl"), ("rng", ".rng.pt"), ("replay", ".replay.pkl")):
        p = folder / f"{name}{suffix}"
        out[key] = p if p.exists() else None
    return out


def restore_rng(path: Path | None) -> None:
    """Restore the RNG states saved with a checkpoint (as far as the libraries allow)."""
    if path is None:
        return
    rng = torch.load(path, weights_only=False)
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
