"""Fixtures for the track tests: tiny hand-computable tracks, an isolated RACER_HOME."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racer.track import Track

CIRCLE_R = 5.0  # m, centre-line radius of the circle fixture
CIRCLE_N = 100  # waypoints of the circle fixture
CIRCLE_W = 1.0  # m, road width of the circle fixture

# The real DeepRacer samples live beside the repository in the team workspace (never in it).
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "deepracer-format"


def circle_rows(n: int = CIRCLE_N, r: float = CIRCLE_R, w: float = CIRCLE_W) -> np.ndarray:
    """DeepRacer rows [cx, cy, ix, iy, ox, oy] of a counter-clockwise circle, not repeated."""
    theta = 2.0 * np.pi * np.arange(n) / n
    ring = np.stack((np.cos(theta), np.sin(theta)), axis=1)
    return np.hstack((ring * r, ring * (r - w / 2), ring * (r + w / 2)))


def straight_rows(length: float = 10.0, n: int = 51, w: float = 1.0) -> np.ndarray:
    """DeepRacer rows of an open straight strip along +x from the origin (left = +y)."""
    x = np.linspace(0.0, length, n)
    zero = np.zeros(n)
    return np.stack((x, zero, x, zero + w / 2, x, zero - w / 2), axis=1)


@pytest.fixture
def circle() -> Track:
    """A closed counter-clockwise circle: radius 5 m, 100 waypoints, 1 m wide."""
    rows = circle_rows()
    return Track(rows[:, :2], rows[:, 2:4], rows[:, 4:6], closed=True, name="circle")


@pytest.fixture
def straight() -> Track:
    """An open straight: 10 m along +x, 51 waypoints 0.2 m apart, 1 m wide."""
    rows = straight_rows()
    return Track(rows[:, :2], rows[:, 2:4], rows[:, 4:6], closed=False, name="straight")


@pytest.fixture(autouse=True)
def racer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty RACER_HOME."""
    home = tmp_path / "racer_home"
    monkeypatch.setenv("RACER_HOME", str(home))
    return home
