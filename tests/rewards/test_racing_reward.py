"""The racing-line reward params and the rewards that use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from racer.env import RaceEnv
from racer.env.expert import RacingLineExpert
from racer.evaluate.policies import FULL_ACTION_SPACE
from racer.rewards import load_reward
from racer.rewards.builtin import BUILTINS
from racer.rewards.params import EXTRA_KEYS

AGENTS = Path(__file__).resolve().parents[2] / "agents"


def test_racing_line_is_a_builtin_with_its_params_documented() -> None:
    assert "racing_line" in BUILTINS
    for key in ("racing_line_point", "racing_line_distance", "racing_line_speed"):
        assert key in EXTRA_KEYS


@pytest.mark.parametrize(
    "reward", ["racing_line", str(AGENTS / "racing" / "reward.py")], ids=["builtin", "recipe"]
)
def test_racing_rewards_pay_the_line_more_than_the_centre(reward: str) -> None:
    """The expert (on the line, at its speed) earns more per step than a slow centre-line car."""

    def mean_reward(expert: bool) -> float:
        env = RaceEnv(
            track="technical", observation="state", action_space=FULL_ACTION_SPACE, reward=reward
        )
        if expert:
            driver = RacingLineExpert(env)
        else:
            from racer.env.follower import CenterlineFollower

            driver = CenterlineFollower(env, speed_mps=1.0, min_speed_mps=0.8)  # type: ignore[assignment]
        env.reset(seed=0, options={"start_s": 0.0})
        total, n = 0.0, 0
        for _ in range(150):
            _, r, term, trunc, _ = env.step(driver.act())
            total, n = total + r, n + 1
            if term or trunc:
                break
        env.close()
        return total / n

    assert mean_reward(expert=True) > 1.3 * mean_reward(expert=False)


def test_racing_line_reward_is_tiny_off_the_road() -> None:
    plugin = load_reward("racing_line")
    params = {
        "all_wheels_on_track": False,
        "is_offtrack": True,
        "track_width": 0.76,
        "racing_line_distance": 0.0,
        "racing_line_speed": 3.0,
        "measured_speed": 3.0,
    }
    assert plugin(params) == pytest.approx(1e-3)


def test_a_road_too_narrow_for_a_racing_line_falls_back_to_the_centre_line() -> None:
    import numpy as np

    from racer.track import Track

    theta = np.linspace(0.0, 2.0 * np.pi, 200, endpoint=False)
    center = np.c_[3.0 * np.cos(theta), 3.0 * np.sin(theta)]
    inward = -center / 3.0
    thin = Track(center, center + 0.12 * inward, center - 0.12 * inward, closed=True, name="thin")
    with pytest.warns(UserWarning, match="no racing line for track 'thin'.*centre line"):
        env = RaceEnv(track=thin, observation="state")
        obs, info = env.reset(seed=0)
    assert env.racing_line.method == "centerline"
    assert obs.shape == (23,) and info["params"]["racing_line_distance"] < 0.01
    env.close()
