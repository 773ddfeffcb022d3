"""Built-in drivers by name: ``expert:racing-line`` and ``expert:centerline``."""

from __future__ import annotations

import pytest

from racer.errors import RacerError
from racer.evaluate import RaceConfig, evaluate, load_policy
from racer.evaluate.policies import ExpertPolicy, FollowerPolicy


def test_experts_load_by_name() -> None:
    assert isinstance(load_policy("expert:racing-line"), ExpertPolicy)
    follower = load_policy("expert:centerline")
    assert isinstance(follower, FollowerPolicy) and follower.name == "expert:centerline"


def test_unknown_expert_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(RacerError, match=r"expert:racing-lin'.*did you mean expert:racing-line"):
        load_policy("expert:racing-lin")


def test_racing_expert_races_three_laps_at_the_bound() -> None:
    result = evaluate(load_policy("expert:racing-line"), "loop", RaceConfig(trials=1, laps=3))
    trial = result.best_trial()
    assert trial.complete and trial.off_track_count == 0
    # one standing start and two flying laps: within 5% of the (flying) bound on average
    assert result.lap_ratio is not None and 1.0 <= result.lap_ratio <= 1.05, result.summary()


def test_centerline_expert_is_slower_than_the_racing_expert() -> None:
    fast = evaluate(load_policy("expert:racing-line"), "oval", RaceConfig(trials=1))
    slow = evaluate(load_policy("expert:centerline"), "oval", RaceConfig(trials=1))
    assert fast.best_trial().complete and slow.best_trial().complete
    assert slow.best_trial().average_lap_s > 1.5 * fast.best_trial().average_lap_s
