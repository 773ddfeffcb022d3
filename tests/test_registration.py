"""`import racer` registers racer/Race-v0 in either import order, without loading Gymnasium itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize(
    "imports",
    ["import racer\nimport gymnasium as gym", "import gymnasium as gym\nimport racer"],
    ids=["racer-first", "gymnasium-first"],
)
def test_import_racer_registers_the_env(imports: str) -> None:
    out = _run(
        f"""
        {imports.splitlines()[0]}
        {imports.splitlines()[1]}
        env = gym.make("racer/Race-v0", track="oval", observation="state")
        obs, info = env.reset(seed=0)
        print(type(env.unwrapped).__name__, obs.shape[0] > 0)
        """
    )
    assert out == "RaceEnv True"


def test_import_racer_stays_light() -> None:
    out = _run(
        """
        import sys, racer
        print(sorted({"gymnasium", "torch", "pybullet", "scipy"} & set(sys.modules)))
        """
    )
    assert out == "[]"


def test_registration_is_idempotent_with_racer_env() -> None:
    out = _run(
        """
        import racer, gymnasium as gym, racer.env
        racer._registration.install()
        print(sum(1 for k in gym.registry if k == "racer/Race-v0"), racer.env.ENV_ID)
        """
    )
    assert out == "1 racer/Race-v0"
