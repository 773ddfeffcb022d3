"""Tiny trained runs and their bundles, trained and exported once per test session.

Shared by ``tests/export`` and the CLI tests: each run is cached under the session's base
temporary folder, so whichever test asks first trains it and the others reuse it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from racer.train.config import AgentConfig, config_from_dict

CONTINUOUS = {
    "action_space_type": "continuous",
    "action_space": {
        "steering_angle": {"low": -30.0, "high": 30.0},
        "speed": {"low": 0.5, "high": 2.0},
    },
}
#: name -> (observation, action space, VecNormalize)
RUNS: dict[str, tuple[str, str, bool]] = {
    "camera": ("camera", "discrete", False),
    "lidar": ("lidar", "continuous", True),
    "stereo": ("stereo", "discrete", False),
    "camera-continuous": ("camera", "continuous", False),
    "camera-sac": ("camera", "continuous", False),  # SAC (see ALGORITHMS)
}
#: name -> algorithm, for runs that are not PPO
ALGORITHMS: dict[str, str] = {"camera-sac": "sac"}
TEST_SAMPLES = 200  # the fewest observations export accepts: fastest
#: name -> the ExportResult of the DeepRacer export this process ran (see deepracer_archive)
DEEPRACER_RESULTS: dict[str, Any] = {}


def tiny_config(
    observation: str, kind: str = "discrete", normalize: bool = False, algorithm: str = "ppo"
) -> AgentConfig:
    """A recipe with tiny budgets (SB3's test habit: n_steps=64, net_arch=[16])."""
    image = observation in ("camera", "stereo")
    data: dict[str, Any] = {
        "agent": {"name": f"tiny-{observation}"},
        "env": {
            "tracks": ["oval"],
            "observation": observation,
            "reward": "progress",
            "max_steps": 100,
        },
        "algorithm": {
            "name": algorithm,
            "network": "shallow_cnn" if image else "mlp",
            "net_arch": [16],
        },
        "hyperparameters": {
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "normalize_observations": normalize,
            **({"buffer_size": 1000} if algorithm == "sac" else {}),
        },
        "budget": {"steps": 256, "envs": 1, "seed": 0, "device": "cpu"},
        "evaluation": {"every_steps": 128, "episodes": 1},
        "checkpoint": {"every_steps": 128, "keep": 1},
    }
    if kind == "continuous":
        data["action_space"] = CONTINUOUS
    return config_from_dict(data, source="test")


def _root(factory: pytest.TempPathFactory) -> Path:
    root = factory.getbasetemp() / "racer-export-cache"
    root.mkdir(exist_ok=True)
    return root


def trained_run(factory: pytest.TempPathFactory, name: str) -> Path:
    """The run folder of tiny run ``name`` (see :data:`RUNS`), trained on first use."""
    from racer.train.pipeline import train

    run = _root(factory) / f"run-{name}"
    if not (run / "final_model.zip").is_file():
        observation, kind, normalize = RUNS[name]
        algorithm = ALGORITHMS.get(name, "ppo")
        train(tiny_config(observation, kind, normalize, algorithm), out=run, progress_bar=False)
    return run


def exported_bundle(factory: pytest.TempPathFactory, name: str) -> Path:
    """The bundle folder exported from tiny run ``name`` (``<folder>.tar.gz`` beside it)."""
    from racer.export.exporter import export_run

    out = _root(factory) / f"bundle-{name}"
    if not (out / "metadata.json").is_file():
        export_run(trained_run(factory, name), out, samples=TEST_SAMPLES)
    return out


def deepracer_archive(factory: pytest.TempPathFactory, name: str) -> Path:
    """The DeepRacer car archive (``run-<name>.tar.gz``) exported from tiny run ``name``.

    Exported once per session with ``racer export --deepracer``'s code path; the bundle it
    writes alongside goes to ``deepracer-bundles/bundle-<name>``.
    """
    from racer.export.exporter import export_run

    archive = _root(factory) / "deepracer" / f"run-{name}.tar.gz"
    if not archive.is_file():
        DEEPRACER_RESULTS[name] = export_run(
            trained_run(factory, name),
            _root(factory) / "deepracer-bundles" / f"bundle-{name}",
            samples=TEST_SAMPLES,
            deepracer=True,
            deepracer_out=archive,
        )
    return archive
