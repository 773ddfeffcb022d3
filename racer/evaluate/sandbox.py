"""Run untrusted work in a child process with a wall-clock limit and a memory limit.

A leaderboard submission is somebody else's model: an ONNX graph can loop for ever (a ``Loop``
with a trip count of 10^15) or allocate without bound, and nothing in the model's file says so
before it runs. :func:`run_limited` runs one function (by its ``module:function`` name) in a
fresh ``spawn`` child process:

- the child caps its own address space first (``resource.setrlimit(RLIMIT_AS, ...)``), so an
  allocation past the memory limit fails inside the child (MemoryError, or the engine's
  allocation error) instead of exhausting the host;
- the parent waits at most the wall-clock limit, then kills the child (SIGKILL);
- arguments and the result cross the process boundary as JSON (never pickle: the parent reads
  nothing from the child that could run code), bounded in size;
- the child's temporary files live in a scratch folder the parent removes in every case
  (``racer-bundle-<pid>-*``, which :func:`racer.car.bundle.clean_stale_temp` also removes
  when the parent itself was killed).

Any failure (time, memory, crash, a :class:`racer.errors.RacerError` in the child) comes back as
one :class:`SandboxError` line; the caller records nothing.

This module imports only the standard library at the top, so the child can apply its limits
before numpy, the simulator or an inference engine is loaded.
"""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from racer.errors import RacerError

DEFAULT_MEMORY_BYTES = 4 * 2**30  # a camera policy's evaluation peaks well under 1 GiB
MIN_MEMORY_BYTES = 512 * 2**20  # below this the interpreter, numpy and the simulator do not load
STARTUP_MARGIN_S = 120.0  # on top of the race's simulated time: imports, track, self-test
MAX_RESULT_BYTES = 64 * 2**20  # the JSON result a child may send back
POLL_S = 0.2  # how often the parent checks on the child, s
KILL_WAIT_S = 5.0  # how long a killed child may take to go, s
#: Set in the child's environment: one thread per numeric library (the evaluation is
#: single-threaded by design) and few malloc arenas, so the address-space limit measures
#: memory actually used rather than per-thread reservations.
CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}
SCRATCH_PREFIX = "racer-bundle-"  # same pattern as racer.car.bundle.TEMP_PREFIX (stale cleanup)
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_ENV_LOCK = threading.Lock()


class SandboxError(RacerError):
    """Untrusted work ran past a limit, crashed, or failed in its child process."""


