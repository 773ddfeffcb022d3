"""Seeded track generation, plotting, and packaging of the built-in track data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from racer.errors import TrackError
from racer.track import generate_track, load_track, plot_track, validate_track

REPO = Path(__file__).resolve().parents[2]


def test_same_seed_same_track() -> None:
    a, b = generate_track(7), generate_track(7)
    np.testing.assert_array_equal(a.center, b.center)
    np.testing.assert_array_equal(a.left, b.left)
    assert a.name == "random:7"
    assert a.length != generate_track(8).length


def test_random_name_loads_generated_track() -> None:
    np.testing.assert_array_equal(load_track("random:42").center, generate_track(42).center)


@pytest.mark.parametrize("seed", range(20))
def test_generated_tracks_are_valid(seed: int) -> None:
    track = generate_track(seed)
    validate_track(track)
    assert track.closed and track.direction == "counter-clockwise"
    assert 17.0 <= track.length <= 35.0 + 0.1
    assert track.min_width >= 0.75 and track.max_width <= 1.1 + 1e-9
    assert track.min_radius >= 0.5
    assert track.on_track(track.center).all()


def test_generate_with_explicit_size() -> None:
    track = generate_track(3, length_m=20.0, width_m=0.8)
    assert track.length == pytest.approx(20.0, rel=0.02)
    np.testing.assert_allclose(track.widths, 0.8)
    with pytest.raises(TrackError, match="length_m"):
        generate_track(3, length_m=1.0)


def test_plot_track_writes_png(tmp_path: Path) -> None:
    track = load_track("technical")
    lap = track.point_at(np.linspace(0, track.length, 200)) + 0.1
    path = plot_track(track, tmp_path / "sub" / "t.png", trajectories=[lap])
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    open_track = load_track(REPO / "tests" / "track" / "data" / "strip.track.toml")
    assert plot_track(open_track, tmp_path / "open.png").stat().st_size > 5_000


def test_builtin_data_is_packaged() -> None:
    """The built-in tracks ship as package racer.tracks_data, mapped onto tracks/."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"]["racer.tracks_data"] == "tracks"
    assert "*.track.toml" in setuptools["package-data"]["racer.tracks_data"]
    listed = set(setuptools["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "racer").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    missing = sorted(found - listed)
    assert not missing, f"add these packages to [tool.setuptools] packages: {missing}"
    assert (REPO / "tracks" / "__init__.py").is_file()
    names = sorted(p.name for p in (REPO / "tracks").glob("*.track.toml"))
    assert names == [f"{n}.track.toml" for n in ("loop", "narrow", "oval", "speedway", "technical")]
    for p in (REPO / "tracks").glob("*.track.toml"):
        assert re.fullmatch(r"[a-z]+\.track\.toml", p.name)
