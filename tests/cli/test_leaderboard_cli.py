"""`racer leaderboard submit | show | html | run`, and their one-line errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from racer.cli.main import app, main
from racer.evaluate.leaderboard import official_config as OFFICIAL_CONFIG  # before the fixture

# The bundle builder lives with the evaluation tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evaluate_testlib import build_bundle, mismatch_outputs  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("cli-lb") / "straight")


@pytest.fixture(autouse=True)
def fast_official(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the official 3-lap evaluation short: a 2 s time limit per lap."""
    from racer.evaluate import leaderboard as lb

    original = lb.official_config

    def short(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        kwargs.setdefault("time_limit_per_lap_s", 2.0)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lb, "official_config", short)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0), capsys.readouterr().err


def test_submit_show_html(bundle: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    result = runner.invoke(
        app,
        ["leaderboard", "submit", str(bundle), "--track", "oval", "--name", "ann", "--db", str(db)],
    )
    assert result.exit_code == 0, result.output
    assert "recorded #1: ann on oval (time-trial)" in result.output and "rank 1/1" in result.output

    shown = runner.invoke(app, ["leaderboard", "show", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert "oval - time-trial" in shown.output and "ann" in shown.output

    as_json = runner.invoke(app, ["leaderboard", "show", "--db", str(db), "--json"])
    data = json.loads(as_json.output)
    assert data[0]["standings"][0]["name"] == "ann"

    page = tmp_path / "site" / "index.html"
    made = runner.invoke(app, ["leaderboard", "html", str(page), "--db", str(db)])
    assert made.exit_code == 0, made.output
    assert "ann" in page.read_text() and "<svg" in page.read_text()


def test_db_from_environment(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "env.db"
    monkeypatch.setenv("RACER_LEADERBOARD", str(db))
    result = runner.invoke(app, ["leaderboard", "submit", str(bundle), "-t", "oval", "-n", "bob"])
    assert result.exit_code == 0, result.output
    assert db.exists()


def test_run_folder(bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "entries"
    folder.mkdir()
    shutil.copytree(bundle, folder / "one")
    mismatch_outputs(Path(shutil.copytree(bundle, folder / "bad")))
    db = tmp_path / "lb.db"
    result = runner.invoke(
        app,
        [
            "leaderboard",
            "run",
            str(folder),
            "--track",
            "oval",
            "--workers",
            "2",
            "--db",
            str(db),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ok      one" in result.output
    assert "skipped bad" in result.output and "do not match" in result.output
    assert "1 recorded, 1 skipped" in result.output


def test_errors_exit_2(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "lb.db")
    cases = [
        (
            ["leaderboard", "submit", str(tmp_path / "nope"), "-t", "oval", "-n", "x", "--db", db],
            "not found",
        ),
        (["leaderboard", "submit", str(bundle), "-t", "ovl", "-n", "x", "--db", db], "ovl"),
        (["leaderboard", "submit", str(bundle), "-t", "oval", "-n", " ", "--db", db], "racer name"),
        (["leaderboard", "show", "--db", str(tmp_path / "none.db")], "no leaderboard yet"),
        (["leaderboard", "run", str(tmp_path), "-t", "oval", "--db", db], "no bundles"),
    ]
    for args, needle in cases:
        code, err = run_main(args, capsys)
        assert code == 2, args
        assert err.startswith("racer: error: ") and needle in err, err
        assert len(err.strip().splitlines()) == 1
    assert not Path(db).exists()  # no failed command created or touched the board


def test_mismatched_bundle_submit_exits_2_without_row(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = mismatch_outputs(Path(shutil.copytree(bundle, tmp_path / "bad")))
    db = tmp_path / "lb.db"
    code, err = run_main(
        ["leaderboard", "submit", str(bad), "-t", "oval", "-n", "x", "--db", str(db)], capsys
    )
    assert code == 2 and "do not match" in err and len(err.strip().splitlines()) == 1
    assert not db.exists()


def test_show_gives_the_ratio_to_the_tracks_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_leaderboard import make_entry

    from racer.evaluate import leaderboard as lb
    from racer.track import load_track
    from racer.track.racing_line import racing_line as line_fn

    lb.track_bound_s.cache_clear()
    bound = float(line_fn(load_track("oval")).lap_time_s)
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 2 * bound))
    lb.record(db, make_entry("dee", None, completion=40.0))

    shown = runner.invoke(app, ["leaderboard", "show", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    assert f"oval - time-trial (bound {bound:.3f} s)" in shown.output
    assert "vs bound" in shown.output and "2.00x" in shown.output

    data = json.loads(runner.invoke(app, ["leaderboard", "show", "--db", str(db), "--json"]).output)
    assert data[0]["bound_s"] == pytest.approx(bound, abs=1e-4)
    ann, dee = data[0]["standings"]
    assert ann["vs_bound"] == pytest.approx(2.0, abs=1e-4) and dee["vs_bound"] is None
    lb.track_bound_s.cache_clear()


def test_builtin_drivers_are_reference_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """expert:racing-line and expert:centerline under the official rules, ranked with the bound."""
    import sqlite3

    from racer.evaluate import leaderboard as lb

    monkeypatch.setattr(lb, "official_config", OFFICIAL_CONFIG)  # 3 whole laps
    lb.track_bound_s.cache_clear()
    db = tmp_path / "lb.db"
    for driver, name in (("expert:centerline", "centerline"), ("expert:racing-line", "line")):
        result = runner.invoke(
            app, ["leaderboard", "submit", driver, "-t", "oval", "-n", name, "--db", str(db)]
        )
        assert result.exit_code == 0, result.output
        assert f"{name} on oval (time-trial): average of 3 laps" in result.output
        assert "the bound" in result.output
    assert "rank 1/2" in result.output  # the racing line beats the centre line

    data = json.loads(runner.invoke(app, ["leaderboard", "show", "--db", str(db), "--json"]).output)
    line, centre = data[0]["standings"]
    assert (line["name"], line["model"], line["rank"]) == ("line", "expert:racing-line", 1)
    assert (centre["model"], centre["rank"]) == ("expert:centerline", 2)
    assert 1.0 <= line["vs_bound"] <= 1.06
    assert centre["vs_bound"] > line["vs_bound"]
    assert line["completion_percentage"] == 100.0 and line["off_track_count"] == 0

    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT model, bundle_sha256, complete FROM submissions").fetchall()
    conn.close()
    assert sorted(rows) == [("expert:centerline", "", 1), ("expert:racing-line", "", 1)]

    shown = runner.invoke(app, ["leaderboard", "show", "--db", str(db)])
    assert "expert:racing-line" in shown.output and "built-in drivers" in shown.output
    page = tmp_path / "index.html"
    assert runner.invoke(app, ["leaderboard", "html", str(page), "--db", str(db)]).exit_code == 0
    assert "expert:racing-line" in page.read_text() and "built-in drivers" in page.read_text()
    lb.track_bound_s.cache_clear()


def test_unknown_builtin_driver_exits_2_without_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "lb.db"
    code, err = run_main(
        ["leaderboard", "submit", "expert:racingline", "-t", "oval", "-n", "x", "--db", str(db)],
        capsys,
    )
    assert code == 2 and err.startswith("racer: error: ")
    assert "expert:racingline" in err and "did you mean expert:racing-line" in err
    assert len(err.strip().splitlines()) == 1
    assert not db.exists()


def test_bundle_boards_carry_no_reference_note(bundle: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    args = ["leaderboard", "submit", str(bundle), "-t", "oval", "-n", "ann", "--db", str(db)]
    assert runner.invoke(app, args).exit_code == 0
    shown = runner.invoke(app, ["leaderboard", "show", "--db", str(db)])
    assert "straight" in shown.output and "built-in drivers" not in shown.output


def test_submit_a_deepracer_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DeepRacer model archive goes through the sandbox as a bundle does; a bad one is one
    line and no row."""
    pytest.importorskip("openvino")
    pytest.importorskip("tensorboard")
    from testlib.deepracer_models import build_archive, write_archive

    archive = build_archive(tmp_path / "dr_model.tar.gz")
    db = tmp_path / "lb.db"
    result = runner.invoke(
        app, ["leaderboard", "submit", str(archive), "-t", "oval", "-n", "dora", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "recorded #1: dora on oval (time-trial)" in result.output
    shown = json.loads(
        runner.invoke(app, ["leaderboard", "show", "--db", str(db), "--json"]).output
    )
    assert shown[0]["standings"][0]["model"] == "dr_model"

    bad = write_archive(tmp_path / "bad.tar.gz", [("agent/model.pb", b"x")])
    code, err = run_main(
        ["leaderboard", "submit", str(bad), "-t", "oval", "-n", "eve", "--db", str(db)], capsys
    )
    assert code == 2 and "bad.tar.gz: no model_metadata.json" in err
    assert len(err.strip().splitlines()) == 1
    again = runner.invoke(app, ["leaderboard", "show", "--db", str(db), "--json"]).output
    assert len(json.loads(again)[0]["standings"]) == 1  # nothing recorded for the bad one


def test_a_track_from_a_file_keeps_its_map(tmp_path: Path) -> None:
    """``submit --track my.npy``: the page draws the track from the stored geometry once the
    file is gone."""
    from racer.track import load_track, save_npy

    folder = tmp_path / "tracks"
    folder.mkdir()
    path = save_npy(load_track("oval"), folder / "my_track.npy")
    db = tmp_path / "lb.db"
    args = ["leaderboard", "submit", "expert:centerline", "-t", str(path), "-n", "ann"]
    result = runner.invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "ann on my_track (time-trial)" in result.output
    shutil.rmtree(folder)
    page = tmp_path / "index.html"
    assert runner.invoke(app, ["leaderboard", "html", str(page), "--db", str(db)]).exit_code == 0
    text = page.read_text()
    assert 'aria-label="map of my_track"' in text and "no map" not in text
    shown = runner.invoke(app, ["leaderboard", "show", "--db", str(db)])
    assert shown.exit_code == 0 and "my_track - time-trial" in shown.output
