"""The lap-time bound beside every lap time: evaluation, report, leaderboard and its page."""

from __future__ import annotations

import importlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_leaderboard import make_entry

from racer.evaluate import FollowerPolicy, RaceConfig, evaluate
from racer.evaluate import leaderboard as lb
from racer.evaluate.evaluator import EvaluationResult, TrialResult, lap_ratio, lap_time_bound_s
from racer.evaluate.html import render_html
from racer.evaluate.report import point_speeds, results_table, summary_line, write_outputs
from racer.track import Track, load_track

KNOWN_BOUND_S = 5.0
LINE_MODULE = importlib.import_module("racer.track.racing_line")  # where racing_line lives
PNG = b"\x89PNG\r\n\x1a\n"


class StubLine:
    """The fields of a ``RacingLine`` the bound and the plots read: the centre line at 2 m/s."""

    def __init__(self, track: Track, lap_time_s: float) -> None:
        self.lap_time_s = lap_time_s
        self.xy = np.asarray(track.center, dtype=np.float64)
        self.center_s_m = np.asarray(track.s, dtype=np.float64)
        self.s_m = self.center_s_m
        self.speed_mps = np.full(len(self.xy), 2.0)
        self.length_m = float(track.length)


@pytest.fixture
def known_bound(monkeypatch: pytest.MonkeyPatch) -> float:
    """Every track's bound is :data:`KNOWN_BOUND_S` (a stub racing line)."""
    monkeypatch.setattr(LINE_MODULE, "racing_line", lambda track: StubLine(track, KNOWN_BOUND_S))
    lb.track_bound_s.cache_clear()
    yield KNOWN_BOUND_S
    lb.track_bound_s.cache_clear()


