"""``racer leaderboard run --ray``: each bundle's official evaluation as a Ray task, one writer.

The evaluation half of a submission (:func:`racer.evaluate.leaderboard.evaluate_entry`: verify,
self-test, evaluate, in the sandbox when limits are given) runs on the cluster; the recording
half (:func:`racer.evaluate.leaderboard.record_entry`) runs only here, in the driver, once per
completed evaluation, so the rows are the local path's rows and a worker that dies mid-evaluation
leaves nothing behind: Ray runs its task again (``max_retries``), and a bundle whose every try
died is reported and not recorded.

Bundles travel with their task (a folder as an in-memory tar of its regular files, an archive as
its bytes) and are unpacked under the same name in the worker's scratch folder, so a cluster
needs no shared folder for them and a bundle's label and checksum are what they are locally. The
track is named as locally: a built-in track, or a file at the same path on every node.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, RacerError
from racer.evaluate.leaderboard import (
    RunOutcome,
    connect,
    default_db,
    evaluate_entry,
    find_bundles,
    official_config,
    record_entry,
    run_outcome,
)
from racer.evaluate.policies import bundle_label
from racer.evaluate.races import RaceConfig
from racer.evaluate.sandbox import Limits

#: tries of a bundle whose worker died (Ray's ``max_retries``: retries after the first try)
DEFAULT_RETRIES = 3
#: the most bytes of one bundle sent to a worker (the bundle loader allows 200 MB unpacked)
MAX_SHIP_BYTES = 256 * 1024 * 1024
SCRATCH_PREFIX = "racer-ray-bundle-"


def pack_for_worker(path: Path) -> bytes:
    """A bundle as bytes for its task: an archive's own bytes, or a folder's regular files as an
    uncompressed tar under the folder's name (links and other special files are left out; the
    bundle's checksums then fail as they would locally).

    Raises:
        ConfigError: the bundle is larger than :data:`MAX_SHIP_BYTES`.
    """
    if path.is_file():
        size = path.stat().st_size
        if size > MAX_SHIP_BYTES:
            raise ConfigError(f"{path.name}: {size:,} bytes is too large to send to a worker")
        return path.read_bytes()
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for item in sorted(path.rglob("*")):
            if item.is_symlink() or not (item.is_file() or item.is_dir()):
                continue
            if item.is_file():
                total += item.stat().st_size
                if total > MAX_SHIP_BYTES:
                    raise ConfigError(f"{path.name}: too large to send to a worker")
            tar.add(item, arcname=str(Path(path.name) / item.relative_to(path)), recursive=False)
    return buf.getvalue()


def unpack_in_worker(name: str, data: bytes, is_folder: bool, scratch: Path) -> Path:
    """The bundle of :func:`pack_for_worker` back on disk as ``scratch/name``."""
    target = scratch / name
    if not is_folder:
        target.write_bytes(data)
        return target
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(scratch, filter="data")
    if not target.is_dir():
        raise RacerError(f"{name}: the bundle sent to the worker is empty")
    return target


def evaluate_task(
    name: str,
    data: bytes,
    is_folder: bool,
    track: str,
    config: dict[str, Any],
    limits: dict[str, Any] | None,
) -> dict[str, Any]:
    """Ray task: the official evaluation of one bundle, nothing recorded.

    Returns:
        ``{"entry": Entry, "bound_s": ...}``, or ``{"error": message}`` for the bundle's own
        failure (a bad bundle, a limit reached): the local path's outcomes as data. A worker that
        dies raises in the driver instead, and Ray retries the task.
    """
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        path = unpack_in_worker(name, data, is_folder, scratch)
        entry, bound_s = evaluate_entry(
            path,
            track,
            bundle_label(name),
            RaceConfig(**config),
            None if limits is None else Limits(**limits),
        )
    except RacerError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a broken bundle must not stop the others (as locally)
        return {"error": f"unexpected {type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"entry": entry, "bound_s": bound_s}


def run_directory_ray(
    folder: str | Path,
    track: str,
    address: str = "local",
    db: str | Path | None = None,
    config: RaceConfig | None = None,
    progress: bool = True,
    limits: Limits | None = None,
    lock_timeout_s: float | None = None,
    max_retries: int = DEFAULT_RETRIES,
    cpus_per_task: float = 1.0,
    on_submitted: Callable[[list[Any]], None] | None = None,
) -> list[RunOutcome]:
    """Evaluate every bundle of a folder as Ray tasks and record them here, one writer.

    The same bundles, names, rows and outcome lines as
    :func:`racer.evaluate.leaderboard.run_directory`.

    Args:
        folder: the folder of bundles.
        track: the track (built-in, or a file at the same path on every node).
        address: ``local``, ``auto`` or ``HOST:PORT`` (:func:`racer.distributed.cluster.connect`).
        db: the SQLite file (default: :func:`racer.evaluate.leaderboard.default_db`).
        config: the race settings (default: the official evaluation).
        progress: show a tqdm progress bar.
        limits: evaluate each bundle in a sandboxed child of its worker within these limits.
        lock_timeout_s: the most seconds to wait for another process's lock on the database.
        max_retries: tries again of a bundle whose worker died.
        cpus_per_task: CPUs Ray reserves for each evaluation.
        on_submitted: called with the task references once all are submitted (tests, benchmarks).

    Returns:
        One outcome per bundle, in name order.
    """
    from racer.distributed.cluster import connect as connect_ray

    bundles = find_bundles(folder)
    db_path = Path(db) if db is not None else default_db()
    cfg = (config or official_config()).to_dict()
    connect(db_path, lock_timeout_s).close()  # create the file and schema once, up front
    limits_data = None if limits is None else limits.to_dict()
    ray = connect_ray(address)
    task = ray.remote(evaluate_task).options(
        num_cpus=cpus_per_task, max_retries=max_retries, retry_exceptions=False
    )
    results: dict[Path, RunOutcome] = {}
    pending: dict[Any, tuple[Path, float]] = {}
    for p in bundles:
        try:
            data = pack_for_worker(p)
        except (OSError, RacerError) as exc:
            results[p] = RunOutcome(p, False, str(exc))
            continue
        ref = task.remote(p.name, data, p.is_dir(), track, cfg, limits_data)
        pending[ref] = (p, time.perf_counter())
    if on_submitted is not None:
        on_submitted(list(pending))
    from tqdm import tqdm

    bar = tqdm(total=len(bundles), desc="evaluating", unit="bundle", disable=not progress)
    bar.update(len(results))
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            p, t0 = pending.pop(ref)
            results[p] = _outcome(ray, ref, p, t0, db_path, lock_timeout_s)
            bar.set_postfix_str(bundle_label(p), refresh=False)
            bar.update(1)
    finally:
        bar.close()
        for ref in pending:  # interrupted: stop the evaluations still running
            ray.cancel(ref, force=True)
    return [results[p] for p in bundles]


def _outcome(
    ray: Any, ref: Any, path: Path, t0: float, db: Path, lock_timeout_s: float | None
) -> RunOutcome:
    """Record one finished task (the single writer), or report why it has no row."""
    try:
        data = ray.get(ref)
    except ray.exceptions.RayError as exc:  # every try's worker died, or the task was cancelled
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        return RunOutcome(path, False, f"worker failed: {type(exc).__name__}: {detail}")
    if "error" in data:
        return RunOutcome(path, False, str(data["error"]))
    try:
        out = record_entry(db, data["entry"], data["bound_s"], t0, lock_timeout_s)
    except RacerError as exc:
        return RunOutcome(path, False, str(exc))
    return run_outcome(path, out)
