"""The evaluator: DeepRacer's metrics, lap timing, continuous evaluation, race formats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evaluate_testlib import SwervePolicy

from racer.env import RaceEnv
from racer.env.follower import CenterlineFollower
from racer.errors import ConfigError
from racer.evaluate import METRIC_NAMES, Evaluator, FollowerPolicy, RaceConfig, evaluate
from racer.evaluate.evaluator import trial_rank_key
from racer.evaluate.races import (
    BOT_MIN_GAP_M,
    FINISH_CLEAR_M,
    START_CLEAR_M,
    place_boxes,
    setup_race,
    trial_rng,
)
from racer.track import load_track

DT = 1.0 / 15


@pytest.fixture(scope="module")
def clean_lap() -> float:
    """The follower's lap time on the oval, measured on a plain RaceEnv episode."""
    env = RaceEnv("oval", observation="state", start="fixed")
    follower = CenterlineFollower(env)
    env.reset(seed=0)
    while True:
        _, _, term, trunc, info = env.step(follower.act())
        if term or trunc:
            break
    env.close()
    assert info["episode_status"] == "lap_complete"
    return float(info["lap_time_s"])


def test_time_trial_metrics_use_deepracer_names(clean_lap: float) -> None:
    result = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=2))
    assert len(result.trials) == 2
    for t in result.trials:
        m = t.metrics()
        for name in METRIC_NAMES:
            assert name in m
        assert m["episode_status"] == "lap_complete"
        assert m["completion_percentage"] == 100.0
        assert m["off_track_count"] == m["crash_count"] == m["reset_count"] == 0
        assert t.lap_times_s == [pytest.approx(clean_lap)]  # the env's own lap time
        assert m["lap_times_s"] == [round(clean_lap, 4)]
        assert m["elapsed_time_in_milliseconds"] == round(clean_lap * 1000)
    assert result.summary()["complete_trials"] == 2
    assert result.to_dict()["trials"][0]["episode_status"] == "lap_complete"


def test_consecutive_laps_keep_driving(clean_lap: float) -> None:
    t = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=1, laps=3)).trials[0]
    assert t.complete and len(t.lap_times_s) == 3 and len(t.lap_ends) == 3
    # a flying lap is no slower than the standing first one: the car was never stopped
    assert max(t.lap_times_s[1:]) <= t.lap_times_s[0] + 1e-9
    assert t.average_lap_s == pytest.approx(np.mean(t.lap_times_s))
    assert sum(t.lap_times_s) * 1000 == pytest.approx(t.elapsed_time_in_milliseconds, abs=1)
    assert t.steps * DT == pytest.approx(t.sim_time_s)
    assert t.lap_times_s[0] == pytest.approx(clean_lap)


def test_offtrack_penalty_arithmetic() -> None:
    runs = {
        p: evaluate(
            SwervePolicy(period=60), "oval", RaceConfig(trials=1, laps=2, offtrack_penalty_s=p)
        )
        for p in (0.0, 2.0, 5.0)
    }
    base = runs[0.0].trials[0]
    assert base.off_track_count >= 2
    assert base.reset_count == base.off_track_count
    for penalty, result in runs.items():
        t = result.trials[0]
        # the penalty changes the clock, never the drive
        assert t.steps == base.steps and t.off_track_count == base.off_track_count
        assert np.allclose(t.trajectory, base.trajectory, equal_nan=True)
        assert t.penalty_s == pytest.approx(penalty * t.off_track_count)
        expected_ms = round((t.steps * DT + penalty * t.off_track_count) * 1000)
        assert t.elapsed_time_in_milliseconds == expected_ms
        assert sum(t.lap_times_s) == pytest.approx(t.elapsed_time_in_milliseconds / 1000, abs=1e-3)


def test_reset_keeps_progress(clean_lap: float) -> None:
    # One deliberate off-track about a quarter into the lap.
    stopped = evaluate(SwervePolicy(swerves=1), "oval", RaceConfig(trials=1, reset_limit=0))
    t0 = stopped.trials[0]
    assert t0.episode_status == "off_track"
    assert t0.off_track_count == 1 and t0.reset_count == 0
    assert 10.0 < t0.completion_percentage < 60.0

    cont = evaluate(SwervePolicy(swerves=1), "oval", RaceConfig(trials=1)).trials[0]
    assert cont.episode_status == "lap_complete" and cont.reset_count == 1
    # Progress carried over the put-back: the lap needs about one clean lap of driving, not
    # the distance before the off-track again (which would add ~25% of a lap).
    assert cont.sim_time_s < clean_lap * 1.1
    assert cont.elapsed_time_in_milliseconds == round((cont.sim_time_s + 5.0) * 1000)
    # the driven line breaks (NaN row) where the car was put back, once
    assert int(np.isnan(cont.trajectory[:, 0]).sum()) == 1


def test_reset_limit_ends_trial() -> None:
    t = evaluate(SwervePolicy(period=40), "oval", RaceConfig(trials=1, reset_limit=2)).trials[0]
    assert t.episode_status == "off_track"
    assert t.reset_count == 2 and t.off_track_count == 3
    assert not t.complete and t.average_lap_s is None


def test_time_limit_gives_time_up_and_partial_completion() -> None:
    cfg = RaceConfig(trials=1, time_limit_per_lap_s=4.0)
    t = evaluate(FollowerPolicy(), "oval", cfg).trials[0]
    assert t.episode_status == "time_up"
    assert t.steps == 60
    track = load_track("oval")
    # the follower averages ~1 m/s: completion is the distance driven over the lap
    assert 100.0 * 3.0 / track.length < t.completion_percentage < 100.0 * 7.0 / track.length


