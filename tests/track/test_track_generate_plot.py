"""Seeded track generation, plotting, and packaging of the built-in track data."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from racer.errors import TrackError
from racer.track import generate_track, load_track, plot_track, racing_line, validate_track
from racer.track.plot import _lap_title, lap_vs_bound, plot_lap_vs_line

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


def test_plot_lap_vs_line_writes_png(tmp_path: Path) -> None:
    """A lap (with a put-back), a partial lap and no lap at all: one PNG each, the folder made."""
    track = load_track("oval")
    line = racing_line(track)
    lap = track.point_at(np.linspace(0.0, track.length, 300, endpoint=False))
    lap[120] = np.nan  # a put-back breaks the line
    speed = np.linspace(0.5, 2.5, len(lap))
    cases = {
        "lap": (lap, speed, {"lap_s": 9.5}),
        "partial": (lap[:80], speed[:80], {"completion_pct": 26.7}),
        "none": (np.empty((0, 2)), np.empty(0), {}),
    }
    for name, (xy, v, pieces) in cases.items():
        out = plot_lap_vs_line(track, line, xy, v, tmp_path / "sub" / f"{name}.png", driver="m")
        out2 = plot_lap_vs_line(track, line, xy, v, tmp_path / f"{name}2.png", driver="m", **pieces)
        for path in (out, out2):
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    open_track = load_track(REPO / "tests" / "track" / "data" / "strip.track.toml")
    open_lap = open_track.point_at(np.linspace(0.0, open_track.length, 50))
    path = plot_lap_vs_line(
        open_track, racing_line(open_track), open_lap, np.ones(50), tmp_path / "open.png",
        driver="m", lap_s=4.0,
    )  # fmt: skip
    assert path.stat().st_size > 10_000


def test_lap_vs_line_title_pieces() -> None:
    assert lap_vs_bound(6.12, 5.51) == "6.120 s = 1.11x the bound (5.510 s)"
    assert lap_vs_bound(6.12, float("nan")) == "6.120 s"
    assert (
        _lap_title("m on oval", "lap", 6.12, 5.51, 100.0, 90, "average of 3 laps 6.200 s = 1.13x")
        == "m on oval: best lap 6.120 s = 1.11x the bound (5.510 s); "
        "average of 3 laps 6.200 s = 1.13x"
    )
    assert (
        _lap_title("run", "evaluation lap", None, 5.51, 40.0, 30, None)
        == "run: no complete evaluation lap (40.0%); bound 5.510 s"
    )
    assert _lap_title("run", "evaluation lap", None, 5.51, None, 0, None) == (
        "run: no evaluation lap yet; bound 5.510 s"
    )


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
