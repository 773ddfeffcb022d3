"""Reward functions written in classic DeepRacer styles run unchanged and score known poses right.

The functions live in ``plugins/`` as a user would write them; each is loaded by file path and
fed params built at car poses whose values are known on the circular fixture track (radius 5 m,
width 1 m, counter-clockwise, 200 waypoints).
"""

from __future__ import annotations

import pytest
from rewards_testlib import PLUGINS

from racer.rewards import load_reward

MID = 0.07  # m into a segment: away from the vertices, so the nearest segment is unambiguous


def reward(name: str):
    return load_reward(str(PLUGINS / name))


@pytest.mark.parametrize(
    ("lateral_m", "expected"),
    [(0.0, 1.0), (0.08, 1.0), (-0.15, 0.5), (0.24, 0.5), (0.3, 0.1), (-0.45, 0.1), (0.7, 1e-3)],
)
def test_follow_center_bands(builder, pose, lateral_m, expected):
    fn = reward("follow_center.py")
    assert fn(builder.build(pose(3.0 + MID, lateral_m))) == expected


@pytest.mark.parametrize(
    ("lateral_m", "expected"),
    # -0.4: 0.1 m margin and the wheels at 0.481 m still inside; 0.47: margin under 0.05 m.
    [(0.0, 1.0), (0.3, 1.0), (-0.4, 1.0), (0.47, 1e-3), (0.8, 1e-3)],
)
def test_stay_inside(builder, pose, lateral_m, expected):
    params = builder.build(pose(7.0 + MID, lateral_m))
    assert reward("stay_inside.py")(params) == expected


@pytest.mark.parametrize(
    ("lateral_m", "steering_deg", "expected"),
    [
        (0.0, 0.0, 1.0),
        (0.0, 15.0, 1.0),
        (0.0, -16.0, 0.8),
        (0.0, 30.0, 0.8),
        (0.2, 20.0, 0.4),
        (0.4, -25.0, 0.08),
    ],
)
def test_no_zigzag(builder, pose, lateral_m, steering_deg, expected):
    params = builder.build(pose(11.0 + MID, lateral_m, steering_deg=steering_deg))
    assert reward("no_zigzag.py")(params) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("offset_deg", "expected"), [(0.0, 1.0), (9.0, 1.0), (-9.0, 1.0), (15.0, 0.5), (170.0, 0.5)]
)
def test_point_at_next_waypoint(circle, builder, pose, offset_deg, expected):
    # Everywhere on the loop, including across the seam at waypoint 0 and where heading wraps
    # at +-180 degrees (segment 50 -> 51 points at 180.9 deg).
    fn = reward("point_ahead.py")
    for k in (0, 50, 99, 150, 199):
        s = float(circle.s[k]) + MID
        params = builder.build(pose(s, 0.1, heading_offset_deg=offset_deg))
        assert fn(params) == expected, k


def test_progress_per_steps_bonus(circle, builder, pose):
    fn = reward("steps_progress.py")
    length = circle.length
    # Step 10, 5 % of the lap done: schedule is 10 / 300 = 3.3 % -> bonus.
    assert fn(builder.build(pose(0.05 * length, steps=10))) == 11.0
    # Step 10, only 2 % done: behind schedule -> no bonus.
    assert fn(builder.build(pose(0.02 * length, steps=10))) == 1.0
    # Not a multiple of 10: no bonus.
    assert fn(builder.build(pose(0.05 * length, steps=11))) == 1.0
    # Progress counts from the episode's start point, wrapping past waypoint 0.
    start = 0.98 * length
    params = builder.build(pose(0.03 * length, steps=20, start_s=start, prev_progress=4.0))
    assert params["progress"] == pytest.approx(5.0)
    assert fn(params) == 1.0  # 5 % < 20 / 300 = 6.7 %


def test_consecutive_steps_progress_evolves(circle, builder, pose):
    prev = 0.0
    seen = []
    for step in range(1, 30):
        s = 1.0 + 0.2 * (step - 1)
        params = builder.build(pose(s, steps=step, start_s=1.0, prev_progress=prev))
        assert params["steps"] == step
        seen.append(params["progress"])
        prev = params["progress"]
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(0.2 * 28 / circle.length * 100)


@pytest.mark.parametrize("name", ["centerline", "progress", "waypoint_heading"])
def test_builtins_rank_on_line_above_off_track(builder, pose, name):
    fn = load_reward(name)
    good = fn(builder.build(pose(5.0 + MID, 0.02, speed_mps=2.0, steps=5)))
    off = fn(builder.build(pose(5.0 + MID, 0.8, speed_mps=2.0, steps=5)))
    assert good > off == pytest.approx(1e-3)


def test_builtin_values(circle, builder, pose):
    assert load_reward("centerline")(builder.build(pose(2.0 + MID, 0.2))) == 0.5
    assert load_reward("centerline")(builder.build(pose(2.0 + MID, -0.4))) == 0.1
    heading = load_reward("waypoint_heading")
    assert heading(builder.build(pose(2.0 + MID, 0.0))) == pytest.approx(1.0)
    assert heading(builder.build(pose(2.0 + MID, 0.0, heading_offset_deg=45))) == pytest.approx(0.5)
    progress = load_reward("progress")
    params = builder.build(pose(0.1 * circle.length, speed_mps=2.0, steps=20))
    assert progress(params) == pytest.approx(10.0 * 10.0 / 20 + 0.5)
