"""Detached jobs: racer commands the console starts, which outlive the browser and the server.

Each job is ``.racer-ui/jobs/<id>.json`` (what runs: ``argv``, the run it belongs to, the
worker's pid), ``<id>.log`` (the command's output) and, once it ended, ``<id>.exit.json`` (its
exit status, written by :mod:`racer.ui.worker`). The job's command is racer's own CLI
(``python -m racer.cli.main train ...``), so the console trains, evaluates, exports and submits
with exactly the code ``racer`` runs. A stop is SIGINT to the job's process group (Ctrl-C: the
trainer saves a checkpoint); a second stop is SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racer.errors import ConfigError
from racer.ui.worker import exit_path
from racer.util.files import atomic_write_json

INTERRUPTED = 130  # racer train's exit status after Ctrl-C (racer.cli.train.INTERRUPTED_EXIT)
LOG_TAIL_BYTES = 16_384  # the end of a log the console shows
ERROR_PREFIX = "racer: error: "


@dataclass
class Job:
    """A job as the console reports it.

    Attributes:
        id: the job's id (its file names).
        kind: ``train``, ``evaluate``, ``export`` or ``submit``.
        run: the run it belongs to, or None.
        argv: the command.
        pid: the worker's pid (also its process group).
        started: start time, seconds since the epoch.
        state: ``running``, ``stopping``, ``done``, ``stopped``, ``failed`` or ``lost`` (the
            worker is gone without a word: killed with the machine).
        rc: the command's exit status once it ended.
        error: the command's one-line error (``racer: error: ...`` without the prefix), or "".
        extra: what the starter recorded (an evaluation's output folder, ...).
    """

    id: str
    kind: str
    run: str | None
    argv: list[str]
    pid: int
    started: float
    state: str
    rc: int | None
    error: str
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The job for the JSON API (without the command line's interpreter path)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "run": self.run,
            "command": " ".join(["racer", *self.argv[3:]]),
            "started": self.started,
            "state": self.state,
            "rc": self.rc,
            "error": self.error,
            "extra": self.extra,
        }


class JobStore:
    """The jobs of one workspace (``folder``: ``.racer-ui/jobs``).

    Args:
        folder: where the job files live.
        cwd: the folder the commands run in (the workspace root).
    """

    def __init__(self, folder: Path, cwd: Path) -> None:
        self.folder = folder
        self.cwd = cwd
        self._children: list[subprocess.Popen[bytes]] = []
        folder.mkdir(parents=True, exist_ok=True)

    def start(self, kind: str, args: list[str], run: str | None = None, **extra: Any) -> Job:
        """Start ``racer ARGS...`` as a detached job.

        Args:
            kind: what it is (``train``, ``evaluate``, ``export``, ``submit``).
            args: the racer command's arguments (``["train", "--resume", "runs/x"]``).
            run: the run it belongs to.
            **extra: recorded with the job (JSON values).
        """
        job_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        job_file = self.folder / f"{job_id}.json"
        record: dict[str, Any] = {
            "id": job_id,
            "kind": kind,
            "run": run,
            "argv": [sys.executable, "-m", "racer.cli.main", *args],
            "cwd": str(self.cwd),
            "log": str(self.folder / f"{job_id}.log"),
            "started": time.time(),
            "extra": extra,
            "pid": None,
        }
        atomic_write_json(job_file, record)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "racer.ui.worker", str(job_file)],
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: the server's Ctrl-C spares it
            )
        except OSError as exc:
            job_file.unlink(missing_ok=True)
            raise ConfigError(f"cannot start the {kind} job ({exc.strerror or exc})") from None
        record["pid"] = proc.pid
        atomic_write_json(job_file, record)
        self._children.append(proc)  # reaped by poll() below: no zombies while the server runs
        return self._job(record)

    def _reap(self) -> None:
        for proc in list(self._children):
            if proc.poll() is not None:
                self._children.remove(proc)

    def get(self, job_id: str) -> Job | None:
        """The job called ``job_id``, or None."""
        if not job_id.replace("-", "").isalnum():
            return None
        path = self.folder / f"{job_id}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return self._job(record)

    def all(self) -> list[Job]:
        """Every job, newest first."""
        self._reap()
        jobs = []
        for path in sorted(self.folder.glob("*.json"), reverse=True):
            if path.name.endswith(".exit.json"):
                continue
            try:
                jobs.append(self._job(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError):
                continue
        return jobs

    def for_run(self, run: str) -> list[Job]:
        """The jobs of run ``run``, newest first."""
        return [j for j in self.all() if j.run == run]

    def active(self, run: str, kind: str | None = None) -> Job | None:
        """The running job of ``run`` (of ``kind``), if any."""
        for job in self.for_run(run):
            if job.state in ("running", "stopping") and (kind is None or job.kind == kind):
                return job
        return None

    def log_tail(self, job_id: str, size: int = LOG_TAIL_BYTES) -> str:
        """The end of a job's log."""
        path = self.folder / f"{job_id}.log"
        try:
            with open(path, "rb") as fh:
                end = fh.seek(0, 2)
                fh.seek(max(0, end - size))
                data = fh.read()
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace")

    def stop(self, job: Job) -> Job:
        """Ask ``job`` to stop: SIGINT to its process group (Ctrl-C), SIGTERM the second time."""
        self._reap()
        if job.state not in ("running", "stopping"):
            return job
        sig = signal.SIGTERM if job.state == "stopping" else signal.SIGINT
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, sig)
        path = self.folder / f"{job.id}.json"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["stop_requested"] = time.time()
        atomic_write_json(path, record)
        return self._job(record)

    def _job(self, record: dict[str, Any]) -> Job:
        job_file = self.folder / f"{record['id']}.json"
        rc: int | None = None
        try:
            rc = int(json.loads(exit_path(job_file).read_text(encoding="utf-8"))["rc"])
        except (OSError, ValueError, KeyError, TypeError):
            rc = None
        error = ""
        if rc is not None:
            if rc == 0:
                state = "done"
            elif rc == INTERRUPTED or (record.get("stop_requested") and rc in (-2, -15, 1)):
                state = "stopped"
            else:
                state = "failed"
            if state == "failed":
                error = _error_line(self.log_tail(record["id"]))
        elif _alive(record.get("pid"), record["id"]):
            state = "stopping" if record.get("stop_requested") else "running"
        else:
            state = "lost"
        return Job(
            id=record["id"],
            kind=record["kind"],
            run=record.get("run"),
            argv=list(record["argv"]),
            pid=int(record.get("pid") or 0),
            started=float(record["started"]),
            state=state,
            rc=rc,
            error=error,
            extra=dict(record.get("extra") or {}),
        )


def _error_line(log: str) -> str:
    """The command's one-line error from its log, without racer's prefix ("" when none)."""
    for line in reversed(log.splitlines()):
        if line.startswith(ERROR_PREFIX):
            return line[len(ERROR_PREFIX) :].strip()
    for line in reversed(log.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def _alive(pid: Any, job_id: str) -> bool:
    """Whether the worker of ``job_id`` is still running (a reused pid does not count)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc (macOS): trust the pid
    if job_id.encode() not in cmdline:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except (OSError, IndexError):
        return True
