"""`racer export`: writes a bundle and its archive, prints the parity figures; refusals exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_testlib import TEST_SAMPLES, tiny_config, trained_run  # noqa: E402
from testlib.cli import run_cli as _racer

from racer.train.pipeline import prepare_run  # noqa: E402


def test_export_writes_bundle_and_archive(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = trained_run(tmp_path_factory, "camera")
    out = tmp_path / "car"
    code, stdout, err = _racer(
        ["export", str(run), "--out", str(out), "--model", "final", "--samples", str(TEST_SAMPLES)],
        capsys,
    )
    assert code == 0, err
    assert "parity onnxruntime" in stdout and "parity openvino" in stdout
    assert "latency onnxruntime" in stdout and "self-test openvino" in stdout
    assert "recording 200 observations" in err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["provenance"]["model"] == "final_model.zip"
    assert meta["parity"]["engines"]["onnxruntime"]["max_abs_diff"] <= 1e-5
    assert (tmp_path / "car.tar.gz").is_file()


def test_export_refuses_state_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = prepare_run(tiny_config("state"), tmp_path / "state-run")
    code, stdout, err = _racer(["export", str(run), "--out", str(tmp_path / "b")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("racer: error: ")
    assert "cannot run on a car" in err
    assert not (tmp_path / "b").exists()


def test_export_without_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = prepare_run(tiny_config("lidar"), tmp_path / "fresh")
    code, _, err = _racer(["export", str(run), "--model", "final"], capsys)
    assert code == 2 and "no final_model.zip" in err and err.count("\n") == 1
