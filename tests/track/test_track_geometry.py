"""Geometry of Track against hand-computed cases: a circle (closed) and a straight (open)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import CIRCLE_N, CIRCLE_R, CIRCLE_W, circle_rows

from racer.errors import TrackError
from racer.track import Track, load_track

CHORD = 2.0 * CIRCLE_R * math.sin(math.pi / CIRCLE_N)  # m, segment length of the circle


def polar(r: float, theta: float) -> np.ndarray:
    return np.array([r * math.cos(theta), r * math.sin(theta)])


def test_circle_basic_properties(circle: Track) -> None:
    assert circle.closed
    assert circle.n_waypoints == CIRCLE_N
    assert circle.length == pytest.approx(CIRCLE_N * CHORD)
    assert circle.s[1] == pytest.approx(CHORD)
    assert circle.direction == "counter-clockwise"
    np.testing.assert_allclose(circle.widths, CIRCLE_W)
    np.testing.assert_array_equal(circle.inner, circle.left)  # CCW: the inside is on the left
    np.testing.assert_array_equal(circle.outer, circle.right)
    assert circle.min_radius == pytest.approx(CIRCLE_R, rel=1e-3)
    assert circle.turns() == 0  # radius 5 m: curvature 0.2 1/m is below the 0.3 threshold
    assert circle.turns(threshold=0.1) == 1


@pytest.mark.parametrize("i", [0, 1, 25, 50, 99])
def test_circle_progress_at_waypoints(circle: Track, i: int) -> None:
    theta = 2.0 * math.pi * i / CIRCLE_N
    proj = circle.project(polar(CIRCLE_R, theta))
    assert float(proj.s) == pytest.approx(i * CHORD, abs=1e-9)
    assert float(proj.distance) == pytest.approx(0.0, abs=1e-9)
    assert float(circle.progress(polar(CIRCLE_R, theta))) == pytest.approx(100.0 * i / CIRCLE_N)


@pytest.mark.parametrize("theta_deg", [10.0, 90.0, 181.8, 300.0, 359.9])
def test_circle_progress_at_any_angle(circle: Track, theta_deg: float) -> None:
    p = polar(CIRCLE_R, math.radians(theta_deg))
    assert float(circle.progress(p)) == pytest.approx(theta_deg / 3.6, abs=0.02)
    # The start point moves progress by the same fraction of the lap.
    quarter = circle.length / 4
    expected = (theta_deg / 3.6 - 25.0) % 100.0
    assert float(circle.progress(p, start_s=quarter)) == pytest.approx(expected, abs=0.02)


def test_circle_distance_and_side(circle: Track) -> None:
    theta = math.radians(37.0)
    sag = CIRCLE_R * (1.0 - math.cos(math.pi / CIRCLE_N))  # chord-to-arc bulge, m
    inside = circle.project(polar(CIRCLE_R - 0.3, theta))
    outside = circle.project(polar(CIRCLE_R + 0.3, theta))
    assert float(inside.distance) == pytest.approx(0.3, abs=sag + 1e-3)
    assert float(outside.distance) == pytest.approx(0.3, abs=sag + 1e-3)
    assert float(inside.lateral) > 0.0  # counter-clockwise: inside is left
    assert float(outside.lateral) < 0.0
    assert abs(float(inside.lateral)) == pytest.approx(float(inside.distance))
    # Driving the other way, the inside is on the right.
    rev = circle.reversed()
    assert float(rev.project(polar(CIRCLE_R - 0.3, theta)).lateral) < 0.0


def test_circle_heading_and_curvature(circle: Track) -> None:
    proj = circle.project(polar(CIRCLE_R, 0.01))
    assert float(proj.heading_rad) == pytest.approx(math.pi / 2 + math.pi / CIRCLE_N)
    assert float(circle.heading_at(0.0)) == pytest.approx(math.pi / 2 + math.pi / CIRCLE_N)
    np.testing.assert_allclose(circle.curvature_at(np.linspace(0, 40, 7)), 1 / CIRCLE_R, rtol=1e-3)
    assert float(circle.reversed().curvature_at(3.0)) == pytest.approx(-1 / CIRCLE_R, rel=1e-3)


def test_closest_waypoints_across_the_seam(circle: Track) -> None:
    n = CIRCLE_N
    after = polar(CIRCLE_R, 0.2 * 2 * math.pi / n)
    before = polar(CIRCLE_R, -0.2 * 2 * math.pi / n)
    assert circle.closest_waypoints(after).tolist() == [0, 1]
    assert circle.closest_waypoints(before).tolist() == [n - 1, 0]
    both = circle.closest_waypoints(np.stack((after, before)))
    assert both.shape == (2, 2)
    assert both.tolist() == [[0, 1], [n - 1, 0]]
    # Progress just before the seam is just under 100, and s stays within [0, length).
    s = float(circle.project(before).s)
    assert 0.0 <= s < circle.length
    assert float(circle.progress(before)) == pytest.approx(99.8, abs=0.01)
    # A point exactly on waypoint 5 is between waypoints 5 and 6.
    on5 = polar(CIRCLE_R, 5 * 2 * math.pi / n)
    assert circle.closest_waypoints(on5).tolist() == [5, 6]


def test_project_shapes_and_single_matches_batch(circle: Track) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-7, 7, size=(3, 5, 2))
    batch = circle.project(pts)
    assert batch.s.shape == (3, 5)
    assert batch.segment.shape == (3, 5)
    assert circle.closest_waypoints(pts).shape == (3, 5, 2)
    for idx in np.ndindex(3, 5):
        one = circle.project(pts[idx])
        assert np.shape(one.s) == ()
        assert float(one.s) == pytest.approx(float(batch.s[idx]), abs=1e-9)
        assert float(one.lateral) == pytest.approx(float(batch.lateral[idx]), abs=1e-9)
        assert int(one.segment) == int(batch.segment[idx])
        assert float(one.heading_rad) == pytest.approx(float(batch.heading_rad[idx]))


def test_project_matches_brute_force() -> None:
    track = load_track("technical")
    rng = np.random.default_rng(1)
    lo, hi = track.center.min(axis=0) - 1, track.center.max(axis=0) + 1
    pts = rng.uniform(lo, hi, size=(2000, 2))
    a = track.center
    d = np.roll(a, -1, axis=0) - a
    t = np.clip(np.einsum("mkj,kj->mk", pts[:, None] - a[None], d) / np.sum(d * d, axis=1), 0, 1)
    dist = np.linalg.norm(pts[:, None] - (a[None] + t[..., None] * d[None]), axis=2).min(axis=1)
    np.testing.assert_allclose(track.project(pts).distance, dist, atol=1e-12)


def test_point_at_wraps_and_lies_on_the_line(circle: Track) -> None:
    s = np.array([0.0, 1.0, 17.3, circle.length - 1e-6])
    pts = circle.point_at(s)
    np.testing.assert_allclose(circle.project(pts).distance, 0.0, atol=1e-9)
    np.testing.assert_allclose(circle.point_at(s + circle.length), pts, atol=1e-9)
    np.testing.assert_allclose(circle.point_at(-circle.length + 1.0), circle.point_at(1.0))
    np.testing.assert_allclose(circle.width_at(s), CIRCLE_W)


def test_on_track_circle(circle: Track) -> None:
    theta = 1.234
    assert bool(circle.on_track(polar(CIRCLE_R, theta)))
    assert bool(circle.on_track(polar(CIRCLE_R - 0.45, theta)))
    assert bool(circle.on_track(polar(CIRCLE_R + 0.45, theta)))
    assert not bool(circle.on_track(polar(CIRCLE_R - 0.55, theta)))
    assert not bool(circle.on_track(polar(CIRCLE_R + 0.55, theta)))
    assert not bool(circle.on_track(np.zeros(2)))  # the infield
    wheels = np.stack([polar(r, theta) for r in (4.4, 4.6, 5.4, 5.6)])
    assert circle.on_track(wheels).tolist() == [False, True, True, False]


def test_on_track_is_exact_for_the_border_polygon() -> None:
    from matplotlib.path import Path as MplPath

    track = load_track("narrow")
    rng = np.random.default_rng(2)
    lo, hi = track.outer.min(axis=0), track.outer.max(axis=0)
    pts = rng.uniform(lo, hi, size=(20000, 2))
    expected = MplPath(track.outer).contains_points(pts) & ~MplPath(track.inner).contains_points(
        pts
    )
    np.testing.assert_array_equal(track.on_track(pts), expected)
    one = [bool(track.on_track(p)) for p in pts[:200]]
    assert one == expected[:200].tolist()


def test_open_straight(straight: Track) -> None:
    assert not straight.closed
    assert straight.length == pytest.approx(10.0)
    assert straight.direction == "open"
    assert float(straight.progress([5.0, 0.3])) == pytest.approx(50.0)
    assert float(straight.progress([-1.0, 0.0])) == 0.0  # clamps before the start
    assert float(straight.progress([11.0, 0.0])) == 100.0  # and after the end
    assert float(straight.project([11.0, 0.0]).s) == pytest.approx(10.0)
    assert float(straight.progress([7.5, 0.0], start_s=5.0)) == pytest.approx(50.0)
    proj = straight.project(np.array([[2.0, 0.3], [2.0, -0.2]]))
    np.testing.assert_allclose(proj.lateral, [0.3, -0.2])
    np.testing.assert_allclose(proj.heading_rad, 0.0)
    assert straight.closest_waypoints([0.1, 0.0]).tolist() == [0, 1]
    assert straight.closest_waypoints([20.0, 0.0]).tolist() == [49, 50]
    assert straight.closest_waypoints([10.0, 0.0]).tolist() == [49, 50]
    assert straight.on_track([[5.0, 0.4], [5.0, 0.6], [-0.1, 0.0], [10.1, 0.0]]).tolist() == [
        True,
        False,
        False,
        False,
    ]
    np.testing.assert_allclose(straight.point_at([-3.0, 4.0, 99.0]), [[0, 0], [4, 0], [10, 0]])
    assert straight.turns() == 0
    np.testing.assert_allclose(straight.curvature_at([0.0, 5.0, 10.0]), 0.0)


def test_reversed(circle: Track, straight: Track) -> None:
    rev = circle.reversed()
    assert rev.name == "circle-reversed"
    assert rev.direction == "clockwise"
    np.testing.assert_array_equal(rev.center[0], circle.center[0])  # start line stays
    np.testing.assert_array_equal(rev.center[1], circle.center[-1])
    np.testing.assert_array_equal(rev.left, circle.right[[0, *range(CIRCLE_N - 1, 0, -1)]])
    np.testing.assert_array_equal(rev.inner, circle.inner[[0, *range(CIRCLE_N - 1, 0, -1)]])
    assert rev.length == pytest.approx(circle.length)
    back = rev.reversed()
    assert back.name == "circle"
    np.testing.assert_array_equal(back.center, circle.center)
    # A quarter lap forward is three quarters of the reversed lap.
    p = polar(CIRCLE_R, math.pi / 2)
    assert float(rev.progress(p)) == pytest.approx(75.0, abs=0.01)
    srev = straight.reversed()
    np.testing.assert_array_equal(srev.center[0], straight.center[-1])
    assert float(srev.progress([2.0, 0.0])) == pytest.approx(80.0)
    assert float(srev.project([2.0, 0.3]).lateral) == pytest.approx(-0.3)


def test_waypoints_list_is_cached(circle: Track) -> None:
    wl = circle.waypoints_list()
    assert wl is circle.waypoints_list()
    assert len(wl) == CIRCLE_N
    assert wl[0] == (CIRCLE_R, 0.0)
    assert all(type(v) is float for v in wl[3])


def test_arrays_are_read_only(circle: Track) -> None:
    with pytest.raises(ValueError):
        circle.center[0, 0] = 1.0


def test_constructor_rejects_bad_arrays() -> None:
    rows = circle_rows(8)
    c, left, right = rows[:, :2], rows[:, 2:4], rows[:, 4:6]
    with pytest.raises(TrackError, match="shape"):
        Track(c[:, :1], left, right, closed=True)
    with pytest.raises(TrackError, match="differ in length"):
        Track(c, left[:-1], right, closed=True)
    bad = c.copy()
    bad[2, 0] = np.nan
    with pytest.raises(TrackError, match="NaN"):
        Track(bad, left, right, closed=True)
    with pytest.raises(TrackError, match="too few"):
        Track(c[:3], left[:3], right[:3], closed=True)
    dup = c.copy()
    dup[3] = dup[2]
    with pytest.raises(TrackError, match="identical"):
        Track(dup, left, right, closed=True)
