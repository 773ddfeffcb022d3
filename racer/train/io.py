"""Atomic file writes, disk-full errors and stale temporary files.

A crash never leaves a half-written checkpoint or CSV header: every file is written to a
temporary name beside it (``.NAME.XXXXXXXX.tmp``) and renamed over it. A full disk while writing
becomes one :class:`DiskFullError` line naming the path; a process killed mid-write leaves its
temporary behind, which :func:`clean_stale_temps` removes later (only racer's own pattern, only
this user's, only once its writer is gone).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from racer.errors import RacerError

#: errno values that mean "the disk (or this user's quota) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: ``tempfile.mkstemp`` / ``mkdtemp`` random part: 8 characters of this alphabet.
_TEMP_RANDOM = r"[a-z0-9_]{8}"
#: A temporary file or folder left by a killed writer is removed once it is this old (by the
#: newest modification inside it): a live export writes well within it.
STALE_TEMP_AGE_S = 300.0
#: File inside a temporary folder naming the process that owns it (``host pid``).
OWNER_FILE = ".racer-owner"


class DiskFullError(RacerError):
    """The disk (or the user's quota) filled up while racer was writing ``path``."""

    def __init__(self, path: Path | str, detail: str = "") -> None:
        self.path = Path(path)
        message = f"{path}: no space left on device"
        super().__init__(message + (f"; {detail}" if detail else ""))


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the disk is full.

    Libraries that write through C++ (ONNX, OpenVINO, torch) wrap the OS error in their own
    exception types, so their message is consulted too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        if "no space left on device" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into a one-line :class:`DiskFullError`."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFullError(path) from None
        raise


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename over ``path``.

    Raises:
        DiskFullError: the disk filled up; ``path`` is unchanged and the temporary is removed.
    """
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text)

    atomic_write(path, write)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def atomic_link(src: Path, dest: Path) -> None:
    """Make ``dest`` a hard link to ``src`` (a copy where links are impossible), atomically."""
    with writing(dest):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            tmp.unlink()
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            if tmp.exists() or tmp.is_symlink():
                tmp.unlink()


def temp_pattern(name: str | None = None) -> re.Pattern[str]:
    """The exact name of racer's temporaries for ``name`` (any name when None)."""
    stem = re.escape(name) if name is not None else r".+"
    return re.compile(rf"\.{stem}\.{_TEMP_RANDOM}\.tmp")


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
