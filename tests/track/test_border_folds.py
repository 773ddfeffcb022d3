"""Local border folds (#13, part 3): a track DeepRacer accepts must load.

DeepRacer's ``Tokyo_Training_track.npy`` was refused with "the left border runs backwards at
waypoint 139": on the inside of a turn tighter than half the road width, a border polyline
doubles back over a few waypoints. That file is not available here, so the tracks below build
the same kind of fold: a loop whose borders are the centre line offset by half the width (as a
track tool makes them), with one turn tight enough that the inner border runs backwards. Loading
pinches such a fold to one point with one warning line; what cannot be driven is still refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, circle_rows
from testlib.cli import run_cli

from racer.errors import TrackError
from racer.track import Track, builtin_track_names, load_track, racing_line
from racer.track.loading import track_from_deepracer
from racer.track.spline import smooth_centerline
from racer.track.validation import (
    MAX_FOLD_SEGMENTS,
    _backward,
    repair_border_folds,
    validate_track,
)

WIDTH_M = 1.07  # DeepRacer's newer tracks
EXTRA = Path("/work/tracks-extra")  # real track geometry beside the repository, when present


def notch_loop(tip_m: float, spacing_m: float, spread_m: float = 0.5) -> np.ndarray:
    """DeepRacer rows of a loop with a tight right-hand notch; borders offset by half the width.

    The notch dips ``tip_m`` into the loop; its apex is tighter than half the road width, so the
    right (inner) border folds there. The first row is repeated at the end, as in DeepRacer's.
    """
    points = np.array(
        [
            [0, 0],
            [6, 0],
            [7, 1.5],
            [6, 3],
            [4, 3],
            [3.1 + spread_m, 3.4 - tip_m],
            [3.0, 3.0 - tip_m],
            [2.9 - spread_m, 3.4 - tip_m],
            [2, 3],
            [0, 3],
            [-1, 1.5],
        ],
        dtype=np.float64,
    )
    widths = np.full(len(points), WIDTH_M)
    center, normal, _ = smooth_centerline(points, closed=True, spacing_m=spacing_m, widths=widths)
    half = WIDTH_M / 2
    # A counter-clockwise loop: its inner border is the left one; the notch turns right.
    rows = np.hstack((center, center + normal * half, center - normal * half))
    return np.vstack((rows, rows[:1]))


def tokyo_like_rows() -> np.ndarray:
    """The inner border runs backwards at one waypoint without crossing itself (Tokyo's case)."""
    return notch_loop(tip_m=0.8, spacing_m=0.4)


def z_fold_rows() -> np.ndarray:
    """The notch's inside border doubles back over three waypoints at the apex, as a border
    sampled from a mesh does on a tight inside corner, without crossing itself."""
    rows = notch_loop(tip_m=1.8, spacing_m=0.25, spread_m=0.6)[:-1]
    center, right = rows[:, :2], rows[:, 4:6]
    apex = int(np.argmin(Track(center, rows[:, 2:4], right, closed=True).curvatures))
    step = right[apex + 1] - right[apex - 1]
    step /= np.hypot(*step)
    away = right[apex] - center[apex]
    away /= np.hypot(*away)
    for j in (1, 2, 3):
        right[apex + j] = right[apex] - 0.02 * j * step + 0.01 * j * away
    return np.vstack((rows, rows[:1]))


def swallowtail_rows() -> np.ndarray:
    """A tighter apex: the inner border runs backwards and loops over itself, locally."""
    return notch_loop(tip_m=1.4, spacing_m=0.25)


def save(path: Path, rows: np.ndarray) -> Path:
    np.save(path, rows)
    return path


def raw_track(rows: np.ndarray) -> Track:
    return track_from_deepracer(rows, name="raw")


# ---------------------------------------------------------------------------- the fold loads


@pytest.mark.parametrize(
    ("make", "refusal"),
    [
        (tokyo_like_rows, "the right border runs backwards at waypoint"),
        (z_fold_rows, "the right border runs backwards at waypoint"),
        (swallowtail_rows, "the right border crosses itself"),
    ],
)
def test_folded_track_loads_with_one_warning(
    make, refusal: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = make()
    raw = raw_track(rows)
    with pytest.raises(TrackError, match=refusal):  # what the file holds, checked as it is
        validate_track(raw, radius_margin=None)
    path = save(tmp_path / "folded.npy", rows)
    track = load_track(path)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"racer: warning: {path}: the right border folds back at waypoints ")
    assert "repaired" in line and "moved up to" in line
    # The repair moved only the right border's points in the named stretch, and not far.
    first, last = (int(v) for v in line.split("waypoints ")[1].split(" ")[0].split("-"))
    moved = np.flatnonzero(np.any(track.right != raw.right, axis=1))
    assert moved.size and moved.min() >= first and moved.max() <= last <= first + 20
    assert np.array_equal(track.left, raw.left) and np.array_equal(track.center, raw.center)
    assert np.max(np.hypot(*(track.right - raw.right).T)) < 0.3
    assert not _backward(track.center, track.right, True).any()
    # Loading it again in this process says nothing more.
    load_track(path)
    assert capsys.readouterr().err == ""


def fold_window(track: Track, raw: Track) -> np.ndarray:
    moved = np.flatnonzero(np.any(track.right != raw.right, axis=1))
    return np.arange(moved.min() - 3, moved.max() + 4) % track.n_waypoints


@pytest.mark.parametrize("make", [tokyo_like_rows, z_fold_rows, swallowtail_rows])
def test_geometry_is_sane_through_the_fold(make, tmp_path: Path) -> None:
    rows = make()
    track = load_track(save(tmp_path / "folded.npy", rows))
    window = fold_window(track, raw_track(rows))
    # Centre line between the waypoints and a third of the way to each border: on the road.
    a, b = track.center[window], track.center[(window + 1) % track.n_waypoints]
    mid = 0.5 * (a + b)
    assert np.all(track.on_track(mid))
    for border in (track.left, track.right):
        assert np.all(track.on_track(a + (border[window] - a) / 3.0))
    # Well beyond the outer (left) border: off the road.
    assert not np.any(track.on_track(a + (track.left[window] - a) * 1.6))
    # Projection: the centre line projects onto itself, in order, with the right side negative.
    proj = track.project(mid)
    assert np.all(proj.distance < 1e-9)
    assert np.all(np.diff(np.unwrap(proj.s, period=track.length)) > 0.0)
    side = track.project(a + 0.2 * (track.right[window] - a))
    assert np.all(side.lateral < 0.0)
    n = track.n_waypoints
    assert np.array_equal(track.closest_waypoints(mid), np.stack((window, (window + 1) % n), 1))


@pytest.mark.parametrize("make", [tokyo_like_rows, z_fold_rows, swallowtail_rows])
def test_racing_line_on_a_folded_track(make, tmp_path: Path) -> None:
    track = load_track(save(tmp_path / "folded.npy", make()))
    line = racing_line(track)
    assert np.isfinite(line.lap_time_s) and line.lap_time_s > 0.0
    assert np.all(track.on_track(line.xy))


def test_centerline_follower_laps_the_folded_track(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = save(tmp_path / "folded.npy", z_fold_rows())
    code, out, err = run_cli(
        ["evaluate", "expert:centerline", "--track", str(path), "--trials", "1"], capsys
    )
    assert code == 0, err
    assert "folds back" in err and len([x for x in err.splitlines() if "warning" in x]) == 1
    assert "lap_complete" in out and "100.0" in out and "1/1 trials complete" in out, out


# ---------------------------------------------------------------------------- still refused


def test_a_whole_border_running_backwards_is_refused(tmp_path: Path) -> None:
    rows = circle_rows(60, r=1.0, w=2.6)  # the inner border circles the wrong side of the centre
    with pytest.raises(TrackError, match="border") as info:
        load_track(save(tmp_path / "inside_out.npy", np.vstack((rows, rows[:1]))))
    assert "\n" not in str(info.value)


def test_a_long_fold_is_refused(tmp_path: Path) -> None:
    rows = notch_loop(tip_m=1.8, spacing_m=0.25, spread_m=0.6)[:-1]
    left = rows[:, 2:4]
    start, span = 5, MAX_FOLD_SEGMENTS + 4  # on the first straight, longer than a local fold
    back = left[start] - left[start + 1]
    left[start : start + span + 1] = left[start] + np.arange(span + 1)[:, None] * 0.2 * back
    with pytest.raises(TrackError, match="border") as info:
        load_track(save(tmp_path / "long.npy", np.vstack((rows, rows[:1]))))
    assert "\n" not in str(info.value)


def test_validate_refuses_an_unrepaired_fold_and_a_border_standing_still() -> None:
    raw = raw_track(tokyo_like_rows())
    with pytest.raises(TrackError, match="runs backwards at waypoint"):
        validate_track(raw, radius_margin=None)
    repaired, folds = repair_border_folds(raw)
    assert len(folds) == 1 and folds[0].side == "right"
    assert validate_track(repaired, radius_margin=None) is repaired
    rows = circle_rows(100)
    rows[10:60, 2:4] = rows[10, 2:4]  # the inner border stops for 50 waypoints
    still = Track(rows[:, :2], rows[:, 2:4], rows[:, 4:6], closed=True)
    with pytest.raises(TrackError, match="stands still over 49 waypoints"):
        validate_track(still, radius_margin=None)


# ---------------------------------------------------------------------------- nothing else changes


def _digest(track: Track) -> str:
    data = np.hstack((track.center, track.left, track.right)).astype("<f8").tobytes()
    return hashlib.sha256(data + bytes([track.closed])).hexdigest()


def real_files() -> list[Path]:
    return sorted([*SAMPLES.glob("*.npy"), *EXTRA.glob("*.npy")])


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_deepracer_files_load_unchanged(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = np.load(path)
    raw = raw_track(rows)
    assert repair_border_folds(raw) == (raw, [])
    track = load_track(path)
    assert _digest(track) == _digest(raw)
    assert capsys.readouterr().err == ""


def test_builtin_tracks_have_no_folds() -> None:
    for name in builtin_track_names():
        track = load_track(name)
        assert repair_border_folds(track) == (track, []), name
