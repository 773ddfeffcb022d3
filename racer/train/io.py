"""Disk-full errors, atomic writes and stale temporary files of run folders and exports.

A crash never leaves a half-written checkpoint or CSV header: every file is written with
:mod:`racer.util.files` (a temporary beside it, ``.NAME.XXXXXXXX.tmp``, renamed over it; a full
disk becomes one :class:`DiskFullError` line naming the path), re-exported here for the training
code. A process killed mid-write leaves its temporary behind, which :func:`clean_stale_temps`
removes later (only racer's own pattern, only this user's, only once its writer is gone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from racer.util.files import (
    DISK_FULL_ERRNOS,
    DiskFullError,
    atomic_link,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    is_disk_full,
    temp_pattern,
    writing,
)

__all__ = [
    "DISK_FULL_ERRNOS",
    "OWNER_FILE",
    "STALE_TEMP_AGE_S",
    "DiskFullError",
    "atomic_link",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "clean_stale_temps",
    "is_disk_full",
    "mark_owner",
    "temp_pattern",
    "writing",
]

#: A temporary file or folder left by a killed writer is removed once it is this old (by the
#: newest modification inside it): a live export writes well within it.
STALE_TEMP_AGE_S = 300.0
#: File inside a temporary folder naming the process that owns it (``host pid``).
OWNER_FILE = ".racer-owner"


def mark_owner(folder: Path) -> None:
    """Record this process as the owner of a temporary folder (see :func:`clean_stale_temps`)."""
    (folder / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")


def _owner_alive(folder: Path) -> bool:
    """Whether the process recorded in ``folder``'s owner file still runs on this host."""
    try:
        host, pid = (folder / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return True  # another machine's (a shared folder): leave it to the age alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for entry in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(root, entry)).st_mtime)
    return newest


def clean_stale_temps(
    folder: Path,
    name: str | None = None,
    min_age_s: float = STALE_TEMP_AGE_S,
    keep: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """Remove temporaries a killed racer process left in ``folder``.

    Only entries whose name is exactly racer's pattern (``.NAME.XXXXXXXX.tmp``), owned by this
    user, untouched for ``min_age_s`` and whose recorded owner process (if any) is gone.

    Args:
        folder: where to look (not recursive).
        name: the final file's name the temporaries belong to; None = any name.
        min_age_s: minimum age of the newest modification inside an entry.
        keep: called on each stale entry first; return True to leave it alone (the caller
            salvaged something from it, or wants it kept).

    Returns:
        The removed paths.
    """
    pattern = temp_pattern(name)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    now = time.time()
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            st = entry.lstat()
            if uid is not None and st.st_uid != uid:
                continue
            if now - _newest_mtime(entry) < min_age_s:
                continue
        except OSError:
            continue
        if entry.is_dir() and not entry.is_symlink() and _owner_alive(entry):
            continue
        if keep is not None and keep(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        if not entry.exists() and not entry.is_symlink():
            removed.append(entry)
    return removed
