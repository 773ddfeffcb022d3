"""Trials driven together (one RaceVectorEnv car each) give exactly the one-by-one results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racer.evaluate import RaceConfig
from racer.evaluate.evaluator import TOGETHER_MIN_TRIALS, Evaluator
from racer.evaluate.policies import FollowerPolicy, batch_policy, load_policy
from racer.evaluate.races import RaceFormat


def _both(policy, track: str, config: RaceConfig):  # type: ignore[no-untyped-def]
    with Evaluator(policy, track, config, together=True) as ev:
        together = ev.run()
    with Evaluator(policy, track, config, together=False) as ev:
        alone = ev.run()
    return together, alone


def _same_trials(together, alone) -> None:  # type: ignore[no-untyped-def]
    assert len(together.trials) == len(alone.trials)
    for a, b in zip(together.trials, alone.trials, strict=True):
        ma, mb = a.metrics(), b.metrics()
        assert ma.keys() == mb.keys()
        for key, value in mb.items():
            if isinstance(value, float):
                assert ma[key] == pytest.approx(value, rel=1e-9), key
            elif key == "lap_times_s":
                assert ma[key] == pytest.approx(value, rel=1e-9)
            else:
                assert ma[key] == value, key
        assert a.lap_ends == b.lap_ends and a.steps == b.steps
        np.testing.assert_allclose(a.trajectory, b.trajectory, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(a.poses, b.poses, rtol=1e-9, atol=1e-9)
        assert len(a.trace) == len(b.trace)
        assert [row.split(",")[-3:] for row in a.trace] == [row.split(",")[-3:] for row in b.trace]


def test_follower_with_put_backs_and_laps(tmp_path: Path) -> None:
    """Too fast for the technical track: off-tracks, put-backs, penalties, two laps each."""
    fast = {
        "action_space_type": "continuous",
        "action_space": {
            "steering_angle": {"low": -30, "high": 30},
            "speed": {"low": 0.5, "high": 4},
        },
    }
    policy = FollowerPolicy(
        observation="state", action_space=fast, speed_mps=4.0, min_speed_mps=4.0
    )
    config = RaceConfig(trials=3, laps=2, reset_limit=50)
    assert batch_policy(policy, 3) is not None
    together, alone = _both(policy, "technical", config)
    _same_trials(together, alone)
    assert sum(t.off_track_count for t in alone.trials) >= 2
    assert all(t.lap_times_s for t in alone.trials)


def test_camera_bundle_trials(discrete_bundle: Path) -> None:
    """A camera bundle, frame by frame through each car's own preprocessor."""
    policy = load_policy(discrete_bundle)
    together, alone = _both(policy, "oval", RaceConfig(trials=2, laps=1, reset_limit=3))
    _same_trials(together, alone)


def test_run_folder_trials(run_dir: Path) -> None:
    policy = load_policy(run_dir)
    together, alone = _both(policy, "oval", RaceConfig(trials=2, laps=1, reset_limit=2))
    _same_trials(together, alone)


@pytest.mark.parametrize(
    "config",
    [
        RaceConfig(race=RaceFormat.OBJECT_AVOIDANCE, trials=2, boxes=3, reset_limit=4, seed=2),
        RaceConfig(
            race=RaceFormat.HEAD_TO_HEAD, trials=2, bots=2, bot_speed_mps=0.5, reset_limit=2
        ),
    ],
)
def test_races_with_objects_together(config: RaceConfig) -> None:
    """Boxes and bots: each car meets its trial's objects (crashes, put-backs behind them)."""
    policy = FollowerPolicy(observation="lidar", speed_mps=1.5)
    with Evaluator(policy, "oval", config, together=True) as ev:
        assert ev.together
    together, alone = _both(policy, "oval", config)
    _same_trials(together, alone)
    assert [t.layout for t in together.trials] == [t.layout for t in alone.trials]
    assert sum(t.crash_count for t in alone.trials) >= 1


def test_many_trials_go_together_by_default_few_one_at_a_time() -> None:
    policy = FollowerPolicy(observation="state")
    with Evaluator(policy, "oval", RaceConfig(trials=TOGETHER_MIN_TRIALS)) as ev:
        assert ev.together
    with Evaluator(policy, "oval", RaceConfig(trials=3)) as ev:
        assert not ev.together
