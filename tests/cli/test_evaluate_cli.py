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
    assert len(list(run.glob("evaluation-*"))) == 1  # DeepRacer's evaluation files beside it
    perturbed = runner.invoke(app, ["evaluate", str(run), "--perturb", "noise=8", *FAST])
    assert perturbed.exit_code == 0, perturbed.output
    assert "perturbation: noise=8" in perturbed.output
    assert len(list(run.glob("evaluation-*"))) == 1  # a perturbed check writes none


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


def test_evaluate_prints_the_bound_and_the_ratio(tmp_path: Path) -> None:
    from racer.track import load_track
    from racer.track.racing_line import racing_line as line_fn

    bound = float(line_fn(load_track("oval")).lap_time_s)
    run = tiny_run(tmp_path / "run")
    # An untrained model: no lap, so the bound alone; the JSON has both figures.
    result = runner.invoke(app, ["evaluate", str(run), "--out", str(tmp_path / "o"), *FAST])
    assert result.exit_code == 0, result.output
    assert f"best average lap - (bound {bound:.3f} s)" in result.output
    assert f"lap-time bound {bound:.3f} s" in result.output and "vs bound" in result.output
    assert (tmp_path / "o" / "racing_line.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads(runner.invoke(app, ["evaluate", str(run), "--json", *FAST]).output)
    assert data["summary"]["bound_s"] == pytest.approx(bound, abs=1e-4)
    assert data["summary"]["lap_ratio"] is None


def test_evaluate_a_builtin_driver() -> None:
    result = runner.invoke(
        app, ["evaluate", "expert:racing-line", "--track", "oval", "--trials", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == "expert:racing-line" and data["track"] == "oval"
    trial = data["trials"][0]
    assert trial["episode_status"] == "lap_complete" and trial["off_track_count"] == 0
    # One lap from rest against the flying-lap bound: a little over it.
    assert 1.0 < data["summary"]["lap_ratio"] < 1.12
    table = runner.invoke(app, ["evaluate", "expert:centerline", *FAST])  # default track
    assert table.exit_code == 0, table.output
    assert "expert:centerline on oval" in table.output


def test_unknown_builtin_driver_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["evaluate", "expert:nope", "--track", "oval"], capsys)
    assert code == 2 and "unknown built-in driver 'expert:nope'" in err
    assert len(err.strip().splitlines()) == 1


def test_help_names_every_builtin_driver() -> None:
    import typing

    from racer.cli import evaluate as evaluate_cli
    from racer.evaluate.policies import EXPERT_PREFIX, EXPERTS
    from racer.track import DEFAULT_TRACK

    assert " | ".join(EXPERT_PREFIX + k for k in EXPERTS) == evaluate_cli.EXPERT_NAMES
    hints = typing.get_type_hints(evaluate_cli.evaluate, include_extras=True)
    assert evaluate_cli.EXPERT_NAMES in hints["model"].__metadata__[0].help
    assert f"else {DEFAULT_TRACK})" in hints["track"].__metadata__[0].help


# --- DeepRacer model archives (model_metadata.json + TensorFlow model.pb) --------------------


@pytest.fixture(scope="module")
def deepracer_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("openvino")
    pytest.importorskip("tensorboard")
    from testlib.deepracer_models import build_archive

    return build_archive(tmp_path_factory.mktemp("cli-dr") / "dr_model.tar.gz")


def test_evaluate_a_deepracer_archive(deepracer_archive: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", str(deepracer_archive), "--track", "oval", "--json", *FAST]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == "dr_model" and data["track"] == "oval" and len(data["trials"]) == 1


def test_evaluate_refuses_a_bad_deepracer_archive(
    deepracer_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tarfile

    from testlib.deepracer_models import write_archive

    with tarfile.open(deepracer_archive) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    link = tarfile.TarInfo("agent/evil")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    cases = {
        "two.tar.gz": ([*members, ("model.pb", b"x")], "2 files count as a model"),
        "nometa.tar.gz": (members[1:], "no model_metadata.json"),
        "up.tar.gz": ([*members, ("../up.txt", b"x")], "unsafe member path"),
        "link.tar.gz": ([*members, (link, None)], "link or special file"),
    }
    for name, (content, needle) in cases.items():
        path = write_archive(tmp_path / name, content)
        code, err = run_main(["evaluate", str(path), "--track", "oval", *FAST], capsys)
        assert code == 2 and err.startswith(f"racer: error: {name}: ") and needle in err, err
        assert len(err.strip().splitlines()) == 1


def test_object_settings_reach_the_race(capsys: pytest.CaptureFixture[str]) -> None:
    """--box-placement / --bot-line / --bot-lane-change set the race; a bad one is one line."""
    args = ["evaluate", "expert:centerline", "--race", "object-avoidance", "--boxes", "2"]
    result = runner.invoke(app, [*args, "--box-placement", "alternating", *FAST, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["race"]["box_placement"] == "alternating"
    lanes = [b["lateral_m"] for b in data["trials"][0]["layout"]["boxes"]]
    assert len(lanes) == 2 and lanes[0] * lanes[1] < 0  # DeepRacer's layout: lanes alternate
    code, err = run_main([*args, "--box-placement", "diagonal"], capsys)
    assert code == 2 and "box_placement 'diagonal' is not valid" in err
    assert len(err.strip().splitlines()) == 1
    h2h = ["evaluate", "expert:centerline", "--race", "head-to-head", "--bot-line", "racing"]
    code, err = run_main([*h2h, "--bot-lane-change", "3"], capsys)
    assert code == 2 and "do not change lanes" in err
