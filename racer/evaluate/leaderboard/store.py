"""The leaderboard's store: one SQLite file of submissions, its schema, locking and rows.

One SQLite file (``leaderboard.db`` in the current folder by default, or ``$RACER_LEADERBOARD``)
holds one row per submission. Rows are written only after the evaluation finished, in one short
``BEGIN IMMEDIATE`` transaction, with the database in WAL mode, so concurrent submissions
(several processes) never lose or corrupt a row and a failed evaluation leaves no row at all.
While another process holds the file locked, an operation waits at most ``lock_timeout_s``
(:data:`LOCK_TIMEOUT_S` by default, ``--lock-timeout``), saying once on stderr that it waits,
then gives up with one :class:`ConfigError` line.

Each submission also names the geometry of the track it was evaluated on: ``track_sha256``, the
sha256 of the geometry's canonical form (:func:`track_geometry`, :func:`geometry_sha256`), and
the geometry itself once per hash in the ``tracks`` table. So a board can always draw its map and
derive its bound, even when the track came from a file that is gone, and two different files
with the same name are never one board. Files of schema version 1 (no ``track_sha256``, no
``tracks``) still open and read, their rows without geometry; the first write adds the column and
the table (``ALTER TABLE`` in that write's ``BEGIN IMMEDIATE`` transaction) and sets version 2.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from racer.env.ranking import RaceScore, ranking_key
from racer.errors import ConfigError
from racer.evaluate.evaluator import METRIC_NAMES
from racer.track import Track
from racer.track.validation import MAX_WAYPOINTS

DEFAULT_DB = "leaderboard.db"
ENV_DB = "RACER_LEADERBOARD"  # environment variable naming the database file
SCHEMA_VERSION = 2  # 2: track_sha256 and the tracks table (1 still opens; migrated on write)
_READABLE_VERSIONS = ("1", str(SCHEMA_VERSION))
GEOMETRY_DECIMALS = 6  # stored coordinates, m: 1 micrometre, exact enough to redraw and re-derive
_GEOMETRY_TAG = b"racer track geometry 1\n"  # prefixed to the canonical JSON before hashing
LOCK_TIMEOUT_S = 30.0  # default wait for another process's lock on the file before giving up, s
LOCK_POLL_MS = 250  # SQLite's own busy wait per attempt; racer's loop counts the total, ms
MAX_NAME_CHARS = 64

_TRACKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    geometry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_track_sha256 ON submissions (track_sha256, race);
"""
_SCHEMA = (
    """
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
    result_json TEXT NOT NULL,
    track_sha256 TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS submissions_track ON submissions (track, race);
"""
    + _TRACKS_SCHEMA
)

_COLUMNS = (
    "track",
    "race",
    "name",
    "model",
    "bundle_sha256",
    "submitted_utc",
    "complete",
    "average_lap_s",
    "best_lap_s",
    *METRIC_NAMES,  # DeepRacer's per-trial metrics, in the evaluator's order
    "best_lap_line",
    "result_json",
    "track_sha256",
)


