"""The racing line: inside the road, exact on circles, a feasible speed profile, CSV, cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES

from racer.errors import ConfigError, TrackError
from racer.track import (
    CarLimits,
    Track,
    builtin_track_names,
    centerline_line,
    generate_track,
    load_line_csv,
    load_track,
    plot_racing_line,
    profile_lap_time,
    racing_line,
    speed_profile,
)

DATA = Path(__file__).parent / "data"
LIMITS = CarLimits()
TOL_M = 1e-3  # m, clearance tolerance of the border check


def ring(r: float, w: float, n: int = 400) -> Track:
    """A counter-clockwise ring of centre-line radius r and width w."""
    theta = 2.0 * np.pi * np.arange(n) / n
    u = np.stack((np.cos(theta), np.sin(theta)), axis=1)
    return Track(u * r, u * (r - w / 2), u * (r + w / 2), closed=True, name=f"ring-{r}-{w}")


def polyline_distance(points: np.ndarray, poly: np.ndarray, closed: bool) -> np.ndarray:
    """Distance from each point to every segment of a polyline (brute force)."""
    a = poly if closed else poly[:-1]
    b = np.roll(poly, -1, axis=0) if closed else poly[1:]
    d = b - a
    r = points[:, None, :] - a[None, :, :]
    t = np.clip(np.sum(r * d, axis=2) / np.sum(d * d, axis=1), 0.0, 1.0)
    e = r - t[..., None] * d
    return np.sqrt(np.min(np.sum(e * e, axis=2), axis=1))


def check_inside(track: Track, method: str, margin: float = 0.05) -> None:
    line = racing_line(track, safety_margin_m=margin, method=method)
    half = LIMITS.car_width_m / 2 + margin
    for border in (track.left, track.right):
        dist = polyline_distance(line.xy, border, track.closed)
        assert dist.min() >= half - TOL_M, (track.name, method, float(dist.min()))
    inner = line.xy if track.closed else line.xy[1:-1]  # open ends lie on the end lines
    assert np.all(track.on_track(inner))
    assert line.lap_time_s <= centerline_line(track).lap_time_s + 1e-9


def tracks_to_check() -> list[Track]:
    tracks = [load_track(name) for name in builtin_track_names()]
    tracks += [t.reversed() for t in tracks]
    tracks += [generate_track(seed) for seed in (1, 5)]
    tracks.append(load_track(DATA / "strip.track.toml"))
    return tracks


@pytest.mark.parametrize("method", ["min-time", "min-curvature"])
def test_line_stays_inside_the_road_margin(method: str) -> None:
    for track in tracks_to_check():
        check_inside(track, method)


def test_wider_margin_keeps_more_clearance() -> None:
    check_inside(load_track("technical"), "min-time", margin=0.15)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="DeepRacer samples not in the team workspace")
def test_deepracer_tracks() -> None:
    for name in ("Oval_track", "Vegas_track"):
        track = load_track(SAMPLES / f"{name}.npy")
        check_inside(track, "min-time")
        check_inside(track.reversed(), "min-curvature")


@pytest.mark.parametrize(
    ("radius", "top_speed"),
    [(1.0, 4.0), (5.0, 4.0), (5.0, 10.0)],  # lateral limit binds; top speed binds; lateral again
)
def test_circle_bound_is_exact(radius: float, top_speed: float) -> None:
    limits = CarLimits(top_speed_mps=top_speed)
    for method in ("min-curvature", "min-time"):
        line = racing_line(ring(radius, 0.6), limits=limits, method=method)
        r = np.hypot(line.xy[:, 0], line.xy[:, 1])
        assert r.std() < 1e-3 * r.mean()
        r_line = float(r.mean())
        v = min(top_speed, math.sqrt(limits.lateral_accel_mps2 * r_line))
        assert line.lap_time_s == pytest.approx(2 * math.pi * r_line / v, rel=0.01)
        assert line.speed_mps.min() == pytest.approx(v, rel=0.01)
        half = limits.car_width_m / 2 + line.safety_margin_m
        assert radius - 0.3 + half - 1e-3 <= r_line <= radius + 0.3 - half + 1e-3


def test_narrow_ring_line_is_the_centre_line() -> None:
    r, w = 2.0, LIMITS.car_width_m + 0.1 + 0.004  # 2 mm of room each side
    line = racing_line(ring(r, w))
    assert np.abs(line.lateral_m).max() < 0.003
    v = min(LIMITS.top_speed_mps, math.sqrt(LIMITS.lateral_accel_mps2 * r))
    assert line.lap_time_s == pytest.approx(2 * math.pi * r / v, rel=0.01)


def test_profile_respects_the_car_limits() -> None:
    braking = []
    for name in builtin_track_names():
        line = racing_line(load_track(name))
        v, k = line.speed_mps, line.curvature
        ds = np.diff(np.append(line.s_m, line.length_m))
        v_next = np.roll(v, -1)
        assert np.all(v_next**2 <= v**2 + 2 * LIMITS.accel_mps2 * ds + 1e-9)
        assert np.all(v**2 <= v_next**2 + 2 * LIMITS.brake_mps2 * ds + 1e-9)
        assert np.all(v**2 * np.abs(k) <= LIMITS.lateral_accel_mps2 + 1e-9)
        assert np.all(v <= LIMITS.top_speed_mps + 1e-12)
        assert np.abs(k).max() <= LIMITS.max_curvature_per_m and not line.exceeds_steering
        # Braking points: where the backward pass holds the speed below the forward pass.
        assert not line.braking.all()
        braking.append(bool(line.braking.any()))
    assert any(braking)


def test_min_time_beats_min_curvature_beats_centre_line() -> None:
    for name in builtin_track_names():
        track = load_track(name)
        mt = racing_line(track, method="min-time").lap_time_s
        mc = racing_line(track, method="min-curvature").lap_time_s
        cl = centerline_line(track).lap_time_s
        assert mt <= mc + 1e-9 <= cl + 2e-9, (name, mt, mc, cl)
        assert racing_line(track).standing_lap_time_s > mt


def test_speed_profile_basics() -> None:
    k = np.full(100, 1.0)
    v = speed_profile(k, 0.1, LIMITS, closed=True)
    assert np.allclose(v, 3.0)
    # An open straight from rest: v^2 = 2 a s until the top speed, braking at the end is free.
    v = speed_profile(np.zeros(201), 0.01, LIMITS, closed=False)
    s = np.arange(201) * 0.01
    assert np.allclose(v, np.minimum(np.sqrt(2 * 6.0 * s), 4.0))
    # 4 m/s after 4 / 6 s and 16 / 12 m at 6 m/s^2, then the rest of the 2 m at 4 m/s.
    expected = 4 / 6 + (2 - 16 / 12) / 4
    assert profile_lap_time(v, 0.01, closed=False) == pytest.approx(expected, rel=1e-5)
    assert profile_lap_time(np.full(10, 2.0), 0.5, closed=True) == pytest.approx(2.5)
    # A start speed on a loop: one lap from that speed.
    v0 = speed_profile(k, 0.1, LIMITS, closed=True, v_start_mps=0.0)
    assert v0[0] == 0.0 and v0[-1] == pytest.approx(3.0)


def test_open_track_runs_from_rest_to_the_end() -> None:
    track = load_track(DATA / "strip.track.toml")
    line = racing_line(track)
    assert not line.closed and line.speed_mps[0] == 0.0
    assert line.lap_time_s == line.standing_lap_time_s
    assert line.center_s_m[0] == pytest.approx(0.0, abs=1e-6)
    assert line.center_s_m[-1] == pytest.approx(track.length, abs=1e-3)
    assert line.time_s[-1] == pytest.approx(line.lap_time_s)


def test_fields_are_consistent() -> None:
    track = load_track("oval")
    line = racing_line(track)
    m = line.n_points
    for a in (line.s_m, line.curvature, line.heading_rad, line.speed_mps, line.time_s):
        assert a.shape == (m,) and not a.flags.writeable
    assert line.xy.shape == (m, 2)
    assert line.length_m == pytest.approx(
        float(np.sum(np.hypot(*(np.roll(line.xy, -1, axis=0) - line.xy).T)))
    )
    assert np.all(np.diff(line.time_s) > 0) and line.time_s[-1] < line.lap_time_s
    proj = track.project(line.xy)
    assert np.allclose(line.lateral_m, proj.lateral) and np.allclose(line.center_s_m, proj.s)
    summary = line.summary()
    assert summary["bound_s"] == pytest.approx(line.lap_time_s, abs=1e-4)
    assert summary["centerline_bound_s"] == pytest.approx(centerline_line(track).lap_time_s, 1e-4)
    assert summary["length_m"] == pytest.approx(track.length, abs=1e-3)
    assert set(summary) >= {"line_length_m", "standing_lap_s", "top_speed_mps", "min_speed_mps"}


def test_nearest_and_at_center_s() -> None:
    track = load_track("loop")
    line = racing_line(track)
    near = line.nearest(line.xy[5])
    assert near.distance_m == pytest.approx(0.0, abs=1e-9) and near.s_m == pytest.approx(
        line.s_m[5]
    )
    assert near.speed_mps == pytest.approx(line.speed_mps[5])
    # A point beside segment 10's middle, 0.2 m to the left of the line.
    mid = 0.5 * (line.xy[10] + line.xy[11])
    d = line.xy[11] - line.xy[10]
    off = np.array([-d[1], d[0]]) / np.hypot(*d) * 0.2
    near = line.nearest(np.array([[mid + off, mid], [mid, mid - off]]))
    assert near.index.shape == (2, 2) and near.xy.shape == (2, 2, 2)
    assert near.distance_m[0, 0] == pytest.approx(0.2, abs=1e-6)
    assert np.allclose(near.xy[0, 0], mid, atol=1e-6)
    lo, hi = sorted((line.speed_mps[10], line.speed_mps[11]))
    assert lo - 1e-12 <= near.speed_mps[0, 1] <= hi + 1e-12
    # By centre-line arc length: the line point beside it, wrapping on the loop.
    at = line.at_center_s(line.center_s_m[7])
    assert np.allclose(at.xy, line.xy[7], atol=1e-6)
    wrapped = line.at_center_s(np.array([1.0, 1.0 + track.length, 1.0 - track.length]))
    assert np.allclose(wrapped.xy[0], wrapped.xy[1]) and np.allclose(wrapped.xy[0], wrapped.xy[2])
    assert float(track.project(wrapped.xy[0]).s) == pytest.approx(1.0, abs=0.02)


def test_csv_round_trip(tmp_path: Path) -> None:
    line = racing_line(load_track("oval"))
    path = line.to_csv(tmp_path / "sub" / "line.csv")
    assert path.read_text().splitlines()[0] == "s_m,x_m,y_m,speed_mps"
    rows = load_line_csv(path)
    assert rows.shape == (line.n_points, 4)
    assert np.allclose(rows[:, 0], line.s_m, atol=1e-6)
    assert np.allclose(rows[:, 1:3], line.xy, atol=1e-6)
    assert np.allclose(rows[:, 3], line.speed_mps, atol=1e-6)
    assert [p.name for p in path.parent.iterdir()] == ["line.csv"]  # no temporary left


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "header"),
        ("s,x,y,v\n0,0,0,1\n1,1,0,1\n", "header"),
        ("s_m,x_m,y_m,speed_mps\n0,0,0,1\n1,1,0\n", ":3:"),
        ("s_m,x_m,y_m,speed_mps\n0,0,0,1\n1,1,zero,1\n", ":3:"),
        ("s_m,x_m,y_m,speed_mps\n0,0,0,1\n", "at least 2 rows"),
        ("s_m,x_m,y_m,speed_mps\n0,0,0,1\n1,1,0,nan\n", "NaN"),
        ("s_m,x_m,y_m,speed_mps\n0,0,0,1\n0,1,0,1\n", "increase"),
    ],
)
def test_malformed_csv_raises(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TrackError, match=needle) as info:
        load_line_csv(path)
    assert "\n" not in str(info.value) and "bad.csv" in str(info.value)


def test_missing_csv_raises(tmp_path: Path) -> None:
    with pytest.raises(TrackError, match="cannot read"):
        load_line_csv(tmp_path / "none.csv")


def test_cache_returns_the_same_object() -> None:
    track = load_track("speedway")
    line = racing_line(track)
    assert racing_line(load_track("speedway")) is line
    assert racing_line(track, safety_margin_m=0.1) is not line
    assert racing_line(track, method="min-curvature") is not line
    assert centerline_line(track) is centerline_line(track)


def test_bad_options_raise_config_error() -> None:
    track = load_track("oval")
    with pytest.raises(ConfigError, match="method"):
        racing_line(track, method="fastest")
    with pytest.raises(ConfigError, match="margin"):
        racing_line(track, safety_margin_m=-0.1)
    with pytest.raises(ConfigError, match="too narrow"):
        racing_line(track, safety_margin_m=0.45)
    with pytest.raises(ConfigError, match="brake_mps2"):
        CarLimits(brake_mps2=0.0)
    with pytest.raises(ConfigError, match="top_speed_mps"):
        CarLimits(top_speed_mps=float("nan"))


def test_tight_road_beyond_the_steering_lock_is_reported() -> None:
    # The widest circle the margin leaves is 0.205 m, tighter than the steering (~0.28 m).
    line = racing_line(ring(0.2, 0.3), method="min-curvature")
    assert line.exceeds_steering
    assert np.isfinite(line.lap_time_s)


def test_plot_racing_line(tmp_path: Path) -> None:
    track = load_track("technical")
    out = plot_racing_line(racing_line(track), track, tmp_path / "line.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
