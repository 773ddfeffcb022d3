"""The leaderboard keeps each submission's track: its geometry and a hash of it (#13 item 4).

A board is one track geometry (not one name) in one race format: the page draws its map from the
stored geometry even when the track file is gone, two different files with the same name make two
boards (told apart by a short hash), and one geometry from two paths makes one. A leaderboard file
of schema version 1 (no geometry) opens, lists, ranks and takes a new submission, migrated in that
write's transaction.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from test_html_browser import _browser, _run
from test_leaderboard import make_entry

from racer.errors import ConfigError
from racer.evaluate import RaceConfig
from racer.evaluate import leaderboard as lb
from racer.evaluate.html import render_html, write_html
from racer.track import Track, load_track, save_npy

FAST = RaceConfig(trials=1, laps=3, time_limit_per_lap_s=2.0)  # 90 steps per submission

# The submissions table of schema version 1, as racer wrote it before track geometry
# (git show HEAD~3:racer/evaluate/leaderboard.py).
_V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    track TEXT NOT NULL,
    race TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    bundle_sha256 TEXT NOT NULL,
    submitted_utc TEXT NOT NULL,
    complete INTEGER NOT NULL,
    average_lap_s REAL,
    best_lap_s REAL,
    completion_percentage REAL NOT NULL,
    elapsed_time_in_milliseconds INTEGER NOT NULL,
    episode_status TEXT NOT NULL,
    off_track_count INTEGER NOT NULL,
    crash_count INTEGER NOT NULL,
    reset_count INTEGER NOT NULL,
    lap_times_s TEXT NOT NULL,
    best_lap_line TEXT NOT NULL,
    result_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_track ON submissions (track, race);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
"""


def shifted(track: Track, dx_m: float) -> Track:
    """The same road moved ``dx_m`` along x: another geometry."""
    d = np.array([dx_m, 0.0])
    return Track(
        track.center + d, track.left + d, track.right + d, closed=track.closed, name=track.name
    )


def file_entry(name: str, avg: float, path: Path) -> lb.Entry:
    """A made-up result on the track of a file, with the geometry a submission stores."""
    track = load_track(str(path))
    e = make_entry(name, avg, track=track.name)
    e.track_geometry = lb.track_geometry(track)
    return e


def map_count(page: str) -> int:
    return page.count("<svg")


def test_geometry_hash_is_of_the_geometry(tmp_path: Path) -> None:
    oval = load_track("oval")
    (tmp_path / "a").mkdir()
    a = save_npy(oval, tmp_path / "a" / "my.npy")
    b = tmp_path / "b" / "other.npy"
    b.parent.mkdir()
    shutil.copyfile(a, b)
    ga, gb = lb.track_geometry(load_track(str(a))), lb.track_geometry(load_track(str(b)))
    assert lb.geometry_sha256(ga) == lb.geometry_sha256(gb)  # a copy, another name
    assert lb.geometry_sha256(ga) == lb.geometry_sha256(lb.track_geometry(oval))
    moved = lb.track_geometry(shifted(oval, 0.01))
    assert lb.geometry_sha256(moved) != lb.geometry_sha256(ga)
    assert lb.geometry_sha256(lb.track_geometry(oval.reversed())) != lb.geometry_sha256(ga)
    rebuilt = lb.track_from_geometry(ga, "my")
    assert rebuilt.closed and np.allclose(rebuilt.center, oval.center, atol=1e-6)
    for bad in ({"closed": True}, {"closed": 1, "waypoints": []}, {**ga, "waypoints": [[0.0]]}):
        with pytest.raises(ConfigError, match="track geometry"):
            lb.geometry_sha256(bad)


def test_submission_on_a_deleted_file_still_draws_its_map(tmp_path: Path) -> None:
    folder = tmp_path / "tracks"
    folder.mkdir()
    path = save_npy(shifted(load_track("oval"), 3.0), folder / "my_track.npy")
    db = tmp_path / "lb.db"
    out = lb.submit("expert:centerline", str(path), "ann", db=db, config=FAST)
    assert out.entry.track == "my_track" and len(out.entry.track_sha256) == 64
    assert out.rank == 1 and out.board_size == 1
    shutil.rmtree(folder)  # the file is gone: the page draws from the stored geometry

    (e,) = lb.entries(db)
    assert e.track_sha256 == out.entry.track_sha256 and e.track_geometry is not None
    (board,) = lb.track_boards(db)
    assert board.label == "my_track" and board.track is not None
    assert board.bound_s is not None and board.bound_s > 0  # the bound of the stored geometry
    page = render_html(db)
    assert map_count(page) == 1 and "not installed" not in page
    assert re.search(r'<path d="M[\d.]+,[\d.]+ L', page)  # the road is drawn
    assert "Lap-time bound" in page and "not available" not in page