@dataclass
class Entry:
    """One submission's recorded figures (one row).

    Attributes:
        track: the track's name.
        race: the race format (``time-trial`` ...).
        name: the racer's name.
        model: the bundle's name, or the built-in driver's (``expert:racing-line``).
        bundle_sha256: sha256 of the bundle's ``metadata.json`` (which lists every file's sha256);
            empty for a built-in driver.
        complete: all laps driven.
        average_lap_s: average of the consecutive laps, penalties included (None if incomplete).
        best_lap_s: fastest lap (None without a lap).
        completion_percentage: percent of the laps driven.
        elapsed_time_in_milliseconds: simulated time plus penalties, ms.
        episode_status: how the counted trial ended.
        off_track_count: off-tracks.
        crash_count: collisions.
        reset_count: put-backs.
        lap_times_s: every lap time, s.
        best_lap_line: ``(x, y)`` points of the fastest lap (``None`` pairs where put back).
        result: the whole evaluation (``EvaluationResult.to_dict()``).
        submitted_utc: ISO time of recording (set by :func:`record` when empty).
        id: the row id (set when read back).
        track_sha256: :func:`geometry_sha256` of the evaluated track (set by :func:`record`
            from ``track_geometry``); empty for rows recorded without geometry.
        track_geometry: the evaluated track (:func:`track_geometry`), or None (rows of older
            files); read back shared between the rows of one track: do not modify.
    """

    track: str
    race: str
    name: str
    model: str
    bundle_sha256: str
    complete: bool
    average_lap_s: float | None
    best_lap_s: float | None
    completion_percentage: float
    elapsed_time_in_milliseconds: int
    episode_status: str
    off_track_count: int
    crash_count: int
    reset_count: int
    lap_times_s: list[float] = field(default_factory=list)
    best_lap_line: list[tuple[float | None, float | None]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    submitted_utc: str = ""
    id: int | None = None
    track_sha256: str = ""
    track_geometry: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def score(self) -> RaceScore:
        """What the entry is ranked by (:func:`racer.env.ranking.ranking_key`)."""
        return RaceScore.of(self)

    def rank_key(self) -> tuple[Any, ...]:
        """Sort key, best first: :func:`racer.env.ranking.ranking_key`, then the earlier
        submission (time, then row id)."""
        return (*ranking_key(self.score), self.submitted_utc, self.id or 0)


def _coordinate(value: float) -> float:
    return round(float(value), GEOMETRY_DECIMALS) + 0.0  # + 0.0: -0.0 becomes 0.0


def track_geometry(track: Track) -> dict[str, Any]:
    """The geometry a submission stores: the track as evaluated, JSON-ready and canonical.

    Args:
        track: the evaluated track (driving order, the start at waypoint 0).

    Returns:
        ``{"closed": bool, "waypoints": [[cx, cy, lx, ly, rx, ry], ...]}``: the centre line and
        the left and right borders in metres, rounded to :data:`GEOMETRY_DECIMALS` decimals; a
        loop does not repeat its first waypoint.
    """
    rows = np.hstack((track.center, track.left, track.right)).tolist()
    return {
        "closed": bool(track.closed),
        "waypoints": [[_coordinate(v) for v in row] for row in rows],
    }


def _canonical_geometry(geometry: Any) -> tuple[dict[str, Any], str]:
    """Check a stored geometry and give it back rounded, with its canonical JSON text."""
    if not isinstance(geometry, dict) or set(geometry) != {"closed", "waypoints"}:
        raise ConfigError("track geometry must be {'closed': ..., 'waypoints': [...]}")
    closed, rows = geometry["closed"], geometry["waypoints"]
    if not isinstance(closed, bool) or not isinstance(rows, list):
        raise ConfigError("track geometry: 'closed' must be true/false, 'waypoints' a list")
    if not 4 <= len(rows) <= MAX_WAYPOINTS:
        raise ConfigError(f"track geometry: {len(rows)} waypoints, 4-{MAX_WAYPOINTS} allowed")
    try:
        array = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("track geometry: every waypoint must be 6 numbers") from None
    if array.shape != (len(rows), 6) or not np.all(np.isfinite(array)):
        raise ConfigError("track geometry: every waypoint must be 6 finite numbers")
    clean = {
        "closed": closed,
        "waypoints": [[_coordinate(v) for v in row] for row in array.tolist()],
    }
    return clean, json.dumps(clean, separators=(",", ":"), sort_keys=True, allow_nan=False)


def geometry_sha256(geometry: dict[str, Any]) -> str:
    """The identity of a track's geometry: sha256 of its canonical form.

    The same geometry gives the same hash whatever file (or name) it came from; any change of
    a point (beyond :data:`GEOMETRY_DECIMALS` decimals), of the start or of the direction gives
    another.

    Args:
        geometry: :func:`track_geometry`'s form.

    Returns:
        64 hex digits.

    Raises:
        ConfigError: not a track geometry.
    """
    _, text = _canonical_geometry(geometry)
    return _text_sha256(text)


def _text_sha256(canonical: str) -> str:
    return hashlib.sha256(_GEOMETRY_TAG + canonical.encode()).hexdigest()


def track_from_geometry(geometry: dict[str, Any], name: str) -> Track:
    """The :class:`racer.track.Track` of a stored geometry (to draw it and derive its bound).

    Args:
        geometry: :func:`track_geometry`'s form.
        name: the track's name.

    Returns:
        The track (source ``"leaderboard"``; not validated again: it was when evaluated).

    Raises:
        RacerError: not a track geometry, or one :class:`Track` refuses.
    """
    clean, _ = _canonical_geometry(geometry)
    a = np.array(clean["waypoints"], dtype=np.float64)
    return Track(
        a[:, 0:2], a[:, 2:4], a[:, 4:6], closed=clean["closed"], name=name, source="leaderboard"
    )


def default_db() -> Path:
    """The leaderboard file: ``$RACER_LEADERBOARD``, else ``leaderboard.db`` here."""
    return Path(os.environ.get(ENV_DB) or DEFAULT_DB)


class _LockWait:
    """One bounded wait for a locked database, shared by every step of one operation.

    The first time the file is found locked it prints one line on stderr saying it waits; when
    ``timeout_s`` has passed in all it gives up with one :class:`ConfigError` line.

    Args:
        path: the database file (for messages).
        timeout_s: the most seconds to wait in all.
    """

    def __init__(self, path: Path, timeout_s: float | None = None) -> None:
        timeout = LOCK_TIMEOUT_S if timeout_s is None else float(timeout_s)
        if not (math.isfinite(timeout) and timeout >= 0):
            raise ConfigError(f"the lock timeout must be a number of seconds >= 0, got {timeout}")
        self.path = path
        self.timeout_s = timeout
        self.deadline = time.monotonic() + timeout
        self.announced = False

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, retrying while another connection holds the lock, up to the deadline."""
        delay = 0.05
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise ConfigError(
                        f"{self.path}: the leaderboard is locked by another process and stayed "
                        f"locked for {self.timeout_s:g} s; try again when it is done (or wait "
                        "longer with --lock-timeout)"
                    ) from None
                if not self.announced:
                    self.announced = True
                    print(
                        f"racer: {self.path}: the leaderboard is locked by another process; "
                        f"waiting up to {self.timeout_s:g} s",
                        file=sys.stderr,
                        flush=True,
                    )
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)


def connect(
    db: str | Path, lock_timeout_s: float | None = None, *, _wait: _LockWait | None = None
) -> sqlite3.Connection:
    """Open (and create) the leaderboard database: WAL mode, busy timeout, schema in place.

    Args:
        db: the SQLite file.
        lock_timeout_s: the most seconds to wait while another process holds the file's lock
            (default :data:`LOCK_TIMEOUT_S`); one line on stderr says it waits.

    Returns:
        A connection in autocommit mode (transactions are explicit).

    Raises:
        ConfigError: the file is not a leaderboard database, cannot be opened, or stayed
            locked past the timeout.
    """
    path = Path(db)
    if path.parent and not path.parent.exists():
        raise ConfigError(f"{path}: folder {path.parent} does not exist")
    wait = _wait or _LockWait(path, lock_timeout_s)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(path), timeout=LOCK_POLL_MS / 1000, isolation_level=None)
        c = conn
        c.execute(f"PRAGMA busy_timeout = {LOCK_POLL_MS}")
        wait.run(lambda: c.execute("PRAGMA journal_mode = WAL").fetchone())
        c.execute("PRAGMA synchronous = FULL")
        wait.run(lambda: _ensure_schema(c))
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise ConfigError(f"{path}: not a usable leaderboard database ({exc})") from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'submissions'"
    ).fetchone()
    if exists:
        _check_version(conn)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in _SCHEMA.strip().split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    _check_version(conn)


def _check_version(conn: sqlite3.Connection) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] not in _READABLE_VERSIONS:
        raise sqlite3.DatabaseError(
            f"schema version {row[0] if row else None!r}, this racer reads "
            f"{' and '.join(_READABLE_VERSIONS)}"
        )


def _has_track_columns(conn: sqlite3.Connection) -> bool:
    """Whether the file has schema version 2's ``track_sha256`` column and ``tracks`` table."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
    tables = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tracks'"
    ).fetchone()
    return "track_sha256" in columns and tables is not None


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a version-1 file to version 2, inside the caller's write transaction."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
    if "track_sha256" not in columns:
        conn.execute("ALTER TABLE submissions ADD COLUMN track_sha256 TEXT NOT NULL DEFAULT ''")
    for stmt in _TRACKS_SCHEMA.strip().split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def _now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(db: str | Path, entry: Entry, lock_timeout_s: float | None = None) -> int:
    """Insert one submission in one ``BEGIN IMMEDIATE`` transaction.

    Args:
        db: the SQLite file.
        entry: the figures (its ``submitted_utc`` is set now when empty).
        lock_timeout_s: the most seconds to wait for another process's lock (default
            :data:`LOCK_TIMEOUT_S`), then one ConfigError line; nothing is written then.

    Returns:
        The new row's id.

    Raises:
        ConfigError: a bad racer name or track geometry, or the file stayed locked.
    """
    validate_name(entry.name)
    if not entry.submitted_utc:
        entry = replace(entry, submitted_utc=_now_utc())
    geometry_text = None
    if entry.track_geometry is not None:
        _, geometry_text = _canonical_geometry(entry.track_geometry)
        entry = replace(entry, track_sha256=_text_sha256(geometry_text))
    values = (
        entry.track,
        entry.race,
        entry.name,
        entry.model,
        entry.bundle_sha256,
        entry.submitted_utc,
        int(bool(entry.complete)),
        entry.average_lap_s,
        entry.best_lap_s,
        float(entry.completion_percentage),
        int(entry.elapsed_time_in_milliseconds),
        entry.episode_status,
        int(entry.off_track_count),
        int(entry.crash_count),
        int(entry.reset_count),
        json.dumps([float(x) for x in entry.lap_times_s]),
        json.dumps(entry.best_lap_line, allow_nan=False),
        json.dumps(entry.result, allow_nan=False),
        entry.track_sha256,
    )
    wait = _LockWait(Path(db), lock_timeout_s)
    conn = connect(db, _wait=wait)
    try:

        def _insert() -> int:
            conn.execute("BEGIN IMMEDIATE")  # waits LOCK_POLL_MS, then _LockWait retries
            try:
                if not _has_track_columns(conn):
                    _migrate(conn)  # a version-1 file: in this transaction, all or nothing
                if geometry_text is not None:
                    conn.execute(
                        "INSERT OR IGNORE INTO tracks (sha256, name, geometry) VALUES (?, ?, ?)",
                        (entry.track_sha256, entry.track, geometry_text),
                    )
                cur = conn.execute(
                    f"INSERT INTO submissions ({', '.join(_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                    values,
                )
                row_id = int(cur.lastrowid or 0)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return row_id

        return int(wait.run(_insert))
    finally:
        conn.close()


