"""The racing recipes: teacher choice, plateau stop, and a racing car from the racing recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.env import RaceEnv
from racer.errors import ConfigError
from racer.evaluate.policies import FULL_ACTION_SPACE
from racer.train import callbacks
from racer.train.callbacks import EvalCallback, EvalResult
from racer.train.config import load_agent
from racer.train.pretrain import collect

AGENTS = Path(__file__).resolve().parents[2] / "agents"


@pytest.mark.parametrize("recipe", ["racing", "racing-camera"])
def test_racing_recipes_load(recipe: str) -> None:
    cfg = load_agent(str(AGENTS / recipe))
    assert cfg.pretrain.teacher == "racing-line" and cfg.pretrain.frames > 0
    assert cfg.action_spec().max_speed_mps == 4.0
    assert cfg.evaluation.patience > 0


def test_unknown_teacher_and_negative_patience_are_config_errors(tiny) -> None:
    with pytest.raises(ConfigError, match="pretrain.teacher.*did you mean 'racing-line'"):
        tiny(pretrain={"teacher": "racingline"})
    with pytest.raises(ConfigError, match="evaluation.patience must be >= 0"):
        tiny(evaluation={"patience": -1})


def test_racing_teacher_labels_continuous_frames() -> None:
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    obs, labels = collect(
        env, 120, None, np.random.default_rng(0), random_share=0.0, teacher="racing-line"
    )
    assert obs.shape == (120, 23) and labels.shape == (120, 2)
    assert np.all(np.abs(labels) <= 1.0)
    # the expert races: most labels ask for more than 2 m/s (normalised speed > ~-0.025)
    speeds = 0.1 + (labels[:, 1] + 1.0) * 0.5 * 3.9
    assert np.median(speeds) > 2.0
    env.close()


class _FakeLogger:
    def record(self, *args: Any) -> None:
        pass


class _FakeModel:
    num_timesteps = 0
    logger = _FakeLogger()

    def save(self, path: Any) -> None:
        Path(path).write_bytes(b"model")


def test_patience_stops_on_a_plateau_of_complete_evaluations(tmp_path, monkeypatch) -> None:
    # lap averages per evaluation: incomplete, then complete and improving, then a plateau
    script = iter(
        [
            (2, [6.0, 6.0]),
            (3, [6.0, 6.0, 6.0]),
            (3, [5.5, 5.5, 5.5]),
            (3, [5.6, 5.6, 5.6]),
            (3, [5.5, 5.5, 5.5]),
            (3, [5.7, 5.7, 5.7]),
        ]
    )

    def fake_eval(model: Any, env: Any, episodes: int, normalize: Any = None, steps: int = 0):  # type: ignore[no-untyped-def]
        laps, times = next(script)
        return EvalResult(steps, episodes, laps, 100.0 * laps / 3, list(times))

    monkeypatch.setattr(callbacks, "evaluate_policy_laps", fake_eval)
    cb = EvalCallback(None, tmp_path, every_steps=1, episodes=3, patience=3)
    cb.model = _FakeModel()  # type: ignore[assignment]
    cb._on_training_start()
    go_on = []
    for step in range(1, 7):
        cb.num_timesteps = step
        go_on.append(cb._on_step())
    # new bests at evaluations 1-3; 4, 5 (equal, not better) and 6 are stale -> stop after the 6th
    assert go_on == [True, True, True, True, True, False]
    assert (tmp_path / "best_model.zip").exists()


@pytest.mark.slow
def test_racing_recipe_races_after_its_warm_start(tmp_path: Path) -> None:
    """agents/racing's first evaluation already laps 3/3 within 15% of the standing-start bound."""
    from racer.train.pipeline import train

    cfg = load_agent(str(AGENTS / "racing"))
    results: list[EvalResult] = []
    train(cfg, out=tmp_path / "run", progress_bar=False, stop_after_laps=3, on_eval=results.append)
    first = results[0]
    assert first.laps == 3, first
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    env.reset(seed=0)
    bound = env.racing_line.standing_lap_time_s  # evaluation laps start from rest
    env.close()
    assert first.mean_lap_time_s <= 1.15 * bound, (first.lap_times_s, bound)


def test_critic_warmup_freezes_the_policy_then_thaws_it(tiny, tmp_path: Path) -> None:
    import torch

    from racer.train.callbacks import CriticWarmupCallback
    from racer.train.pipeline import build_model, build_vec_env

    cfg = tiny()
    venv = build_vec_env(cfg, 1)
    model = build_model(cfg, venv, tmp_path)
    policy = model.policy
    before_pi = [p.detach().clone() for p in policy.action_net.parameters()]
    before_vf = [p.detach().clone() for p in policy.value_net.parameters()]
    warmup = CriticWarmupCallback(steps=128)
    model.learn(total_timesteps=128, callback=warmup)
    # only the critic learned during the warm-up
    assert all(
        torch.equal(a, b) for a, b in zip(before_pi, policy.action_net.parameters(), strict=True)
    )
    assert not all(
        torch.equal(a, b) for a, b in zip(before_vf, policy.value_net.parameters(), strict=True)
    )
    assert all(p.requires_grad for p in policy.parameters())  # thawed at the end
    model.learn(
        total_timesteps=128, callback=CriticWarmupCallback(steps=0), reset_num_timesteps=False
    )
    assert not all(
        torch.equal(a, b) for a, b in zip(before_pi, policy.action_net.parameters(), strict=True)
    )
    venv.close()


def test_a_warm_start_that_already_laps_ends_training_before_ppo(
    tiny, tmp_path, monkeypatch
) -> None:
    """stop_after_laps is met by the evaluation right after the warm start: no PPO, all saved."""
    from racer.train.pipeline import train

    def laps_everything(model: Any, env: Any, episodes: int, normalize: Any = None, steps: int = 0):  # type: ignore[no-untyped-def]
        return EvalResult(steps, episodes, episodes, 100.0, [5.0] * episodes)

    monkeypatch.setattr(callbacks, "evaluate_policy_laps", laps_everything)
    cfg = tiny(pretrain={"frames": 64, "rounds": 1, "epochs": 1})
    seen: list[EvalResult] = []
    res = train(
        cfg, out=tmp_path / "run", progress_bar=False, stop_after_laps=1, on_eval=seen.append
    )
    assert res.steps == 0 and [r.steps for r in seen] == [0]
    for name in ("best_model.zip", "final_model.zip", "checkpoints/latest.json"):
        assert (tmp_path / "run" / name).exists(), name
