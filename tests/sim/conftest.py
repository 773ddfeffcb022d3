"""Fixtures for the sim tests: tracks to drive on.

``track`` is the built-in oval, ``generated_track`` a seeded generated one, ``circle_track`` a
tiny local stand-in with only the attributes racer.sim uses (it keeps the sim independent of
racer.track's internals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from racer.errors import RacerError


@dataclass(eq=False)
class CircleTrack:
    """A closed circular track (counter-clockwise) with the attributes racer.sim uses."""

    radius_m: float = 3.0
    width_m: float = 0.76
    n: int = 240
    name: str = "circle"

    def __post_init__(self) -> None:
        a = np.linspace(0.0, 2 * math.pi, self.n, endpoint=False)
        u = np.stack([np.cos(a), np.sin(a)], axis=1)
        half = self.width_m / 2
        self.center = self.radius_m * u
        self.left = (self.radius_m - half) * u  # centre of the circle is on the left (CCW)
        self.right = (self.radius_m + half) * u
        self.inner, self.outer = self.left, self.right
        self.closed = True
        self.widths = np.full(self.n, self.width_m)
        self.length = 2 * math.pi * self.radius_m
        self.s = a * self.radius_m

    def point_at(self, s: float) -> np.ndarray:
        a = (np.asarray(s) % self.length) / self.radius_m
        return self.radius_m * np.stack([np.cos(a), np.sin(a)], axis=-1)

    def heading_at(self, s: float) -> np.ndarray | float:
        a = (np.asarray(s) % self.length) / self.radius_m
        return np.arctan2(np.sin(a + math.pi / 2), np.cos(a + math.pi / 2))


@pytest.fixture(scope="session")
def circle_track() -> CircleTrack:
    return CircleTrack()


REPO_TRACKS = Path(__file__).resolve().parents[2] / "tracks"


@pytest.fixture(scope="session")
def track(circle_track: CircleTrack):
    """The built-in oval (from the installed library, else from the repository's tracks/)."""
    try:
        from racer.track import load_track, load_track_file
    except ImportError:  # racer.track not ready: the stand-in has the same attributes
        return circle_track
    try:
        return load_track("oval")
    except RacerError:  # package data not installed in this checkout
        return load_track_file(REPO_TRACKS / "oval.track.toml")


@pytest.fixture(scope="session")
def generated_track():
    """A seeded generated track."""
    from racer.track import generate_track

    return generate_track(seed=3)
