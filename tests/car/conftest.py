"""Fixtures: tiny real bundles (ONNX graph + OpenVINO IR + golden + metadata), built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from testlib.bundles import (  # noqa: F401  (re-exported for the car tests)
    CONTINUOUS_SPACE,
    DISCRETE_ACTIONS,
    PREPROCESSING,
    H,
    W,
    build_bundle,
)


@pytest.fixture(scope="session")
def _bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {k: build_bundle(root / k, k) for k in ("discrete", "continuous")}


@pytest.fixture
def discrete_bundle(_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of the discrete camera bundle (safe to tamper with)."""
    return Path(shutil.copytree(_bundles["discrete"], tmp_path / "discrete"))


@pytest.fixture
def continuous_bundle(_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of the continuous camera bundle."""
    return Path(shutil.copytree(_bundles["continuous"], tmp_path / "continuous"))
