"""Head-to-head races between controllable cars: contacts, DeepRacer's penalties, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evaluate_testlib import SwervePolicy

from racer.errors import ConfigError
from racer.evaluate.headtohead import (
    STAGGER_M,
    HeadToHeadRace,
    RaceResult,
    footprints_overlap,
    head_to_head,
    swept_overlap,
    write_outputs,
)
from racer.evaluate.policies import FULL_ACTION_SPACE, FollowerPolicy, load_policy
from racer.evaluate.races import RaceConfig
from racer.sim.car import BODY_LENGTH_M, BODY_WIDTH_M
from racer.track import Track


def _follower(speed: float, name: str) -> FollowerPolicy:
    return FollowerPolicy(
        action_space=FULL_ACTION_SPACE, speed_mps=speed, min_speed_mps=speed, name=name
    )


def _config(**over: object) -> RaceConfig:
    fields: dict[str, object] = {"race": "head-to-head", "trials": 1, "laps": 1}
    fields.update(over)
    return RaceConfig(**fields)  # type: ignore[arg-type]


def _assert_never_inside_each_other(r: RaceResult) -> None:
    """After every step no two cars that can collide overlap; each overlap was a contact."""
    steps_with_contact = {c.step for c in r.contacts}
    n = len(r.cars)
    for k in range(r.poses.shape[0]):
        for i in range(n):
            for j in range(i + 1, n):
                if r.solid[k, i] and r.solid[k, j]:
                    overlap = footprints_overlap(tuple(r.poses[k, i]), tuple(r.poses[k, j]))
                    assert not overlap or k in steps_with_contact, f"silent overlap at {k}"


def test_footprints_overlap_side_by_side_and_end_to_end() -> None:
    assert footprints_overlap((0.0, 0.0, 0.0), (0.0, BODY_WIDTH_M - 0.01, 0.0))
    assert not footprints_overlap((0.0, 0.0, 0.0), (0.0, BODY_WIDTH_M + 0.01, 0.0))
    assert footprints_overlap((0.0, 0.0, 0.0), (BODY_LENGTH_M - 0.01, 0.0, 0.0))
    assert not footprints_overlap((0.0, 0.0, 0.0), (BODY_LENGTH_M + 0.01, 0.0, 0.0))
    # crossed at right angles: the long side of one reaches into the other
    assert footprints_overlap((0.0, 0.0, 0.0), (0.0, 0.2, math.pi / 2))
    assert not footprints_overlap((0.0, 0.0, 0.0), (0.0, 0.25, math.pi / 2))


def test_a_contact_inside_a_step_is_found() -> None:
    # a car crossing another's path within one step: neither end of the step overlaps, its
    # middle does
    a0, a1 = (0.0, -0.3, math.pi / 2), (0.0, 0.3, math.pi / 2)
    b = (0.0, 0.0, 0.0)
    assert not footprints_overlap(a0, b) and not footprints_overlap(a1, b)
    assert swept_overlap(a0, a1, b, b)
    assert not swept_overlap(a0, a0, (0.0, 0.5, 0.0), (0.0, 0.5, 0.0))


def test_a_car_driven_into_another_crashes_is_put_back_and_waits_out_the_penalty() -> None:
    rammer, crawler = _follower(3.0, "rammer"), _follower(0.4, "crawler")
    cfg = _config(time_limit_per_lap_s=20.0, crash_penalty_s=2.0, offtrack_penalty_s=1.0)
    result = head_to_head([rammer, crawler], "oval", cfg, pole=1)  # the crawler ahead
    r = result.races[0]
    ram, crawl = r.cars
    assert (crawl.grid, ram.grid) == (0, 1)
    assert r.contacts, "the rammer never reached the crawler"
    first = r.contacts[0]
    assert first.cars == (0, 1) and first.penalised == (0,)  # the car behind, only
    assert ram.trial.crash_count == sum(0 in c.penalised for c in r.contacts) >= 1
    assert crawl.trial.crash_count == 0
    assert ram.trial.penalty_s == pytest.approx(
        2.0 * ram.trial.crash_count + 1.0 * ram.trial.off_track_count
    )
    assert ram.trial.reset_count >= ram.trial.crash_count
    _assert_never_inside_each_other(r)
    # separated: the step of the first contact ends with the rammer put back behind, clear
    k = first.step
    gap = math.hypot(*(r.poses[k, 0, :2] - r.poses[k, 1, :2]))
    assert gap > BODY_LENGTH_M
    # the penalty is time standing still: the rammer does not move for 2 s (30 steps)
    still = r.poses[k : k + 31, 0]
    assert np.allclose(still, still[0]) and not r.solid[k : k + 30, 0].any()
    assert r.solid[k + 30, 0] or r.cars[0].out_step <= k + 30


def test_penalties_count_as_time_standing_still_in_the_finish_time() -> None:
    fast, slow = load_policy("expert:racing-line"), load_policy("expert:centerline")
    result = head_to_head([fast, slow], "oval", _config(), pole=1)
    r = result.races[0]
    winner, loser = r.cars[r.order[0]], r.cars[r.order[1]]
    assert winner.trial.episode_status == "lap_complete" and winner.place == 1
    # elapsed time (driving + penalties) is the race clock when the car crossed its line
    assert winner.trial.elapsed_time_in_milliseconds == round(winner.out_step * 1000 / 15)
    assert winner.trial.penalty_s == 5.0 * winner.trial.crash_count
    # the race is decided then: the other car stops where it is, last
    assert loser.trial.episode_status == "in_progress" and loser.place == 2
    assert loser.out_step == winner.out_step == r.steps
    assert loser.trial.completion_percentage < 100.0
    assert r.cars[0].trial.crash_count >= 1 and r.cars[1].trial.crash_count == 0
    _assert_never_inside_each_other(r)


def test_grid_is_staggered_in_alternating_lanes() -> None:
    a, b = _follower(1.0, "a"), _follower(1.0, "b")
    with HeadToHeadRace([a, b], "oval", _config(time_limit_per_lap_s=1.0)) as race:
        r = race.run_race(0, [1, 0])
    pole, second = r.cars[1], r.cars[0]
    assert (pole.grid, pole.start_s_m) == (0, 0.0)
    assert (second.grid, second.start_s_m) == (1, -STAGGER_M)
    assert pole.lateral_m == pytest.approx(-second.lateral_m) and abs(pole.lateral_m) > 0.1
    # oval runs counter-clockwise: the outer lane (pole) is on the right
    assert pole.lateral_m < 0


def test_a_car_waiting_out_a_penalty_is_overtaken() -> None:
    swerve = SwervePolicy(period=60, hold=25, swerves=1)  # leaves the road once, early
    follower = _follower(0.8, "follower")  # slower: it passes only while the other waits
    cfg = _config(time_limit_per_lap_s=25.0)
    result = head_to_head([swerve, follower], "oval", cfg, pole=0)
    r = result.races[0]
    assert r.cars[0].trial.off_track_count == 1
    assert r.cars[1].overtakes == 1
    # ... and the faster car, behind now, catches up: it is the one that counts the crash
    assert all(c.penalised == (0,) for c in r.contacts)
    _assert_never_inside_each_other(r)


def test_same_seed_same_races(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def race(seed: int) -> dict[str, object]:
        pols = [load_policy("expert:racing-line"), load_policy("expert:centerline")]
        out = head_to_head(pols, "oval", _config(trials=2, seed=seed))
        data = out.to_dict()
        data["summary"].pop("realtime_factor")
        data["summary"].pop("wall_s")
        return data

    first = race(3)
    assert race(3) == first
    poles = [[c["name"] for c in r["cars"] if c["grid"] == 0][0] for r in first["races"]]  # type: ignore[index]
    assert poles[0] != poles[1]  # the pole rotates from race to race


def test_outputs_are_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pols = [_follower(1.5, "a"), _follower(1.0, "b")]
    result = head_to_head(pols, "oval", _config(time_limit_per_lap_s=3.0))
    written = write_outputs(result, tmp_path / "out")
    assert {"results", "trajectories", "report"} <= set(written)
    page = written["report"].read_text()
    assert "a vs b on oval" in page and page.count("<svg") == 1


def test_needs_two_cars_on_a_loop() -> None:
    with pytest.raises(ConfigError, match="2 cars or more"):
        HeadToHeadRace([_follower(1.0, "a")], "oval", _config())
    x = np.linspace(0.0, 10.0, 51)
    zero = np.zeros_like(x)
    strip = Track(
        np.stack((x, zero), 1),
        np.stack((x, zero + 0.5), 1),
        np.stack((x, zero - 0.5), 1),
        closed=False,
        name="strip",
    )
    with pytest.raises(ConfigError, match="not a loop"):
        HeadToHeadRace([_follower(1.0, "a"), _follower(1.0, "b")], strip, _config())


class _LidarFollower(FollowerPolicy):
    """The follower (it reads the true pose) on the lidar observation, recording what it sees."""

    def __init__(self, speed: float) -> None:
        super().__init__(
            observation="lidar",
            action_space=FULL_ACTION_SPACE,
            speed_mps=speed,
            min_speed_mps=speed,
            name="lidar",
        )
        self.seen: list[float] = []

    def act(self, obs: np.ndarray) -> object:
        self.seen.append(float(np.min(obs)))
        return super().act(obs)


def test_each_car_sees_the_others_where_they_are_now() -> None:
    watcher = _LidarFollower(1.2)
    result = head_to_head([watcher, _follower(0.5, "slow")], "oval", _config(), pole=1)
    r = result.races[0]
    gaps = np.hypot(*(r.poses[:, 0, :2] - r.poses[:, 1, :2]).T)
    # up to the first contact the watcher acts every step, on the poses the step starts from
    assert r.contacts
    n = r.contacts[0].step
    seen = np.array(watcher.seen[:n])
    near = gaps[:n] < 1.5
    assert near.any()
    assert np.all(seen[near] < gaps[:n][near])  # the other car's body is nearer than its centre
    assert np.all(seen[near] > gaps[:n][near] - 2 * BODY_LENGTH_M)


class _CameraFollower(FollowerPolicy):
    """The follower on the camera observation, keeping its first frame."""

    def __init__(self) -> None:
        super().__init__(observation="camera", action_space=FULL_ACTION_SPACE, name="camera")
        self.first: np.ndarray | None = None

    def act(self, obs: np.ndarray) -> object:
        if self.first is None:
            self.first = np.array(obs)
        return super().act(obs)


def test_the_first_frame_is_taken_from_the_cars_lane() -> None:
    from racer.env import RaceEnv

    cam = _CameraFollower()
    cfg = _config(time_limit_per_lap_s=0.5)
    r = head_to_head([cam, _follower(1.0, "b")], "oval", cfg, pole=0).races[0]
    env = RaceEnv("oval", observation="camera", start="fixed")
    try:
        env.reset(options={"start_s": 0.0})
        x, y, yaw = r.poses[0, 0]
        env.world.reset_car(float(x), float(y), float(yaw))
        expected = env.world.camera()
        centre = env.reset(options={"start_s": 0.0})[0]
    finally:
        env.close()
    assert cam.first is not None
    assert np.array_equal(cam.first[0], expected)  # the other car starts behind: out of view
    assert not np.array_equal(cam.first, centre)