@pytest.fixture
def broken_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Computing the racing line fails."""

    def boom(track: Track) -> Any:
        raise RuntimeError("solver diverged")

    monkeypatch.setattr(LINE_MODULE, "racing_line", boom)
    lb.track_bound_s.cache_clear()
    yield
    lb.track_bound_s.cache_clear()


def trial(k: int, laps: list[float], wanted: int = 3, completion: float = 100.0) -> TrialResult:
    return TrialResult(
        trial=k,
        completion_percentage=completion,
        elapsed_time_in_milliseconds=int(round(sum(laps) * 1000)),
        episode_status="lap_complete" if len(laps) >= wanted else "off_track",
        off_track_count=0,
        crash_count=0,
        reset_count=0,
        lap_times_s=laps,
        laps=wanted,
        penalty_s=0.0,
        sim_time_s=sum(laps),
        steps=int(sum(laps) * 15),
        trajectory=np.zeros((2, 2)),
    )


def result_of(trials: list[TrialResult], bound_s: float | None) -> EvaluationResult:
    return EvaluationResult(
        model="m", track="oval", config=RaceConfig(trials=len(trials), laps=3), trials=trials,
        bound_s=bound_s,
    )  # fmt: skip


# ---------------------------------------------------------------------------- the arithmetic
def test_lap_ratio_arithmetic() -> None:
    assert lap_ratio(6.12, 5.51) == pytest.approx(6.12 / 5.51)
    assert lap_ratio(None, 5.51) is None
    assert lap_ratio(6.12, None) is None
    assert lap_ratio(6.12, 0.0) is None


def test_ratio_is_the_best_trials_three_lap_average_over_the_bound() -> None:
    slow = trial(0, [7.0, 7.0, 7.0])
    best = trial(1, [6.0, 6.3, 6.06])  # average 6.12
    broken = trial(2, [5.0], completion=40.0)  # a faster lap, but incomplete: does not count
    result = result_of([slow, best, broken], bound_s=5.5)
    s = result.summary()
    assert s["bound_s"] == 5.5
    assert s["best_average_lap_s"] == pytest.approx(6.12)
    assert s["lap_ratio"] == pytest.approx(round(6.12 / 5.5, 4))
    assert result.to_dict()["summary"]["lap_ratio"] == s["lap_ratio"]
    json.dumps(result.to_dict())  # JSON-ready


def test_ratio_is_none_when_incomplete_or_unbounded() -> None:
    incomplete = result_of([trial(0, [5.0], completion=40.0)], bound_s=5.5)
    assert incomplete.summary()["lap_ratio"] is None and incomplete.summary()["bound_s"] == 5.5
    unbounded = result_of([trial(0, [6.0, 6.0, 6.0])], bound_s=None)
    assert unbounded.summary()["bound_s"] is None and unbounded.summary()["lap_ratio"] is None


def test_summary_line_and_table_show_the_ratio() -> None:
    result = result_of([trial(0, [6.0, 6.3, 6.06])], bound_s=5.51)
    line = summary_line(result)
    assert "best average lap 6.120 s = 1.11x the bound (5.510 s)" in line
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(results_table(result))
    text = console.export_text()
    assert "vs bound" in text and "1.11x" in text and "bound 5.510 s" in text
    assert "the bound" not in summary_line(result_of([trial(0, [6.0] * 3)], None))


def test_point_speeds_from_positions() -> None:
    dt = 0.1
    xy = np.array([[0.0, 0.0], [0.2, 0.0], [0.4, 0.0], [np.nan, np.nan], [1.0, 0.0], [1.1, 0.0]])
    v = point_speeds(xy, dt)
    assert v[:3] == pytest.approx([2.0, 2.0, 2.0])
    assert np.isnan(v[3])
    assert v[4:] == pytest.approx([1.0, 1.0])  # the put-back's jump is no speed


# ----------------------------------------------------------------- evaluation and its report
def test_evaluation_carries_the_known_bound_and_draws_the_lines(
    known_bound: float, tmp_path: Path
) -> None:
    result = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=1))
    t = result.trials[0]
    assert t.complete
    assert result.bound_s == known_bound
    assert result.summary()["lap_ratio"] == pytest.approx(t.lap_times_s[0] / known_bound, abs=1e-4)
    written = write_outputs(result, tmp_path / "eval")
    assert set(written) == {"results", "trajectories", "racing_line"}
    png = written["racing_line"]
    assert png.name == "racing_line.png" and png.read_bytes()[:8] == PNG
    assert png.stat().st_size > 20_000
    saved = json.loads(written["results"].read_text())
    assert saved["summary"]["bound_s"] == known_bound


def test_a_failing_bound_never_breaks_an_evaluation(broken_bound: None, tmp_path: Path) -> None:
    assert lap_time_bound_s(load_track("oval")) is None
    result = evaluate(FollowerPolicy(), "oval", RaceConfig(trials=1, time_limit_per_lap_s=2.0))
    assert result.bound_s is None and result.summary()["lap_ratio"] is None
    written = write_outputs(result, tmp_path / "eval")
    assert set(written) == {"results", "trajectories"}  # no line to draw against


def test_real_bound_is_below_the_followers_lap(tmp_path: Path) -> None:
    """The bound of the real racing line: the cautious follower is slower than the optimum."""
    from racer.track.racing_line import racing_line

    track = load_track("oval")
    result = evaluate(FollowerPolicy(), track, RaceConfig(trials=1))
    assert result.bound_s == pytest.approx(float(racing_line(track).lap_time_s))
    ratio = result.summary()["lap_ratio"]
    assert ratio is not None and ratio > 1.0
    written = write_outputs(result, tmp_path)
    assert written["racing_line"].read_bytes()[:8] == PNG


# ------------------------------------------------------------------------------ leaderboard
def test_standings_show_the_ratio_to_the_bound(known_bound: float, tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 6.0))
    lb.record(db, make_entry("dee", None, completion=40.0))
    board = lb.boards(db)[("oval", "time-trial")]
    bound = lb.track_bound_s("oval")
    assert bound == known_bound
    rows = lb.standings_rows(board, bound)
    assert rows[0]["vs_bound"] == pytest.approx(6.0 / known_bound)
    assert rows[1]["vs_bound"] is None
    assert lb.standings_rows(board)[0]["vs_bound"] is None  # no bound given
    assert lb.track_bound_s("no-such-track") is None


def test_html_page_shows_the_bound_and_the_column(known_bound: float, tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 6.0))
    lb.record(db, make_entry("far", 7.0, track="no-such-track"))
    page = render_html(db)
    assert page.count(">vs bound</th>") == 2
    assert "Lap-time bound 5.000 s" in page and "<td>1.20x</td>" in page
    assert "Lap-time bound: not available" in page  # the uninstalled track
    assert page.count("<tr") == 2 + 2  # no extra rows for the bound


def old_database(path: Path) -> Path:
    """A leaderboard file as racer wrote it before the bound existed (schema version 1)."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE submissions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, track TEXT NOT NULL, race TEXT NOT NULL,
            name TEXT NOT NULL, model TEXT NOT NULL, bundle_sha256 TEXT NOT NULL,
            submitted_utc TEXT NOT NULL, complete INTEGER NOT NULL, average_lap_s REAL,
            best_lap_s REAL, completion_percentage REAL NOT NULL,
            elapsed_time_in_milliseconds INTEGER NOT NULL, episode_status TEXT NOT NULL,
            off_track_count INTEGER NOT NULL, crash_count INTEGER NOT NULL,
            reset_count INTEGER NOT NULL, lap_times_s TEXT NOT NULL, best_lap_line TEXT NOT NULL,
            result_json TEXT NOT NULL);
        CREATE INDEX submissions_track ON submissions (track, race);
        INSERT INTO submissions (track, race, name, model, bundle_sha256, submitted_utc,
            complete, average_lap_s, best_lap_s, completion_percentage,
            elapsed_time_in_milliseconds, episode_status, off_track_count, crash_count,
            reset_count, lap_times_s, best_lap_line, result_json)
        VALUES ('oval', 'time-trial', 'old', 'old-model', '', '2025-01-01T00:00:00.000000Z',
            1, 7.5, 7.4, 100.0, 22500, 'lap_complete', 0, 0, 0, '[7.6, 7.4, 7.5]',
            '[[0.0, -1.8], [1.0, -1.8]]', '{"summary": {"best_average_lap_s": 7.5}}');
        """
    )
    conn.commit()
    conn.close()
    return path


def test_an_old_leaderboard_file_opens_and_gets_the_ratio(
    known_bound: float, tmp_path: Path
) -> None:
    db = old_database(tmp_path / "old.db")
    board = lb.boards(db)[("oval", "time-trial")]
    assert board[0].entry.name == "old"
    rows = lb.standings_rows(board, lb.track_bound_s("oval"))
    assert rows[0]["vs_bound"] == pytest.approx(7.5 / known_bound)
    assert "<td>1.50x</td>" in render_html(db)
    lb.record(db, make_entry("new", 6.0))  # and it still takes submissions
    assert [s.entry.name for s in lb.boards(db)[("oval", "time-trial")]] == ["new", "old"]
    assert lb.integrity_check(db) == "ok"
