"""Fixtures for the evaluation tests: tiny real bundles (built once per session) and a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from evaluate_testlib import build_bundle, tiny_run


@pytest.fixture(scope="session")
def _bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-bundles")
    return {k: build_bundle(root / k, k) for k in ("discrete", "continuous")}


@pytest.fixture
def discrete_bundle(_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of a discrete camera bundle that always drives straight at 1.5 m/s."""
    return Path(shutil.copytree(_bundles["discrete"], tmp_path / "straight"))


@pytest.fixture
def continuous_bundle(_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of a continuous camera bundle (straight, constant speed)."""
    return Path(shutil.copytree(_bundles["continuous"], tmp_path / "continuous"))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with an untrained PPO MLP on the state observation."""
    return tiny_run(tmp_path_factory.mktemp("runs") / "tiny")
