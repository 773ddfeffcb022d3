"""The painted floor: a numpy image of the track (plain floor, dark road, white borders, dashed
yellow centre line) shared by PyBullet's renderer and the fast camera renderer.

Texel ``(iy, ix)`` covers the square whose centre is
``(x0_m + (ix + 0.5) * m_per_px, y0_m + (iy + 0.5) * m_per_px)`` in world metres: rows grow
with +y. Textures are cached per track geometry and resolution (a small LRU), so many worlds on
one track build it once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from racer.track import Track
from racer.util.files import atomic_write_bytes
from racer.util.images import GRAY_WEIGHTS, encode_png, to_gray

FLOOR_RGB = (150, 160, 140)  # plain floor: mid-light grey-green
ROAD_RGB = (45, 45, 50)  # dark road surface
BORDER_RGB = (245, 245, 245)  # white border lines
CENTER_RGB = (235, 200, 40)  # yellow centre line
BORDER_LINE_M = 0.05  # white line width, painted inside the road edge, m
CENTER_LINE_M = 0.04  # yellow centre line width, m
DASH_ON_M = 0.15  # painted length of a centre-line dash, m
DASH_OFF_M = 0.15  # gap between dashes, m
LUMA = GRAY_WEIGHTS  # ITU-R BT.601 RGB -> gray weights
MAX_TEXTURE_PX = 64_000_000  # ~5 bytes a texel (RGB, gray, padded copy): ~320 MB, a 40 m square
_CACHE_SIZE = 8  # textures kept per process


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Converts RGB uint8 (..., 3) to gray uint8 (...) with the BT.601 luma weights.

    The one conversion of the stack (:func:`racer.util.images.to_gray`), shared with the car's
    preprocessing.

    Args:
        rgb: Array whose last axis holds R, G, B (extra channels such as alpha are ignored).

    Returns:
        The rounded gray levels, uint8.
    """
    return to_gray(rgb, LUMA)


def gray_of(rgb: tuple[int, int, int]) -> int:
    """Gray level of one RGB colour (see :func:`rgb_to_gray`)."""
    return int(rgb_to_gray(np.asarray(rgb, dtype=np.float64)))


@dataclass(eq=False)
class FloorTexture:
    """The painted floor image of one track and where it lies in the world.

    Attributes:
        rgb: (H, W, 3) uint8 colour image; row index grows with +y.
        gray: (H, W) uint8 luma of ``rgb``.
        x0_m: World x of the texture's left edge, m.
        y0_m: World y of the texture's bottom edge (row 0), m.
        m_per_px: Texel size, m.
        key: Hex digest identifying the geometry and resolution.
    """

    rgb: np.ndarray
    gray: np.ndarray
    x0_m: float
    y0_m: float
    m_per_px: float
    key: str
    _png_path: str | None = field(default=None, repr=False)
    _gray_padded: np.ndarray | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def width_m(self) -> float:
        """Extent of the texture along x, m."""
        return self.rgb.shape[1] * self.m_per_px

    @property
    def height_m(self) -> float:
        """Extent of the texture along y, m."""
        return self.rgb.shape[0] * self.m_per_px

    @property
    def gray_padded(self) -> np.ndarray:
        """``gray`` with one ring of plain-floor texels around it (built once, shared)."""
        with self._lock:
            if self._gray_padded is None:
                self._gray_padded = np.pad(
                    self.gray, 1, mode="constant", constant_values=self.floor_gray
                )
            return self._gray_padded

    @property
    def floor_gray(self) -> int:
        """Gray level of the plain floor around the track."""
        return gray_of(FLOOR_RGB)

    def png_path(self) -> str:
        """Writes the texture once as a PNG for PyBullet's ``loadTexture`` and returns its path.

        The file's first row is the texture's last (largest y) row: PyBullet's TinyRenderer maps
        texture coordinate v = 1 to the file's first row.
        """
        with self._lock:
            if self._png_path is None or not os.path.exists(self._png_path):
                folder = os.path.join(tempfile.gettempdir(), f"racer-textures-{os.getuid()}")
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, f"floor-{self.key}.png")
                if not os.path.exists(path):  # a cache: no fsync
                    atomic_write_bytes(path, encode_png(self.rgb[::-1], 1), fsync=False)
                self._png_path = path
            return self._png_path


