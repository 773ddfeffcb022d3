"""The trained policy of a run folder, and the torch module that becomes ``policy.onnx``.

:func:`load_trained_policy` reads a run folder (``config.toml``, ``best_model.zip`` or
``final_model.zip``, optional ``vecnormalize.pkl``). :class:`PolicyGraph` wraps the
stable-baselines3 policy into a plain ``nn.Module`` that takes what the car has (raw 0-255
frames, or lidar ranges in metres) and returns what the car needs (action probabilities, or the
normalised continuous action), with everything between inside the graph:

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

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from racer.env.spaces import ActionSpec
from racer.errors import ConfigError
from racer.export.errors import ExportError
from racer.train.config import AgentConfig

MODEL_FILES = {"best": "best_model.zip", "final": "final_model.zip"}
CAR_OBSERVATIONS = ("camera", "stereo", "lidar")  # what a real car can sense
_BATCH = 64  # observations per batch when computing reference outputs


@dataclass(frozen=True)
class ObsNorm:
    """VecNormalize's observation statistics.

    Attributes:
        mean: running mean, observation-shaped, float64.
        var: running variance, observation-shaped, float64.
        clip: normalised values are clipped to ``[-clip, clip]``.
        epsilon: added to the variance before the square root.
    """

    mean: np.ndarray
    var: np.ndarray
    clip: float
    epsilon: float

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """Normalise observations exactly as ``VecNormalize.normalize_obs`` does."""
        return np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip, self.clip)


@dataclass
class TrainedPolicy:
    """A run's trained model with what export needs to know about it.

    Attributes:
        run_dir: the run folder.
        which: ``"best"`` or ``"final"``.
        model_path: the ``.zip`` loaded.
        config: the run's resolved recipe.
        model: the stable-baselines3 model (PPO or SAC), on the CPU.
        algorithm: ``"ppo"`` or ``"sac"``.
        action_spec: the action space in DeepRacer's terms.
        observation: ``"camera"``, ``"stereo"`` or ``"lidar"``.
        obs_norm: the observation normalisation, or None.
    """

    run_dir: Path
    which: str
    model_path: Path
    config: AgentConfig
    model: Any
    algorithm: str
    action_spec: ActionSpec
    observation: str
    obs_norm: ObsNorm | None

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """The observation shape without the batch axis."""
        return tuple(int(d) for d in self.model.observation_space.shape)

    @property
    def discrete(self) -> bool:
        """Whether the actions are a discrete list."""
        return self.action_spec.kind == "discrete"

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The observation as the policy sees it (VecNormalize applied when the run used it)."""
        return self.obs_norm.apply(obs) if self.obs_norm is not None else obs

    def act(self, obs: np.ndarray) -> Any:
        """The deterministic action of one raw observation (the training evaluation's call)."""
        action, _ = self.model.predict(self.normalize(obs[None]), deterministic=True)
        return action[0]


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
    from racer.train.pipeline import load_run_config

    run = Path(run_dir)
    if which not in MODEL_FILES:
        raise ExportError(f"--model {which!r} is not valid: use 'best' or 'final'")
    if not run.is_dir():
        raise ExportError(f"run folder {run} not found; train one with 'racer train'")
    try:
        cfg = load_run_config(run)
    except ConfigError as exc:
        raise ExportError(str(exc)) from None
    observation = cfg.env.observation
    if observation not in CAR_OBSERVATIONS:
        raise ExportError(
            f"{run}: a {observation!r} policy cannot run on a car (it reads privileged simulator "
            f"state); train with observation = one of {', '.join(CAR_OBSERVATIONS)} to export"
        )
    path = run / MODEL_FILES[which]
    if not path.is_file():
        other = next(
            (k for k in MODEL_FILES if k != which and (run / MODEL_FILES[k]).is_file()), None
        )
        hint = f"use --model {other}" if other else "train it first (racer train)"
        raise ExportError(f"{run}: no {MODEL_FILES[which]} in the run folder; {hint}")

    from stable_baselines3 import PPO, SAC

    algo_cls = SAC if cfg.algorithm.name == "sac" else PPO
    try:
        model = algo_cls.load(str(path), device="cpu")
    except Exception as exc:  # sb3 raises many types for a damaged zip
        raise ExportError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from None
    model.policy.set_training_mode(False)
    obs_norm = _load_obs_norm(run / "vecnormalize.pkl")
    return TrainedPolicy(
        run_dir=run,
        which=which,
        model_path=path,
        config=cfg,
        model=model,
        algorithm=cfg.algorithm.name,
        action_spec=cfg.action_spec(),
        observation=observation,
        obs_norm=obs_norm,
    )


def _load_obs_norm(path: Path) -> ObsNorm | None:
    """Read VecNormalize's statistics from the run's own ``vecnormalize.pkl`` (trusted)."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as f:
            vn = pickle.load(f)  # noqa: S301 - the user's own run folder, written by racer train
    except Exception as exc:
        raise ExportError(f"{path}: cannot read the normalisation statistics ({exc})") from None
    if not getattr(vn, "norm_obs", False):
        return None
    rms = vn.obs_rms
    return ObsNorm(
        mean=np.asarray(rms.mean, dtype=np.float64),
        var=np.asarray(rms.var, dtype=np.float64),
        clip=float(vn.clip_obs),
        epsilon=float(vn.epsilon),
    )


class PolicyGraph(nn.Module):
    """Raw observation in, deterministic action out: the graph exported to ONNX.

    Args:
        trained: the loaded policy.

    Input: ``(1, *obs_shape)`` float32, raw 0-255 frames (camera/stereo) or metres (lidar).
    Output: ``(1, n_actions)`` softmax probabilities (discrete) or ``(1, 2)`` normalised
    (steering, speed) in [-1, 1] (continuous).
    """

    def __init__(self, trained: TrainedPolicy) -> None:
        super().__init__()
        self.policy = trained.model.policy
        self.algorithm = trained.algorithm
        self.discrete = trained.discrete
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
            return torch.clamp(self.policy.actor(x, deterministic=True), -1.0, 1.0)
        features = self.policy.extract_features(x, self.policy.pi_features_extractor)
        latent = self.policy.mlp_extractor.forward_actor(features)
        out = self.policy.action_net(latent)
        if self.discrete:
            return torch.softmax(out, dim=-1)
        return torch.clamp(out, -1.0, 1.0)


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
