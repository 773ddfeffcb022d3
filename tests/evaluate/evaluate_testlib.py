"""Helpers for the evaluation and leaderboard tests: tiny real bundles, scripted policies, runs.

Bundles are built the way ``racer export`` writes them (ONNX graph, OpenVINO IR, golden arrays,
DeepRacer ``model_metadata.json``, ``metadata.json`` with checksums via
:func:`racer.car.bundle.write_metadata`), without depending on :mod:`racer.export`. Their ONNX
graph ignores the frame (weights 0) and always prefers one action: enough to test formats,
verification and the leaderboard. Behaviour tests use :class:`SwervePolicy`, a deterministic
follower that leaves the road on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from testlib.bundles import DISCRETE_ACTIONS as ACTIONS
from testlib.bundles import PREPROCESSING, H, W  # noqa: F401  (used by the evaluation tests)
from testlib.bundles import build_bundle as _build

from racer.car.bundle import write_metadata
from racer.evaluate.policies import FollowerPolicy


def build_bundle(
    folder: Path, kind: str = "discrete", preferred: int = 2, samples: int = 3
) -> Path:
    """A complete camera bundle whose policy ignores the frame and always picks one action.

    Args:
        folder: the bundle folder (created).
        kind: ``discrete`` (softmax over :data:`ACTIONS`) or ``continuous`` (tanh).
        preferred: discrete: the index of the action it picks.
        samples: golden samples.
    """
    if kind == "discrete":
        bias = [0.0] * len(ACTIONS)
        bias[preferred] = 3.0
    else:
        bias = [0.0, 0.5]  # straight, a bit above mid speed
    return _build(folder, kind, samples, bias=bias, frame_shape=(H, W))


def mismatch_outputs(folder: Path) -> Path:
    """Make a bundle whose metadata (re-checksummed) claims outputs the ONNX graph lacks.

    The metadata stays self-consistent (action list and output size agree, checksums valid),
    so only the check of the graph's outputs against the metadata can catch it.
    """
    meta = json.loads((folder / "metadata.json").read_text())
    meta["action_space"] = meta["action_space"][:4]
    meta["outputs"][0]["shape"] = [1, 4]
    write_metadata(folder, meta)
    return folder


class SwervePolicy(FollowerPolicy):
    """The follower, but it steers hard right for ``hold`` steps every ``period`` steps.

    Each put-back restarts the count, so the car leaves the road at regular intervals.

    Args:
        period: follower steps before each swerve.
        hold: swerve steps (enough to leave the road).
        swerves: how many swerves in total (then it only follows); None for no limit.
    """

    def __init__(self, period: int = 90, hold: int = 25, swerves: int | None = None) -> None:
        super().__init__(observation="state", name="swerve")
        self.period = period
        self.hold = hold
        self.swerves_left = swerves
        self._count = 0
        self._swerving = False

    def reset(self, env: Any) -> None:
        """Bind to the env and restart the count."""
        super().reset(env)
        self._count = 0
        if self._swerving and self.swerves_left is not None:
            self.swerves_left -= 1
        self._swerving = False

    def act(self, obs: np.ndarray) -> Any:
        """The follower's action, or hard right during a swerve."""
        self._count += 1
        active = self.swerves_left is None or self.swerves_left > 0
        if active and self.period <= self._count < self.period + self.hold:
            self._swerving = True
            return 3  # the default discrete list: (-15 deg (right), 2 m/s)
        return super().act(obs)


def tiny_run(folder: Path, observation: str = "state") -> Path:
    """A run folder with an untrained PPO model (MLP, [16]) and its ``config.toml``."""
    from stable_baselines3 import PPO

    from racer.env import RaceEnv

    folder.mkdir(parents=True, exist_ok=True)
    env = RaceEnv("oval", observation=observation)
    model = PPO(
        "MlpPolicy", env, n_steps=64, batch_size=32, policy_kwargs={"net_arch": [16]}, seed=0
    )
    model.save(str(folder / "best_model.zip"))
    env.close()
    (folder / "config.toml").write_text(
        '[agent]\nname = "tiny"\n\n[env]\ntracks = ["oval"]\n'
        f'observation = "{observation}"\n\n[algorithm]\nname = "ppo"\n'
    )
    return folder
