"""Loading (built-in, DeepRacer .npy, .track.toml, user library), validation errors, saving."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, circle_rows, straight_rows

from racer.errors import TrackError
from racer.track import (
    Track,
    builtin_track_names,
    import_track,
    list_tracks,
    load_track,
    save_npy,
    validate_track,
)

BUILTINS = ["loop", "narrow", "oval", "speedway", "technical"]


def write_npy(path: Path, rows: np.ndarray) -> Path:
    np.save(path, rows)
    return path


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


CIRCLE_TOML = """
name = "ring"
description = "a test ring"
width_m = 0.8
closed = true
points = [[3, 0], [0, 3], [-3, 0], [0, -3]]
"""


# ---------------------------------------------------------------- DeepRacer .npy


def test_npy_closed_loop(tmp_path: Path) -> None:
    rows = circle_rows(60)
    path = write_npy(tmp_path / "ring.npy", np.vstack((rows, rows[:1])))  # DeepRacer repeats row 0
    track = load_track(path)
    assert track.closed
    assert track.name == "ring"
    assert track.n_waypoints == 60
    np.testing.assert_allclose(track.center, rows[:, :2])
    np.testing.assert_allclose(track.inner, rows[:, 2:4])
    np.testing.assert_allclose(track.left, rows[:, 2:4])  # CCW: inner is left
    np.testing.assert_allclose(track.outer, rows[:, 4:6])


def test_npy_clockwise_loop_puts_inner_on_the_right(tmp_path: Path) -> None:
    rows = circle_rows(60)[::-1]
    track = load_track(write_npy(tmp_path / "cw.npy", np.vstack((rows, rows[:1]))))
    assert track.direction == "clockwise"
    np.testing.assert_allclose(track.right, rows[:, 2:4])
    np.testing.assert_allclose(track.inner, rows[:, 2:4])


def test_npy_open_strip(tmp_path: Path) -> None:
    track = load_track(str(write_npy(tmp_path / "strip.npy", straight_rows())))
    assert not track.closed
    assert track.n_waypoints == 51
    assert track.length == pytest.approx(10.0)


def test_npy_duplicate_rows_are_dropped(tmp_path: Path) -> None:
    rows = circle_rows(40)
    rows = np.vstack((rows[:10], rows[9:10], rows[10:], rows[:1]))
    track = load_track(write_npy(tmp_path / "dups.npy", rows))
    assert track.n_waypoints == 40


def test_save_npy_round_trip(tmp_path: Path) -> None:
    oval = load_track("oval")
    path = save_npy(oval, tmp_path / "out")
    assert path.name == "out.npy"
    rows = np.load(path)
    assert rows.shape == (oval.n_waypoints + 1, 6)
    np.testing.assert_array_equal(rows[0], rows[-1])
    again = load_track(path)
    np.testing.assert_allclose(again.center, oval.center)
    np.testing.assert_allclose(again.left, oval.left)
    np.testing.assert_allclose(again.right, oval.right)
    assert again.closed


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="DeepRacer samples not available")
@pytest.mark.parametrize(
    ("file", "length", "width_lo", "width_hi"),
    [("Oval_track.npy", 19.5, 0.61, 0.94), ("Vegas_track.npy", 22.6, 1.066, 1.068)],
)
def test_real_deepracer_samples(file: str, length: float, width_lo: float, width_hi: float) -> None:
    track = load_track(SAMPLES / file)
    assert track.closed
    assert track.length == pytest.approx(length, abs=0.1)
    assert track.min_width == pytest.approx(width_lo, abs=0.01)
    assert track.max_width == pytest.approx(width_hi, abs=0.01)
    assert track.direction == "counter-clockwise"
    # Every centre point is on the road, every point 5 cm outside a border is off it.
    assert track.on_track(track.center).all()
    out = track.outer + 0.05 * (track.outer - track.center) / track.widths[:, None]
    assert not track.on_track(out).any()


# ---------------------------------------------------------------- .track.toml


def test_toml_ring(tmp_path: Path) -> None:
    track = load_track(write_toml(tmp_path / "ring.track.toml", CIRCLE_TOML))
    assert track.name == "ring"
    assert track.description == "a test ring"
    assert track.closed
    assert track.length == pytest.approx(2 * math.pi * 3, rel=0.02)  # a spline through 4 points
    np.testing.assert_allclose(track.widths, 0.8, atol=1e-9)
    spacing = np.diff(track.s)
    assert spacing.min() >= 0.15 and spacing.max() <= 0.25
    assert float(track.curvature_at(1.0)) == pytest.approx(1 / 3, rel=0.1)


def test_toml_open_with_widths(tmp_path: Path) -> None:
    text = """
