"""racer.env: the Gymnasium environment ``racer/Race-v0`` (owns spaces, stepping, termination).

:class:`RaceEnv` is one car; :class:`RaceVectorEnv` is many cars stepped together in numpy, with
the same semantics car by car (``gym.make_vec(..., vectorization_mode="vector_entry_point")``).

``import racer`` registers the environment id (racer._registration), so
``gymnasium.make("racer/Race-v0", ...)`` works after it; importing this module registers it too.
"""

from __future__ import annotations

import gymnasium as gym

from racer._registration import ENV_ID, register_with
from racer.env.race_env import (
    CONTROL_HZ,
    OBSERVATIONS,
    STATE_FEATURES,
    RaceEnv,
)
from racer.env.spaces import DEFAULT_DISCRETE, ActionSpec, resolve_action_space
from racer.env.vector import RaceVectorEnv

register_with(gym)  # `import racer` has done it already; idempotent

__all__ = [
    "CONTROL_HZ",
    "DEFAULT_DISCRETE",
    "ENV_ID",
    "OBSERVATIONS",
    "STATE_FEATURES",
    "ActionSpec",
    "RaceEnv",
    "RaceVectorEnv",
    "resolve_action_space",
]
