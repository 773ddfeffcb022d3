"""Lap accounting (racer.env.laps): the counter, and the lap events RaceEnv reports in ``info``."""

from __future__ import annotations

import numpy as np
import pytest

from racer.env import RaceEnv
from racer.env.expert import RacingLineExpert
from racer.env.laps import LAP_TOLERANCE_M, LapCounter, unwrap_delta
from racer.env.race_env import DT_S
from racer.evaluate.policies import FULL_ACTION_SPACE
from racer.track import Track, load_track


def test_unwrap_reads_the_seam_as_the_short_way_round() -> None:
    assert unwrap_delta(-9.9, 10.0, closed=True) == pytest.approx(0.1)  # forward over the line
    assert unwrap_delta(9.9, 10.0, closed=True) == pytest.approx(-0.1)  # backward over it
    assert unwrap_delta(0.3, 10.0, closed=True) == 0.3
    assert unwrap_delta(-9.9, 10.0, closed=False) == -9.9  # no seam on an open track


def test_counter_counts_laps_across_the_seam_and_keeps_the_distance() -> None:
    track = load_track("oval")
    length = float(track.length)
    counter = LapCounter()
    start = length - 1.0
    counter.start(track, start)
    assert counter.lap_m == length and counter.laps == 0 and counter.progress == 0.0
    s = start
    step = 0
    lap_times = []
    while counter.laps < 2:
        step += 1
        s = (s + 0.5) % length
        moved = counter.move(s)
        assert moved == pytest.approx(0.5)
        if counter.lap_due():
            assert counter.progress == pytest.approx(100.0)
            lap_times.append(counter.complete_lap(step, DT_S))
    assert counter.distance_m == pytest.approx(2 * length, abs=0.5)
    assert counter.distance_m >= 2 * length - LAP_TOLERANCE_M
    assert lap_times[0] == pytest.approx(lap_times[1], abs=2 * DT_S)
    assert counter.lap_start_step == step
    # driving backwards takes distance off, never laps
    counter.move((s - 2.0) % length)
    assert counter.laps == 2 and counter.distance_m < 2 * length - 1.0
    assert counter.progress == 0.0  # clamped at the start of the lap in hand


def test_counter_on_an_open_track_has_one_lap_from_the_start_to_the_end() -> None:
    loop = load_track("oval")
    open_track = Track(loop.center[:40], loop.left[:40], loop.right[:40], closed=False)
    counter = LapCounter()
    counter.start(open_track, 1.0)
    assert counter.lap_m == pytest.approx(open_track.length - 1.0)
    counter.move(open_track.length)
    assert counter.lap_due() and counter.progress == pytest.approx(100.0)


def drive(env: RaceEnv, laps: int) -> list[dict]:
    """The racing expert's consecutive laps; every step's info."""
    expert = RacingLineExpert(env)
    env.reset(seed=0, options={"start_s": 0.0})
    infos = []
    while True:
        _, _, term, trunc, info = env.step(expert.act())
        infos.append(info)
        if info["episode_status"] == "lap_complete":
            if info["laps"] == laps:
                return infos
            env.next_lap()
        elif term or trunc:
            raise AssertionError(info["episode_status"])


def test_lap_events_in_info_over_a_multi_lap_drive() -> None:
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    infos = drive(env, 3)
    length = float(env.driven_track.length)
    ends = [i for i, info in enumerate(infos) if info["lap_completed"]]
    assert [infos[i]["laps"] for i in ends] == [1, 2, 3]
    assert all(info["episode_status"] == "lap_complete" for info in (infos[i] for i in ends))
    assert all("lap_time_s" not in info for info in infos if not info["lap_completed"])
    # each lap's time is its steps; the laps counter only moves on a lap's last step
    starts = [0, *[i + 1 for i in ends[:-1]]]
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        assert infos[b]["lap_time_s"] == pytest.approx((b - a + 1) * DT_S)
        assert {info["laps"] for info in infos[a:b]} <= {k}
        assert infos[b]["progress"] == pytest.approx(100.0)
        assert infos[b]["distance_m"] == pytest.approx((k + 1) * length, abs=0.5)
    # the distance grows along the whole drive, across the start line and lap after lap
    distance = np.array([info["distance_m"] for info in infos])
    assert np.all(np.diff(distance) > 0.0)
    # the flying laps are faster than the standing first one
    times = [infos[i]["lap_time_s"] for i in ends]
    assert times[1] < times[0] and times[2] < times[0]
    env.close()


def test_put_back_drives_on_and_counts_the_jump() -> None:
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    expert = RacingLineExpert(env)
    env.reset(seed=0, options={"start_s": 0.0})
    with pytest.raises(RuntimeError):
        env.next_lap()  # not after a lap
    for _ in range(40):
        _, _, _, _, info = env.step(expert.act())
    before = info["distance_m"]
    s_front = float(info["params"]["projection_distance"])
    obs, back = env.put_back(s_front - 1.0)  # 1 m behind (the car's centre goes there)
    assert back["steps"] == 40 and back["laps"] == 0
    assert back["distance_m"] < before - 0.5
    assert env.world.car_state().speed_mps == 0.0
    assert obs.shape == env.observation_space.shape
    _, _, term, trunc, info = env.step(expert.act())
    assert not (term or trunc) and info["steps"] == 41
    assert info["distance_m"] > back["distance_m"]
    env.close()


def test_put_back_before_reset_is_refused() -> None:
    env = RaceEnv(track="oval", observation="state")
    with pytest.raises(RuntimeError, match="before reset"):
        env.put_back(0.0)
    env.close()
