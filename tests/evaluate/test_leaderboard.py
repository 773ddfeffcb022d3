"""The leaderboard: ranking rules, recording, rejection, concurrency, parallel runs, the page."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from evaluate_testlib import mismatch_outputs

from racer.car.bundle import pack_bundle
from racer.errors import BundleError, ConfigError
from racer.evaluate import FollowerPolicy, RaceConfig, evaluate
from racer.evaluate import leaderboard as lb
from racer.evaluate.evaluator import Evaluator
from racer.evaluate.html import render_html, write_html

FAST = RaceConfig(trials=1, laps=3, time_limit_per_lap_s=2.0)  # 90 steps per submission


def make_entry(
    name: str,
    avg: float | None,
    off: int = 0,
    completion: float = 100.0,
    track: str = "oval",
    race: str = "time-trial",
) -> lb.Entry:
    complete = avg is not None
    return lb.Entry(
        track=track,
        race=race,
        name=name,
        model=f"{name}-model",
        bundle_sha256="0" * 64,
        complete=complete,
        average_lap_s=avg,
        best_lap_s=None if avg is None else avg - 0.5,
        completion_percentage=100.0 if complete else completion,
        elapsed_time_in_milliseconds=int((avg or 10.0) * 3000),
        episode_status="lap_complete" if complete else "off_track",
        off_track_count=off,
        crash_count=0,
        reset_count=off,
        lap_times_s=[avg] * 3 if avg else [],
        best_lap_line=[(0.0, -1.8), (1.0, -1.8), (None, None), (2.0, -1.7)],
        result={"note": "test"},
    )


def count_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE name = 'submissions'"
        ).fetchall()
        return conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] if tables else 0


def test_ranking_rules(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    for e in [
        make_entry("ann", 20.0, off=2),
        make_entry("ann", 18.0, off=3),  # ann's best: the faster average counts
        make_entry("bob", 18.0, off=1),  # same average as ann's best, fewer off-tracks: ahead
        make_entry("cid", 25.0),
        make_entry("dee", None, completion=80.0),  # incomplete: after every complete one
        make_entry("eve", None, completion=95.0, off=4),
        make_entry("fay", 15.0, track="loop"),  # another board
        make_entry("gus", 10.0, race="head-to-head"),  # another board
    ]:
        lb.record(db, e)
    board = lb.rank(lb.entries(db, track="oval", race="time-trial"))
    assert [s.entry.name for s in board] == ["bob", "ann", "cid", "eve", "dee"]
    assert [s.rank for s in board] == [1, 2, 3, 4, 5]
    ann = board[1]
    assert ann.entry.average_lap_s == 18.0 and ann.submissions == 2
    boards = lb.boards(db)
    assert set(boards) == {("loop", "time-trial"), ("oval", "head-to-head"), ("oval", "time-trial")}
    assert list(lb.boards(db, track="loop")) == [("loop", "time-trial")]


def test_ties_go_to_the_earlier_submission(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("first", 20.0, off=1))
    lb.record(db, make_entry("second", 20.0, off=1))
    assert [s.entry.name for s in lb.rank(lb.entries(db))] == ["first", "second"]


def test_record_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    row = lb.record(db, make_entry("ann", 19.5, off=1))
    (e,) = lb.entries(db)
    assert e.id == row and e.name == "ann" and e.average_lap_s == 19.5
    assert e.best_lap_line[2] == (None, None) and e.result == {"note": "test"}
    assert e.submitted_utc.endswith("Z")
    assert lb.integrity_check(db) == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="racer name"):
        lb.record(tmp_path / "lb.db", make_entry(name, 20.0))


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "lb.db"
    bad.write_text("hello, not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a usable leaderboard"):
        lb.record(bad, make_entry("ann", 20.0))
    with pytest.raises(ConfigError, match="no leaderboard yet"):
        lb.entries(tmp_path / "missing.db")


def test_entry_from_three_lap_evaluation(tmp_path: Path) -> None:
    result = evaluate(FollowerPolicy(), "oval", lb.official_config())
    entry = lb.entry_from_result(result, "ann", "follower", "f" * 64)
    assert entry.complete and len(entry.lap_times_s) == 3
    assert entry.average_lap_s == pytest.approx(sum(entry.lap_times_s) / 3)
    assert entry.best_lap_s == min(entry.lap_times_s)
    assert 10 < len(entry.best_lap_line) <= lb.MAX_LINE_POINTS
    assert entry.result["race"]["laps"] == 3
    row = lb.record(tmp_path / "lb.db", entry)
    assert lb.entries(tmp_path / "lb.db")[0].id == row


def test_submit_records_a_bundle(tmp_path: Path, discrete_bundle: Path) -> None:
    db = tmp_path / "lb.db"
    out = lb.submit(discrete_bundle, "oval", "ann", db=db, config=FAST)
    assert out.rank == 1 and out.board_size == 1
    (e,) = lb.entries(db)
    assert e.id == out.row_id and e.model == "straight" and e.name == "ann"
    assert len(e.bundle_sha256) == 64
    assert e.result["race"]["laps"] == 3
    assert not e.complete  # drives straight: it cannot lap in the time limit


def test_mismatched_bundle_is_rejected_without_a_row(tmp_path: Path, discrete_bundle: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 20.0))
    mismatch_outputs(discrete_bundle)
    with pytest.raises(BundleError) as info:
        lb.submit(discrete_bundle, "oval", "bob", db=db, config=FAST)
    assert "\n" not in str(info.value) and "do not match" in str(info.value)
    assert count_rows(db) == 1


def test_tampered_bundle_is_rejected_without_a_row(tmp_path: Path, discrete_bundle: Path) -> None:
    db = tmp_path / "lb.db"
    (discrete_bundle / "golden.npz").write_bytes(b"garbage")  # checksum no longer matches
    with pytest.raises(BundleError):
        lb.submit(discrete_bundle, "oval", "bob", db=db, config=FAST)
    assert count_rows(db) == 0


def test_failed_evaluation_leaves_no_row(
    tmp_path: Path, discrete_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 20.0))

    def boom(self: object) -> None:
        raise RuntimeError("simulator died")

    monkeypatch.setattr(Evaluator, "run", boom)
    with pytest.raises(RuntimeError):
        lb.submit(discrete_bundle, "oval", "bob", db=db, config=FAST)
    assert count_rows(db) == 1
    assert lb.integrity_check(db) == "ok"


_WRITER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    from racer.evaluate import leaderboard as lb

    db, worker, n, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    (gate / f"ready-{worker}").touch()  # imported: wait for the others, then write at once
    while not (gate / "go").exists():
        time.sleep(0.005)
    for k in range(n):
        entry = lb.Entry(
            track="oval", race="time-trial", name=f"w{worker}", model=f"m{k}",
            bundle_sha256="0" * 64, complete=True, average_lap_s=20.0 + k / 100,
            best_lap_s=19.0, completion_percentage=100.0, elapsed_time_in_milliseconds=60000,
            episode_status="lap_complete", off_track_count=k % 3, crash_count=0,
            reset_count=0, lap_times_s=[20.0, 20.0, 20.0],
            best_lap_line=[(float(k), float(worker))] * 200, result={"k": k, "w": worker},
        )
        lb.record(db, entry)
    """
)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    n, workers = 40, 4
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen([sys.executable, str(script), str(db), str(w), str(n), str(gate)])
        for w in range(workers)
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < workers and time.monotonic() < deadline:
        time.sleep(0.02)
    (gate / "go").touch()
    assert all(p.wait(timeout=300) == 0 for p in procs)
    rows = lb.entries(db)
    assert len(rows) == n * workers
    assert {(e.name, e.result["k"]) for e in rows} == {
        (f"w{w}", k) for w in range(workers) for k in range(n)
    }
    assert lb.integrity_check(db) == "ok"


