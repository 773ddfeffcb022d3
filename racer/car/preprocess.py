"""Frame preprocessing: the one code path from a camera frame to the policy's observation.

The simulator renders the 120x160 grayscale observation directly; a real camera delivers a larger
RGB frame. Both go through :class:`Preprocessor`, driven by the ordered ``preprocessing`` steps of
a bundle's ``metadata.json``, so that the policy sees the same array on the car as in training.
Everything here is pure numpy (no OpenCV), so it runs on any onboard computer.

Steps (each a JSON object with an ``"op"`` key), applied in order:

* ``{"op": "crop", "top": 0.0, "bottom": 1.0, "left": 0.0, "right": 1.0}``: keep the box between
  the given edges, as fractions of the frame's height (top/bottom) and width (left/right);
  pixel edges are ``round(fraction * size)``. Resolution independent, so the same step applies to
  a 640x480 camera and to the simulator's frame.
* ``{"op": "color", "to": "gray", "weights": [0.299, 0.587, 0.114]}``: RGB to gray as
  ``clip(rint(R*wr + G*wg + B*wb), 0, 255)`` computed in float64 (``rint`` rounds half to even)
  and stored as uint8. A frame that is already gray is left as it is; an alpha channel is dropped.
  ``{"op": "color", "to": "rgb"}`` keeps three channels (a gray frame is repeated).
* ``{"op": "resize", "width": 160, "height": 120, "interpolation": "area"}``: ``area`` averages
  the source pixels each output pixel covers (exact pixel-overlap weights, as OpenCV's
  ``INTER_AREA`` when shrinking), ``bilinear`` uses half-pixel centres (OpenCV's ``INTER_LINEAR``
  convention, edges clamped), ``nearest`` picks the covering pixel. Results are rounded with
  ``rint`` to uint8. A frame that already has the target size is passed through unchanged.
* ``{"op": "clip", "low": 0.0, "high": 10.0}``: clip float values (lidar ranges, metres).
* ``{"op": "stack", "frames": 4, "fill": "zeros"}``: stateful; the output's channels are the last
  ``frames`` processed frames, oldest first, newest last (as stable-baselines3's ``VecFrameStack``
  with channels first). Until enough frames were seen, the missing ones are zeros
  (``"fill": "zeros"``, SB3's behaviour) or copies of the first frame (``"fill": "repeat"``).
  Must be the last step. Without a stack step the output holds one frame.

Every step is bounded by :func:`validate_steps` (at most :data:`MAX_STEPS` steps, resize sides up
to :data:`MAX_RESIZE_PX`, up to :data:`MAX_STACK_FRAMES` stacked frames, finite numbers, no
unknown keys), so a bundle's steps cannot make the car or the leaderboard allocate more than a
few frames' worth of memory.

Input frames: ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8 from one camera;
``(N, H, W)`` or ``(N, H, W, 3)`` from ``N`` cameras (stereo: ``N = 2``, left first); a 1-D float
array of ranges for lidar. Output: ``(C, H, W)`` uint8 for cameras (``C = frames x cameras x
colour channels``), ``(frames x n,)`` float32 for lidar.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from racer.errors import BundleError
from racer.util import images
from racer.util.images import GRAY_WEIGHTS as GRAY_WEIGHTS  # ITU-R BT.601 luma, R, G, B

INTERPOLATIONS = ("area", "bilinear", "nearest")
OPS = ("crop", "color", "resize", "clip", "stack")
MAX_STACK_FRAMES = 16  # a sanity bound; DeepRacer stacks at most a few frames
MAX_STEPS = 16  # preprocessing steps; racer exports 1-3
MAX_RESIZE_PX = 1024  # resize width/height bound: 1.6x a 640x480 camera, 6x the 160x120 frame
_STEP_KEYS: dict[str, tuple[str, ...]] = {
    "crop": ("op", "top", "bottom", "left", "right"),
    "color": ("op", "to", "weights"),
    "resize": ("op", "width", "height", "interpolation"),
    "clip": ("op", "low", "high"),
    "stack": ("op", "frames", "fill"),
}


def to_gray(frame: np.ndarray, weights: Sequence[float] = GRAY_WEIGHTS) -> np.ndarray:
    """Convert an RGB(A) frame to gray uint8; a gray frame is returned unchanged.

    Args:
        frame: ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` array, values 0-255.
        weights: the R, G, B weights.

    Returns:
        ``(H, W)`` uint8: ``clip(rint(R*wr + G*wg + B*wb), 0, 255)``, float64, summed left to right
        (:func:`racer.util.images.to_gray`, the conversion the simulator paints its floor with).
    """
    if frame.ndim == 2:
        return frame.astype(np.uint8, copy=False)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) frame, got shape {frame.shape}")
    return images.to_gray(frame, weights)  # elementwise: no BLAS (see _resample)


def crop(
    frame: np.ndarray, top: float = 0.0, bottom: float = 1.0, left: float = 0.0, right: float = 1.0
) -> np.ndarray:
    """Crop a ``(H, W[, C])`` frame to the box between fractional edges.

    Args:
        frame: the image.
        top: upper edge, fraction of the height (0 = first row).
        bottom: lower edge, fraction of the height (1 = past the last row).
        left: left edge, fraction of the width.
        right: right edge, fraction of the width.

    Returns:
        A view of rows ``round(top*H):round(bottom*H)`` and the matching columns.
    """
    h, w = frame.shape[:2]
    r0, r1 = round(top * h), round(bottom * h)
    c0, c1 = round(left * w), round(right * w)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"crop box {top, bottom, left, right} leaves nothing of a {h}x{w} frame")
    return frame[r0:r1, c0:c1]


@functools.lru_cache(maxsize=64)
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: the overlap of each output cell with each input pixel, normalised."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * scale
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1.0) - np.maximum(lo, px), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=64)
def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights with half-pixel centres, edges clamped."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


@functools.lru_cache(maxsize=64)
def _nearest_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) one-hot rows picking the input pixel under each output pixel's centre."""
    idx = np.minimum(((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64), n_in - 1)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    m[np.arange(n_out), idx] = 1.0
    return m


_MATRICES = {"area": _area_matrix, "bilinear": _bilinear_matrix, "nearest": _nearest_matrix}


@functools.lru_cache(maxsize=64)
def _taps(kind: str, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The weight matrix as taps: ``(n_out, k)`` input indices and their weights."""
    m = _MATRICES[kind](n_in, n_out)
    k = max(1, int((m > 0).sum(axis=1).max()))
    idx = np.argsort(m <= 0, axis=1, kind="stable")[:, :k]  # nonzero columns first, in order
    return idx, np.take_along_axis(m, idx, axis=1)


def _resample(f: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted sum of gathered rows/columns. Elementwise only: no BLAS call, on purpose
    (OpenBLAS's threads can stall once OpenVINO's thread pool is loaded in the process)."""
    shape = [1] * f.ndim
    shape[axis] = idx.shape[0]
    out = np.zeros(f.shape[:axis] + (idx.shape[0],) + f.shape[axis + 1 :], dtype=np.float64)
    for j in range(idx.shape[1]):
        out += np.take(f, idx[:, j], axis=axis) * w[:, j].reshape(shape)
    return out


def resize(frame: np.ndarray, width: int, height: int, interpolation: str = "area") -> np.ndarray:
    """Resize a ``(H, W)`` or ``(H, W, C)`` uint8 frame with separable weights (rows, then columns).

    Args:
        frame: the image, values 0-255.
        width: output width, pixels.
        height: output height, pixels.
        interpolation: ``"area"``, ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``(height, width[, C])`` uint8, rounded with ``rint``.
    """
    if interpolation not in _MATRICES:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {INTERPOLATIONS}")
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame.astype(np.uint8, copy=False)
    f = frame.astype(np.float64)
    if interpolation == "area" and h % height == 0 and w % width == 0:  # whole blocks: a mean
        fy, fx = h // height, w // width
        f = f.reshape(height, fy, width, fx, *f.shape[2:]).mean(axis=(1, 3))
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)
    f = _resample(f, 0, *_taps(interpolation, h, height))
    f = _resample(f, 1, *_taps(interpolation, w, width))
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _number(step: Mapping[str, Any], key: str, default: float | None = None) -> float:
    """A step's finite number (a JSON int or float, not a bool)."""
    value = step.get(key, default)
    if value is None:
        raise ValueError(f"missing {key!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key!r} must be a number")
    if not (abs(value) < 1e300 and np.isfinite(value)):
        raise ValueError(f"{key!r} must be finite")
    return float(value)


def _size(step: Mapping[str, Any], key: str) -> int:
    """A resize step's width or height: a whole number of pixels within the bound."""
    value = step.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESIZE_PX:
        raise ValueError(f"{key!r} must be a whole number of pixels in 1-{MAX_RESIZE_PX}")
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_steps(steps: Any) -> list[dict[str, Any]]:
    """Check a ``preprocessing`` list; raise ``BundleError`` naming the first bad step.

    Every value is bounded (:data:`MAX_STEPS` steps, resize sizes up to :data:`MAX_RESIZE_PX`,
    at most :data:`MAX_STACK_FRAMES` stacked frames, finite numbers, no unknown keys), so a
    bundle cannot make the car or the leaderboard allocate more than a few frames' worth.

    Args:
        steps: the parsed JSON list.

    Returns:
        The steps as a list of dicts.
    """
    if not isinstance(steps, list):
        raise BundleError("metadata.json: 'preprocessing' must be a list of steps")
    if len(steps) > MAX_STEPS:
        raise BundleError(
            f"metadata.json: 'preprocessing' has {len(steps)} steps, more than the {MAX_STEPS} "
            "allowed"
        )
    out: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        where = f"metadata.json: preprocessing[{i}]"
        op = step.get("op") if isinstance(step, dict) else None
        if not isinstance(op, str) or op not in OPS:
            raise BundleError(
                f"{where}: expected an object with 'op' one of {OPS}, got {_short(step)}"
            )
        unknown = sorted(str(k) for k in step if k not in _STEP_KEYS[op])
        if unknown:
            raise BundleError(
                f"{where} ({op}): unknown key {_short(unknown[0])}; known: "
                f"{', '.join(_STEP_KEYS[op])}"
            )
        try:
            if op == "crop":
                t, b = _number(step, "top", 0.0), _number(step, "bottom", 1.0)
                left, r = _number(step, "left", 0.0), _number(step, "right", 1.0)
                if not (0.0 <= t < b <= 1.0 and 0.0 <= left < r <= 1.0):
                    raise ValueError(
                        "edges must satisfy 0 <= top < bottom <= 1, same for left/right"
                    )
            elif op == "color":
                if step.get("to") not in ("gray", "rgb"):
                    raise ValueError("'to' must be 'gray' or 'rgb'")
                weights = step.get("weights", list(GRAY_WEIGHTS))
                if not isinstance(weights, (list, tuple)) or len(weights) != 3:
                    raise ValueError("'weights' must hold 3 numbers (R, G, B)")
                for k in range(3):
                    if not 0.0 <= _number({"weight": weights[k]}, "weight") <= 1.0:
                        raise ValueError("each of 'weights' must be within 0-1")
            elif op == "resize":
                _size(step, "width"), _size(step, "height")
                if step.get("interpolation", "area") not in INTERPOLATIONS:
                    raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
            elif op == "clip":
                if _number(step, "low") >= _number(step, "high"):
                    raise ValueError("low must be below high")
            elif op == "stack":
                frames = step.get("frames")
                if (
                    isinstance(frames, bool)
                    or not isinstance(frames, int)
                    or not 1 <= frames <= MAX_STACK_FRAMES
                ):
                    raise ValueError(f"frames must be a whole number in 1-{MAX_STACK_FRAMES}")
                if step.get("fill", "zeros") not in ("zeros", "repeat"):
                    raise ValueError("fill must be 'zeros' or 'repeat'")
                if i != len(steps) - 1:
                    raise ValueError("stack must be the last step")
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where} ({op}): {exc}") from None
        out.append(dict(step))
    return out


def camera_steps(width: int, height: int) -> list[dict[str, Any]]:
    """The steps of a policy that sees the simulator's camera: gray, ``width`` x ``height``.

    BT.601 gray (:data:`GRAY_WEIGHTS`), an area resize to the observation's size, one frame (no
    stacking). ``racer.env.RaceEnv`` makes its ``camera`` and ``stereo`` observations with a
    :class:`Preprocessor` of exactly these steps, and ``racer.export`` writes the same steps into
    a camera bundle's ``preprocessing``, so the car transforms a frame as the simulator did. On
    the simulator's own frame (gray, already that size) they are the identity.

    Args:
        width: observation width, pixels.
        height: observation height, pixels.

    Returns:
        The ``preprocessing`` list, as ``metadata.json`` holds it.
    """
    return [
        {"op": "color", "to": "gray", "weights": [float(w) for w in GRAY_WEIGHTS]},
        {"op": "resize", "width": int(width), "height": int(height), "interpolation": "area"},
        {"op": "stack", "frames": 1},
    ]


class Preprocessor:
    """Turns raw frames into observations, following a bundle's preprocessing steps.

    Stateful only through the ``stack`` step: call :meth:`reset` at the start of each drive.

    Args:
        steps: the ordered steps (``metadata["preprocessing"]``).
        expected_shape: the observation shape without the batch axis (for example
            ``(1, 120, 160)``); when given, every output is checked against it.
    """

    def __init__(
        self, steps: Sequence[Mapping[str, Any]], expected_shape: Sequence[int] | None = None
    ) -> None:
        self.steps = validate_steps([dict(s) for s in steps])
        self._frame_steps = [s for s in self.steps if s["op"] != "stack"]
        stack = [s for s in self.steps if s["op"] == "stack"]
        self.stack_frames = int(stack[0]["frames"]) if stack else 1
        self.stack_fill = str(stack[0].get("fill", "zeros")) if stack else "zeros"
        self.expected_shape = tuple(int(d) for d in expected_shape) if expected_shape else None
        self._history: deque[np.ndarray] = deque(maxlen=self.stack_frames)

    def reset(self) -> None:
        """Forget the stacked frames (start of a drive or an episode)."""
        self._history.clear()

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """Apply the per-frame steps (everything but ``stack``) to one frame.

        Args:
            frame: see the module docstring for the accepted layouts.

        Returns:
            ``(channels, H, W)`` uint8 for cameras, ``(n,)`` float32 for range vectors.
        """
        frame = np.asarray(frame)
        if frame.ndim == 1:  # lidar ranges, metres
            out = frame.astype(np.float32)
            for step in self._frame_steps:
                if step["op"] != "clip":
                    raise ValueError(f"step {step['op']!r} does not apply to a 1-D range vector")
                out = np.clip(out, float(step["low"]), float(step["high"])).astype(np.float32)
            return out
        if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (3, 4)):
            cams = [frame]
        elif frame.ndim in (3, 4):
            cams = list(frame)
        else:
            raise ValueError(f"cannot preprocess a frame of shape {frame.shape}")
        channels: list[np.ndarray] = []
        for cam in cams:
            img = cam
            for step in self._frame_steps:
                img = self._apply(img, step)
            if img.ndim == 3 and img.shape[2] == 4:
                img = img[..., :3]
            channels.extend([img] if img.ndim == 2 else list(np.moveaxis(img, 2, 0)))
        return np.stack(channels).astype(np.uint8, copy=False)

    @staticmethod
    def _apply(img: np.ndarray, step: Mapping[str, Any]) -> np.ndarray:
        op = step["op"]
        if op == "crop":
            return crop(
                img,
                float(step.get("top", 0.0)),
                float(step.get("bottom", 1.0)),
                float(step.get("left", 0.0)),
                float(step.get("right", 1.0)),
            )
        if op == "color":
            if step["to"] == "gray":
                return to_gray(img, step.get("weights", GRAY_WEIGHTS))
            if img.ndim == 2:
                return np.repeat(img[..., None], 3, axis=2)
            return img[..., :3]
        if op == "resize":
            return resize(
                img, int(step["width"]), int(step["height"]), step.get("interpolation", "area")
            )
        if op == "clip":
            return np.clip(img, float(step["low"]), float(step["high"]))
        raise ValueError(f"unknown op {op!r}")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Process one frame and return the (stacked) observation without a batch axis."""
        cur = self.process_frame(frame)
        if not self._history and self.stack_frames > 1:
            filler = np.zeros_like(cur) if self.stack_fill == "zeros" else cur
            for _ in range(self.stack_frames - 1):
                self._history.append(filler)
        self._history.append(cur)
        obs = cur if self.stack_frames == 1 else np.concatenate(list(self._history), axis=0)
        if self.expected_shape is not None and obs.shape != self.expected_shape:
            raise BundleError(
                f"preprocessing produced shape {obs.shape} but the policy expects "
                f"{self.expected_shape}; check the frame source and metadata.json 'preprocessing'"
            )
        return obs
