"""The leaderboard: an SQLite store of official evaluations, DeepRacer's ranking, submission.

One SQLite file (``leaderboard.db`` in the current folder by default, or ``$RACER_LEADERBOARD``)
holds one row per submission. Rows are written only after the evaluation finished, in one short
``BEGIN IMMEDIATE`` transaction, with the database in WAL mode, so concurrent submissions
(several processes) never lose or corrupt a row and a failed evaluation leaves no row at all.
While another process holds the file locked, an operation waits at most ``lock_timeout_s``
(:data:`LOCK_TIMEOUT_S` by default, ``--lock-timeout``), saying once on stderr that it waits,
then gives up with one :class:`ConfigError` line.

Submissions are deploy bundles (:mod:`racer.car.bundle`): verified (sizes, checksums, metadata,
the ONNX graph's inputs and outputs) and self-tested on their golden inputs, then run with ONNX
Runtime. Nothing submitted is ever unpickled. With ``limits`` (always from the CLI) all of that
runs in a child process with a wall-clock and a memory limit (:mod:`racer.evaluate.sandbox`):
past either the child is killed and nothing is recorded; the row is the one an in-process
evaluation records. The built-in drivers (``expert:racing-line``,
``expert:centerline``: :data:`racer.evaluate.policies.EXPERTS`) can be submitted too, as
reference rows: evaluated under the same rules and recorded in the same row format, with the
driver's name as the model and no checksum (they read the car's true pose: not deployable).

Ranking (DeepRacer's rules), per track and race format: each racer's best submission counts;
complete submissions (all 3 consecutive laps driven) rank first by the average of those laps
(penalties included, lower is better), off-tracks breaking ties, then the earlier submission;
incomplete ones rank after them by completion (higher is better), then off-tracks.

Each board also shows every racer's average as a multiple of the track's lap-time bound (the
fastest lap the simulated car can drive, :func:`racer.track.racing_line`): computed when shown,
from the recorded average and the track installed here, never stored, so old files need nothing.
"""

from __future__ import annotations

import functools
import json
import math
import multiprocessing
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.car.bundle import METADATA, is_archive, load_bundle
from racer.errors import ConfigError, RacerError
from racer.evaluate.evaluator import METRIC_NAMES, lap_ratio, lap_time_bound_s
from racer.evaluate.policies import EXPERT_PREFIX, BundlePolicy, bundle_label, expert_policy
from racer.evaluate.races import LEADERBOARD_LAPS, RaceConfig, RaceFormat
from racer.evaluate.sandbox import Limits, default_time_limit_s, run_limited
from racer.track import load_track

if TYPE_CHECKING:  # the simulator is imported only when something is evaluated
    from racer.evaluate.evaluator import EvaluationResult, TrialResult

DEFAULT_DB = "leaderboard.db"
ENV_DB = "RACER_LEADERBOARD"  # environment variable naming the database file
SCHEMA_VERSION = 1
LOCK_TIMEOUT_S = 30.0  # default wait for another process's lock on the file before giving up, s
LOCK_POLL_MS = 250  # SQLite's own busy wait per attempt; racer's loop counts the total, ms
MAX_NAME_CHARS = 64
MAX_LINE_POINTS = 400  # best-lap line stored per submission, downsampled to at most this

_SCHEMA = """
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
"""
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

    def rank_key(self) -> tuple[Any, ...]:
        """Sort key, best first (see the module docstring)."""
        if self.complete and self.average_lap_s is not None:
            head: tuple[Any, ...] = (0, self.average_lap_s, self.off_track_count)
        else:
            head = (1, -self.completion_percentage, self.off_track_count)
        return (*head, self.submitted_utc, self.id or 0)


