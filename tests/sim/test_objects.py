"""Tests of racer.sim.objects: the numpy object model (contacts, lidar, camera, bots)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.sim import CameraConfig
from racer.sim.camera import camera_rays
from racer.sim.objects import (
    CAR_HALF_LENGTH_M,
    CAR_HALF_WIDTH_M,
    BotArrays,
    ObjectArrays,
    composite,
    in_view,
    lidar_ranges,
    nearest_gap,
    overlaps,
)


def one_box(x: float, y: float, yaw: float = 0.0, size: float = 0.3) -> ObjectArrays:
    objs = ObjectArrays.empty(1, 1)
    objs.x[0, 0], objs.y[0, 0], objs.yaw[0, 0] = x, y, yaw
    objs.half_l[0, 0] = objs.half_w[0, 0] = size / 2
    objs.z1[0, 0] = size
    return objs


def car(x: float = 0.0, y: float = 0.0, yaw: float = 0.0) -> tuple[np.ndarray, ...]:
    return np.array([x]), np.array([y]), np.array([yaw])


def test_overlap_is_exact_on_the_axes_and_on_a_diagonal() -> None:
    box = one_box(0.0, 0.0)
    # Touching along x: the car's front at 0.15 + 0.13 from the box centre.
    reach = 0.15 + CAR_HALF_LENGTH_M
    assert overlaps(*car(-reach + 1e-6), box)[0]
    assert not overlaps(*car(-reach - 1e-6), box)[0]
    reach_y = 0.15 + CAR_HALF_WIDTH_M
    assert overlaps(*car(0.0, reach_y - 1e-6), box)[0]
    assert not overlaps(*car(0.0, reach_y + 1e-6), box)[0]
    # A box turned 45 degrees, its corner toward the car: reach sqrt(2) * 0.15 + half length.
    turned = one_box(0.0, 0.0, math.pi / 4)
    corner = math.sqrt(2) * 0.15 + CAR_HALF_LENGTH_M
    assert overlaps(*car(-corner + 1e-6), turned)[0]
    assert not overlaps(*car(-corner - 1e-6), turned)[0]
    # Diagonally apart (the bounding circles overlap, the rectangles do not).
    assert not overlaps(*car(-0.27, 0.27, 0.0), box)[0]
    assert nearest_gap(*car(-0.27, 0.27)[:2], box)[0] < 0.3


def test_lidar_slab_test() -> None:
    box = one_box(1.0, 0.0)
    angles = np.radians([-90.0, -3.0, 0.0, 3.0, 90.0, 180.0])
    r = lidar_ranges(*car(), angles, 2.0, 0.06, box)
    assert r.dtype == np.float32 and r.shape == (1, 6)
    assert r[0, 2] == pytest.approx(0.85)
    assert r[0, 1] == pytest.approx(0.85 / math.cos(math.radians(3.0)), abs=1e-6)
    assert r[0, 3] == pytest.approx(r[0, 1])
    assert r[0, [0, 4, 5]].tolist() == [2.0, 2.0, 2.0]
    # Too far: clipped; over the rays' height: unseen; the sensor inside a box reads 0.
    assert lidar_ranges(*car(-2.0), angles, 2.0, 0.06, box)[0, 2] == 2.0
    low = one_box(1.0, 0.0, size=0.05)
    assert lidar_ranges(*car(), angles, 2.0, 0.06, low)[0, 2] == 2.0
    assert lidar_ranges(*car(1.0), angles, 2.0, 0.06, box)[0, 2] == 0.0


def test_camera_draws_a_box_ahead_and_nothing_behind() -> None:
    cfg = CameraConfig()
    rays = camera_rays(cfg)
    frames = np.full((2, cfg.height_px, cfg.width_px), 7, dtype=np.uint8)
    objs = ObjectArrays.empty(2, 1)
    for i, x in enumerate((0.8, -0.8)):
        objs.x[i, 0], objs.half_l[i, 0], objs.half_w[i, 0], objs.z1[i, 0] = x, 0.15, 0.15, 0.3
    xs, ys, yaws = np.zeros(2), np.zeros(2), np.zeros(2)
    assert in_view(cfg, 0.0, xs, ys, yaws, objs)[:, 0].tolist() == [True, False]
    composite(frames, cfg, rays, 0.0, xs, ys, yaws, objs)
    drawn = frames[0] != 7
    assert not (frames[1] != 7).any()
    # A centred box: its image straddles the middle columns, symmetric about the centre.
    cols = np.nonzero(drawn.any(axis=0))[0]
    assert cols.min() < cfg.width_px / 2 < cols.max()
    assert abs((cols.min() + cols.max()) / 2 - (cfg.width_px / 2 - 0.5)) <= 1.5
    assert 0.02 < drawn.mean() < 0.5
    # The box's front face is one gray; its top (seen from 0.1 m up, 0.3 m box) is not seen.
    assert len(np.unique(frames[0][drawn])) <= 2


def test_bots_drive_on_and_change_lanes() -> None:
    bots = BotArrays.empty(1, 2)
    bots.speed[0] = [1.0, 2.0]
    bots.lane[0] = bots.target[0] = [0.2, 0.0]
    bots.period_s[0] = [1.0, 0.0]
    bots.timer_s[0] = [0.5, 0.0]  # half a period gone: a change after 0.5 s, then every 1 s
    bots.s[0] = [9.5, 1.0]
    rows = np.array([0])
    for _ in range(15):  # one second at 15 Hz
        bots.advance(rows, 1.0 / 15, 10.0, True)
    assert bots.s[0].tolist() == pytest.approx([0.5, 3.0])
    assert bots.target[0, 0] == pytest.approx(-0.2)  # one lane change
    assert -0.2 <= bots.lane[0, 0] < 0.2 and bots.lane[0, 1] == 0.0
    for _ in range(15):
        bots.advance(rows, 1.0 / 15, 10.0, True)
    assert bots.target[0, 0] == pytest.approx(0.2)
    # An open track: a bot stops at the end.
    bots.advance(rows, 10.0, 10.0, False)
    assert bots.s[0].tolist() == [10.0, 10.0] and bots.speed[0].tolist() == [0.0, 0.0]