def test_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[dict]:
        cfg = RaceConfig(race="object-avoidance", trials=2, seed=seed, time_limit_per_lap_s=15.0)
        result = evaluate(SwervePolicy(period=70), "oval", cfg)
        return [
            {**t.metrics(), "line": t.trajectory.tolist(), "layout": t.layout}
            for t in result.trials
        ]

    a, b = run(3), run(3)
    assert json_equal(a, b)
    assert a[0]["layout"] != a[1]["layout"]  # each trial has its own placement
    assert run(4)[0]["layout"] != a[0]["layout"]


def json_equal(a: object, b: object) -> bool:
    import json

    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_boxes_seeded_spread_and_on_the_road() -> None:
    track = load_track("oval")
    for seed in range(5):
        boxes = place_boxes(track, 4, trial_rng(seed, 0))
        again = place_boxes(track, 4, trial_rng(seed, 0))
        assert boxes == again
        s = np.array([b.s_m for b in boxes])
        assert np.all(np.diff(s) > 1.0)  # spread out, in driving order
        assert np.all(s > START_CLEAR_M) and np.all(s < track.length - FINISH_CLEAR_M)
        for b in boxes:
            half = 0.15  # default box 0.3 m
            c, sn = math.cos(b.yaw_rad), math.sin(b.yaw_rad)
            corners = np.array(
                [
                    (b.x_m + dx * c - dy * sn, b.y_m + dx * sn + dy * c)
                    for dx in (-half, half)
                    for dy in (-half, half)
                ]
            )
            assert track.on_track(corners).all()
            assert abs(abs(b.lateral_m) - 0.25 * float(track.width_at(b.s_m))) < 1e-9
    lanes = {
        np.sign(b.lateral_m) for seed in range(5) for b in place_boxes(track, 4, trial_rng(seed, 0))
    }
    assert lanes == {-1.0, 1.0}  # both lanes are used
    assert place_boxes(track, 4, trial_rng(1, 0)) != place_boxes(track, 4, trial_rng(2, 0))
    with pytest.raises(ConfigError):
        place_boxes(track, 40, trial_rng(0, 0))


def test_object_avoidance_crashes_are_counted_and_put_back_clear() -> None:
    cfg = RaceConfig(race="object-avoidance", trials=1, boxes=3, time_limit_per_lap_s=30.0)
    with Evaluator(FollowerPolicy(), "oval", cfg) as ev:
        t = ev.run_trial(0)
        objects = ev.env.world.objects()
    assert len(objects) == 3 and all(o.kind == "box" for o in objects)
    assert len(t.layout["boxes"]) == 3
    # the centre-line follower drives through lane boxes: it hits at least one
    assert t.crash_count >= 1
    assert t.reset_count >= t.crash_count
    assert t.penalty_s == pytest.approx(5.0 * t.crash_count + 5.0 * t.off_track_count)
    # every put-back point (the row after a NaN) is clear of every box, and DeepRacer's: 1 m
    # behind the box it hit, in the other lane (the trajectory is the front point, 0.09 m ahead)
    track = ev.track
    boxes = [track.project(np.array([o.x_m, o.y_m])) for o in objects]
    rows = np.flatnonzero(np.isnan(t.trajectory[:, 0])) + 1
    behind = 0
    for r in rows:
        x, y = t.trajectory[r]
        assert min(math.hypot(o.x_m - x, o.y_m - y) for o in objects) > 0.3
        p = track.project(np.array([x, y]))
        for b in boxes:
            ahead = (float(b.s) - float(p.s)) % track.length
            if abs(ahead - 0.91) < 0.05:
                assert float(b.lateral) * float(p.lateral) < 0  # the other lane
                assert abs(abs(float(p.lateral)) - 0.25 * track.width_at(p.s)) < 0.03
                behind += 1
    assert behind == len(rows) >= 1


def test_head_to_head_bots_start_ahead_and_move() -> None:
    cfg = RaceConfig(race="head-to-head", trials=1, bots=2, bot_speed_mps=0.5)
    with Evaluator(FollowerPolicy(), "oval", cfg) as ev:
        env = ev.env
        setup_race(env.world, ev.track, cfg, 0)
        env.reset(options={"start_s": 0.0, "reverse": False})
        before = [o.s_m for o in env.world.objects()]
        assert len(before) == 2
        assert all(BOT_MIN_GAP_M - 1e-9 <= s <= ev.track.length - BOT_MIN_GAP_M for s in before)
        for _ in range(30):
            env.step(4)  # straight, 1 m/s
        after = [o.s_m for o in env.world.objects()]
        assert after == pytest.approx([s + 0.5 * 30 * DT for s in before])


def test_head_to_head_trial_completes() -> None:
    cfg = RaceConfig(race="head-to-head", trials=1, bots=1, bot_speed_mps=0.6)
    t = evaluate(FollowerPolicy(), "oval", cfg).trials[0]
    assert t.episode_status == "lap_complete"
    assert len(t.layout["bots"]) == 1
    assert t.crash_count >= 1  # the follower rear-ends the slower bot on the centre line
    assert t.penalty_s == pytest.approx(5.0 * t.crash_count)


def test_trial_ranking_rule() -> None:
    result = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=1, time_limit_per_lap_s=3.0))
    t = result.trials[0]
    assert trial_rank_key(t)[0] == 1  # incomplete ranks after complete
    complete = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=1)).trials[0]
    assert trial_rank_key(complete) < trial_rank_key(t)


@pytest.mark.parametrize(
    "kwargs",
    [{"trials": 0}, {"laps": 0}, {"race": "drag-race"}, {"offtrack_penalty_s": -1.0}],
)
def test_bad_race_config(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        RaceConfig(**kwargs)
