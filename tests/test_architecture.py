"""The stage import rules of docs/architecture.md hold: imports point one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RACER = Path(__file__).resolve().parents[1] / "racer"

#: stage -> the racer stages it may import (racer.errors and its own modules always allowed)
ALLOWED: dict[str, set[str]] = {
    "track": set(),
    "sim": {"track"},
    "rewards": {"track"},
    "env": {"track", "sim", "rewards"},
    "train": {"env", "track", "sim", "rewards"},
    "export": {"train", "env", "car", "track", "sim", "rewards"},
    "evaluate": {"env", "car", "track", "sim", "rewards"},
    "car": set(),
    "cli": {"track", "sim", "rewards", "env", "train", "export", "evaluate", "car"},
}
#: third-party packages a stage must never import
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "track": {"pybullet", "torch", "gymnasium", "stable_baselines3"},
    "car": {"torch", "stable_baselines3", "pybullet", "gymnasium", "pybullet_utils"},
    "evaluate": set(),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_imports_point_one_way(stage: str) -> None:
    bad = []
    for path in sorted((RACER / stage).rglob("*.py")):
        for mod in _imports(path):
            parts = mod.split(".")
            own = ("errors", stage, *ALLOWED[stage])
            if parts[0] == "racer" and len(parts) > 1 and parts[1] not in own:
                bad.append(f"{path.relative_to(RACER)} imports {mod}")
            if parts[0] in FORBIDDEN_THIRD_PARTY.get(stage, set()):
                bad.append(f"{path.relative_to(RACER)} imports {mod}")
    assert not bad, bad
