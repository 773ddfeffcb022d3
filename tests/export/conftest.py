"""Fixtures: tiny trained runs and their exported bundles (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_testlib import exported_bundle, trained_run


@pytest.fixture(scope="session")
def camera_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny camera run, discrete actions."""
    return trained_run(tmp_path_factory, "camera")


@pytest.fixture(scope="session", params=["camera", "lidar", "stereo"])
def bundle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each tiny run's bundle: camera/discrete, lidar/continuous, stereo/discrete."""
    return exported_bundle(tmp_path_factory, request.param)
