"""Frame sources: where the runtime's frames come from.

Any object with ``read() -> np.ndarray | None`` (None: no more frames) and ``close()`` is a
:class:`FrameSource`. A closed-loop source (a simulator) may also define
``apply(steering, throttle, steering_deg, speed_mps)``; the runtime calls it after every command so
the source can advance its world before the next ``read()``. ``sim:TRACK`` is built that way
outside ``racer.car`` (by the CLI / evaluation layer), which keeps the simulator off the car.

Specs understood by :func:`parse_source`:

* ``images:DIR``: the ``.npy``, ``.png``, ``.jpg``/``.jpeg`` files of a folder in name order.
  ``.npy`` and 8-bit non-interlaced PNG (gray, gray+alpha, RGB, RGBA) are read in pure numpy;
  JPEG needs OpenCV.
* ``video:PATH``: a video file, through OpenCV (frames converted BGR -> RGB).
* ``camera:INDEX``: a V4L2/USB camera, through OpenCV (frames converted BGR -> RGB).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from racer.errors import ConfigError, MissingDependencyError
from racer.util.images import PNG_CHANNELS, PNG_SIGNATURE
from racer.util.images import write_png as write_png  # re-exported: frames to image files

IMAGE_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg")
MAX_FRAME_BYTES = 64 * 1024 * 1024  # refuse absurd frame files, bytes
SOURCE_SPECS = ("images:DIR", "video:PATH", "camera:INDEX")


@runtime_checkable
class FrameSource(Protocol):
    """Something the runtime reads frames from."""

    def read(self) -> np.ndarray | None:
        """The next frame (see racer.car.preprocess for layouts), or None when exhausted."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


@runtime_checkable
class ClosedLoopSource(FrameSource, Protocol):
    """A frame source that reacts to the commands (a simulator)."""

    def apply(
        self, steering: float, throttle: float, steering_deg: float, speed_mps: float
    ) -> None:
        """Receive the command just sent (normalised and physical)."""
        ...