@dataclass
class Standing:
    """A racer's place on a leaderboard.

    Attributes:
        rank: 1 for the leader.
        entry: the racer's best submission.
        submissions: how many submissions the racer made on this board.
    """

    rank: int
    entry: Entry
    submissions: int


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
    if row is None or row[0] != str(SCHEMA_VERSION):
        raise sqlite3.DatabaseError(
            f"schema version {row[0] if row else None!r}, this racer reads {SCHEMA_VERSION}"
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
    """
    validate_name(entry.name)
    if not entry.submitted_utc:
        entry = replace(entry, submitted_utc=_now_utc())
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
    )
    wait = _LockWait(Path(db), lock_timeout_s)
    conn = connect(db, _wait=wait)
    try:

        def _insert() -> int:
            conn.execute("BEGIN IMMEDIATE")  # waits LOCK_POLL_MS, then _LockWait retries
            try:
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


def _entry_from_row(row: sqlite3.Row) -> Entry:
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
        The entries.
    """
    path = Path(db)
    if not path.exists():
        raise ConfigError(f"{path}: no leaderboard yet; submit with 'racer leaderboard submit'")
    wait = _LockWait(path, lock_timeout_s)
    conn = connect(path, _wait=wait)
    conn.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM submissions"
        where, args = [], []
        if track is not None:
            where.append("track = ?")
            args.append(track)
        if race is not None:
            where.append("race = ?")
            args.append(race)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = wait.run(lambda: conn.execute(sql + " ORDER BY id", args).fetchall())
    finally:
        conn.close()
    return [_entry_from_row(r) for r in rows]


def rank(items: Iterable[Entry]) -> list[Standing]:
    """DeepRacer's ranking of one board: each racer's best submission, best first.

    Args:
        items: the submissions of one track and race format.

    Returns:
        The standings.
    """
    best: dict[str, Entry] = {}
    counts: dict[str, int] = {}
    for e in items:
        counts[e.name] = counts.get(e.name, 0) + 1
        if e.name not in best or e.rank_key() < best[e.name].rank_key():
            best[e.name] = e
    ordered = sorted(best.values(), key=Entry.rank_key)
    return [
        Standing(rank=i + 1, entry=e, submissions=counts[e.name]) for i, e in enumerate(ordered)
    ]


def boards(db: str | Path, track: str | None = None) -> dict[tuple[str, str], list[Standing]]:
    """Every board's standings, keyed by ``(track, race)``, sorted by track then race.

    Args:
        db: the SQLite file.
        track: only this track.

    Returns:
        ``{(track, race): standings}``.
    """
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries(db, track=track):
        groups.setdefault((e.track, e.race), []).append(e)
    return {key: rank(groups[key]) for key in sorted(groups)}


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


def official_config(
    race: RaceFormat | str = RaceFormat.TIME_TRIAL, seed: int = 0, **overrides: Any
) -> RaceConfig:
    """The leaderboard's evaluation: one trial of 3 consecutive laps under DeepRacer's rules.

    Args:
        race: the race format.
        seed: the object-placement seed.
        **overrides: other :class:`RaceConfig` fields (penalties, boxes, bots...).

    Returns:
        The settings.
    """
    settings: dict[str, Any] = {"trials": 1, "laps": LEADERBOARD_LAPS, **overrides}
    return RaceConfig(race=RaceFormat(race), seed=seed, **settings)


def _line_points(line: np.ndarray | None) -> list[tuple[float | None, float | None]]:
    if line is None or len(line) == 0:
        return []
    pts = np.asarray(line, dtype=np.float64)
    if len(pts) > MAX_LINE_POINTS:
        idx = np.unique(np.linspace(0, len(pts) - 1, MAX_LINE_POINTS).round().astype(int))
        nan_rows = np.flatnonzero(np.isnan(pts[:, 0]))
        idx = np.unique(np.concatenate((idx, nan_rows)))
        pts = pts[idx]
    return [
        (None, None) if not np.isfinite(p).all() else (round(float(p[0]), 4), round(float(p[1]), 4))
        for p in pts
    ]


def entry_from_result(result: EvaluationResult, name: str, model: str, bundle_sha256: str) -> Entry:
    """The leaderboard entry of an evaluation: its best trial counts.

    Args:
        result: the official evaluation.
        name: the racer's name.
        model: the bundle's name, or the built-in driver's.
        bundle_sha256: sha256 of the bundle's ``metadata.json`` (empty for a built-in driver).

    Returns:
        The entry (not yet recorded).
    """
    t: TrialResult = result.best_trial()
    return Entry(
        track=result.track,
        race=result.config.race.value,
        name=validate_name(name),
        model=model,
        bundle_sha256=bundle_sha256,
        complete=t.complete,
        average_lap_s=t.average_lap_s,
        best_lap_s=t.best_lap_s,
        completion_percentage=t.completion_percentage,
        elapsed_time_in_milliseconds=t.elapsed_time_in_milliseconds,
        episode_status=t.episode_status,
        off_track_count=t.off_track_count,
        crash_count=t.crash_count,
        reset_count=t.reset_count,
        lap_times_s=list(t.lap_times_s),
        best_lap_line=_line_points(t.best_lap_line()),
        result=result.to_dict(),
    )


@dataclass
class SubmitOutcome:
    """What a submission produced.

    Attributes:
        row_id: the new row's id.
        entry: the recorded figures.
        rank: the racer's rank on the board after recording.
        board_size: racers on the board.
        wall_s: seconds the evaluation took.
        bound_s: the track's lap-time bound, s (None when unknown).
    """

    row_id: int
    entry: Entry
    rank: int
    board_size: int
    wall_s: float
    bound_s: float | None = None


def evaluate_bundle(
    bundle_path: str | Path, track: str, config: RaceConfig
) -> tuple[EvaluationResult, str, str]:
    """Verify, self-test and evaluate a bundle (nothing recorded).

    Args:
        bundle_path: the bundle folder or ``.tar.gz``.
        track: the track.
        config: the race settings.

    Returns:
        ``(result, model label, sha256 of metadata.json)``.

    Raises:
        BundleError: the bundle is corrupt, tampered with, or does not fit the simulator.
    """
    import hashlib

    from racer.evaluate.evaluator import Evaluator

    bundle = load_bundle(bundle_path)
    try:
        bundle.self_test("onnxruntime")
        digest = hashlib.sha256((bundle.root / METADATA).read_bytes()).hexdigest()
        label = bundle_label(bundle_path)
        policy = BundlePolicy(bundle, threads=1, name=label)
        with Evaluator(policy, track, config) as ev:
            result = ev.run()
    finally:
        bundle.close()
    return result, label, digest


def _evaluate_entry(bundle: str, track: str, config: dict[str, Any], name: str) -> dict[str, Any]:
    """Child-process target of a limited submission: evaluate, return the entry as JSON data.

    Runs in the :mod:`racer.evaluate.sandbox` child: the same :func:`evaluate_bundle` and
    :func:`entry_from_result` as an in-process submission, so the row is the same.
    """
    result, label, digest = evaluate_bundle(bundle, track, RaceConfig(**config))
    entry = entry_from_result(result, name, label, digest)
    return {"entry": asdict(entry), "bound_s": result.bound_s}


def _entry_from_data(data: Any, label: str) -> tuple[Entry, float | None]:
    """The entry a sandboxed evaluation sent back (plain JSON data, checked)."""
    try:
        fields = dict(data["entry"])
        fields["best_lap_line"] = [tuple(p) for p in fields["best_lap_line"]]
        fields["lap_times_s"] = list(fields["lap_times_s"])
        bound = data["bound_s"]
        entry = Entry(**fields)
        bound_s = None if bound is None else float(bound)
    except (KeyError, TypeError, ValueError) as exc:
        raise RacerError(
            f"{label}: the evaluation process sent a malformed result ({exc})"
        ) from None
    return entry, bound_s


def evaluate_limited(
    bundle_path: str | Path, track: str, name: str, config: RaceConfig, limits: Limits
) -> tuple[Entry, float | None]:
    """Verify, self-test and evaluate an untrusted bundle in a child process within ``limits``.

    Args:
        bundle_path: the bundle folder or ``.tar.gz``.
        track: the track.
        name: the racer's name.
        config: the race settings.
        limits: the wall-clock limit (None: :func:`racer.evaluate.sandbox.default_time_limit_s`
            of the race) and the memory limit.

    Returns:
        ``(entry, bound_s)``: the entry (not yet recorded), exactly as :func:`evaluate_bundle`
        and :func:`entry_from_result` give it in this process, and the track's bound.

    Raises:
        RacerError: the bundle's own error, or a limit reached (:class:`SandboxError`).
    """
    time_s = limits.time_s or default_time_limit_s(
        config.trials, config.laps, config.time_limit_per_lap_s
    )
    label = f"bundle {bundle_label(bundle_path)}"
    data = run_limited(
        f"{__name__}:_evaluate_entry",
        {"bundle": str(bundle_path), "track": track, "config": config.to_dict(), "name": name},
        time_limit_s=time_s,
        memory_bytes=limits.memory_bytes,
        label=label,
    )
    return _entry_from_data(data, label)


#: Under a board that holds built-in drivers' rows (``show`` and the HTML page).
REFERENCE_NOTE = (
    f"{EXPERT_PREFIX}* rows are built-in drivers recorded for reference: they read the car's "
    "true pose, so they are not deployable models"
)


def is_expert(source: str | Path) -> bool:
    """Whether a submission or a recorded model names a built-in driver (``expert:...``)."""
    return str(source).startswith(EXPERT_PREFIX)


def evaluate_submission(
    source: str | Path, track: str, config: RaceConfig
) -> tuple[EvaluationResult, str, str]:
    """Evaluate a bundle (:func:`evaluate_bundle`) or a built-in driver (nothing recorded).

    Args:
        source: the bundle folder or ``.tar.gz``, or ``expert:racing-line`` /
            ``expert:centerline``.
        track: the track.
        config: the race settings.

    Returns:
        ``(result, model label, sha256 of metadata.json)``; a built-in driver's label is its
        name and its sha256 is empty.

    Raises:
        RacerError: a bad bundle or an unknown built-in driver.
    """
    if not is_expert(source):
        return evaluate_bundle(source, track, config)
    from racer.evaluate.evaluator import Evaluator

    policy = expert_policy(str(source))
    with Evaluator(policy, track, config) as ev:
        result = ev.run()
    return result, policy.name, ""


def submit(
    bundle_path: str | Path,
    track: str,
    name: str,
    db: str | Path | None = None,
    config: RaceConfig | None = None,
    limits: Limits | None = None,
    lock_timeout_s: float | None = None,
) -> SubmitOutcome:
    """Run the official evaluation of a bundle and record it (the evaluation comes first).

    Args:
        bundle_path: the bundle folder or ``.tar.gz``, or a built-in driver's name
            (``expert:racing-line``, ``expert:centerline``): a reference row.
        track: the track.
        name: the racer's name.
        db: the SQLite file (default: :func:`default_db`).
        config: the race settings (default: :func:`official_config`).
        limits: evaluate a bundle in a child process within these limits
            (:func:`evaluate_limited`; ``racer leaderboard submit`` always does); None: in this
            process (trusted bundles, tests). Built-in drivers always run here.
        lock_timeout_s: the most seconds to wait for another process's lock on the database.

    Returns:
        The outcome.

    Raises:
        RacerError: a bad bundle, driver name, racer name, track or database; nothing is
            recorded.
    """
    name = validate_name(name)
    db_path = Path(db) if db is not None else default_db()
    cfg = config or official_config()
    t0 = time.perf_counter()
    if limits is not None and not is_expert(bundle_path):
        entry, bound_s = evaluate_limited(bundle_path, track, name, cfg, limits)
    else:
        result, label, digest = evaluate_submission(bundle_path, track, cfg)
        entry = entry_from_result(result, name, label, digest)
        bound_s = result.bound_s
    row_id = record(db_path, entry, lock_timeout_s)
    board = rank(
        entries(db_path, track=entry.track, race=entry.race, lock_timeout_s=lock_timeout_s)
    )
    place = next((s.rank for s in board if s.entry.name == name), len(board))
    return SubmitOutcome(
        row_id, entry, place, len(board), time.perf_counter() - t0, bound_s=bound_s
    )


@dataclass
class RunOutcome:
    """One bundle of a ``leaderboard run``.

    Attributes:
        path: the bundle.
        ok: recorded.
        message: a one-line summary, or the error.
        row_id: the row id when recorded.
    """

    path: Path
    ok: bool
    message: str
    row_id: int | None = None


def find_bundles(folder: str | Path) -> list[Path]:
    """Bundles in a folder: sub-folders holding ``metadata.json`` and ``.tar.gz`` files.

    Args:
        folder: the folder.

    Returns:
        The paths, sorted by name.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder of bundles")
    found = [
        p
        for p in sorted(root.iterdir())
        if (p.is_dir() and (p / METADATA).is_file()) or (p.is_file() and is_archive(p))
    ]
    return found


def _submit_one(
    path: str,
    track: str,
    db: str,
    config: dict[str, Any],
    limits: dict[str, Any] | None = None,
    lock_timeout_s: float | None = None,
) -> RunOutcome:
    """Worker: submit one bundle under its own name; errors come back as data."""
    p = Path(path)
    try:
        cfg = RaceConfig(**config)
        out = submit(
            p,
            track,
            bundle_label(p),
            db=db,
            config=cfg,
            limits=None if limits is None else Limits(**limits),
            lock_timeout_s=lock_timeout_s,
        )
    except RacerError as exc:
        return RunOutcome(p, False, str(exc))
    except Exception as exc:  # a broken bundle must not stop the others
        return RunOutcome(p, False, f"unexpected {type(exc).__name__}: {exc}")
    e = out.entry
    ratio = lap_ratio(e.average_lap_s, out.bound_s)
    figure = (
        f"average lap {e.average_lap_s:.3f} s" + ("" if ratio is None else f" ({ratio:.2f}x bound)")
        if e.average_lap_s is not None
        else f"{e.completion_percentage:.1f}% complete"
    )
    return RunOutcome(p, True, f"{figure}, rank {out.rank}/{out.board_size}", out.row_id)


def run_directory(
    folder: str | Path,
    track: str,
    db: str | Path | None = None,
    workers: int = 1,
    config: RaceConfig | None = None,
    progress: bool = True,
    start_method: str | None = None,
    limits: Limits | None = None,
    lock_timeout_s: float | None = None,
) -> list[RunOutcome]:
    """Evaluate and record every bundle of a folder, in parallel processes.

    Each bundle is recorded under its own name (folder name or archive name). A bad bundle is
    reported in its outcome and skipped; the others are still recorded.

    Args:
        folder: the folder of bundles.
        track: the track.
        db: the SQLite file (default: :func:`default_db`).
        workers: processes.
        config: the race settings (default: :func:`official_config`).
        progress: show a tqdm progress bar.
        start_method: ``forkserver`` (default where available) or ``spawn``.
        limits: evaluate each bundle in its own child process within these limits (as
            :func:`submit`; ``racer leaderboard run`` always does), ``workers`` at a time, and
            record from this process; None: in ``workers`` worker processes.
        lock_timeout_s: the most seconds to wait for another process's lock on the database.

    Returns:
        One outcome per bundle, in name order.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    bundles = find_bundles(folder)
    db_path = str(Path(db) if db is not None else default_db())
    cfg = (config or official_config()).to_dict()
    connect(db_path, lock_timeout_s).close()  # create the file and schema once, up front
    limits_data = None if limits is None else limits.to_dict()
    method = start_method or (
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    results: dict[Path, RunOutcome] = {}
    from tqdm import tqdm

    bar = tqdm(total=len(bundles), desc="evaluating", unit="bundle", disable=not progress)
    try:
        n = min(workers, max(1, len(bundles)))
        pool: Executor
        if limits is not None:  # each bundle runs in its own limited child: threads wait on them
            pool = ThreadPoolExecutor(max_workers=n)
        else:
            pool = ProcessPoolExecutor(
                max_workers=n, mp_context=multiprocessing.get_context(method)
            )
        with pool:
            futures = {
                pool.submit(
                    _submit_one, str(p), track, db_path, cfg, limits_data, lock_timeout_s
                ): p
                for p in bundles
            }
            for fut in as_completed(futures):
                p = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as exc:  # a worker that died (killed, out of memory)
                    outcome = RunOutcome(p, False, f"worker failed: {exc}")
                results[p] = outcome
                bar.set_postfix_str(bundle_label(p), refresh=False)
                bar.update(1)
    finally:
        bar.close()
    return [results[p] for p in bundles]


def format_lap(value: float | None) -> str:
    """A lap time for tables: ``12.345`` or ``-``."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def format_ratio(ratio: float | None) -> str:
    """A ratio to the bound for tables: ``1.11x`` or ``-``."""
    return "-" if ratio is None or not math.isfinite(ratio) else f"{ratio:.2f}x"


@functools.lru_cache(maxsize=64)
def track_bound_s(track: str) -> float | None:
    """The lap-time bound of a board's track, by the name recorded on the board, or None.

    The track is loaded here (a name, a user-library name or a path) and driven forward, as
    the official evaluation drives it. None when it is not installed here or has no bound.
    Cached per name for the life of the process.

    Args:
        track: the recorded track name.

    Returns:
        The bound, s, or None.
    """
    try:
        loaded = load_track(track)
    except RacerError:
        return None
    return lap_time_bound_s(loaded)


def standings_rows(board: Sequence[Standing], bound_s: float | None = None) -> list[dict[str, Any]]:
    """Table rows for a board (shared by ``show`` and the HTML page).

    Args:
        board: the standings.
        bound_s: the track's lap-time bound (:func:`track_bound_s`), s; None when unknown.

    Returns:
        One dict per racer: rank, name, model, average_lap_s, vs_bound (the average over the
        bound, None without either), best_lap_s, completion, off_track_count, crash_count,
        reset_count, submissions, submitted_utc.
    """
    return [
        {
            "rank": s.rank,
            "name": s.entry.name,
            "model": s.entry.model,
            "average_lap_s": s.entry.average_lap_s,
            "vs_bound": _rounded(lap_ratio(s.entry.average_lap_s, bound_s)),
            "best_lap_s": s.entry.best_lap_s,
            "completion_percentage": s.entry.completion_percentage,
            "off_track_count": s.entry.off_track_count,
            "crash_count": s.entry.crash_count,
            "reset_count": s.entry.reset_count,
            "submissions": s.submissions,
            "submitted_utc": s.entry.submitted_utc,
        }
        for s in board
    ]


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