def _entry_from_row(row: sqlite3.Row, geometries: dict[str, dict[str, Any] | None]) -> Entry:
    keys = row.keys()
    sha = str(row["track_sha256"] or "") if "track_sha256" in keys else ""
    if sha and sha not in geometries:
        text = row["track_geometry_json"] if "track_geometry_json" in keys else None
        try:
            geometries[sha] = None if text is None else json.loads(text)
        except (TypeError, ValueError):  # a damaged row: drawn by name, as older rows
            geometries[sha] = None
    return Entry(
        id=int(row["id"]),
        track=row["track"],
        race=row["race"],
        name=row["name"],
        model=row["model"],
        bundle_sha256=row["bundle_sha256"],
        submitted_utc=row["submitted_utc"],
        complete=bool(row["complete"]),
        average_lap_s=row["average_lap_s"],
        best_lap_s=row["best_lap_s"],
        completion_percentage=float(row["completion_percentage"]),
        elapsed_time_in_milliseconds=int(row["elapsed_time_in_milliseconds"]),
        episode_status=row["episode_status"],
        off_track_count=int(row["off_track_count"]),
        crash_count=int(row["crash_count"]),
        reset_count=int(row["reset_count"]),
        lap_times_s=json.loads(row["lap_times_s"]),
        best_lap_line=[tuple(p) for p in json.loads(row["best_lap_line"])],
        result=json.loads(row["result_json"]),
        track_sha256=sha,
        track_geometry=geometries.get(sha) if sha else None,
    )


