"""ParamsBuilder: every DeepRacer key with DeepRacer's types and values at known poses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rewards_testlib import RADIUS_M, WIDTH_M, make_pose, strip_track

from racer.rewards import (
    DEEPRACER_KEYS,
    EXTRA_KEYS,
    ObjectInfo,
    ParamsBuilder,
    heading_deg,
)
from racer.rewards.check import car_wheels

TYPES = {
    "all_wheels_on_track": bool,
    "x": float,
    "y": float,
    "heading": float,
    "distance_from_center": float,
    "is_left_of_center": bool,
    "progress": float,
    "steps": int,
    "speed": float,
    "steering_angle": float,
    "track_width": float,
    "track_length": float,
    "waypoints": list,
    "closest_waypoints": list,
    "is_offtrack": bool,
    "is_crashed": bool,
    "is_reversed": bool,
    "projection_distance": float,
    "closest_objects": list,
    "objects_location": list,
    "objects_left_of_center": list,
    "objects_speed": list,
    "objects_heading": list,
    "objects_distance": list,
    "objects_distance_from_center": list,
    "object_in_camera": bool,
    "sim_time": float,
    "measured_speed": float,
}


def test_every_key_present_with_deepracer_types(builder, pose):
    params = builder.build(pose(1.0, 0.1, steps=3))
    assert set(DEEPRACER_KEYS) <= params.keys()
    assert set(EXTRA_KEYS) <= params.keys()
    assert set(TYPES) == set(DEEPRACER_KEYS) | {"measured_speed"}
    for key, kind in TYPES.items():
        # waypoints: a list subclass that refuses changes (racer.rewards.params.ReadOnlyList)
        assert type(params[key]) is kind or (key == "waypoints" and isinstance(params[key], kind))
    assert all(type(i) is int for i in params["closest_waypoints"])
    assert all(type(p) is tuple and len(p) == 2 for p in params["waypoints"])


def test_time_trial_objects_are_empty(builder, pose):
    params = builder.build(pose(0.0))
    assert params["closest_objects"] == [0, 0]
    for key in (
        "objects_location",
        "objects_left_of_center",
        "objects_speed",
        "objects_heading",
        "objects_distance",
        "objects_distance_from_center",
    ):
        assert params[key] == []
    assert params["object_in_camera"] is False


def test_values_at_a_known_pose(circle, builder):
    # Waypoint 50 sits at angle pi/2: (0, 5); driving counter-clockwise the car heads to -x.
    s50 = float(circle.s[50])
    inp = make_pose(circle, s50 + 0.05, 0.2, steering_deg=-12.0, speed_mps=2.5, steps=7)
    params = builder.build(inp)
    assert (params["x"], params["y"]) == inp.front_xy
    assert params["x"] == pytest.approx(-0.05, abs=0.01)
    assert params["y"] == pytest.approx(RADIUS_M - 0.2, abs=1e-3)  # left of a CCW loop: inside
    assert params["is_left_of_center"] is True
    assert params["distance_from_center"] == pytest.approx(0.2, abs=1e-3)
    assert params["lateral_offset"] == pytest.approx(0.2, abs=1e-3)
    assert params["track_width"] == pytest.approx(WIDTH_M)
    assert params["track_length"] == pytest.approx(200 * 2 * RADIUS_M * math.sin(math.pi / 200))
    assert params["closest_waypoints"] == [50, 51]
    assert params["projection_distance"] == pytest.approx(s50 + 0.05, abs=1e-6)
    assert params["progress"] == pytest.approx((s50 + 0.05) / circle.length * 100, abs=1e-6)
    assert params["heading"] == pytest.approx(heading_deg(inp.heading_rad))
    assert params["heading"] == pytest.approx(-179.1)  # segment 50 -> 51: 180.9 deg, wrapped
    assert params["speed"] == 2.5
    assert params["measured_speed"] == pytest.approx(2.25)
    assert params["steering_angle"] == -12.0
    assert params["steps"] == 7
    assert params["sim_time"] == pytest.approx(7 / 15)
    assert params["all_wheels_on_track"] is True
    assert params["is_offtrack"] is False


def test_right_of_centre_and_off_track(circle, builder):
    params = builder.build(make_pose(circle, 3.0, -0.3))
    assert params["is_left_of_center"] is False
    assert params["distance_from_center"] == pytest.approx(0.3, abs=1e-3)
    assert params["all_wheels_on_track"] is True  # wheels reach 0.3 + 0.081 m < 0.5 m
    params = builder.build(make_pose(circle, 3.0, -0.45))
    assert params["all_wheels_on_track"] is False  # right wheels past 0.5 m
    assert params["is_offtrack"] is False
    params = builder.build(make_pose(circle, 3.0, -1.0))
    assert params["all_wheels_on_track"] is False
    assert params["is_offtrack"] is True


def test_heading_range():
    assert heading_deg(math.pi) == 180.0
    assert heading_deg(-math.pi) == 180.0
    assert heading_deg(0.0) == 0.0
    assert heading_deg(-math.pi / 2) == pytest.approx(-90.0)
    assert heading_deg(5 * math.pi / 2) == pytest.approx(90.0)


def test_closest_waypoints_and_width_match_track(circle, builder):
    rng = np.random.default_rng(1)
    for _ in range(300):
        s = float(rng.uniform(0.0, circle.length))
        inp = make_pose(circle, s, float(rng.uniform(-0.6, 0.6)))
        params = builder.build(inp)
        xy = np.array(inp.front_xy)
        assert params["closest_waypoints"] == circle.closest_waypoints(xy).tolist()
        proj = circle.project(xy)
        assert params["track_width"] == pytest.approx(float(circle.width_at(proj.s)))


def test_wheel_fast_path_matches_polygon_test(circle, builder):
    rng = np.random.default_rng(2)
    for _ in range(500):
        s = float(rng.uniform(0.0, circle.length))
        inp = make_pose(
            circle, s, float(rng.uniform(-0.8, 0.8)), heading_offset_deg=rng.uniform(-90, 90)
        )
        on = circle.on_track(inp.wheels_xy)
        params = builder.build(inp)
        assert params["all_wheels_on_track"] is bool(on.all())
        assert params["is_offtrack"] is (not bool(on.any()))


def test_waypoints_built_once_and_shared(circle, builder, pose):
    a = builder.build(pose(0.5))
    b = builder.build(pose(1.5))
    assert a["waypoints"] is b["waypoints"] is builder.waypoints
    assert len(a["waypoints"]) == 200
    assert a["waypoints"][50] == pytest.approx((0.0, RADIUS_M))


def test_progress_from_start_wraps(circle, builder):
    length = circle.length
    start = 0.75 * length
    at = builder.build(make_pose(circle, 0.25 * length, start_s=start, prev_progress=40.0))
    assert at["progress"] == pytest.approx(50.0, abs=1e-6)
    at = builder.build(make_pose(circle, 0.70 * length, start_s=start, prev_progress=90.0))
    assert at["progress"] == pytest.approx(95.0, abs=1e-6)


def test_progress_slightly_behind_the_start_is_zero(circle, builder):
    start = float(circle.s[10])
    behind = make_pose(circle, start - 0.02, start_s=start, prev_progress=0.0)
    assert builder.build(behind)["progress"] == 0.0
    # Driving backwards from the start keeps progress at 0, not ~99 (a fake lap's worth).
    further = make_pose(circle, start - 1.0, start_s=start, prev_progress=0.0)
    assert builder.build(further)["progress"] == 0.0
    # Near the end of a real lap the value is kept (lap completion is the env's business).
    near_end = make_pose(circle, start - 0.02, start_s=start, prev_progress=99.8)
    assert builder.build(near_end)["progress"] > 99.8


def test_open_track_progress_and_waypoints():
    strip = strip_track()
    b = ParamsBuilder(strip)
    inp = make_pose(strip, 5.0, 0.1, start_s=2.0)
    params = b.build(inp)
    assert params["progress"] == pytest.approx(3.0 / 8.0 * 100.0)
    assert params["closest_waypoints"] == [10, 11]
    end = b.build(make_pose(strip, 10.0, start_s=2.0, prev_progress=99.0))
    assert end["progress"] == pytest.approx(100.0)
    expected = strip.closest_waypoints(np.array((end["x"], end["y"]))).tolist()
    assert end["closest_waypoints"] == expected


def test_objects_deepracer_meaning(circle, builder):
    length = circle.length
    car_s = 2.0

    def obj(s, lateral, speed=0.0, heading_offset=0.0):
        h = float(circle.heading_at(s))
        c = np.asarray(circle.point_at(s))
        xy = c + lateral * np.array((-math.sin(h), math.cos(h)))
        return ObjectInfo(float(xy[0]), float(xy[1]), h + heading_offset, speed, speed > 0)

    objects = [obj(car_s + 5.0, -0.25), obj(car_s + 1.0, 0.25, 1.5), obj(car_s - 2.0, 0.0, 1.0)]
    params = builder.build(make_pose(circle, car_s, objects=objects))
    assert params["closest_objects"] == [2, 1]
    assert params["objects_location"][0] == pytest.approx(objects[0][:2])
    assert params["objects_left_of_center"] == [False, True, False]
    assert params["objects_speed"] == [0.0, 1.5, 1.0]
    expected = [car_s + 5.0, car_s + 1.0, car_s - 2.0]
    assert params["objects_distance"] == pytest.approx(expected, abs=1e-6)
    assert params["objects_distance_from_center"] == pytest.approx([0.25, 0.25, 0.0], abs=1e-3)
    assert params["objects_heading"][1] == pytest.approx(heading_deg(objects[1].heading_rad))
    assert params["object_in_camera"] is True  # object 1 is 1 m ahead
    # Only the one behind: not in camera; closest ahead wraps round the loop to it.
    params = builder.build(make_pose(circle, car_s, objects=[objects[2]]))
    assert params["closest_objects"] == [0, 0]
    assert params["object_in_camera"] is False
    # Seam: an object just past waypoint 0 is ahead of a car just before it.
    seam = [obj(0.5, 0.0), obj(length - 3, 0.0)]
    params = builder.build(make_pose(circle, length - 0.5, objects=seam))
    assert params["closest_objects"] == [1, 0]
    assert params["object_in_camera"] is True


def test_builder_accepts_wheels_as_list(circle, builder, pose):
    inp = pose(1.0)
    inp.wheels_xy = car_wheels(np.array(inp.front_xy), inp.heading_rad).tolist()
    assert builder.build(inp)["all_wheels_on_track"] is True


def test_env_supplied_progress_and_projection(circle, builder, pose):
    inp = pose(3.0, 0.1, start_s=1.0)
    inp.progress = 42.5
    inp.projection = circle.project(np.array(inp.front_xy))
    params = builder.build(inp)
    assert params["progress"] == 42.5
    inp.projection = None
    assert builder.build(inp)["projection_distance"] == params["projection_distance"]
    inp.progress = None
    assert builder.build(inp)["progress"] == pytest.approx(2.0 / circle.length * 100, abs=0.1)
