"""The imitation warm start: the student learns the teacher's actions from its own observation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from racer.env import RaceEnv
from racer.train.pipeline import build_model, build_vec_env
from racer.train.pretrain import collect, pretrain


def test_collect_labels_every_frame_with_the_teacher(tiny) -> None:
    env = RaceEnv(track="oval", observation="state", reward="progress")
    obs, labels = collect(env, 200, None, np.random.default_rng(0), random_share=0.0)
    assert obs.shape == (200, *env.observation_space.shape)
    assert labels.shape == (200,) and labels.dtype.kind == "i"
    assert set(labels.tolist()) <= set(range(env.action_space.n))
    env.close()


def test_state_student_imitates_the_follower(tiny, tmp_path: Path) -> None:
    cfg = tiny(algorithm={"net_arch": [64, 64]})
    venv = build_vec_env(cfg, 1)
    model = build_model(cfg, venv, tmp_path)
    env = RaceEnv(track="oval", observation="state", reward="progress")
    report = pretrain(model, env, frames=1500, rounds=2, epochs=6, seed=0)
    assert report.frames == 1500
    # far better than always answering the teacher's most common action
    assert report.teacher_agreement > report.majority_share + 0.15, report
    env.close()
    venv.close()
