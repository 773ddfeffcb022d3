"""`racer evaluate --perturb` and `racer drive --source sim: --perturb`: fixed sim-to-real levels
through the envs' randomisation path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_testlib import exported_bundle  # noqa: E402
from testlib.cli import assert_refused
from testlib.cli import run_cli as _racer


def _evaluate(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code, out, err = _racer(
        ["evaluate", "expert:centerline", "--track", "oval", "--trials", "1", "--json", *extra],
        capsys,
    )
    assert code == 0, err
    return json.loads(out)


def test_evaluate_perturb_changes_the_drive_and_is_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = _evaluate(capsys)
    late = _evaluate(capsys, "--perturb", "latency_steps=3,steering_offset_deg=4")
    again = _evaluate(capsys, "--perturb", "latency_steps=3,steering_offset_deg=4")
    assert "perturb" not in plain
    assert late["perturb"] == {"latency_steps": 3.0, "steering_offset_deg": 4.0}
    assert late["trials"] == again["trials"]  # fixed levels: reproducible
    assert late["trials"][0]["steps"] != plain["trials"][0]["steps"] or (
        late["trials"][0]["off_track_count"] != plain["trials"][0]["off_track_count"]
    )


def test_evaluate_refuses_a_bad_perturbation(capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(
        ["evaluate", "expert:centerline", "--perturb", "brightnes=3"],
        capsys,
        "unknown perturbation 'brightnes'",
        "did you mean 'brightness'",
    )
    assert_refused(
        ["evaluate", "expert:centerline", "--perturb", "noise=500"], capsys, "out of range"
    )


@pytest.fixture(scope="module")
def camera_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported_bundle(tmp_path_factory, "camera")


def test_drive_sim_perturb_goes_through_the_env(
    camera_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The car runtime drives the perturbed simulator: the car's actuators lag and slow down."""
    runs, progress = {}, {}
    slow = ["--perturb", "brightness=-70,latency_steps=3,speed_gain=0.6"]
    for name, extra in (("plain", []), ("slow", slow)):
        report = tmp_path / f"{name}.json"
        code, out, err = _racer(
            [
                "drive",
                str(camera_bundle),
                "--source",
                "sim:oval",
                "--max-steps",
                "25",
                "--actuator",
                "stdout",
                "--report-json",
                str(report),
                *extra,
            ],
            capsys,
        )
        assert code == 0, err
        runs[name] = [json.loads(line) for line in out.splitlines()]
        progress[name] = json.loads(report.read_text())["sim"]["episodes"]
    assert len(runs["plain"]) == len(runs["slow"]) == 26
    assert progress["slow"] != progress["plain"], progress  # another drive, same bundle


def test_drive_perturb_needs_a_sim_source(
    camera_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    assert_refused(
        [
            "drive",
            str(camera_bundle),
            "--source",
            f"images:{frames}",
            "--perturb",
            "noise=4",
            "--actuator",
            "null",
        ],
        capsys,
        "--perturb perturbs the simulator",
    )
