"""Reward plugins: DeepRacer ``params`` assembly, plugin loading, built-ins, checking.

A reward is DeepRacer's ``reward_function(params) -> float``. This package owns:

* :class:`ParamsBuilder` / :class:`StepInputs` / :class:`ObjectInfo`: the env hands the step's
  facts in, gets the ``params`` dict out (every DeepRacer key plus racer's extras);
* :func:`load_reward` / :class:`RewardPlugin`: ``reward=`` as a built-in or installed name
  (entry-point group ``racer.rewards``), a ``file.py[:function]`` path or a callable, validated
  on every call and picklable;
* :func:`available_rewards` / :func:`describe_rewards`: the installed names;
* :mod:`racer.rewards.builtin`: racer's own rewards; :mod:`racer.rewards.check`: synthetic poses
  to try a reward before training.

Imports racer.track, racer.contract (the car's facts), racer.errors and numpy only.
"""

from racer.rewards.params import (
    DEEPRACER_KEYS,
    EXTRA_KEYS,
    ObjectInfo,
    ParamsBuilder,
    StepInputs,
    heading_deg,
)
from racer.rewards.plugin import (
    DEFAULT_FUNCTION,
    ENTRY_POINT_GROUP,
    MAX_ABS_REWARD,
    RewardInfo,
    RewardPlugin,
    abbreviate_params,
    available_rewards,
    describe_rewards,
    load_reward,
)

RewardParams = dict  # the ``params`` a reward function receives: ``dict[str, Any]``

__all__ = [
    "DEEPRACER_KEYS",
    "DEFAULT_FUNCTION",
    "ENTRY_POINT_GROUP",
    "EXTRA_KEYS",
    "MAX_ABS_REWARD",
    "ObjectInfo",
    "ParamsBuilder",
    "RewardInfo",
    "RewardParams",
    "RewardPlugin",
    "StepInputs",
    "abbreviate_params",
    "available_rewards",
    "describe_rewards",
    "heading_deg",
    "load_reward",
]
