"""Images in pure numpy: RGB to gray and PNG encoding (no imaging library).

The simulator paints its floor texture and renders its camera with :func:`to_gray`, and the car's
preprocessing converts a real camera's RGB frame with the same function, so a colour becomes the
same gray level on both sides.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

GRAY_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, R, G, B
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour type -> samples per pixel (gray, RGB, gray + alpha, RGBA).
PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_PNG_COLOR_TYPE = {1: 0, 3: 2, 2: 4, 4: 6}  # samples per pixel -> PNG colour type


def to_gray(rgb: np.ndarray, weights: Sequence[float] = GRAY_WEIGHTS) -> np.ndarray:
    """Convert colours to gray levels: ``clip(rint(R*wr + G*wg + B*wb), 0, 255)`` as uint8.

    The sum is computed in float64, left to right; ``rint`` rounds half to even. One channel at
    a time, so a large image costs two float64 planes, not a float64 copy of every channel.

    Args:
        rgb: ``(..., 3)`` or ``(..., 4)`` array whose last axis holds R, G, B (an alpha channel is
            ignored), values 0-255; any leading shape (an image, a list of pixels, one colour).
        weights: the R, G, B weights.

    Returns:
        ``rgb.shape[:-1]`` uint8.
    """
    if rgb.ndim < 1 or rgb.shape[-1] not in (3, 4):
        raise ValueError(f"expected colours on the last axis (..., 3|4), got shape {rgb.shape}")
    wr, wg, wb = (float(v) for v in weights)
    gray = np.array(rgb[..., 0], dtype=np.float64)  # a fresh array, 0-d for one colour
    gray *= wr
    gray += rgb[..., 1].astype(np.float64) * wg
    gray += rgb[..., 2].astype(np.float64) * wb
    np.rint(gray, out=gray)
    np.clip(gray, 0.0, 255.0, out=gray)
    return gray.astype(np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def encode_png(image: np.ndarray, compress_level: int = 6) -> bytes:
    """Encode an image as an 8-bit, non-interlaced PNG (filter type 0 on every row).

    Args:
        image: ``(H, W)`` gray, ``(H, W, 2)`` gray + alpha, ``(H, W, 3)`` RGB or ``(H, W, 4)``
            RGBA, values 0-255 (converted to uint8).
        compress_level: zlib level, 0-9 (1 is fast, for large throw-away files).

    Returns:
        The file's bytes.
    """
    img = np.ascontiguousarray(image, dtype=np.uint8)
    samples = 1 if img.ndim == 2 else (img.shape[2] if img.ndim == 3 else 0)
    if samples not in _PNG_COLOR_TYPE or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"cannot write an image of shape {img.shape} as PNG")
    h, w = img.shape[:2]
    rows = np.empty((h, 1 + w * samples), dtype=np.uint8)
    rows[:, 0] = 0  # filter type: none
    rows[:, 1:] = img.reshape(h, w * samples)
    header = struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOR_TYPE[samples], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level))
        + _chunk(b"IEND", b"")
    )


def write_png(path: str | os.PathLike[str], image: np.ndarray, compress_level: int = 6) -> None:
    """Write an image as a PNG file (see :func:`encode_png`; not atomic: wrap it in
    :func:`racer.util.files.atomic_write_bytes` with :func:`encode_png` for that).

    Args:
        path: the file to write.
        image: the pixels.
        compress_level: zlib level, 0-9.
    """
    Path(path).write_bytes(encode_png(image, compress_level))
