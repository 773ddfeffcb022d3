"""Tests of World's puppets (cars another driver moves) and move_object."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.sim import World
from racer.sim.car import BODY_WIDTH_M


@pytest.fixture
def world(track):
    w = World(track)
    yield w
    w.close()


def test_puppet_is_a_bot_that_stays_where_it_is_put(world):
    world.reset_car(0.0, 0.0, 0.0)
    i = world.add_puppet(5.0, 5.0, 0.3)
    for _ in range(10):
        world.step(0.0, 0.0)
    (o,) = world.objects()
    assert o.id == i and o.kind == "bot"
    assert (o.x_m, o.y_m, o.yaw_rad, o.speed_mps) == pytest.approx((5.0, 5.0, 0.3, 0.0))
    world.move_object(i, 6.0, -1.0, -0.5, speed_mps=1.7)
    for _ in range(5):
        world.step(0.0, 0.0)
    (o,) = world.objects()
    assert (o.x_m, o.y_m, o.yaw_rad, o.speed_mps) == pytest.approx((6.0, -1.0, -0.5, 1.7))


def test_puppet_is_seen_by_lidar_camera_and_contacts(world):
    world.reset_car(0.0, 0.0, 0.0)
    before = world.camera()
    i = world.add_puppet(-20.0, 0.0, 0.0)  # behind the car
    assert (world.lidar() == world.config.lidar.max_range_m).all()
    assert not world.object_in_camera()
    world.move_object(i, 0.8, 0.0, math.pi / 2)  # across the car's path, 0.8 m ahead
    r = world.lidar()
    a = world.lidar_angles_rad
    ahead = np.abs(a) < 0.05
    # The puppet's side (its half-width across x) faces the lidar at the car centre.
    assert r[ahead] == pytest.approx((0.8 - BODY_WIDTH_M / 2) / np.cos(a[ahead]), abs=0.05)
    assert world.object_in_camera()
    assert (world.camera() != before).any()
    crashed = False
    for _ in range(20):
        world.step(0.0, 1.5)
        crashed = world.car_state().crashed
        if crashed:
            break
    assert crashed


def test_move_object_moves_boxes_too(world):
    world.reset_car(0.0, 0.0, 0.0)
    b = world.add_box(10.0, 0.0)
    world.move_object(b, 1.0, 0.0, 0.0)
    (o,) = world.objects()
    assert (o.kind, o.x_m, o.y_m, o.speed_mps) == ("box", 1.0, 0.0, 0.0)
    assert world.lidar().min() < 1.0
