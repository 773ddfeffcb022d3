"""Warm start by imitation: a privileged built-in driver teaches the policy (DAgger).

DeepRacer trains camera policies from scratch, which takes hours. racer can start a run by
imitating a built-in teacher that reads the simulator's true pose (the ``state`` information no
real car has): the centre-line follower (:class:`racer.env.follower.CenterlineFollower`, a safe
first lap) or the racing expert (:class:`racer.env.expert.RacingLineExpert`, the optimal line at
the car's limits: the teacher of the racing recipes). The student only ever sees its
own observation (the camera frame), so what it learns transfers to the car; PPO then improves on
the teacher with the recipe's reward.

DAgger (Ross et al., 2011): round 0 lets the teacher drive, with random actions mixed in for
variety; each later round lets the student drive and the teacher label the frames the student
actually sees, so the student learns to recover from its own mistakes. All labelled frames are
kept and the policy's action head is fitted to them by cross-entropy (discrete) or mean squared
error (continuous).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from racer.env import RaceEnv, RaceVectorEnv
from racer.env.expert import RacingLineExpert
from racer.env.follower import CenterlineFollower, VectorCenterlineFollower

TEACHERS = ("centerline", "racing-line")
COLLECT_CARS = 16  # the centre-line teacher's rounds drive this many cars at once


def make_teacher(
    name: str, env: RaceEnv, speed_scale: float = 1.0, margin_m: float | None = None
) -> CenterlineFollower | RacingLineExpert:
    """The teacher ``name`` (one of :data:`TEACHERS`) bound to ``env``.

    ``speed_scale`` and ``margin_m`` (the racing line's safety margin) apply to the racing expert.
    """
    if name == "racing-line":
        return RacingLineExpert(env, speed_scale=speed_scale, safety_margin_m=margin_m)
    if name == "centerline":
        return CenterlineFollower(env)
    raise ValueError(f"unknown teacher {name!r}: use one of {', '.join(TEACHERS)}")


@dataclass
class PretrainReport:
    """What the warm start did."""

    frames: int
    rounds: int
    final_loss: float
    teacher_agreement: float  # share of frames where the student's action equals the teacher's
    majority_share: float  # share of the teacher's most common action: what guessing achieves


def collect(
    env: RaceEnv,
    n_frames: int,
    act: Callable[[np.ndarray], Any] | None,
    rng: np.random.Generator,
    random_share: float = 0.2,
    teacher: str = "centerline",
    teacher_speed_scale: float = 1.0,
    teacher_margin_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Drive ``env`` for ``n_frames`` steps and label every frame with the teacher's action.

    Args:
        env: the environment (its observation is what the student will see).
        n_frames: frames to collect.
        act: the student's policy (obs -> env action); None lets the teacher drive.
        rng: randomness for the mixed-in random actions and start points.
        random_share: share of steps driven by a random action (state variety).
        teacher: the teacher's name (:data:`TEACHERS`).
        teacher_speed_scale: the racing expert's speed scale.
        teacher_margin_m: the racing expert's line margin (None: the env's line).
    """
    driver = make_teacher(teacher, env, teacher_speed_scale, teacher_margin_m)
    obs_list: list[np.ndarray] = []
    labels: list[Any] = []
    obs, _ = env.reset(
        seed=int(rng.integers(2**31)),
        options={"start_s": float(rng.uniform(0, env.track.length))},
    )
    while len(labels) < n_frames:
        label = driver.act()
        obs_list.append(obs)
        labels.append(label)
        if rng.random() < random_share:
            action = env.action_space.sample()
        elif act is None:
            action = label
        else:
            action = act(obs)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset(options={"start_s": float(rng.uniform(0, env.track.length))})
    return np.asarray(obs_list), np.asarray(labels)


def collect_many(
    venv: RaceVectorEnv,
    n_frames: int,
    act: Callable[[np.ndarray], Any] | None,
    rng: np.random.Generator,
    random_share: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`collect` with the centre-line teacher, every car of ``venv`` at once.

    The student (``act``: a batch of observations -> their actions) and the teacher label all the
    cars in one call per step; each car starts at a random point and starts again at another one
    when its episode ends.
    """
    n = venv.num_envs
    length = float(venv.track.length)
    driver = VectorCenterlineFollower(venv)
    venv.seed_cars([int(rng.integers(2**31)) for _ in range(n)])
    venv.single_action_space.seed(int(rng.integers(2**31)))
    everyone = np.arange(n)
    cols = venv.reset_cars(everyone, {"start_s": rng.uniform(0.0, length, n)})
    assert cols.obs is not None
    obs = cols.obs.copy()
    obs_list: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    while sum(len(x) for x in labels) < n_frames:
        label = np.asarray(driver.act())
        obs_list.append(obs.copy())
        labels.append(label)
        action = label if act is None else np.asarray(act(obs))
        wild = rng.random(n) < random_share
        if wild.any():
            action = action.copy()
            for i in np.nonzero(wild)[0].tolist():
                action[i] = venv.single_action_space.sample()
        step = venv.step_cars(everyone, action)
        assert step.obs is not None
        obs = step.obs.copy()
        ended = np.nonzero(step.terminated | step.truncated)[0]
        if ended.size:
            again = venv.reset_cars(ended, {"start_s": rng.uniform(0.0, length, ended.size)})
            obs[ended] = again.obs
    return np.concatenate(obs_list)[:n_frames], np.concatenate(labels)[:n_frames]


def fit(policy: Any, obs: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
        lr: float, discrete: bool, rng: np.random.Generator) -> float:  # fmt: skip
    """Fit the policy's action head to the labels; returns the last epoch's mean loss."""
    params = list(policy.features_extractor.parameters()) + list(policy.mlp_extractor.parameters())
    params += list(policy.action_net.parameters())
    optim = torch.optim.Adam(params, lr=lr)
    policy.set_training_mode(True)
    n = len(obs)
    loss_sum = 0.0
    for _ in range(epochs):
        order = rng.permutation(n)
        loss_sum, batches = 0.0, 0
        for lo in range(0, n, batch_size):
            idx = order[lo : lo + batch_size]
            x, _ = policy.obs_to_tensor(obs[idx])
            dist = policy.get_distribution(x)
            if discrete:
                y = torch.as_tensor(labels[idx], dtype=torch.long, device=policy.device)
                loss = torch.nn.functional.cross_entropy(dist.distribution.logits, y)
            else:
                y = torch.as_tensor(labels[idx], dtype=torch.float32, device=policy.device)
                loss = torch.nn.functional.mse_loss(dist.distribution.mean, y)
            optim.zero_grad()
            loss.backward()
            optim.step()
            loss_sum += float(loss.detach())
            batches += 1
        loss_sum /= max(batches, 1)
    policy.set_training_mode(False)
    return loss_sum


def pretrain(
    model: Any,
    env: RaceEnv,
    frames: int,
    rounds: int,
    epochs: int,
    seed: int,
    log: Callable[[str], None] | None = None,
    teacher: str = "centerline",
    teacher_speed_scale: float = 1.0,
    teacher_margin_m: float | None = None,
) -> PretrainReport:
    """DAgger warm start of ``model.policy`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    # stable-baselines3 initialises PPO's action head with gain 0.01 (a near-uniform first
    # policy). Imitation cannot start from that: the gradient reaching the CNN through a ~0 head
    # carries almost nothing but the label prior, and a camera student sits at "always the most
    # common action" for epochs. A default-scaled head fits the teacher in one or two epochs.
    model.policy.action_net.reset_parameters()
    discrete = env.action_spec.kind == "discrete"
    per_round = max(1, frames // max(rounds, 1))
    all_obs: list[np.ndarray] = []
    all_labels: list[np.ndarray] = []

    def student(o: np.ndarray) -> Any:
        action, _ = model.predict(o[None], deterministic=True)
        return action[0]

    def students(o: np.ndarray) -> Any:
        action, _ = model.predict(o, deterministic=True)
        return action

    venv = None
    if teacher == "centerline":  # the follower drives many cars at once; the expert reads one env
        venv = RaceVectorEnv(
            COLLECT_CARS,
            env.track,
            observation=env.observation_name,
            action_space=env.action_spec,
            reward="progress",
            max_steps=env.max_steps,
            world_config=env.world.config,
            randomize=env.randomize,
        )
    loss = float("nan")
    for r in range(rounds):
        if venv is not None:
            o, y = collect_many(venv, per_round, None if r == 0 else students, rng)
        else:
            o, y = collect(
                env,
                per_round,
                None if r == 0 else student,
                rng,
                teacher=teacher,
                teacher_speed_scale=teacher_speed_scale,
                teacher_margin_m=teacher_margin_m,
            )
        all_obs.append(o)
        all_labels.append(y)
        loss = fit(
            model.policy,
            np.concatenate(all_obs),
            np.concatenate(all_labels),
            epochs=epochs,
            batch_size=128,
            lr=1e-3,
            discrete=discrete,
            rng=rng,
        )
        if log:
            log(
                f"imitation round {r + 1}/{rounds}: {sum(len(a) for a in all_obs)} frames, loss {loss:.3f}"
            )
    obs = np.concatenate(all_obs)
    labels = np.concatenate(all_labels)
    pred, _ = model.predict(obs[-min(2000, len(obs)) :], deterministic=True)
    ref = labels[-len(pred) :]
    if discrete:
        agree = float(np.mean(pred == ref))
        majority = float(np.bincount(ref.astype(int)).max() / len(ref))
    else:
        agree = float(np.mean(np.all(np.abs(pred - ref) < 0.1, axis=-1)))
        majority = float("nan")
    return PretrainReport(
        frames=len(obs),
        rounds=rounds,
        final_loss=loss,
        teacher_agreement=agree,
        majority_share=majority,
    )