name = "strip"
width_m = 1.0
closed = false
spacing_m = 0.25
points = [[0, 0], [2, 0.5], [4, 0], [6, -0.5], [8, 0]]
widths_m = [1.0, 0.9, 0.8, 0.9, 1.0]
"""
    track = load_track(write_toml(tmp_path / "strip.track.toml", text))
    assert not track.closed
    np.testing.assert_allclose(track.center[0], [0, 0], atol=1e-12)
    np.testing.assert_allclose(track.center[-1], [8, 0], atol=1e-12)
    assert track.min_width == pytest.approx(0.8, abs=0.01)
    assert track.max_width == pytest.approx(1.0)


# ---------------------------------------------------------------- validation errors


def rows_error(tmp_path: Path, rows: np.ndarray, match: str) -> str:
    path = write_npy(tmp_path / "bad.npy", rows)
    with pytest.raises(TrackError, match=match) as info:
        load_track(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_error_too_few_points(tmp_path: Path) -> None:
    rows = circle_rows(3)
    rows_error(tmp_path, np.vstack((rows, rows[:1])), "too few waypoints")


def test_error_nan(tmp_path: Path) -> None:
    rows = circle_rows(20)
    rows[4, 3] = np.inf
    rows_error(tmp_path, rows, "row 4 contains NaN or infinite")


def test_error_zero_width(tmp_path: Path) -> None:
    rows = circle_rows(20)
    rows[5, 2:4] = rows[5, 4:6]
    rows_error(tmp_path, rows, "road width at waypoint 5")


def test_error_wrong_shape(tmp_path: Path) -> None:
    rows_error(tmp_path, np.zeros((10, 4)), r"shape \(N, 6\)")
    rows_error(tmp_path, np.zeros(10), r"shape \(N, 6\)")


def test_error_self_intersecting_centre_line(tmp_path: Path) -> None:
    t = np.linspace(0, 2 * np.pi, 81)  # closed: the last row repeats the first
    c = np.stack((4 * np.sin(t), 2 * np.sin(2 * t)), axis=1)  # a figure eight
    rows = np.hstack((c, c + [0, 0.1], c - [0, 0.1]))
    rows_error(tmp_path, rows, "centre line crosses itself")


def test_error_crossing_borders(tmp_path: Path) -> None:
    rows = circle_rows(60, r=1.0, w=2.6)  # the inner border passes the circle's centre
    rows_error(tmp_path, rows, "border")


def test_error_tight_turn_in_toml(tmp_path: Path) -> None:
    text = CIRCLE_TOML.replace("width_m = 0.8", "width_m = 5.0")
    with pytest.raises(TrackError, match="too tight|crosses itself"):
        load_track(write_toml(tmp_path / "tight.track.toml", text))


def test_error_corrupt_files(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.npy"
    bad.write_bytes(b"this is not numpy")
    with pytest.raises(TrackError, match=r"corrupt\.npy: cannot read"):
        load_track(bad)
    toml = write_toml(tmp_path / "broken.track.toml", "name = [unclosed")
    with pytest.raises(TrackError, match=r"broken\.track\.toml: not valid TOML"):
        load_track(toml)
    with pytest.raises(TrackError, match="no such track file"):
        load_track(tmp_path / "missing.npy")
    other = tmp_path / "track.csv"
    other.write_text("1,2")
    with pytest.raises(TrackError, match="unknown track file type"):
        load_track(other)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("width_m = 1\npoints = [[0,0],[1,0],[1,1],[0,1]]\ncolour = 'red'", "unknown key"),
        ("points = [[0,0],[1,0],[1,1],[0,1]]", "missing key 'width_m'"),
        ("width_m = -1\npoints = [[0,0],[1,0],[1,1],[0,1]]", "width must be > 0"),
        ("width_m = 1", "missing key 'points'"),
        ("width_m = 1\npoints = [[0,0],[1,0],[1,1]]", "too few control points"),
        ("width_m = 1\npoints = [[0,0,0],[1,0,0],[1,1,0],[0,1,0]]", "list of \\[x, y\\]"),
        ("width_m = 1\npoints = [[0,0],[4,0],[4,4],[0,4]]\nwidths_m = [1, 2]", "widths_m"),
        ("width_m = 1\nclosed = 'yes'\npoints = [[0,0],[4,0],[4,4],[0,4]]", "'closed'"),
        ("width_m = 'wide'\npoints = [[0,0],[4,0],[4,4],[0,4]]", "must be a number"),
        ("width_m = 1\nspacing_m = 5\npoints = [[0,0],[4,0],[4,4],[0,4]]", "spacing_m"),
    ],
)
def test_toml_errors(tmp_path: Path, body: str, match: str) -> None:
    path = write_toml(tmp_path / "bad.track.toml", body)
    with pytest.raises(TrackError, match=match) as info:
        load_track(path)
    assert str(path) in str(info.value)


def test_unknown_name_suggests() -> None:
    with pytest.raises(TrackError) as info:
        load_track("ovall")
    message = str(info.value)
    assert "did you mean 'oval'" in message
    for name in BUILTINS:
        assert name in message
    with pytest.raises(TrackError, match="seed must be an integer"):
        load_track("random:abc")


def test_validate_track_names_the_track() -> None:
    rows = circle_rows(60, r=1.0, w=2.6)
    track = Track(rows[:, :2], rows[:, 2:4], rows[:, 4:6], closed=True, name="bad")
    with pytest.raises(TrackError, match="^track 'bad': "):
        validate_track(track)
    assert validate_track(load_track("oval")).name == "oval"


# ---------------------------------------------------------------- built-ins


def test_builtin_names() -> None:
    assert builtin_track_names() == BUILTINS
    assert load_track().name == "oval"  # the default track


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_tracks_are_valid_deepracer_size(name: str) -> None:
    track = load_track(name)
    assert track.name == name
    assert track.source == "built-in"
    assert track.closed
    assert track.description
    validate_track(track)
    assert 17.0 <= track.length <= 35.0
    assert track.min_width >= 0.75 and track.max_width <= 1.1 + 1e-9
    assert track.min_radius >= 0.5  # drivable by a 1/18 car
    assert track.min_radius >= 1.3 * track.max_width / 2
    spacing = track.segment_lengths
    assert spacing.min() >= 0.15 and spacing.max() <= 0.25
    assert track.turns() >= 2
    assert track.on_track(track.center).all()


def test_builtin_character() -> None:
    assert load_track("narrow").max_width == pytest.approx(0.76)
    assert load_track("speedway").length > 30.0
    technical = load_track("technical")
    signs = [sign for _, _, sign in technical.turn_spans()]
    assert -1 in signs and 1 in signs  # the S-bend turns both ways
    assert load_track("oval").turns() == 2


def test_builtins_are_cached_and_read_only() -> None:
    assert load_track("oval") is load_track("oval")
    assert not load_track("oval").center.flags.writeable


# ---------------------------------------------------------------- user library


def test_import_npy_and_toml(tmp_path: Path, racer_home: Path) -> None:
    rows = circle_rows(60)
    npy = write_npy(tmp_path / "MyRing.npy", np.vstack((rows, rows[:1])))
    dest = import_track(npy, name="ring")
    assert dest == racer_home / "tracks" / "ring.npy"
    np.testing.assert_allclose(np.load(dest), np.vstack((rows, rows[:1])))
    track = load_track("ring")
    assert track.name == "ring" and track.source == "user"
    toml = write_toml(tmp_path / "t.track.toml", CIRCLE_TOML)
    assert import_track(toml).name == "t.track.toml"
    assert load_track("t").name == "t"
    infos = {info.name: info.source for info in list_tracks()}
    assert infos["ring"] == "user" and infos["t"] == "user" and infos["oval"] == "built-in"


def test_import_refuses_builtin_and_existing_names(tmp_path: Path) -> None:
    rows = circle_rows(60)
    npy = write_npy(tmp_path / "ring.npy", rows)
    with pytest.raises(TrackError, match="built-in"):
        import_track(npy, name="oval")
    import_track(npy)
    with pytest.raises(TrackError, match="--force"):
        import_track(npy)
    toml = write_toml(tmp_path / "ring.track.toml", CIRCLE_TOML)
    dest = import_track(toml, name="ring", force=True)
    assert dest.name == "ring.track.toml"
    assert not dest.with_name("ring.npy").exists()  # one file per name
    with pytest.raises(TrackError, match="bad track name"):
        import_track(npy, name="../evil")


def test_import_rejects_invalid_file(tmp_path: Path, racer_home: Path) -> None:
    bad = write_npy(tmp_path / "bad.npy", np.zeros((5, 3)))
    with pytest.raises(TrackError, match="bad.npy"):
        import_track(bad)
    assert not (racer_home / "tracks").exists() or not any((racer_home / "tracks").iterdir())


# ---------------------------------------------------------------- imports stay light


def test_racer_track_imports_no_heavy_modules() -> None:
    code = (
        "import sys, racer.track, racer.track.loading; "
        "heavy = {'pybullet', 'torch', 'gymnasium', 'matplotlib'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