def test_run_directory_records_good_and_skips_bad(
    tmp_path: Path, _bundles: dict[str, Path]
) -> None:
    folder = tmp_path / "entries"
    folder.mkdir()
    shutil.copytree(_bundles["discrete"], folder / "alpha")
    packed = pack_bundle(_bundles["continuous"], folder / "beta.tar.gz")
    assert packed.exists()
    mismatch_outputs(Path(shutil.copytree(_bundles["discrete"], folder / "gamma")))
    (folder / "notes.txt").write_text("not a bundle")
    db = tmp_path / "lb.db"
    outcomes = lb.run_directory(folder, "oval", db=db, workers=2, config=FAST, progress=False)
    by_name = {o.path.name: o for o in outcomes}
    assert set(by_name) == {"alpha", "beta.tar.gz", "gamma"}
    assert by_name["alpha"].ok and by_name["beta.tar.gz"].ok
    assert not by_name["gamma"].ok and "do not match" in by_name["gamma"].message
    assert sorted(e.name for e in lb.entries(db)) == ["alpha", "beta"]
    assert lb.integrity_check(db) == "ok"


def test_html_page(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("<script>alert(1)</script>", 19.0))
    lb.record(db, make_entry("bob", 21.0, off=2))
    lb.record(db, make_entry("dee", None, completion=40.0))
    lb.record(db, make_entry("far", 17.0, track="no-such-track"))
    page = render_html(db)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<svg") == 1  # the oval; the unknown track gets a note instead
    assert "no-such-track is not installed" in page
    assert page.count("<tr") == 1 + 3 + 1 + 1  # headers of two boards + 4 racers
    out = write_html(db, tmp_path / "site" / "index.html")
    assert out.is_file() and out.read_text().count("<svg") == 1


def test_default_db_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(lb.ENV_DB, str(tmp_path / "x.db"))
    assert lb.default_db() == tmp_path / "x.db"
    monkeypatch.delenv(lb.ENV_DB)
    assert lb.default_db() == Path("leaderboard.db")
    assert os.fspath(lb.default_db()) == "leaderboard.db"
