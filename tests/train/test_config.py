"""agent.toml validation: unknown keys, wrong types, bad values, the ready recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from racer.errors import ConfigError
from racer.train.config import load_agent
from racer.train.pipeline import config_to_toml, load_run_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", ["quickstart", "camera"])
def test_ready_agents_load(name: str) -> None:
    cfg = load_agent(ROOT / "agents" / name)
    assert cfg.name == name
    assert (Path(cfg.base_dir) / "reward.py").exists()
    assert cfg.action_spec().n > 0


def test_unknown_key_names_the_nearest_valid_one(tmp_path: Path) -> None:
    p = _write(tmp_path, "[hyperparameters]\nlearning_rat = 0.001\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'hyperparameters.learning_rat'; did you mean 'hyperparameters.learning_rate'",
    ):
        load_agent(p)
    p = _write(tmp_path, "[enviroment]\ntracks = ['oval']\n")
    with pytest.raises(ConfigError, match="did you mean 'env'"):
        load_agent(p)


def test_wrong_type_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="wrong type"):
        load_agent(_write(tmp_path, "[budget]\nsteps = 'many'\n"))
    with pytest.raises(ConfigError, match="did you mean 'camera'"):
        load_agent(_write(tmp_path, "[env]\nobservation = 'camra'\n"))
    with pytest.raises(ConfigError, match="SAC needs a continuous"):
        load_agent(_write(tmp_path, "[algorithm]\nname = 'sac'\n"))
    with pytest.raises(ConfigError, match="batch_size must be > 0"):
        load_agent(_write(tmp_path, "[hyperparameters]\nbatch_size = 0\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_agent(_write(tmp_path, "[env\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_agent(tmp_path / "nope")


def test_action_space_in_model_metadata_form(tmp_path: Path) -> None:
    cfg = load_agent(
        _write(
            tmp_path,
            "[action_space]\naction_space_type = 'continuous'\n"
            "[action_space.action_space.steering_angle]\nlow = -20.0\nhigh = 20.0\n"
            "[action_space.action_space.speed]\nlow = 0.5\nhigh = 2.5\n",
        )
    )
    spec = cfg.action_spec()
    assert spec.kind == "continuous" and spec.steering_deg == (-20.0, 20.0)
    with pytest.raises(ConfigError, match="steering_angle"):
        load_agent(
            _write(
                tmp_path,
                "[action_space]\naction_space = [{steering_angle = 50.0, speed = 1.0}]\n",
            )
        )


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_agent(ROOT / "agents" / "quickstart")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(cfg))
    again = load_run_config(run)
    assert again.to_dict() == cfg.to_dict()