def test_the_page_of_a_deleted_file_renders_in_chromium(tmp_path: Path) -> None:
    browser = _browser()  # skips without Chromium
    folder = tmp_path / "tracks"
    folder.mkdir()
    path = save_npy(shifted(load_track("oval"), -2.0), folder / "gone.npy")
    db = tmp_path / "lb.db"
    lb.record(db, file_entry("ann", 19.0, path))
    lb.record(db, file_entry("bob", 21.0, path))
    path.unlink()
    page = write_html(db, tmp_path / "index.html")
    dom = _run(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<svg") == 1 and 'aria-label="map of gone"' in html
    assert len(re.findall(r"<path d=\"M", html)) >= 4  # road, borders, centre line (+ laps)
    assert "no map" not in html and "ann" in html and "bob" in html


def test_two_files_with_one_name_make_two_boards(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    oval = load_track("oval")
    a = save_npy(oval, tmp_path / "a" / "my_track.npy")
    b = save_npy(shifted(oval, 5.0), tmp_path / "b" / "my_track.npy")
    db = tmp_path / "lb.db"
    lb.record(db, file_entry("ann", 19.0, a))
    lb.record(db, file_entry("bob", 18.0, b))
    lb.record(db, file_entry("ann", 17.0, b))
    boards = lb.track_boards(db)
    assert len(boards) == 2
    by_key = {bd.key: bd for bd in boards}
    sha_a = lb.geometry_sha256(lb.track_geometry(load_track(str(a))))
    sha_b = lb.geometry_sha256(lb.track_geometry(load_track(str(b))))
    assert set(by_key) == {sha_a, sha_b}
    assert [s.entry.name for s in by_key[sha_a].standings] == ["ann"]
    assert [s.entry.name for s in by_key[sha_b].standings] == ["ann", "bob"]  # 17.0 leads
    labels = {bd.label for bd in boards}
    assert labels == {f"my_track ({sha_a[:6]})", f"my_track ({sha_b[:6]})"}
    assert set(lb.boards(db)) == {(label, "time-trial") for label in labels}
    assert [bd.key for bd in lb.track_boards(db, track=str(b))] == [sha_b]  # by the file
    assert len(lb.track_boards(db, track="my_track")) == 2  # by the name
    page = render_html(db)
    assert map_count(page) == 2
    assert f"my_track ({sha_a[:6]})" in page and f"my_track ({sha_b[:6]})" in page


def test_one_geometry_from_two_paths_makes_one_board(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = save_npy(shifted(load_track("oval"), 1.0), tmp_path / "a" / "my_track.npy")
    b = tmp_path / "b" / "my_track.npy"
    shutil.copyfile(a, b)
    c = tmp_path / "b" / "renamed.npy"
    shutil.copyfile(a, c)
    db = tmp_path / "lb.db"
    lb.record(db, file_entry("ann", 19.0, a))
    lb.record(db, file_entry("bob", 18.0, b))
    lb.record(db, file_entry("cid", 20.0, c))
    (board,) = lb.track_boards(db)
    assert [s.entry.name for s in board.standings] == ["bob", "ann", "cid"]
    assert board.label == "my_track" and board.names == ["my_track", "renamed"]
    with sqlite3.connect(db) as conn:  # the geometry is stored once
        assert conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 1
    page = render_html(db)
    assert map_count(page) == 1 and "also submitted as renamed" in page


def test_a_builtin_name_on_another_geometry_is_another_board(tmp_path: Path) -> None:
    """Rows without geometry join the installed track's board; a file named like it does not."""
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("old", 20.0))  # no geometry: the installed oval
    e = make_entry("new", 19.0)
    e.track_geometry = lb.track_geometry(load_track("oval"))
    lb.record(db, e)
    path = save_npy(shifted(load_track("oval"), 2.0), tmp_path / "oval.npy")
    lb.record(db, file_entry("odd", 10.0, path))
    boards = {bd.key: bd for bd in lb.track_boards(db)}
    sha = lb.geometry_sha256(e.track_geometry)
    assert len(boards) == 2 and sha in boards
    assert [s.entry.name for s in boards[sha].standings] == ["new", "old"]
    (other,) = (bd for key, bd in boards.items() if key != sha)
    assert [s.entry.name for s in other.standings] == ["odd"]
    assert boards[sha].label == f"oval ({sha[:6]})" and other.label == f"oval ({other.key[:6]})"


def make_v1(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(_V1_SCHEMA)
    conn.execute(
        "INSERT INTO submissions (track, race, name, model, bundle_sha256, submitted_utc, "
        "complete, average_lap_s, best_lap_s, completion_percentage, "
        "elapsed_time_in_milliseconds, episode_status, off_track_count, crash_count, "
        "reset_count, lap_times_s, best_lap_line, result_json) "
        "VALUES ('oval', 'time-trial', 'old', 'm', '', '2024-01-01T00:00:00.000000Z', 1, "
        "20.0, 19.5, 100.0, 60000, 'lap_complete', 1, 0, 1, '[20.0, 20.0, 20.0]', "
        "'[[0.0, -1.8], [1.0, -1.8]]', '{}'), "
        "('gone', 'time-trial', 'lost', 'm', '', '2024-01-02T00:00:00.000000Z', 1, "
        "21.0, 20.5, 100.0, 63000, 'lap_complete', 0, 0, 0, '[21.0, 21.0, 21.0]', '[]', '{}')"
    )
    conn.commit()
    conn.close()


def schema_version(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(
            conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        )


def test_an_old_database_opens_ranks_and_takes_a_submission(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    make_v1(db)
    rows = lb.entries(db)
    assert [(e.name, e.track_sha256, e.track_geometry) for e in rows] == [
        ("old", "", None),
        ("lost", "", None),
    ]
    assert [s.entry.name for s in lb.rank(lb.entries(db, track="oval"))] == ["old"]
    assert set(lb.boards(db)) == {("oval", "time-trial"), ("gone", "time-trial")}
    page = render_html(db)
    assert map_count(page) == 1 and "gone is not installed" in page  # oval drawn by its name
    assert schema_version(db) == "1"  # reading changes nothing

    out = lb.submit("expert:centerline", "oval", "new", db=db, config=FAST)
    assert schema_version(db) == str(lb.SCHEMA_VERSION) == "2"
    with sqlite3.connect(db) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
    assert "track_sha256" in columns
    assert out.board_size == 2  # the old row on the installed oval and the new one: one board
    boards = {bd.label: bd for bd in lb.track_boards(db)}
    assert set(boards) == {"oval", "gone"}
    assert {s.entry.name for s in boards["oval"].standings} == {"old", "new"}
    assert boards["oval"].key == out.entry.track_sha256 and boards["gone"].track is None
    assert lb.integrity_check(db) == "ok"
    page = render_html(db)
    assert map_count(page) == 1 and "gone is not installed" in page


def test_an_old_database_locked_stays_old(tmp_path: Path) -> None:
    """The migration is part of the write: a write that cannot start leaves the file as it was."""
    db = tmp_path / "lb.db"
    make_v1(db)
    lb.entries(db)  # in WAL mode now, as the store keeps it
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        e = make_entry("new", 19.0)
        e.track_geometry = lb.track_geometry(load_track("oval"))
        with pytest.raises(ConfigError, match="locked by another process"):
            lb.record(db, e, lock_timeout_s=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert schema_version(db) == "1" and len(lb.entries(db)) == 2
    lb.record(db, e)
    assert schema_version(db) == "2" and len(lb.entries(db)) == 3


def test_a_newer_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 20.0))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match="schema version '9'") as info:
        lb.entries(db)
    assert "\n" not in str(info.value)


def test_a_damaged_stored_geometry_falls_back_to_the_name(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    e = make_entry("ann", 20.0)
    e.track_geometry = lb.track_geometry(load_track("oval"))
    lb.record(db, e)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tracks SET geometry = 'not json'")
    (board,) = lb.track_boards(db)
    assert board.track is not None and board.label == "oval"  # the installed oval, same hash
    assert map_count(render_html(db)) == 1
