"""Tiny-budget recipes (stable-baselines3's test habit: n_steps=64, net_arch=[16])."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from racer.train.config import AgentConfig, config_from_dict


def tiny_recipe(tmp_path: Path, **sections: dict[str, Any]) -> AgentConfig:
    data: dict[str, Any] = {
        "agent": {"name": "tiny"},
        "env": {"tracks": ["oval"], "observation": "state", "reward": "progress"},
        "algorithm": {"net_arch": [16]},
        "hyperparameters": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        "budget": {"steps": 256, "envs": 1, "seed": 3},
        "evaluation": {"every_steps": 128, "episodes": 1},
        "checkpoint": {"every_steps": 128, "keep": 2},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_from_dict(data, source="test", base_dir=str(tmp_path))


@pytest.fixture
def tiny(tmp_path: Path):  # type: ignore[no-untyped-def]
    return lambda **sections: tiny_recipe(tmp_path, **sections)