@dataclass(frozen=True)
class Limits:
    """Limits for one untrusted evaluation.

    Attributes:
        time_s: wall-clock limit, seconds, covering start-up, self-test and evaluation; None:
            the caller derives one (:func:`default_time_limit_s`).
        memory_bytes: address-space limit of the child process, bytes.
    """

    time_s: float | None = None
    memory_bytes: int = DEFAULT_MEMORY_BYTES

    def __post_init__(self) -> None:
        if self.time_s is not None and not (math.isfinite(self.time_s) and self.time_s > 0):
            raise SandboxError(
                f"the time limit must be a positive number of seconds, got {self.time_s}"
            )
        if isinstance(self.memory_bytes, bool) or self.memory_bytes < MIN_MEMORY_BYTES:
            raise SandboxError(
                f"the memory limit must be at least {format_bytes(MIN_MEMORY_BYTES)}, got "
                f"{format_bytes(self.memory_bytes)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"time_s": self.time_s, "memory_bytes": self.memory_bytes}


def default_time_limit_s(trials: int, laps: int, time_limit_per_lap_s: float) -> float:
    """The wall-clock limit of an evaluation: its simulated time limit plus a start-up margin.

    The simulated trial ends at ``laps x time_limit_per_lap_s``; a policy that runs at least in
    real time (the car itself needs one inference per 66 ms) finishes within that in wall time,
    and the simulator's own cost is far below real time (>= 200x).

    Args:
        trials: trials of the evaluation.
        laps: laps per trial.
        time_limit_per_lap_s: simulated seconds per lap before ``time_up``.

    Returns:
        Seconds.
    """
    return float(trials) * float(laps) * float(time_limit_per_lap_s) + STARTUP_MARGIN_S


def parse_memory(text: str) -> int:
    """A memory size from the command line: ``4G``, ``512M``, ``1.5GiB`` or plain bytes.

    Suffixes are binary (K = 1024).

    Raises:
        SandboxError: not a size.
    """
    m = _SIZE.match(str(text))
    if m is None:
        raise SandboxError(f"memory limit {text!r} is not a size; use for example 4G or 512M")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def format_bytes(n: float) -> str:
    """``4.0 GiB``, ``512 MiB`` or ``100 B``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            value = n / size
            return (
                f"{value:.1f} {unit}"
                if value < 10 and value != int(value)
                else f"{value:.0f} {unit}"
            )
    return f"{n:.0f} B"


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(
        k in text for k in ("bad_alloc", "bad allocation", "failed to allocate", "out of memory")
    )


def _child(conn: Any, target: str, args_json: str, memory_bytes: int, scratch: str) -> None:
    """The child process: apply the memory limit, run ``target(**args)``, send JSON back."""
    payload: dict[str, Any]
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if os.environ.get("RACER_DEBUG") != "1":  # engines log multi-line errors on fd 2:
            quiet = os.open(os.devnull, os.O_WRONLY)  # the result carries the one line
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            os.close(quiet)
        tempfile.tempdir = scratch
        module, _, name = target.partition(":")
        func = getattr(importlib.import_module(module), name)
        payload = {"ok": func(**json.loads(args_json))}
    except RacerError as exc:
        kind = "memory" if _is_memory_error(exc) else "racer"
        payload = {"error": kind, "type": type(exc).__name__, "message": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - everything must come back as one line
        kind = "memory" if _is_memory_error(exc) else "crash"
        payload = {"error": kind, "message": f"{type(exc).__name__}: {_first_line(exc)}"}
    try:
        data = json.dumps(payload, default=_json_default).encode("utf-8")
    except (TypeError, ValueError, MemoryError) as exc:
        data = json.dumps({"error": "crash", "message": f"unsendable result ({exc})"}).encode()
    try:
        conn.send_bytes(data)
    finally:
        conn.close()


def run_limited(
    target: str,
    args: Mapping[str, Any],
    *,
    time_limit_s: float,
    memory_bytes: int,
    label: str,
) -> Any:
    """Run ``target(**args)`` in a ``spawn`` child process within the limits; return its result.

    Args:
        target: ``"package.module:function"``; the function takes JSON-able keyword arguments
            and returns a JSON-able value.
        args: the keyword arguments.
        time_limit_s: wall-clock limit, seconds (start-up included).
        memory_bytes: the child's address-space limit, bytes.
        label: what runs, for messages (``bundle alpha.tar.gz``).

    Returns:
        The function's return value, through JSON.

    Raises:
        RacerError: the child's own one-line error (the same class when it is a known
            ``racer.errors`` class, else :class:`SandboxError`).
        SandboxError: the time or memory limit was reached, or the child died.
    """
    ctx = multiprocessing.get_context("spawn")
    scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child,
        args=(send, target, json.dumps(dict(args)), int(memory_bytes), scratch),
        name="racer-sandbox",
        daemon=True,
    )
    data: bytes | None = None
    try:
        with _ENV_LOCK:  # the spawned interpreter reads these at start-up
            saved = {k: os.environ.get(k) for k in CHILD_ENV}
            os.environ.update(CHILD_ENV)
            try:
                proc.start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        send.close()
        deadline = time.monotonic() + time_limit_s
        while data is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(
                    f"{label}: the evaluation took longer than the {time_limit_s:g} s time limit "
                    "(--time-limit); stopped it, nothing recorded"
                )
            if recv.poll(min(POLL_S, left)):
                try:
                    data = recv.recv_bytes(MAX_RESULT_BYTES)
                except (EOFError, OSError):
                    break  # the child closed the pipe without a result: it died
            elif not proc.is_alive() and not recv.poll(0):
                break
        if data is None:
            proc.join(KILL_WAIT_S)
            raise SandboxError(
                f"{label}: the evaluation process died ({_exit_reason(proc.exitcode)}); nothing recorded"
            )
        proc.join(KILL_WAIT_S)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(KILL_WAIT_S)
        recv.close()
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SandboxError(f"{label}: the evaluation process sent an unreadable result") from None
    if not isinstance(payload, dict):
        raise SandboxError(f"{label}: the evaluation process sent an unreadable result")
    if "ok" in payload:
        return payload["ok"]
    message = str(payload.get("message", ""))
    if payload.get("error") == "racer":
        raise _racer_error(str(payload.get("type", "")), message)
    if payload.get("error") == "memory":
        raise SandboxError(
            f"{label}: the evaluation ran out of its {format_bytes(memory_bytes)} memory limit "
            f"(--memory-limit): {message}; nothing recorded"
        )
    raise SandboxError(f"{label}: the evaluation failed ({message}); nothing recorded")


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _racer_error(type_name: str, message: str) -> RacerError:
    """The child's RacerError with its own line, as the same ``racer.errors`` class when known."""
    import racer.errors

    cls = getattr(racer.errors, type_name, None) if type_name.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, RacerError):
        return cls(message)
    return SandboxError(message)
