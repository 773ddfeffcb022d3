"""Observations recorded from the simulator, for parity checks, golden frames and calibration.

The trained policy drives (deterministically) in a :class:`racer.env.RaceEnv` built from the run's
config: its first track, its observation and its action space. Episodes start at several points
along the lap, so the recorded frames cover straights and turns, not only one start.
"""

from __future__ import annotations

import math

import numpy as np

from racer.env import RaceEnv
from racer.export.policy import TrainedPolicy

DEFAULT_SAMPLES = 256  # observations recorded for the parity check (>= 200 required)
MIN_SAMPLES = 200  # fewest observations a parity figure may rest on
START_POINTS = 8  # episodes start at this many points along the lap (more if episodes end early)
_GOLDEN_RATIO = (math.sqrt(5.0) - 1.0) / 2.0  # spreads successive start points over the lap


def run_track(trained: TrainedPolicy) -> str:
    """The track observations are recorded on: the first track of the run's config."""
    from racer.train.pipeline import eval_track

    return eval_track(trained.config)


def record_observations(
    trained: TrainedPolicy, samples: int = DEFAULT_SAMPLES, phase: float = 0.0, seed: int = 0
) -> np.ndarray:
    """Drive the trained policy in the simulator and keep the observations it saw.

    Args:
        trained: the policy (it picks the actions, deterministically).
        samples: observations to record.
        phase: offset of the first start point, fraction of the lap (a different phase gives a
            different set, e.g. for INT8 calibration).
        seed: seed of the environment's resets.

    Returns:
        ``(samples, *obs_shape)`` raw observations (uint8 frames or float32 metres).
    """
    env = RaceEnv(
        track=run_track(trained),
        observation=trained.observation,
        action_space=trained.action_spec,
        reward="progress",
        start="fixed",
    )
    try:
        per_episode = max(1, math.ceil(samples / START_POINTS))
        length = env.track.length
        out: list[np.ndarray] = []
        episode = 0
        while len(out) < samples:
            start_s = ((phase + episode * _GOLDEN_RATIO) % 1.0) * length
            obs, _ = env.reset(seed=seed + episode, options={"start_s": start_s, "reverse": False})
            episode += 1
            for _ in range(per_episode):
                out.append(np.array(obs, copy=True))
                if len(out) >= samples:
                    break
                obs, _, terminated, truncated, _ = env.step(trained.act(obs))
                if terminated or truncated:
                    break
    finally:
        env.close()
    return np.stack(out)
