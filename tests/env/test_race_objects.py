"""Race objects in the env: placement, the env option, contacts and DeepRacer's object params."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.env import RaceEnv, RaceVectorEnv
from racer.env.follower import CenterlineFollower
from racer.env.race_setup import (
    FINISH_CLEAR_M,
    START_CLEAR_M,
    BoxPlacement,
    Layout,
    RaceSetup,
    place_objects,
    resolve_race,
)
from racer.errors import ConfigError
from racer.evaluate.races import RaceConfig, setup_race, trial_rng
from racer.rewards import ObjectInfo, ParamsBuilder, StepInputs
from racer.rewards.params import ObjectColumns
from racer.track import load_track


@pytest.fixture(scope="module")
def oval():
    return load_track("oval")


def _ahead(track, s: float, start: float) -> float:
    return (s - start) % track.length


def test_box_placements(oval) -> None:
    rng = np.random.default_rng(0)
    for start in (0.0, 7.3):
        setup = RaceSetup(race="object-avoidance", boxes=4)
        a = place_objects(setup, oval, rng, start)
        b = place_objects(setup, oval, rng, start)
        assert len(a.boxes) == 4 and not a.bots
        assert a != b  # random: a new draw every episode
        for box in a.boxes:  # off the start area, in the middle of a lane
            d = _ahead(oval, box.s_m, start)
            assert START_CLEAR_M <= d <= oval.length - FINISH_CLEAR_M
            assert abs(box.lateral_m) == pytest.approx(oval.width_at(box.s_m) / 4)
        fixed = RaceSetup(race="object-avoidance", boxes=4, box_placement="fixed", seed=3)
        f1 = place_objects(fixed, oval, np.random.default_rng(1), start)
        f2 = place_objects(fixed, oval, np.random.default_rng(2), start)
        assert f1 == f2
        alt = place_objects(
            RaceSetup(race="object-avoidance", boxes=4, box_placement="alternating"),
            oval,
            rng,
            start,
        )
        assert [math.copysign(1, bx.lateral_m) for bx in alt.boxes] == [1, -1, 1, -1]
        gaps = np.diff([_ahead(oval, bx.s_m, start) for bx in alt.boxes])
        assert gaps == pytest.approx([gaps[0]] * 3)
    with pytest.raises(ConfigError, match="too short"):
        place_objects(RaceSetup(race="object-avoidance", boxes=40), oval, rng)


def test_bot_placement_and_setup_checks(oval) -> None:
    setup = RaceSetup(race="head-to-head", bots=2, bot_speed_mps=1.0, bot_lane_change_s=3.0)
    lay = place_objects(setup, oval, np.random.default_rng(0), 5.0)
    assert not lay.boxes and len(lay.bots) == 2
    assert _ahead(oval, lay.bots[0].s_m, 5.0) == pytest.approx(2.0)
    assert all(abs(b.lateral_m) > 0.1 and 0 <= b.timer_s < 3.0 for b in lay.bots)
    assert place_objects(RaceSetup(), oval, np.random.default_rng(0)) == Layout()
    assert resolve_race("head-to-head").n_bots == 1
    assert resolve_race({"race": "object-avoidance", "boxes": 2}).n_boxes == 2
    for bad in (
        {"race": "drag"},
        {"box_placement": "scattered"},
        {"bot_line": "inside"},
        {"bots": -1},
        {"bot_speed_mps": 9.0},
        {"bot_line": "racing", "bot_lane_change_s": 2.0},
        {"boxs": 2},
    ):
        with pytest.raises(ConfigError):
            resolve_race(bad)


def test_evaluation_places_what_training_places(oval) -> None:
    """setup_race (evaluation) uses the env's placement with the trial's generator."""
    cfg = RaceConfig(race="object-avoidance", boxes=3, seed=4)
    env = RaceEnv(track=oval, observation="lidar")
    layout = setup_race(env.world, oval, cfg, 2)
    expect = place_objects(cfg.setup, oval, trial_rng(4, 2))
    assert layout == expect.to_dict()
    got = [(o.x_m, o.y_m) for o in env.world.objects()]
    assert got == [(b.x_m, b.y_m) for b in expect.boxes]
    env.close()


def test_race_env_places_objects_every_episode_and_crashes(oval) -> None:
    env = RaceEnv(track=oval, observation="lidar", start="fixed", race={"race": "object-avoidance"})
    env.reset(seed=3)
    first = [(o.x_m, o.y_m) for o in env.world.objects()]
    env.reset()
    second = [(o.x_m, o.y_m) for o in env.world.objects()]
    assert len(first) == len(second) == 3 and first != second
    env.reset(seed=3)
    assert [(o.x_m, o.y_m) for o in env.world.objects()] == first
    # The centre-line follower meets a box put on the centre line 4 m ahead: crashed.
    xy = np.asarray(oval.point_at(4.0)).reshape(-1)
    box = BoxPlacement(4.0, 0.0, float(xy[0]), float(xy[1]), float(oval.heading_at(4.0)))
    obs, info = env.reset(options={"layout": Layout(boxes=(box,))})
    assert len(env.world.objects()) == 1
    driver = CenterlineFollower(env)
    status, saw = "in_progress", False
    while status == "in_progress":
        obs, _, term, trunc, info = env.step(driver.act())
        saw |= bool((obs < env.world.config.lidar.max_range_m).any())
        status = info["episode_status"]
    assert saw and status == "crashed" and info["params"]["is_crashed"] is True
    assert 2.0 < info["params"]["progress"] / 100 * oval.length < 4.0
    env.close()


def test_vector_env_takes_a_layout_per_car(oval) -> None:
    setup = RaceSetup(race="object-avoidance", boxes=2)
    lays = [place_objects(setup, oval, np.random.default_rng(k)) for k in range(2)]
    venv = RaceVectorEnv(2, track=oval, observation="lidar", start="fixed", race=setup)
    venv.reset(seed=0, options={"layout": lays})
    for i, lay in enumerate(lays):
        objs = venv.objects_of(i)
        assert objs is not None
        assert objs.x[0].tolist() == [b.x_m for b in lay.boxes]
    with pytest.raises(ConfigError, match="layout"):
        venv.reset(seed=0, options={"layout": Layout()})


# ---------------------------------------------------------------- DeepRacer's object params


def _inputs(track, s: float, objects: list[ObjectInfo], lateral: float = 0.0) -> StepInputs:
    xy = np.asarray(track.point_at(s)).reshape(-1)
    yaw = float(track.heading_at(s))
    x, y = xy[0] - lateral * math.sin(yaw), xy[1] + lateral * math.cos(yaw)
    return StepInputs(
        front_xy=(x, y),
        heading_rad=yaw,
        wheels_xy=np.array([[x, y]] * 4),
        speed_cmd_mps=1.0,
        steering_cmd_deg=0.0,
        measured_speed_mps=1.0,
        steps=1,
        start_s=0.0,
        prev_progress=0.0,
        sim_time_s=0.1,
        objects=objects,
        progress=1.0,
    )


def _on(track, s: float, lateral: float, speed: float = 0.0, bot: bool = False) -> ObjectInfo:
    xy = np.asarray(track.point_at(s)).reshape(-1)
    yaw = float(track.heading_at(s))
    return ObjectInfo(
        xy[0] - lateral * math.sin(yaw), xy[1] + lateral * math.cos(yaw), yaw, speed, bot
    )


def test_object_params_follow_deepracer_definitions(oval) -> None:
    """Hand-built scene on the oval: car at s = 10 m; objects at s = 4 (left), 12 (right, a bot
    at 0.8 m/s), 20 m (left), lap length L."""
    builder = ParamsBuilder(oval)
    objs = [_on(oval, 4.0, 0.2), _on(oval, 12.0, -0.2, 0.8, True), _on(oval, 20.0, 0.2)]
    p = builder.build(_inputs(oval, 10.0, objs))
    # closest_objects: [closest behind, closest ahead] by distance along the track
    assert p["closest_objects"] == [0, 1]
    # objects_distance: from the start line along the centre line, 0..track_length
    assert p["objects_distance"] == pytest.approx([4.0, 12.0, 20.0], abs=0.02)
    assert p["objects_left_of_center"] == [True, False, True]
    assert p["objects_distance_from_center"] == pytest.approx([0.2, 0.2, 0.2], abs=1e-3)
    assert p["objects_speed"] == [0.0, 0.8, 0.0]
    assert p["objects_location"] == [(o.x_m, o.y_m) for o in objs]
    assert all(isinstance(loc, tuple) for loc in p["objects_location"])
    h = math.degrees(float(oval.heading_at(12.0)))
    assert p["objects_heading"][1] == pytest.approx((h + 180) % 360 - 180)
    assert p["object_in_camera"] is True  # the bot 2 m ahead
    # Wrapping round the start line: behind the car at s = 1 m is the object at s = 20 m.
    q = builder.build(_inputs(oval, 1.0, objs))
    assert q["closest_objects"] == [2, 0]
    # One object: both indices 0. Nothing within 3 m ahead: not in camera.
    r = builder.build(_inputs(oval, 10.0, [objs[2]]))
    assert r["closest_objects"] == [0, 0] and r["object_in_camera"] is False
    # No objects: DeepRacer's empty lists.
    e = builder.build(_inputs(oval, 10.0, []))
    assert e["closest_objects"] == [0, 0] and e["objects_location"] == []


def test_batched_object_params_equal_the_single_car_params(oval) -> None:
    builder = ParamsBuilder(oval)
    objs = [_on(oval, 4.0, 0.2), _on(oval, 12.0, -0.2, 0.8, True), _on(oval, 20.0, 0.2)]
    cars = [(10.0, 0.0), (1.0, 0.1), (19.0, -0.2)]
    singles = [builder.build(_inputs(oval, s, objs, lat)) for s, lat in cars]
    ins = [_inputs(oval, s, objs, lat) for s, lat in cars]
    front = np.array([i.front_xy for i in ins])
    arr = np.array([[o.x_m, o.y_m, o.heading_rad, o.speed_mps] for o in objs])
    cols = ObjectColumns(*(np.tile(arr[:, k], (3, 1)) for k in range(4)))
    batch = builder.build_many(
        front,
        np.array([i.heading_rad for i in ins]),
        np.stack([i.wheels_xy for i in ins]),
        np.ones(3),
        np.zeros(3),
        np.ones(3),
        np.ones(3, dtype=np.int64),
        np.full(3, 0.1),
        np.ones(3),
        oval.project(front),
        False,
        objects=cols,
        is_crashed=np.array([False, True, False]),
    )
    for j, single in enumerate(singles):
        row = batch.row(j)
        for key in (
            "closest_objects",
            "objects_left_of_center",
            "objects_speed",
            "object_in_camera",
        ):
            assert row[key] == single[key], key
        for key in ("objects_distance", "objects_distance_from_center", "objects_heading"):
            assert row[key] == pytest.approx(single[key], rel=1e-12), key
        assert row["objects_location"] == single["objects_location"]
    assert batch.row(1)["is_crashed"] is True
