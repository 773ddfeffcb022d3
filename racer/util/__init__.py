"""racer.util: small helpers every stage shares, at the bottom of the house.

:mod:`racer.util.files` writes files atomically (a temporary beside the target, renamed over it;
a full disk becomes one :class:`~racer.util.files.DiskFullError` line) and
:mod:`racer.util.images` converts RGB to gray and writes PNGs, in pure numpy.

Dependencies: the standard library, numpy and :mod:`racer.errors`, nothing else, so every stage
(the track library and the onboard car runtime included) may import it.
"""

from racer.util.files import (
    DiskFullError,
    atomic_link,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    is_disk_full,
    writing,
)
from racer.util.images import GRAY_WEIGHTS, to_gray, write_png

__all__ = [
    "GRAY_WEIGHTS",
    "DiskFullError",
    "atomic_link",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "is_disk_full",
    "to_gray",
    "write_png",
    "writing",
]
