"""The trained policy of a run folder, and the torch module that becomes ``policy.onnx``.

:func:`load_trained_policy` loads a run's model and its VecNormalize statistics through
:meth:`racer.train.run_folder.RunFolder.load_policy`, for a policy a car can run.
:class:`PolicyGraph` wraps the stable-baselines3 policy into a plain ``nn.Module`` that takes
what the car has (raw 0-255 frames, or lidar ranges in metres) and returns what the car needs
(action probabilities, or the normalised continuous action), with everything between inside the
graph:

1. observation normalisation (VecNormalize: ``clip((x - mean) / sqrt(var + eps), -c, c)``),
   when the run trained with it;
2. SB3's ``preprocess_obs`` (``/255`` for image spaces) and the features extractor;
3. the deterministic action head: ``softmax(logits)`` for discrete actions (its argmax is SB3's
   deterministic action), the Gaussian mean (PPO) or ``tanh`` of it (SAC) clipped to [-1, 1]
   for continuous actions (what ``model.predict(..., deterministic=True)`` returns).

:func:`reference_outputs` computes the same quantities through SB3's own API, the yardstick the
exported graph is measured against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from racer.contract.observations import CAR_OBSERVATIONS
from racer.errors import ConfigError
from racer.export.errors import ExportError
from racer.train.run_folder import MODEL_FILES, RunFolder, TrainedPolicy

_BATCH = 64  # observations per batch when computing reference outputs


def load_trained_policy(run_dir: str | Path, which: str = "best") -> TrainedPolicy:
    """Load a run's model for export.

    Args:
        run_dir: the run folder written by ``racer train``.
        which: ``"best"`` (best evaluation) or ``"final"`` (end of the budget).

    Returns:
        The policy, on the CPU.

    Raises:
        ExportError: no such run, no model file, or an observation a car cannot sense.
    """
    run = Path(run_dir)
    if which not in MODEL_FILES:
        raise ExportError(f"--model {which!r} is not valid: use 'best' or 'final'")
    if not run.is_dir():
        raise ExportError(f"run folder {run} not found; train one with 'racer train'")
    try:
        folder = RunFolder.open(run)
        cfg = folder.config()
    except ConfigError as exc:
        raise ExportError(str(exc)) from None
    observation = cfg.env.observation
    if observation not in CAR_OBSERVATIONS:
        raise ExportError(
            f"{run}: a {observation!r} policy cannot run on a car (it reads privileged simulator "
            f"state); train with observation = one of {', '.join(CAR_OBSERVATIONS)} to export"
        )
    try:
        return folder.load_policy(which, config=cfg)
    except ConfigError as exc:  # no such model file, or one that does not load
        raise ExportError(str(exc)) from None


class PolicyGraph(nn.Module):
    """Raw observation in, deterministic action out: the graph exported to ONNX.

    Args:
        trained: the loaded policy.
        raw_mean: for continuous actions, output the unclipped Gaussian mean (PPO) or the
            pre-tanh mean (SAC) instead: what a DeepRacer frozen graph outputs (the car clamps
            it), the reference of :mod:`racer.export.deepracer`'s parity.

    Input: ``(1, *obs_shape)`` float32, raw 0-255 frames (camera/stereo) or metres (lidar).
    Output: ``(1, n_actions)`` softmax probabilities (discrete) or ``(1, 2)`` normalised
    (steering, speed) in [-1, 1] (continuous).
    """

    def __init__(self, trained: TrainedPolicy, raw_mean: bool = False) -> None:
        super().__init__()
        self.policy = trained.model.policy
        self.algorithm = trained.algorithm
        self.discrete = trained.discrete
        self.raw_mean = raw_mean
        self.normalize = trained.obs_norm is not None
        if trained.obs_norm is not None:
            norm = trained.obs_norm
            std = np.sqrt(norm.var + norm.epsilon)
            self.register_buffer("obs_mean", torch.as_tensor(norm.mean, dtype=torch.float32))
            self.register_buffer("obs_std", torch.as_tensor(std, dtype=torch.float32))
            self.clip = float(norm.clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Map a batch of raw observations to action outputs."""
        x = obs
        if self.normalize:
            mean, std = self.get_buffer("obs_mean"), self.get_buffer("obs_std")
            x = torch.clamp((x - mean) / std, -self.clip, self.clip)
        if self.algorithm == "sac":
            actor = self.policy.actor
            if self.raw_mean:
                features = actor.extract_features(x, actor.features_extractor)
                return actor.mu(actor.latent_pi(features))
            return torch.clamp(actor(x, deterministic=True), -1.0, 1.0)
        features = self.policy.extract_features(x, self.policy.pi_features_extractor)
        latent = self.policy.mlp_extractor.forward_actor(features)
        out = self.policy.action_net(latent)
        if self.discrete:
            return torch.softmax(out, dim=-1)
        return out if self.raw_mean else torch.clamp(out, -1.0, 1.0)


def reference_outputs(trained: TrainedPolicy, observations: np.ndarray) -> np.ndarray:
    """What the trained policy outputs, through stable-baselines3's own API.

    Discrete: the action distribution's probabilities (``policy.get_distribution``);
    continuous: ``model.predict(obs, deterministic=True)`` (already clipped to the space).

    Args:
        trained: the loaded policy.
        observations: ``(N, *obs_shape)`` raw observations.

    Returns:
        ``(N, n_outputs)`` float32.
    """
    outs: list[np.ndarray] = []
    policy = trained.model.policy
    for i in range(0, len(observations), _BATCH):
        batch = trained.normalize(np.asarray(observations[i : i + _BATCH]))
        if trained.discrete:
            with torch.no_grad():
                tensor, _ = policy.obs_to_tensor(batch)
                probs = policy.get_distribution(tensor).distribution.probs
            outs.append(probs.cpu().numpy())
        else:
            action, _ = trained.model.predict(batch, deterministic=True)
            outs.append(np.asarray(action).reshape(len(batch), -1))
    return np.concatenate(outs).astype(np.float32)


def reference_actions(trained: TrainedPolicy, observations: np.ndarray) -> np.ndarray:
    """``model.predict(obs, deterministic=True)`` for a batch: indices or normalised actions."""
    outs = []
    for i in range(0, len(observations), _BATCH):
        action, _ = trained.model.predict(
            trained.normalize(np.asarray(observations[i : i + _BATCH])), deterministic=True
        )
        outs.append(np.asarray(action))
    return np.concatenate(outs)
