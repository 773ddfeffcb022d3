"""racer.env: the Gymnasium environment ``racer/Race-v0`` (owns spaces, stepping, termination).

Importing this module registers the environment id; ``gymnasium.make("racer/Race-v0", ...)``
then works (or ``gymnasium.make("racer.env:racer/Race-v0", ...)`` without importing first).
"""

from __future__ import annotations

import gymnasium as gym

from racer.env.race_env import (
    CONTROL_HZ,
    OBSERVATIONS,
    STATE_FEATURES,
    RaceEnv,
)
from racer.env.spaces import DEFAULT_DISCRETE, ActionSpec, resolve_action_space

ENV_ID = "racer/Race-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="racer.env.race_env:RaceEnv")

__all__ = [
    "CONTROL_HZ",
    "DEFAULT_DISCRETE",
    "ENV_ID",
    "OBSERVATIONS",
    "STATE_FEATURES",
    "ActionSpec",
    "RaceEnv",
    "resolve_action_space",
]