def _import_cv2(what: str) -> Any:
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs OpenCV; install it with: pip install opencv-python-headless"
        ) from None
    return cv2


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def read_png(path: str | Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced PNG with zlib and numpy.

    Args:
        path: the file.

    Returns:
        ``(H, W)`` uint8 for gray, ``(H, W, 3)`` for RGB, ``(H, W, 4)`` for RGBA,
        ``(H, W, 2)`` for gray+alpha.

    Raises:
        ConfigError: for files this decoder does not support (the message says which).
    """
    p = Path(path)
    data = p.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ConfigError(f"{p}: not a PNG file")
    pos, idat, header = 8, bytearray(), None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
    if header is None:
        raise ConfigError(f"{p}: PNG without IHDR")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in PNG_CHANNELS or interlace:
        raise ConfigError(
            f"{p}: only 8-bit non-interlaced gray/RGB/RGBA PNG is supported without OpenCV "
            "(pip install opencv-python-headless, or save frames as .npy)"
        )
    ch = PNG_CHANNELS[color]
    stride = width * ch
    try:
        raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    except zlib.error as exc:
        raise ConfigError(f"{p}: corrupt PNG data ({exc})") from None
    if raw.size != height * (stride + 1):
        raise ConfigError(f"{p}: PNG data has the wrong size")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        elif ftype == 1:  # Sub: a running sum per channel along the row
            cur = np.cumsum(line.reshape(width, ch), axis=0).reshape(-1) & 0xFF
        elif ftype in (3, 4):  # depend on the reconstructed left neighbour: go pixel-wise
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - ch] if x >= ch else 0
                c = prev[x - ch] if x >= ch else 0
                if ftype == 3:
                    pred = (a + prev[x]) >> 1
                else:
                    pred = int(_paeth(np.asarray(a), np.asarray(prev[x]), np.asarray(c)))
                cur[x] = (line[x] + pred) & 0xFF
        else:
            raise ConfigError(f"{p}: bad PNG filter type {ftype}")
        out[y] = cur
        prev = cur
    img = out.astype(np.uint8).reshape(height, width, ch)
    return img[..., 0] if ch == 1 else img


def read_image(path: str | Path) -> np.ndarray:
    """Read one frame file: ``.npy`` (any layout), ``.png`` (RGB order), ``.jpg`` (via OpenCV)."""
    p = Path(path)
    if p.stat().st_size > MAX_FRAME_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_FRAME_BYTES // 2**20} MB; not a frame")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(f"{p}: not a plain .npy array ({exc})") from None
    if suffix == ".png":
        return read_png(p)
    if suffix in (".jpg", ".jpeg"):
        cv2 = _import_cv2(f"reading {p.name}")
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ConfigError(f"{p}: OpenCV cannot read it")
        return img[..., ::-1].copy()
    raise ConfigError(f"{p}: unsupported frame file; use one of {IMAGE_SUFFIXES}")


class ArraySource:
    """Frames from an in-memory sequence (tests, recorded runs).

    Args:
        frames: the frames, in order.
    """

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._it = iter(frames)

    def read(self) -> np.ndarray | None:
        """The next frame, or None."""
        return next(self._it, None)

    def close(self) -> None:
        """Nothing to release."""


class CallableSource:
    """Adapts callables to a (closed-loop) frame source.

    Args:
        read: returns the next frame or None.
        apply: optional; receives ``(steering, throttle, steering_deg, speed_mps)``.
        close: optional; called once on close.
    """

    def __init__(
        self,
        read: Callable[[], np.ndarray | None],
        apply: Callable[[float, float, float, float], None] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._read, self._apply, self._close = read, apply, close

    def read(self) -> np.ndarray | None:
        """The next frame, or None."""
        return self._read()

    def apply(
        self, steering: float, throttle: float, steering_deg: float, speed_mps: float
    ) -> None:
        """Forward the command to the wrapped callable, if any."""
        if self._apply is not None:
            self._apply(steering, throttle, steering_deg, speed_mps)

    def close(self) -> None:
        """Call the wrapped close, once."""
        if self._close is not None:
            self._close()
            self._close = None


class ImagesSource:
    """Frames from the files of a folder, in name order.

    Args:
        folder: the folder.
        loop: start again from the first file instead of ending.
    """

    def __init__(self, folder: str | Path, loop: bool = False) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"images source: {self.folder} is not a folder")
        self.files = sorted(
            p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            raise ConfigError(
                f"images source: no {'/'.join(IMAGE_SUFFIXES)} files in {self.folder}"
            )
        self.loop = loop
        self._i = 0

    def read(self) -> np.ndarray | None:
        """The next file's frame, or None after the last (unless looping)."""
        if self._i >= len(self.files):
            if not self.loop:
                return None
            self._i = 0
        frame = read_image(self.files[self._i])
        self._i += 1
        return frame

    def close(self) -> None:
        """Nothing to release."""


class OpenCvSource:
    """Frames from OpenCV's ``VideoCapture`` (a file or a camera), as RGB.

    Args:
        target: a video path or a camera index.
        width: requested camera width, pixels (cameras only; None keeps the default).
        height: requested camera height, pixels.
    """

    def __init__(self, target: str | int, width: int | None = None, height: int | None = None):
        cv2 = _import_cv2("video and camera sources")
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise ConfigError(
                f"cannot open {'camera' if isinstance(target, int) else 'video'} {target!r}"
            )
        if width:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def read(self) -> np.ndarray | None:
        """The next frame (RGB), or None at the end of a video / on a camera failure."""
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return None
        return frame[..., ::-1] if frame.ndim == 3 else frame

    def close(self) -> None:
        """Release the capture."""
        self._cap.release()


def parse_source(spec: str) -> FrameSource:
    """Open a frame source from its spec (see the module docstring).

    Args:
        spec: ``images:DIR``, ``video:PATH`` or ``camera:INDEX``.

    Returns:
        The source.

    Raises:
        ConfigError: one line for a malformed or unknown spec.
    """
    kind, sep, arg = spec.partition(":")
    if not sep or not arg:
        raise ConfigError(f"bad source {spec!r}; use one of {', '.join(SOURCE_SPECS)} or sim:TRACK")
    if kind == "images":
        return ImagesSource(arg)
    if kind == "video":
        if not Path(arg).is_file():
            raise ConfigError(f"video source: {arg} not found")
        return OpenCvSource(arg)
    if kind == "camera":
        try:
            index = int(arg)
        except ValueError:
            raise ConfigError(f"camera source: index must be an integer, got {arg!r}") from None
        return OpenCvSource(index)
    if kind == "sim":
        raise ConfigError(
            f"source {spec!r} is provided by the racer CLI (racer drive), not by racer.car alone"
        )
    raise ConfigError(
        f"unknown source kind {kind!r} in {spec!r}; use one of {', '.join(SOURCE_SPECS)}"
    )
