"""The console's worker: runs one job's racer command and records how it ended.

``python -m racer.ui.worker JOB.json`` is what :func:`racer.ui.jobs.start_job` starts, in a
session of its own (so closing the browser, or stopping the server with Ctrl-C, leaves it
running). It runs the job's command (``python -m racer.cli.main ...``: the same code as the
CLI), its output into the job's log, and writes ``<job>.exit.json`` (the exit status) when it
ends. A stop from the console is SIGINT to the whole process group: the command handles it as
it handles Ctrl-C (``racer train`` saves a checkpoint and exits 130); the worker itself only
waits for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from racer.util.files import atomic_write_json


def exit_path(job_file: Path) -> Path:
    """The file the worker writes when its command ends."""
    return job_file.with_name(job_file.name.removesuffix(".json") + ".exit.json")


def run_job(job_file: Path) -> int:
    """Run the command of ``job_file`` to its end; its exit status.

    Args:
        job_file: the job's JSON (``argv``, ``cwd``, ``log``).
    """
    job: dict[str, Any] = json.loads(job_file.read_text(encoding="utf-8"))
    stop: list[int] = []

    def note(signum: int, _frame: Any) -> None:  # the command gets the same signal
        stop.append(signum)

    # handlers (not SIG_IGN) so that the command starts with the default dispositions
    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RACER_UI_JOB": job["id"]}
    with open(job["log"], "ab", buffering=0) as log:
        try:
            proc = subprocess.Popen(
                job["argv"],
                cwd=job["cwd"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            log.write(f"racer: error: cannot start {job['argv'][0]}: {exc}\n".encode())
            rc = 127
        else:
            while True:
                try:
                    rc = proc.wait()
                    break
                except InterruptedError:  # pragma: no cover - PEP 475 retries wait()
                    continue
    atomic_write_json(
        exit_path(job_file),
        {"rc": rc, "ended": time.time(), "signals": [int(s) for s in stop]},
    )
    return rc


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m racer.ui.worker JOB.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m racer.ui.worker JOB.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(0 if run_job(Path(args[0])) == 0 else 1)


if __name__ == "__main__":
    main()
