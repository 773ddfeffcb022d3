"""Tests of racer.sim.World: driving, sensors, objects, lifecycle."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pybullet as p
import pytest

from racer.errors import ConfigError
from racer.sim import CONTROL_HZ, MAX_STEERING_RAD, CameraConfig, World, WorldConfig
from racer.sim.car import ackermann_angles, car_urdf
from racer.sim.texture import BORDER_RGB, ROAD_RGB, floor_texture, gray_of

TRACKS = ["track", "generated_track", "circle_track"]  # fixtures: real, generated, stand-in


@pytest.fixture
def world(track):
    w = World(track)
    yield w
    w.close()


def drive(w: World, steering: float, speed: float, seconds: float) -> None:
    for _ in range(round(seconds * CONTROL_HZ)):
        w.step(steering, speed)


def on_centre(w: World, s_m: float, lateral_m: float = 0.0, dyaw: float = 0.0) -> None:
    t = w.track
    xy = np.asarray(t.point_at(s_m)).reshape(-1)
    yaw = float(t.heading_at(s_m))
    w.reset_car(xy[0] - lateral_m * math.sin(yaw), xy[1] + lateral_m * math.cos(yaw), yaw + dyaw)


# ---------------------------------------------------------------- driving


def test_drives_forward_along_x(world):
    world.reset_car(0.0, 0.0, 0.0)
    drive(world, 0.0, 2.0, 1.0)
    st = world.car_state()
    assert st.x_m > 1.0
    assert abs(st.y_m) < 1e-9 and abs(st.yaw_rad) < 1e-9
    assert st.front_xy == pytest.approx([st.x_m + 0.09, 0.0])


def test_positive_steering_turns_left(world):
    world.reset_car(0.0, 0.0, 0.0)
    drive(world, 0.3, 1.0, 1.0)
    st = world.car_state()
    assert st.yaw_rad > 0.3 and st.y_m > 0.05
    assert st.steering_rad == pytest.approx(0.3)


def test_reaches_commanded_speed_within_a_second(world):
    world.reset_car(0.0, 0.0, 0.0)
    drive(world, 0.0, 4.0, 1.0)
    assert world.car_state().speed_mps == pytest.approx(4.0, abs=0.01)
    x0 = world.car_state().x_m
    drive(world, 0.0, 4.0, 1.0)
    assert world.car_state().x_m - x0 == pytest.approx(4.0, abs=0.01)
    drive(world, 0.0, 0.0, 1.0)
    assert world.car_state().speed_mps == 0.0


@pytest.mark.parametrize("speed", [1.0, 4.0])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_full_lock_turns_stably_for_ten_seconds(world, speed, sign):
    world.reset_car(0.0, 0.0, 0.0)
    xs, ys = [], []
    for _ in range(10 * CONTROL_HZ):
        world.step(sign * MAX_STEERING_RAD, speed)
        st = world.car_state()
        xs.append(st.x_m)
        ys.append(st.y_m)
    xs, ys = np.array(xs[CONTROL_HZ:]), np.array(ys[CONTROL_HZ:])
    # Steady circle: constant radius about a fixed centre on the inside of the turn.
    cx, cy = (xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2
    r = np.hypot(xs - cx, ys - cy)
    assert r.std() < 0.01
    assert sign * cy > 0
    if speed == 1.0:  # no understeer: radius of the centre point = hypot(L / tan(30), L / 2)
        assert r.mean() == pytest.approx(
            math.hypot(0.164 / math.tan(math.radians(30)), 0.082), abs=0.01
        )
    world._sync_car()
    pos, orn = p.getBasePositionAndOrientation(world._car, physicsClientId=world.client_id)
    roll, pitch, _ = p.getEulerFromQuaternion(orn)
    assert abs(pos[2]) < 1e-9 and abs(roll) < 1e-9 and abs(pitch) < 1e-9


def test_steering_is_clipped_and_ackermann_inner_wheel_turns_more(world):
    world.reset_car(0.0, 0.0, 0.0)
    drive(world, 2.0, 1.0, 0.5)
    assert world.car_state().steering_rad == pytest.approx(MAX_STEERING_RAD)
    left, right = ackermann_angles(MAX_STEERING_RAD)
    assert left > MAX_STEERING_RAD > right > 0


def test_physics_rate_converges(track):
    ends = []
    for hz in (60, 120, 240):
        with World(track, WorldConfig(physics_hz=hz)) as w:
            w.reset_car(0.0, 0.0, 0.0)
            for k in range(30):
                w.step(0.4 * math.sin(k / 5), 3.0)
            st = w.car_state()
            ends.append((st.x_m, st.y_m))
    assert np.abs(np.array(ends) - ends[-1]).max() < 0.03


def test_wheels_positions(world):
    world.reset_car(1.0, 2.0, math.pi / 2)
    w = world.car_state().wheels_xy
    assert w.shape == (4, 2)
    # FL is ahead (+y) and left (-x) when facing +y.
    assert w[0] == pytest.approx([1.0 - 0.081, 2.0 + 0.082])
    assert w[3] == pytest.approx([1.0 + 0.081, 2.0 - 0.082])


def test_two_worlds_are_independent(track):
    a, b, c = World(track), World(track), World(track)
    try:
        for w in (a, b, c):
            w.reset_car(0.0, 0.0, 0.0)
        for _ in range(6):
            a.step(0.2, 2.0)
            b.step(-0.3, 3.0)
            c.step(0.2, 2.0)
        sa, sb, sc = a.car_state(), b.car_state(), c.car_state()
        assert (sa.x_m, sa.y_m, sa.yaw_rad) == (sc.x_m, sc.y_m, sc.yaw_rad)
        assert sb.yaw_rad < 0 < sa.yaw_rad
        assert a.client_id != b.client_id
        a.add_box(sa.x_m + 0.8 * math.cos(sa.yaw_rad), sa.y_m + 0.8 * math.sin(sa.yaw_rad))
        assert a.lidar().min() < 1.0
        assert (b.lidar() == b.config.lidar.max_range_m).all()
        assert not np.array_equal(a.camera(), b.camera())
    finally:
        for w in (a, b, c):
            w.close()


def test_many_worlds_do_not_leak_clients(track):
    ids = []
    for _ in range(20):
        w = World(track)
        w.step(0.1, 1.0)
        ids.append(w.client_id)
        w.close()
        assert w.client_id == -1
    for cid in ids:
        assert p.getConnectionInfo(physicsClientId=cid)["isConnected"] == 0
    w = World(track)
    cid = w.client_id
    del w  # __del__ closes too
    assert p.getConnectionInfo(physicsClientId=cid)["isConnected"] == 0


# ---------------------------------------------------------------- camera


@pytest.mark.parametrize("which", TRACKS)
def test_camera_shape_and_road(request, which):
    world = World(request.getfixturevalue(which))
    request.addfinalizer(world.close)
    on_centre(world, 0.0)
    img = world.camera()
    assert img.shape == (120, 160) and img.dtype == np.uint8
    road = gray_of(ROAD_RGB)
    lower_middle = img[80:, 40:120]
    # Dark road ahead of the camera, apart from the centre-line dashes.
    assert (lower_middle == road).mean() > 0.6
    # White border lines on both sides.
    white = gray_of(BORDER_RGB)
    assert (img[:, :80] == white).sum() > 20
    assert (img[:, 80:] == white).sum() > 20
    # Sky/background above the horizon, road within the lower two thirds.
    assert (img[:20] == world.config.camera.background_gray).all()
    assert 0.5 <= (img != world.config.camera.background_gray).mean() <= 0.75


def test_stereo(world):
    on_centre(world, 1.0)
    st = world.stereo()
    assert st.shape == (2, 120, 160) and st.dtype == np.uint8
    assert not np.array_equal(st[0], st[1])
    mono = world.camera()
    assert np.abs(st[0].astype(int) - mono).mean() < np.abs(st[0].astype(int) - 255).mean()


@pytest.mark.parametrize("which", TRACKS)
@pytest.mark.parametrize(
    "pose", [(0.0, 0.0, 0.0), (2.5, 0.2, 0.3), (7.0, -0.25, -0.4), (11.0, 0.0, 1.2)]
)
def test_fast_render_matches_pybullet(request, which, pose):
    world = World(request.getfixturevalue(which))
    request.addfinalizer(world.close)
    s, lat, dyaw = pose
    on_centre(world, s % world.track.length, lat, dyaw)
    fast = world.camera().astype(np.int16)
    ref = world.camera_reference().astype(np.int16)
    floor = np.zeros(fast.size, dtype=bool)
    floor[world._cam.hit_index] = True
    floor = floor.reshape(fast.shape)
    diff = np.abs(fast - ref)[floor]
    # Same texture, same intrinsics and sampling convention: (nearly) identical pixels.
    assert diff.mean() < 1.0, diff.mean()
    assert (diff <= 8).mean() > 0.99, (diff <= 8).mean()
    left = world.stereo()[0].astype(np.int16)
    ref_left = world.camera_reference(lateral_m=world.config.camera.stereo_baseline_m / 2)
    assert np.abs(left - ref_left)[floor].mean() < 1.0


def test_camera_sees_objects_through_pybullet(world):
    on_centre(world, 0.0)
    before = world.camera()
    st = world.car_state()
    world.add_box(st.x_m + 0.8 * math.cos(st.yaw_rad), st.y_m + 0.8 * math.sin(st.yaw_rad))
    assert world.object_in_camera()
    after = world.camera()
    changed = before != after
    assert changed.mean() > 0.02
    assert changed[:, 60:100].any()
    # A box behind the car is not rendered (no PyBullet call), image identical.
    world.clear_objects()
    world.add_box(st.x_m - 1.0 * math.cos(st.yaw_rad), st.y_m - 1.0 * math.sin(st.yaw_rad))
    assert np.array_equal(world.camera(), before)
    assert not world.object_in_camera()


# ---------------------------------------------------------------- lidar, objects


def test_lidar_sees_box_at_the_right_distance(world):
    world.reset_car(0.0, 0.0, 0.0)
    lc = world.config.lidar
    empty = world.lidar()
    assert empty.shape == (lc.num_rays,) and empty.dtype == np.float32
    assert (empty == lc.max_range_m).all()
    world.add_box(1.0, 0.0, size_m=(0.3, 0.3, 0.3))
    r = world.lidar()
    a = world.lidar_angles_rad
    ahead = np.abs(a) < 0.05
    assert ahead.sum() == 2  # an even count of rays: +/-2.4 degrees
    assert r[ahead] == pytest.approx(0.85 / np.cos(a[ahead]), abs=0.03)
    assert (r[np.abs(a) > 0.5] == lc.max_range_m).all()
    # Rotating the car rotates the scan: the box now to the left (+90 degrees).
    world.reset_car(0.0, 0.0, -math.pi / 2)
    r = world.lidar()
    i = int(np.argmin(r))
    assert a[i] == pytest.approx(math.pi / 2, abs=0.1) and r[i] == pytest.approx(0.85, abs=0.03)


def test_crash_when_driving_into_a_box(world):
    world.reset_car(0.0, 0.0, 0.0)
    world.add_box(1.0, 0.0)
    crashed_at = None
    for k in range(30):
        world.step(0.0, 2.0)
        if world.car_state().crashed:
            crashed_at = k
            break
    assert crashed_at is not None
    # The front bumper (0.13 m ahead of the centre) touches the box face at x = 0.85.
    assert world.car_state().x_m == pytest.approx(0.72, abs=2.0 / CONTROL_HZ)
    world.clear_objects()
    world.step(0.0, 2.0)
    assert not world.car_state().crashed


def test_no_crash_when_passing_beside_a_box(world):
    world.reset_car(0.0, 0.0, 0.0)
    world.add_box(1.0, 0.5)
    for _ in range(30):
        world.step(0.0, 2.0)
        assert not world.car_state().crashed


def test_bot_advances_along_the_track(world):
    t = world.track
    i = world.add_bot(1.0, 1.5, lateral_m=0.2)
    drive(world, 0.0, 0.0, 2.0)
    (o,) = world.objects()
    assert o.id == i and o.kind == "bot" and o.speed_mps == 1.5
    assert o.s_m == pytest.approx((1.0 + 3.0) % t.length)
    xy = np.asarray(t.point_at(o.s_m)).reshape(-1)
    yaw = float(t.heading_at(o.s_m))
    assert o.yaw_rad == pytest.approx(yaw)
    assert [o.x_m, o.y_m] == pytest.approx(
        [xy[0] - 0.2 * math.sin(yaw), xy[1] + 0.2 * math.cos(yaw)]
    )


def test_bot_car_crash_and_lidar(world):
    on_centre(world, 0.0)
    world.add_bot(0.6, 0.0)
    assert world.lidar().min() < 0.5
    for _ in range(15):
        world.step(0.0, 1.0)
        if world.car_state().crashed:
            break
    assert world.car_state().crashed


# ---------------------------------------------------------------- views, config, texture


def test_human_views(world):
    chase = world.render_chase(160, 120)
    assert chase.shape == (120, 160, 3) and chase.dtype == np.uint8
    assert chase.std() > 5
    world.add_box(0.0, 0.0)
    top = world.render_topdown(200, 150)
    assert top.shape == (150, 200, 3) and top.dtype == np.uint8
    assert (top == np.array(ROAD_RGB, np.uint8)).all(axis=2).mean() > 0.05


def test_texture_is_cached_and_painted(track):
    a = floor_texture(track, 0.005, 1.0)
    assert floor_texture(track, 0.005, 1.0) is a
    xy = np.asarray(track.point_at(0.3)).reshape(-1)

    def texel(pt):
        ix = int((pt[0] - a.x0_m) / a.m_per_px)
        iy = int((pt[1] - a.y0_m) / a.m_per_px)
        return tuple(a.rgb[iy, ix])

    assert texel(xy + 0.1 * np.array([1.0, 1.0])) == ROAD_RGB or texel(xy) == ROAD_RGB
    edge = np.asarray(track.left)[5] * 0.98 + np.asarray(track.right)[5] * 0.02
    assert texel(edge) == BORDER_RGB
    assert a.gray.shape == a.rgb.shape[:2]


def test_config_is_frozen_picklable_and_validated():
    cfg = WorldConfig(camera=CameraConfig(pitch_deg=15.0))
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(AttributeError):
        cfg.physics_hz = 60  # type: ignore[misc]
    with pytest.raises(ConfigError):
        WorldConfig(physics_hz=100)
    assert cfg.substeps == 8
    assert CameraConfig().vfov_deg == pytest.approx(104.8, abs=0.1)


def test_urdf_describes_the_car():
    text = car_urdf()
    assert text.count("<joint") == 6 and 'name="fl_steer"' in text