def entries(
    db: str | Path,
    track: str | None = None,
    race: str | None = None,
    lock_timeout_s: float | None = None,
) -> list[Entry]:
    """Every submission (optionally of one track and race format), oldest first.

    Args:
        db: the SQLite file.
        track: only this track.
        race: only this race format.
        lock_timeout_s: the most seconds to wait for another process's lock (default
            :data:`LOCK_TIMEOUT_S`).

    Returns:
        The entries, each with its track's stored geometry when the file has one.
    """
    path = Path(db)
    if not path.exists():
        raise ConfigError(f"{path}: no leaderboard yet; submit with 'racer leaderboard submit'")
    wait = _LockWait(path, lock_timeout_s)
    conn = connect(path, _wait=wait)
    conn.row_factory = sqlite3.Row
    try:
        where, args = [], []
        if track is not None:
            where.append("s.track = ?")
            args.append(track)
        if race is not None:
            where.append("s.race = ?")
            args.append(race)
        clause = (" WHERE " + " AND ".join(where)) if where else ""

        def _read() -> list[sqlite3.Row]:
            if _has_track_columns(conn):  # version 2; a version-1 file is read as it is
                sql = (
                    "SELECT s.*, t.geometry AS track_geometry_json FROM submissions AS s "
                    "LEFT JOIN tracks AS t ON t.sha256 = s.track_sha256"
                )
            else:
                sql = "SELECT s.* FROM submissions AS s"
            return conn.execute(sql + clause + " ORDER BY s.id", args).fetchall()

        rows = wait.run(_read)
    finally:
        conn.close()
    geometries: dict[str, dict[str, Any] | None] = {}
    return [_entry_from_row(r, geometries) for r in rows]


def integrity_check(db: str | Path) -> str:
    """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a sound file)."""
    conn = connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def validate_name(name: str) -> str:
    """Check a racer's name: 1-64 printable characters.

    Args:
        name: the name.

    Returns:
        The name, stripped.

    Raises:
        ConfigError: the name is empty, too long or holds control characters.
    """
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_NAME_CHARS or not stripped.isprintable():
        raise ConfigError(
            f"racer name {name!r} is not valid: use 1-{MAX_NAME_CHARS} printable characters"
        )
    return stripped
