"""World's bot cars: lane changes, the driven direction, the racing line."""

from __future__ import annotations

import numpy as np
import pytest

from racer.sim import CONTROL_HZ, World
from racer.sim.objects import LineOffsets


@pytest.fixture
def world(track):
    w = World(track)
    yield w
    w.close()


def drive(w: World, seconds: float) -> None:
    for _ in range(round(seconds * CONTROL_HZ)):
        w.step(0.0, 0.0)


def test_a_bot_changes_lanes(world) -> None:
    world.reset_car(-50.0, -50.0, 0.0)  # out of the way
    world.add_bot(1.0, 1.0, 0.2, lane_change_s=2.0)
    drive(world, 1.0)
    (o,) = world.objects()
    assert o.lateral_m == pytest.approx(0.2)
    drive(world, 2.0)  # the change came at 2 s; at 0.4 m/s sideways it is done in 1 s
    (o,) = world.objects()
    assert o.lateral_m == pytest.approx(-0.2)
    assert o.s_m == pytest.approx((1.0 + 3.0) % world.track.length)


def test_a_bot_drives_the_track_it_is_given(world) -> None:
    back = world.track.reversed()
    world.reset_car(-50.0, -50.0, 0.0)
    world.add_bot(2.0, 1.5, track=back)
    (o0,) = world.objects()
    drive(world, 1.0)
    (o1,) = world.objects()
    assert o1.s_m == pytest.approx(3.5)
    # on the reversed track s grows: on the world's own track the bot went backwards
    fwd = world.track.project(np.array([[o0.x_m, o0.y_m], [o1.x_m, o1.y_m]])).s
    assert (fwd[0] - fwd[1]) % world.track.length == pytest.approx(1.5, abs=0.02)
    assert o1.yaw_rad == pytest.approx(float(back.heading_at(3.5)))


def test_a_bot_on_the_racing_line(world) -> None:
    t = world.track
    s = np.linspace(0.0, t.length, 50, endpoint=False)
    line = LineOffsets(s, 0.1 * np.sin(s), float(t.length), True)
    world.reset_car(-50.0, -50.0, 0.0)
    world.add_bot(1.0, 1.0, line=line)
    drive(world, 1.0)
    (o,) = world.objects()
    assert o.s_m == pytest.approx(2.0)
    assert o.lateral_m == pytest.approx(float(line.at(np.array(2.0))), abs=1e-9)