_cache: OrderedDict[str, FloorTexture] = OrderedDict()
_cache_lock = threading.Lock()


def _track_key(track: Track, m_per_px: float, margin_m: float) -> str:
    h = hashlib.sha1()
    for name in ("center", "left", "right"):
        h.update(np.ascontiguousarray(getattr(track, name), dtype=np.float64).tobytes())
    h.update(repr((bool(track.closed), float(m_per_px), float(margin_m))).encode())
    return h.hexdigest()[:20]


def floor_texture(track: Track, m_per_px: float = 0.005, margin_m: float = 1.0) -> FloorTexture:
    """Returns the painted floor texture of a track, building it on first use (cached).

    Args:
        track: A :class:`racer.track.Track` (uses center, left, right, closed, s).
        m_per_px: Texel size, m.
        margin_m: Plain floor around the road's bounding box, m.

    Returns:
        The shared texture (treat it as read-only).
    """
    key = _track_key(track, m_per_px, margin_m)
    with _cache_lock:
        tex = _cache.get(key)
        if tex is not None:
            _cache.move_to_end(key)
            return tex
    tex = _build(track, m_per_px, margin_m, key)
    with _cache_lock:
        _cache[key] = tex
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return tex


def _build(track: Track, res: float, margin_m: float, key: str) -> FloorTexture:
    left = np.asarray(track.left, dtype=np.float64)
    right = np.asarray(track.right, dtype=np.float64)
    center = np.asarray(track.center, dtype=np.float64)
    closed = bool(track.closed)
    pts = np.concatenate([left, right, center])
    lo = pts.min(axis=0) - margin_m
    hi = pts.max(axis=0) + margin_m
    x0, y0 = float(lo[0]), float(lo[1])
    w = int(np.ceil((hi[0] - x0) / res))
    h = int(np.ceil((hi[1] - y0) / res))
    if w * h > MAX_TEXTURE_PX:
        from racer.errors import TrackError

        raise TrackError(
            f"track {track.name!r} spans {hi[0] - x0:.0f} x {hi[1] - y0:.0f} m: its painted floor "
            f"would need {w * h / 1e6:.0f} megapixels at {res * 1000:g} mm a texel (at most "
            f"{MAX_TEXTURE_PX / 1e6:.0f}); use a smaller track or a coarser texture_m_per_px"
        )
    grid = (x0, y0, res, h, w)

    rings = [left, right] if closed else [np.concatenate([left, right[::-1]])]
    road = _fill_rings(rings, grid)
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[...] = FLOOR_RGB
    img[road] = ROAD_RGB

    # Dashed yellow centre line, along the centre line's arc length.
    cl = np.concatenate([center, center[:1]]) if closed else center
    seg = np.linalg.norm(np.diff(cl, axis=0), axis=1)
    s0 = np.concatenate([[0.0], np.cumsum(seg)])
    yellow = np.zeros((h, w), dtype=bool)
    _stroke(yellow, cl, s0, CENTER_LINE_M / 2, grid, dash=(DASH_ON_M, DASH_OFF_M))
    img[yellow & road] = CENTER_RGB

    # White border lines, painted inside the road from each edge.
    white = np.zeros((h, w), dtype=bool)
    for border in (left, right):
        b = np.concatenate([border, border[:1]]) if closed else border
        _stroke(white, b, None, BORDER_LINE_M, grid, dash=None)
    img[white & road] = BORDER_RGB

    return FloorTexture(rgb=img, gray=rgb_to_gray(img), x0_m=x0, y0_m=y0, m_per_px=res, key=key)


