"""Silence PyBullet's C-level chatter ("pybullet build time", "argv[0]=") on stdout/stderr.

PyBullet prints from C on import and on every connect, straight to file descriptors 1 and 2, so
a CLI's JSON output (``racer drive --actuator stdout``) or a progress bar would be interleaved with
it. :func:`quiet_fds` points both descriptors at /dev/null for the duration of a block.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """Redirect OS-level stdout and stderr to /dev/null inside the block."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real descriptors (embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


with quiet_fds():
    import pybullet  # noqa: F401  (imported once here, silently)
