"""The README's main job, end to end: `racer demo` trains, evaluates, exports and drives."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_trains_evaluates_exports_and_drives(tmp_path: Path) -> None:
    # run from an unrelated folder: the recipes are found in the checkout racer runs from
    proc = subprocess.run(
        [sys.executable, "-m", "racer.cli.main", "demo", "--out", str(tmp_path / "runs"),
         "--no-progress", "--minutes", "10"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "[2/5] evaluating it" in out and "3/3 trials complete" in out, out
    assert "[5/5] driving the bundle" in out, out
    bundles = list((tmp_path / "export").glob("demo-camera-*.tar.gz"))
    assert bundles and (tmp_path / "export" / bundles[0].name[: -len(".tar.gz")]).is_dir(), out
    # and the stock DeepRacer car's archive beside it: exactly the two members the car loads
    cars = list((tmp_path / "export" / "deepracer").glob("demo-camera-*.tar.gz"))
    assert cars and "for a stock DeepRacer car" in out, out
    with tarfile.open(cars[0]) as tar:
        assert sorted(tar.getnames()) == ["agent/model.pb", "model_metadata.json"]
    # the bundle's evaluation through the car runtime completed its lap
    assert out.rstrip().splitlines()[-2].strip().startswith("1/1 trials complete"), out
