"""Hostile recipe values and `racer train` options: each is one ConfigError line naming the key.

Issue #12, item 12: negative or NaN learning rates, ``net_arch = ["big"]``, ``tracks = [1, 2]``,
seeds outside 32 bits, ``gae_lambda = 5``, ``--device tpu``... were tracebacks or silently
accepted. Every field's type and range is now checked, in the recipe and on the command line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from racer.cli.main import main
from racer.errors import ConfigError
from racer.train.config import config_from_dict


def _recipe(**sections: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "agent": {"name": "tiny"},
        "env": {"tracks": ["oval"], "observation": "state", "reward": "progress"},
        "algorithm": {"net_arch": [16]},
        "hyperparameters": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        "budget": {"steps": 256, "envs": 1, "seed": 3},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


# (section, key, hostile value, a fragment the message must hold besides the key)
HOSTILE: list[tuple[str, str, Any, str]] = [
    ("hyperparameters", "learning_rate", -3e-4, "in (0, 1]"),
    ("hyperparameters", "learning_rate", math.nan, "finite"),
    ("hyperparameters", "learning_rate", math.inf, "finite"),
    ("hyperparameters", "learning_rate", 0.0, "in (0, 1]"),
    ("hyperparameters", "learning_rate", "fast", "must be a number"),
    ("hyperparameters", "learning_rate", True, "must be a number"),
    ("algorithm", "net_arch", ["big"], "list of integers"),
    ("algorithm", "net_arch", [-5], "> 0"),
    ("algorithm", "net_arch", [0], "> 0"),
    ("algorithm", "net_arch", [], "non-empty"),
    ("algorithm", "net_arch", [True], "list of integers"),
    ("algorithm", "net_arch", [10**9], "<= 65_536"),
    ("algorithm", "net_arch", 64, "list of integers"),
    ("env", "tracks", [1, 2], "list of strings"),
    ("env", "tracks", [""], "non-empty strings"),
    ("env", "tracks", ["oval\x00"], "control characters"),
    ("env", "reward", 5, "must be a string"),
    ("env", "max_steps", -1, ">= 0"),
    ("budget", "seed", -1, ">= 0 and < 2**32"),
    ("budget", "seed", 2**40, ">= 0 and < 2**32"),
    ("budget", "seed", 1.5, "must be an integer"),
    ("budget", "steps", 0, "> 0"),
    ("budget", "steps", True, "must be an integer"),
    ("budget", "envs", -2, ">= 0"),
    ("budget", "envs", 100_000, "<= 1024"),
    ("budget", "device", "tpu", "not a torch device"),
    ("budget", "device", "cuda:x", "not a torch device"),
    ("hyperparameters", "gae_lambda", 5.0, "in (0, 1]"),
    ("hyperparameters", "gamma", 0.0, "in (0, 1]"),
    ("hyperparameters", "gamma", 1.5, "in (0, 1]"),
    ("hyperparameters", "clip_range", -0.2, "> 0"),
    ("hyperparameters", "clip_range", math.inf, "finite"),
    ("hyperparameters", "ent_coef", -0.01, ">= 0"),
    ("hyperparameters", "ent_coef", math.nan, "finite"),
    ("hyperparameters", "max_grad_norm", 0.0, "> 0"),
    ("hyperparameters", "log_std_init", 50.0, "in [-5, 2]"),
    ("hyperparameters", "n_steps", 10**12, "<= 1_000_000"),
    ("hyperparameters", "batch_size", 1, ">= 2"),
    ("hyperparameters", "batch_size", 512, "larger than a rollout"),
    ("hyperparameters", "n_epochs", -1, "> 0"),
    ("hyperparameters", "buffer_size", 0, "> 0"),
    ("hyperparameters", "normalize_observations", 1, "true or false"),
    ("hyperparameters", "normalize_observations", "yes", "true or false"),
    ("evaluation", "every_steps", -5, ">= 0"),
    ("evaluation", "episodes", 0, "> 0"),
    ("evaluation", "patience", -1, ">= 0"),
    ("checkpoint", "every_steps", -5, "> 0"),
    ("checkpoint", "keep", 0, "> 0"),
    ("pretrain", "frames", -1, ">= 0"),
    ("pretrain", "frames", 10**9, "<= 200_000"),
    ("pretrain", "rounds", 0, "> 0"),
    ("pretrain", "epochs", 10**9, "<= 10_000"),
]


@pytest.mark.parametrize(("section", "key", "value", "fragment"), HOSTILE)
def test_hostile_value_is_one_config_error_naming_the_key(
    section: str, key: str, value: Any, fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(_recipe(**{section: {key: value}}), source="agent.toml")
    msg = str(err.value)
    assert f"{section}.{key}" in msg, msg
    assert fragment in msg, msg
    assert "\n" not in msg and msg.startswith("agent.toml: ")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"agent": {"name": "../../etc"}}, "agent.name"),
        ({"agent": {"name": 5}}, "agent.name"),
        ({"agent": "x"}, "[agent] must be a table"),
        ({"agent": {"description": ["x"]}}, "agent.description"),
        ({"action_space": 5}, "[action_space] must be a table"),
        ({"budget": 5}, "[budget] must be a table"),
    ],
)
def test_hostile_top_level_values(data: dict[str, Any], fragment: str) -> None:
    recipe = _recipe()
    recipe.update(data)
    with pytest.raises(ConfigError, match=r".") as err:
        config_from_dict(recipe, source="agent.toml")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_sane_values_still_load() -> None:
    cfg = config_from_dict(
        _recipe(
            hyperparameters={"learning_rate": 1, "gamma": 1.0, "log_std_init": -2.0},
            budget={"seed": 2**32 - 1, "device": "cuda:1", "envs": 0},
            env={"tracks": "oval"},  # one track as a string
        )
    )
    assert cfg.hyperparameters.learning_rate == 1.0 and isinstance(
        cfg.hyperparameters.learning_rate, float
    )
    assert cfg.env.tracks == ["oval"] and cfg.budget.seed == 2**32 - 1


def _agent_toml(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(
        "[agent]\nname = 'tiny'\n[env]\ntracks = ['oval']\nobservation = 'state'\n"
        "[algorithm]\nnet_arch = [16]\n[hyperparameters]\nn_steps = 64\nbatch_size = 64\n" + extra
    )
    return p


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--seed", "-1"], "--seed must be >= 0 and < 2**32"),
        (["--seed", str(2**40)], "--seed must be >= 0 and < 2**32"),
        (["--steps", "0"], "--steps must be > 0"),
        (["--envs", "-3"], "--envs must be >= 0"),
        (["--envs", "100000"], "--envs must be <= 1024"),
        (["--device", "tpu"], "--device = 'tpu' is not a torch device"),
        (["--track", ""], "--track must be a list of non-empty strings"),
        (["--observation", "camra"], "did you mean 'camera'"),
        (["--steps", "many"], "Invalid value for '--steps'"),
    ],
)
def test_cli_options_are_checked_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fragment: str
) -> None:
    code, err = _run_cli(["train", str(_agent_toml(tmp_path)), *flags], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("racer: error: "), err
    assert fragment in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("learning_rate = nan\n", "hyperparameters.learning_rate must be a finite number"),
        ("gae_lambda = 5.0\n", "hyperparameters.gae_lambda must be in (0, 1]"),
        ("[budget]\nseed = -1\n", "budget.seed must be >= 0 and < 2**32"),
        ("[algorithm.x]\n", "unknown key"),
    ],
)
def test_cli_recipe_values_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, fragment: str
) -> None:
    code, err = _run_cli(["train", str(_agent_toml(tmp_path, extra))], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert fragment in err, err


def test_binary_or_huge_recipe_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "agent.toml"
    p.write_bytes(b"\xff\xfe[agent]\n")
    code, err = _run_cli(["train", str(p)], capsys)
    assert code == 2 and "not UTF-8" in err and err.count("\n") == 1
    p.write_text("# padding\n" * 200_000)  # 2 MB of comments
    code, err = _run_cli(["train", str(p)], capsys)
    assert code == 2 and "too large" in err and err.count("\n") == 1


def test_cuda_without_a_gpu_is_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import torch

    from racer.train.pipeline import train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = config_from_dict(_recipe(budget={"device": "cuda"}), base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="no CUDA GPU is available here") as err:
        train(cfg, out=tmp_path / "run", progress_bar=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()
