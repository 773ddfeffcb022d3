"""`racer leaderboard bracket` and `racer evaluate --opponent`, and their one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from racer.cli.main import app, main

# The bundle builder lives with the evaluation tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evaluate_testlib import build_bundle  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 3 real bundles (straight, slight left, slight right)."""
    root = tmp_path_factory.mktemp("cli-bracket")
    for name, k in (("left", 3), ("right", 1), ("straight", 2)):
        build_bundle(root / name, "discrete", preferred=k)
    return root


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


def test_bracket_runs_saves_and_shows_on_the_page(three: Path, tmp_path: Path) -> None:
    db = tmp_path / "league.db"
    args = ["leaderboard", "bracket", str(three), "-t", "oval", "--laps", "1"]
    args += ["--lap-time-limit", "8", "--seed", "1", "--db", str(db)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "round 1 match 1: left (bye)"  # seed 1 by name
    assert lines[1].startswith("round 1 match 2: ") and " wins (" in lines[1]
    assert lines[2].startswith("round 2 match 3: ")
    champion = lines[3].split(": ", 1)[1].split(" (", 1)[0]
    assert lines[-1] == f"saved {tmp_path / 'league.brackets.json'}"
    saved = json.loads((tmp_path / "league.brackets.json").read_text())["brackets"][0]
    assert saved["champion"] == champion and saved["track"] == "oval" and saved["seed"] == 1
    assert [e["name"] for e in saved["entrants"]] == ["left", "right", "straight"]
    # the leaderboard's page draws it (no time-trial rows needed)
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["leaderboard", "html", str(page), "--db", str(db)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "oval &middot; head-to-head bracket" in text
    assert text.count('class="match"') == 3 and f"<br>{champion}</div>" in text


def test_bracket_errors_are_one_line(
    three: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one"
    one.mkdir()
    build_bundle(one / "solo")
    db = str(tmp_path / "league.db")
    cases = [
        (["leaderboard", "bracket", str(one), "-t", "oval", "--db", db], "found 1"),
        (["leaderboard", "bracket", str(tmp_path / "nope"), "-t", "oval", "--db", db], "nope"),
        (["leaderboard", "bracket", str(three), "-t", "ovl", "--db", db], "ovl"),
        (
            ["evaluate", "expert:centerline", "--race", "head-to-head", "--opponent", "gone.tgz"],
            "--opponent gone.tgz: no such file",
        ),
        (
            ["evaluate", "expert:centerline", "--opponent", "expert:racing-line"],
            "add --race head-to-head",
        ),
        (
            ["evaluate", "expert:centerline", "--race", "head-to-head"]
            + ["--opponent", "expert:racing-line", "--perturb", "noise=4"],
            "leave out --opponent",
        ),
    ]
    for args, needle in cases:
        code, err = run_main(args, capsys)
        assert code == 2, args
        assert err.startswith("racer: error: ") and needle in err, err
        assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.json"))  # nothing saved


def test_evaluate_against_an_opponent(three: Path, tmp_path: Path) -> None:
    args = ["evaluate", str(three / "straight"), "--race", "head-to-head"]
    args += ["--opponent", "expert:centerline", "--trials", "2", "--time-limit", "6"]
    args += ["--json", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cars"] == ["straight", "expert:centerline"]
    assert [sorted(c["grid"] for c in r["cars"]) for r in data["races"]] == [[0, 1], [0, 1]]
    assert data["races"][0]["cars"][0]["grid"] != data["races"][1]["cars"][0]["grid"]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["race.html", "results.json", "trajectories.png"]
