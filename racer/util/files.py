"""Atomic file writes and the one-line disk-full error.

A crash never leaves a half-written file: every write goes to a temporary beside the target
(``.NAME.XXXXXXXX.tmp``, the same folder so the rename stays on one file system), is flushed to
disk and renamed over the target with :func:`os.replace`. Readers see the old file or the new
one, never a mixture; when the writer fails the old file is untouched and the temporary is
removed. A process killed mid-write leaves its temporary behind; :func:`temp_pattern` names it
exactly, so a later run can clean it up (``racer.train.io.clean_stale_temps``).

A full disk (or quota) while writing becomes one :class:`DiskFullError` line naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union

from racer.errors import RacerError

#: errno values that mean "the disk (or this user's quota) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: ``tempfile.mkstemp`` / ``mkdtemp`` random part: 8 characters of this alphabet.
_TEMP_RANDOM = r"[a-z0-9_]{8}"

#: A path argument. ``Union``: a module-level alias is evaluated at import, and ``X | Y`` of types
#: needs Python 3.10 (this module runs on the car, Python >= 3.9).
PathLike = Union[str, "os.PathLike[str]"]


class DiskFullError(RacerError):
    """The disk (or the user's quota) filled up while racer was writing ``path``."""

    def __init__(self, path: PathLike, detail: str = "") -> None:
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
def writing(path: PathLike) -> Iterator[None]:
    """Turn a full disk while writing ``path`` into a one-line :class:`DiskFullError`."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFullError(path) from None
        raise


def temp_pattern(name: str | None = None) -> re.Pattern[str]:
    """The exact name of the temporaries :func:`atomic_write` makes for ``name`` (any when None)."""
    stem = re.escape(name) if name is not None else r".+"
    return re.compile(rf"\.{stem}\.{_TEMP_RANDOM}\.tmp")


def _temp_beside(path: Path) -> Path:
    """A new empty file ``.NAME.XXXXXXXX.tmp`` in ``path``'s folder (mode 0600, by mkstemp)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def atomic_write(
    path: PathLike,
    write: Callable[[Path], None],
    *,
    mode: int | None = None,
    fsync: bool = True,
) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename over ``path``.

    The folder is created when missing. ``write`` gets the temporary's path (an existing, empty
    file) and may open it in any mode or hand it to a library.

    Args:
        path: the file to write.
        write: fills the temporary.
        mode: permission bits for the result (for example ``0o644`` for a file to share);
            None keeps the temporary's private ``0o600``.
        fsync: flush the data to disk before the rename; False for caches that can be rebuilt.

    Raises:
        DiskFullError: the disk filled up; ``path`` is unchanged and the temporary is removed.
    """
    target = Path(path)
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(target)
        try:
            write(tmp)
            if fsync:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()


def atomic_write_bytes(
    path: PathLike, data: bytes, *, mode: int | None = None, fsync: bool = True
) -> None:
    """Write bytes atomically (see :func:`atomic_write` for ``mode`` and ``fsync``)."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, write, mode=mode, fsync=fsync)


def atomic_write_text(
    path: PathLike, text: str, *, mode: int | None = None, fsync: bool = True
) -> None:
    """Write UTF-8 text atomically (see :func:`atomic_write` for ``mode`` and ``fsync``)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, fsync=fsync)


def atomic_write_json(
    path: PathLike, data: Any, *, sort_keys: bool = True, mode: int | None = None
) -> None:
    """Write JSON atomically: 2-space indent, a final newline, keys sorted unless told not to."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n", mode=mode)


def atomic_link(src: PathLike, dest: PathLike) -> None:
    """Make ``dest`` a hard link to ``src`` (a copy where links are impossible), atomically.

    Raises:
        DiskFullError: the disk filled up while copying; ``dest`` is unchanged.
    """
    target = Path(dest)
    with writing(target):
        tmp = _temp_beside(target)
        try:
            tmp.unlink()
            try:
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, target)
        finally:
            if tmp.exists() or tmp.is_symlink():
                tmp.unlink()
