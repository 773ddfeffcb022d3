"""The leaderboard's submissions: the official evaluation of a bundle (or a built-in driver),
sandboxed, recorded; and a folder of bundles in parallel.

Submissions are deploy bundles (:mod:`racer.car.bundle`): verified (sizes, checksums, metadata,
the ONNX graph's inputs and outputs) and self-tested on their golden inputs, then run with ONNX
Runtime; or DeepRacer model archives (:mod:`racer.car.deepracer`: ``model_metadata.json`` and a
TensorFlow ``model.pb``, bounded and checked, run with OpenVINO). Nothing submitted is ever
unpickled. With ``limits`` (always from the CLI) all of that
runs in a child process with a wall-clock and a memory limit (:mod:`racer.evaluate.sandbox`):
past either the child is killed and nothing is recorded; the row is the one an in-process
evaluation records. The built-in drivers (``expert:racing-line``,
``expert:centerline``: :data:`racer.evaluate.policies.EXPERTS`) can be submitted too, as
reference rows: evaluated under the same rules and recorded in the same row format, with the
driver's name as the model and no checksum (they read the car's true pose: not deployable).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from racer.car.bundle import METADATA, Bundle, is_archive
from racer.car.deepracer import DeepRacerModel, default_backend, is_deepracer_folder, load_model
from racer.errors import ConfigError, RacerError
from racer.evaluate.evaluator import lap_ratio
from racer.evaluate.leaderboard.ranking import board_of, is_expert
from racer.evaluate.leaderboard.store import (
    Entry,
    connect,
    default_db,
    geometry_sha256,
    record,
    track_geometry,
    validate_name,
)
from racer.evaluate.policies import BundlePolicy, bundle_label, expert_policy
from racer.evaluate.races import LEADERBOARD_LAPS, RaceConfig, RaceFormat
from racer.evaluate.sandbox import Limits, default_time_limit_s, run_limited

if TYPE_CHECKING:  # the simulator is imported only when something is evaluated
    from racer.evaluate.evaluator import EvaluationResult, TrialResult

MAX_LINE_POINTS = 400  # best-lap line stored per submission, downsampled to at most this


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
        bundle_sha256: the model's checksum (:func:`model_checksum`; empty for a built-in
            driver).

    Returns:
        The entry (not yet recorded), with the evaluated track's geometry and its hash
        (:func:`~racer.evaluate.leaderboard.store.track_geometry`), so its board and map never
        depend on the track file staying where it was.
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
        **_track_fields(result),
    )


def _track_fields(result: EvaluationResult) -> dict[str, Any]:
    """The evaluated track's geometry and hash for the entry (none when the result lacks it)."""
    if result.track_obj is None:
        return {}
    geometry = track_geometry(result.track_obj)
    return {"track_geometry": geometry, "track_sha256": geometry_sha256(geometry)}


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


def model_checksum(bundle: Bundle) -> str:
    """A submitted model's identity: sha256 of a bundle's ``metadata.json`` (which lists every
    file's sha256), or a DeepRacer model's
    :attr:`~racer.car.deepracer.DeepRacerModel.checksum` (its graph and
    ``model_metadata.json``)."""
    import hashlib

    if isinstance(bundle, DeepRacerModel):
        return bundle.checksum
    return hashlib.sha256((bundle.root / METADATA).read_bytes()).hexdigest()


def evaluate_bundle(
    bundle_path: str | Path, track: str, config: RaceConfig
) -> tuple[EvaluationResult, str, str]:
    """Verify, self-test and evaluate a bundle or a DeepRacer model (nothing recorded).

    Args:
        bundle_path: the bundle folder or ``.tar.gz``, or a DeepRacer model ``.tar.gz``.
        track: the track.
        config: the race settings.

    Returns:
        ``(result, model label, checksum)`` (:func:`model_checksum`).

    Raises:
        BundleError: the bundle is corrupt, tampered with, or does not fit the simulator.
    """
    from racer.evaluate.evaluator import Evaluator

    bundle = load_model(bundle_path)
    try:
        bundle.self_test(default_backend(bundle))
        digest = model_checksum(bundle)
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
        bundle_path: the bundle folder or ``.tar.gz``, or a DeepRacer model ``.tar.gz``.
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


def evaluate_submission(
    source: str | Path, track: str, config: RaceConfig
) -> tuple[EvaluationResult, str, str]:
    """Evaluate a bundle (:func:`evaluate_bundle`) or a built-in driver (nothing recorded).

    Args:
        source: the bundle folder or ``.tar.gz``, a DeepRacer model, or ``expert:racing-line`` /
            ``expert:centerline``.
        track: the track.
        config: the race settings.

    Returns:
        ``(result, model label, checksum)``; a built-in driver's label is its
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
        bundle_path: the bundle folder or ``.tar.gz``, a DeepRacer model ``.tar.gz`` (both
            sandboxed alike), or a built-in driver's name
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
    entry, bound_s = evaluate_entry(bundle_path, track, name, cfg, limits)
    return record_entry(db_path, entry, bound_s, t0, lock_timeout_s)


def evaluate_entry(
    bundle_path: str | Path,
    track: str,
    name: str,
    config: RaceConfig,
    limits: Limits | None = None,
) -> tuple[Entry, float | None]:
    """The evaluation half of :func:`submit`: the entry it would record (nothing is written).

    Args:
        bundle_path: as :func:`submit` takes it.
        track: the track.
        name: the racer's name (already validated).
        config: the race settings.
        limits: as :func:`submit` takes them.

    Returns:
        ``(entry, bound_s)``: the entry and the track's lap-time bound.
    """
    if limits is not None and not is_expert(bundle_path):
        return evaluate_limited(bundle_path, track, name, config, limits)
    result, label, digest = evaluate_submission(bundle_path, track, config)
    return entry_from_result(result, name, label, digest), result.bound_s


def record_entry(
    db: str | Path,
    entry: Entry,
    bound_s: float | None,
    t0: float,
    lock_timeout_s: float | None = None,
) -> SubmitOutcome:
    """The recording half of :func:`submit`: one row, then the racer's place on its board.

    Args:
        db: the SQLite file.
        entry: the evaluated entry (:func:`evaluate_entry`).
        bound_s: the track's lap-time bound.
        t0: ``time.perf_counter()`` when the submission started (for ``wall_s``).
        lock_timeout_s: the most seconds to wait for another process's lock on the database.

    Returns:
        The outcome.
    """
    db_path = Path(db)
    row_id = record(db_path, entry, lock_timeout_s)
    board = board_of(db_path, entry, lock_timeout_s)  # the board of this track's geometry
    place = next((s.rank for s in board if s.entry.name == entry.name), len(board))
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
    """Bundles in a folder: sub-folders holding ``metadata.json`` or a DeepRacer model, and
    ``.tar.gz`` files (bundles or DeepRacer models).

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
        if (p.is_dir() and ((p / METADATA).is_file() or is_deepracer_folder(p)))
        or (p.is_file() and is_archive(p))
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
    return run_outcome(p, out)


def run_outcome(path: Path, out: SubmitOutcome) -> RunOutcome:
    """The ``leaderboard run`` line of a recorded submission."""
    e = out.entry
    ratio = lap_ratio(e.average_lap_s, out.bound_s)
    figure = (
        f"average lap {e.average_lap_s:.3f} s" + ("" if ratio is None else f" ({ratio:.2f}x bound)")
        if e.average_lap_s is not None
        else f"{e.completion_percentage:.1f}% complete"
    )
    return RunOutcome(path, True, f"{figure}, rank {out.rank}/{out.board_size}", out.row_id)


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