def _fill_rings(rings: list[np.ndarray], grid: tuple[float, float, float, int, int]) -> np.ndarray:
    """Even-odd scanline fill of closed polygons, sampled at texel centres."""
    x0, y0, res, h, w = grid
    rows_all: list[np.ndarray] = []
    xs_all: list[np.ndarray] = []
    for ring in rings:
        a = ring
        b = np.roll(ring, -1, axis=0)
        # Row index of texel centres, as continuous coordinates.
        ya = (a[:, 1] - y0) / res - 0.5
        yb = (b[:, 1] - y0) / res - 0.5
        lo = np.minimum(ya, yb)
        hi = np.maximum(ya, yb)
        first = np.ceil(lo).astype(np.int64)  # half-open [lo, hi): each crossing counted once
        last = np.ceil(hi).astype(np.int64) - 1
        first = np.maximum(first, 0)
        last = np.minimum(last, h - 1)
        n = np.maximum(last - first + 1, 0)
        keep = n > 0
        if not keep.any():
            continue
        edge = np.repeat(np.nonzero(keep)[0], n[keep])
        offs = np.arange(edge.size) - np.repeat(np.cumsum(n[keep]) - n[keep], n[keep])
        row = first[edge] + offs
        t = (row - ya[edge]) / (yb[edge] - ya[edge])
        xa = (a[edge, 0] - x0) / res - 0.5
        xb = (b[edge, 0] - x0) / res - 0.5
        rows_all.append(row)
        xs_all.append(xa + t * (xb - xa))
    mask = np.zeros((h, w), dtype=bool)
    if not rows_all:
        return mask
    rows = np.concatenate(rows_all)
    xs = np.concatenate(xs_all)
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    r0, xa = rows[0::2], xs[0::2]
    xb = xs[1::2]
    c0 = np.clip(np.ceil(xa).astype(np.int64), 0, w)
    c1 = np.clip(np.floor(xb).astype(np.int64) + 1, 0, w)
    ok = c1 > c0
    diff = np.zeros((h, w + 1), dtype=np.int32)
    np.add.at(diff, (r0[ok], c0[ok]), 1)
    np.add.at(diff, (r0[ok], c1[ok]), -1)
    return np.cumsum(diff[:, :w], axis=1) > 0


def _stroke(
    mask: np.ndarray,
    line: np.ndarray,
    s0: np.ndarray | None,
    half_width_m: float,
    grid: tuple[float, float, float, int, int],
    dash: tuple[float, float] | None,
) -> None:
    """Marks texels within half_width_m of a polyline (optionally dashed by arc length)."""
    x0, y0, res, h, w = grid
    pad = half_width_m + res
    for i in range(len(line) - 1):
        a, b = line[i], line[i + 1]
        ix0 = max(int((min(a[0], b[0]) - pad - x0) / res), 0)
        ix1 = min(int((max(a[0], b[0]) + pad - x0) / res) + 1, w)
        iy0 = max(int((min(a[1], b[1]) - pad - y0) / res), 0)
        iy1 = min(int((max(a[1], b[1]) + pad - y0) / res) + 1, h)
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        px = x0 + (np.arange(ix0, ix1) + 0.5) * res - a[0]
        py = y0 + (np.arange(iy0, iy1) + 0.5) * res - a[1]
        d = b - a
        ll = float(d @ d)
        if ll <= 0.0:
            continue
        t = (py[:, None] * d[1] + px[None, :] * d[0]) / ll
        tc = np.clip(t, 0.0, 1.0)
        dx = px[None, :] - tc * d[0]
        dy = py[:, None] - tc * d[1]
        near = dx * dx + dy * dy <= half_width_m * half_width_m
        if dash is not None and s0 is not None:
            s = s0[i] + tc * np.sqrt(ll)
            near &= np.mod(s, dash[0] + dash[1]) < dash[0]
        mask[iy0:iy1, ix0:ix1] |= near
