"""`racer evaluate`: table, JSON and output files; one-line errors with exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from racer.cli.main import app, main

# The bundle and run builders live with the evaluation tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evaluate_testlib import build_bundle, tiny_run  # noqa: E402

runner = CliRunner()
FAST = ["--trials", "1", "--time-limit", "3"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("cli-eval") / "straight")


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


def test_evaluate_bundle_table(bundle: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(bundle), "--track", "oval", *FAST])
    assert result.exit_code == 0, result.output
    for name in ("episode_status", "completion_percentage", "off_track_count", "reset_count"):
        assert name in result.output
    assert "0/1 trials complete" in result.output


def test_evaluate_json_and_out(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(bundle),
            "-t",
            "oval",
            "--json",
            "--out",
            str(out),
            "--trials",
            "2",
            "--time-limit",
            "2",
            "--race",
            "object-avoidance",
            "--boxes",
            "2",
            "--seed",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["track"] == "oval" and data["model"] == "straight"
    assert data["race"]["race"] == "object-avoidance" and data["race"]["seed"] == 5
    assert len(data["trials"]) == 2
    trial = data["trials"][0]
    for key in (
        "completion_percentage",
        "elapsed_time_in_milliseconds",
        "episode_status",
        "off_track_count",
        "crash_count",
        "reset_count",
        "lap_times_s",
    ):
        assert key in trial
    assert len(trial["layout"]["boxes"]) == 2
    assert json.loads((out / "results.json").read_text())["trials"] == data["trials"]
    assert (out / "trajectories.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_run_folder_uses_its_track(tmp_path: Path) -> None:
    run = tiny_run(tmp_path / "run")
    result = runner.invoke(app, ["evaluate", str(run), "--json", *FAST])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["track"] == "oval"


def test_unknown_track_exits_2(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["evaluate", str(bundle), "--track", "ovl"], capsys)
    assert code == 2
    assert err.startswith("racer: error: ") and "ovl" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["evaluate", str(tmp_path / "nope"), "--track", "oval"], capsys)
    assert code == 2 and "not found" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_option_exits_2(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["evaluate", str(bundle), "--race", "drag"], capsys)
    assert code == 2 and "drag" in err
