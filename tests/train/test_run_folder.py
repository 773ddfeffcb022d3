"""RunFolder: the run folder's layout, its refusal of other folders, and the one policy loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.errors import ConfigError
from racer.train import RunFolder
from racer.train.config import config_from_dict
from racer.train.run_folder import ObsNorm, TrainedPolicy


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run, trained through the pipeline with normalised observations (tiny budget)."""
    from racer.train.pipeline import train

    data: dict[str, Any] = {
        "agent": {"name": "tiny-norm"},
        "env": {"tracks": ["oval"], "observation": "state", "reward": "progress", "max_steps": 60},
        "algorithm": {"net_arch": [16]},
        "hyperparameters": {
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "normalize_observations": True,
        },
        "budget": {"steps": 128, "envs": 1, "seed": 3, "device": "cpu"},
        "evaluation": {"every_steps": 64, "episodes": 1},
        "checkpoint": {"every_steps": 64, "keep": 1},
    }
    run = tmp_path_factory.mktemp("runs") / "norm"
    train(config_from_dict(data, source="test"), out=run, progress_bar=False)
    return run


def test_layout_names_every_file_without_touching_the_disk(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "nowhere")  # the writer's view: nothing is read
    assert run.path == tmp_path / "nowhere"
    expected = {
        run.config_path: "config.toml",
        run.reward_path: "reward.py",
        run.model_metadata_path: "model_metadata.json",
        run.best_model_path: "best_model.zip",
        run.final_model_path: "final_model.zip",
        run.best_trajectories_path: "best_trajectories.npz",
        run.vecnormalize_path: "vecnormalize.pkl",
        run.metrics_csv_path: "metrics.csv",
        run.eval_csv_path: "eval.csv",
        run.simtrace_dir: "simtrace",
        run.checkpoints_dir: "checkpoints",
        run.tensorboard_dir: "tensorboard",
        run.report_dir: "report",
    }
    for path, name in expected.items():
        assert path == tmp_path / "nowhere" / name
    assert run.simtrace_files() == []
    assert run.log_files() == [run.metrics_csv_path, run.eval_csv_path]
    assert run.model_metadata() is None


def test_open_refuses_what_is_not_a_run_folder_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such run folder") as missing:
        RunFolder.open(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"not a run folder \(no config.toml\)") as empty:
        RunFolder.open(tmp_path)
    with pytest.raises(ConfigError, match="not a run folder"):
        RunFolder(tmp_path).config()
    for exc in (missing, empty):
        assert "\n" not in str(exc.value)
    (tmp_path / "config.toml").write_text("[env\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunFolder.open(tmp_path).config()


def test_model_path_prefers_best_then_final(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    with pytest.raises(ConfigError, match="no best_model.zip or final_model.zip; train it first"):
        run.model_path()
    with pytest.raises(ConfigError, match="no best_model.zip in the run folder; train it first"):
        run.model_path("best")
    run.final_model_path.write_bytes(b"")
    assert run.model_path() == run.final_model_path
    assert run.model_path("final") == run.final_model_path
    with pytest.raises(ConfigError, match="no best_model.zip in the run folder; use --model final"):
        run.model_path("best")
    run.best_model_path.write_bytes(b"")
    assert run.model_path() == run.best_model_path
    assert run.model_path("best") == run.best_model_path
    with pytest.raises(ConfigError, match="'latest' is not valid"):
        run.model_path("latest")


def test_a_trained_run_has_the_whole_layout(trained: Path) -> None:
    run = RunFolder.open(trained)
    for path in (run.config_path, run.model_metadata_path, run.best_model_path,
                 run.final_model_path, run.vecnormalize_path, run.metrics_csv_path,
                 run.eval_csv_path, run.best_trajectories_path):  # fmt: skip
        assert path.is_file(), path
    assert run.simtrace_files() == [run.simtrace_dir / "worker-0.csv"]
    assert list(run.checkpoints_dir.glob("step-*.zip"))
    cfg = run.config()
    assert cfg.name == "tiny-norm" and cfg.base_dir == str(trained.resolve())
    assert cfg.hyperparameters.normalize_observations
    meta = run.model_metadata()
    assert meta is not None and meta["sensor"] == ["STATE"]


@pytest.mark.parametrize("which", [None, "best", "final"])
def test_load_policy_reads_the_model_and_vecnormalize_once(
    trained: Path, which: str | None
) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from racer.env import RaceEnv

    policy = RunFolder.open(trained).load_policy(which)
    assert isinstance(policy, TrainedPolicy)
    assert policy.which == (which or "best")
    assert policy.model_path == trained / f"{which or 'best'}_model.zip"
    assert policy.algorithm == "ppo" and policy.observation == "state" and policy.discrete
    assert not policy.model.policy.training
    assert isinstance(policy.obs_norm, ObsNorm)

    venv = DummyVecEnv([lambda: RaceEnv("oval", observation="state")])
    try:
        obs = venv.reset()[0]
        vn = VecNormalize.load(str(trained / "vecnormalize.pkl"), venv)
    finally:
        venv.close()
    np.testing.assert_allclose(policy.obs_norm.mean, vn.obs_rms.mean)
    np.testing.assert_allclose(policy.obs_norm.var, vn.obs_rms.var)
    # the same numbers as stable-baselines3's own normaliser, once the model casts to float32
    assert np.array_equal(
        policy.normalize(obs[None]).astype(np.float32), vn.normalize_obs(obs[None])
    )
    expected, _ = policy.model.predict(vn.normalize_obs(obs[None]), deterministic=True)
    assert policy.act(obs) == expected[0]


def test_evaluation_and_export_share_the_loader(trained: Path) -> None:
    from racer.evaluate import Sb3Policy

    policy = Sb3Policy(trained, threads=1)
    assert isinstance(policy.trained, TrainedPolicy)
    assert policy.trained.obs_norm is not None and policy.tracks == ["oval"]
    assert policy.name == "norm" and policy.observation == "state"


def test_import_is_light() -> None:
    code = (
        "import sys, racer.train.run_folder, racer.train; "
        "heavy = [m for m in ('torch', 'stable_baselines3', 'pybullet') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
