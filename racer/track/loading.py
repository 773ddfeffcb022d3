"""Loading and saving tracks: built-in names, user library, DeepRacer ``.npy``, ``.track.toml``.

Formats:

* DeepRacer ``.npy``: float array ``(N, 6)``, rows ``[cx, cy, ix, iy, ox, oy]`` (centre, inner
  border, outer border), m. The loop is closed when the first row equals the last (the duplicate
  is dropped); otherwise the track is open. A border that folds back locally on the inside of a
  turn tighter than half the road width (DeepRacer's ``Tokyo_Training_track``) is repaired with
  one warning line (:func:`racer.track.validation.repair_border_folds`).
* ``.track.toml`` (racer's authoring format)::

      name = "oval"
      description = "A stadium oval"
      width_m = 1.0            # road width, m
      closed = true
      spacing_m = 0.2          # optional: waypoint spacing after smoothing, m
      points = [[0.0, 0.0], [4.0, 0.0], ...]   # centre-line control points, driving order
      widths_m = [1.0, 0.9, ...]               # optional: width at each control point, m

  The control points are smoothed by a cubic spline (periodic for a loop, natural for an open
  track), resampled by arc length, and the borders are built by offsetting along the normals.

Bounds, checked before anything is allocated from a file (a hostile file is refused in one
line, never a MemoryError or a hang): a ``.npy`` header may claim at most
:data:`~racer.track.validation.MAX_WAYPOINTS` rows of a float dtype; a ``.track.toml`` file holds at
most :data:`MAX_CONTROL_POINTS` control points and :data:`MAX_TOML_BYTES` bytes; every coordinate
lies within :data:`~racer.track.validation.MAX_COORDINATE_M` of the origin, the centre line is at
most :data:`~racer.track.validation.MAX_TRACK_LENGTH_M` long, and road widths lie within
:data:`~racer.track.validation.ROAD_WIDTH_RANGE_M`. Only regular files are read (a folder, FIFO,
device or symlink loop is refused before it is opened).

Names resolve in this order: ``random:<seed>`` (a generated track), an existing file path,
a built-in track, a track in the user library (``$RACER_HOME/tracks``, by default
``~/.local/share/racer/tracks``).
"""

from __future__ import annotations

import difflib
import math
import multiprocessing
import os
import re
import shutil
import stat
import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import TrackError
from racer.track.geometry import Track
from racer.track.spline import smooth_centerline
from racer.track.validation import (
    MAX_COORDINATE_M,
    MAX_TRACK_LENGTH_M,
    MAX_WAYPOINTS,
    RADIUS_MARGIN,
    ROAD_WIDTH_RANGE_M,
    repair_border_folds,
    validate_track,
)
from racer.util.files import DiskFullError, atomic_write

BUILTIN_PACKAGE = "racer.tracks_data"  # package mapped onto the top-level tracks/ folder
DEFAULT_TRACK = "oval"
DEFAULT_SPACING_M = 0.2  # m, waypoint spacing of smoothed .track.toml tracks
_MIN_SPACING_M = 0.05  # m
_MAX_SPACING_M = 1.0  # m
_WIDTH_TOL_M = 1e-6  # m, rounding allowed at the ends of the road-width range
_CLOSE_ATOL_M = 1e-6  # m, first and last rows this close mean a closed DeepRacer loop
_DUPLICATE_M = 1e-9  # m, consecutive waypoints this close are one
_TOML_SUFFIX = ".track.toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOML_KEYS = {"name", "description", "width_m", "closed", "spacing_m", "points", "widths_m"}
# The spline through the control points solves a dense system (racer.track.spline): 2,000 points
# take 32 MB and well under a second; hand-made and converted DeepRacer tracks have 10-300.
MAX_CONTROL_POINTS = 2_000
MAX_TOML_BYTES = 1024 * 1024  # 2,000 points and widths take under 100 KB of TOML
_NPY_COLUMNS = 6  # DeepRacer rows [cx, cy, ix, iy, ox, oy]
MAX_NPY_BYTES = 64 * 1024 + MAX_WAYPOINTS * _NPY_COLUMNS * 8  # header + float64 data: ~4.9 MB
_MAX_TRACK_NAME_CHARS = 64  # a track's name, shown in tables and plot titles
_MAX_DESCRIPTION_CHARS = 500
_MAX_NAME_OR_PATH_CHARS = 4096  # PATH_MAX on Linux


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """A track available by name.

    Attributes:
        name: The name to pass to :func:`load_track`.
        source: ``"built-in"`` or ``"user"``.
        path: The file it loads from.
    """

    name: str
    source: str
    path: Path


# ---------------------------------------------------------------------------- locations


def racer_home() -> Path:
    """The user's racer data folder: ``$RACER_HOME``, else ``~/.local/share/racer``."""
    env = os.environ.get("RACER_HOME")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "racer"


def user_tracks_dir() -> Path:
    """The user's track library folder, ``<racer_home>/tracks`` (may not exist yet)."""
    return racer_home() / "tracks"


def _track_stem(path: Path) -> str | None:
    name = path.name
    if name.endswith(_TOML_SUFFIX):
        return name[: -len(_TOML_SUFFIX)]
    if name.endswith(".npy"):
        return name[:-4]
    return None


def _builtin_files() -> dict[str, Path]:
    try:
        root = resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:  # pragma: no cover - an editable install made before the mapping
        raise TrackError(
            f"the built-in tracks (package {BUILTIN_PACKAGE}) are not installed; "
            "reinstall racer with `pip install -e .`"
        ) from None
    files: dict[str, Path] = {}
    for entry in root.iterdir():
        stem = _track_stem(Path(entry.name))
        if stem is not None and entry.is_file():
            files[stem] = Path(str(entry))
    return files


def builtin_track_names() -> list[str]:
    """Names of the tracks shipped with racer, sorted.

    Returns:
        Built-in track names (the default track is ``"oval"``).
    """
    return sorted(_builtin_files())


def _user_files() -> dict[str, Path]:
    folder = user_tracks_dir()
    if not folder.is_dir():
        return {}
    files: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        stem = _track_stem(entry)
        if stem is not None and entry.is_file():
            files.setdefault(stem, entry)
    return files


def list_tracks() -> list[TrackInfo]:
    """Every track available by name: the built-ins, then the user library.

    Returns:
        One :class:`TrackInfo` per name, built-ins first, each group sorted by name. A user
        track that has the name of a built-in is not listed (the built-in wins).
    """
    builtin = _builtin_files()
    infos = [TrackInfo(name, "built-in", path) for name, path in sorted(builtin.items())]
    infos += [
        TrackInfo(name, "user", path)
        for name, path in sorted(_user_files().items())
        if name not in builtin
    ]
    return infos


# ---------------------------------------------------------------------------- file checks


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as one printable line: as is, or its ``repr`` when it holds control characters."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    return text if text.isprintable() else repr(text)


def check_regular_file(path: Path, what: str, max_bytes: int) -> int:
    """Refuse anything but an existing regular file of at most ``max_bytes``, before opening it.

    Args:
        path: The file.
        what: What the file is, for the message (``"track file"``).
        max_bytes: The largest size accepted.

    Returns:
        The file's size in bytes.

    Raises:
        TrackError: One line: not found, a broken link or symlink loop, a folder, a FIFO or
            device (reading one would block or never end), unreadable, or too large.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        broken = path.is_symlink()
        raise TrackError(
            f"no such {what}" + (" (a broken symbolic link)" if broken else "")
        ) from None
    except (OSError, ValueError) as exc:  # ELOOP, ENAMETOOLONG, EACCES on a folder, NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TrackError(f"cannot open the {what} ({reason})") from None
    if stat.S_ISDIR(st.st_mode):
        raise TrackError(f"is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise TrackError(f"is not a regular file (a FIFO, socket or device); give a {what}")
    if st.st_size > max_bytes:
        raise TrackError(
            f"the {what} is {st.st_size} bytes, more than the {max_bytes} bytes a track can need"
        )
    return int(st.st_size)


# ---------------------------------------------------------------------------- file formats


def _dedupe(rows: np.ndarray) -> np.ndarray:
    """Drop rows whose centre point repeats the previous row's."""
    step = np.hypot(*np.diff(rows[:, :2], axis=0).T)
    keep = np.concatenate(([True], step > _DUPLICATE_M))
    return rows[keep]


def track_from_deepracer(
    array: np.ndarray, *, name: str, closed: bool | None = None, source: str = "file"
) -> Track:
    """Build a track from a DeepRacer waypoint array.

    Args:
        array: ``(N, 6)`` rows ``[cx, cy, ix, iy, ox, oy]``, m.
        name: Track name.
        closed: Force a loop or an open track; by default a loop when the first row equals
            the last.
        source: Recorded in :attr:`Track.source`.

    Returns:
        The track (not yet validated).

    Raises:
        TrackError: Wrong shape, non-finite values, or too few distinct waypoints.
    """
    a = np.asarray(array)
    _check_npy_layout(a.shape, a.dtype)
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        row = int(np.flatnonzero(~np.all(np.isfinite(a), axis=1))[0])
        raise TrackError(f"row {row} contains NaN or infinite values")
    far = np.flatnonzero(np.max(np.abs(a), axis=1) > MAX_COORDINATE_M)
    if far.size:
        raise TrackError(
            f"row {int(far[0])} has a coordinate beyond {MAX_COORDINATE_M:g} m "
            f"(max |value| {float(np.max(np.abs(a[far[0]]))):.3g}); coordinates are metres"
        )
    lo_w, hi_w = ROAD_WIDTH_RANGE_M
    widths = np.hypot(*(a[:, 2:4] - a[:, 4:6]).T)
    bad = np.flatnonzero((widths < lo_w - _WIDTH_TOL_M) | (widths > hi_w + _WIDTH_TOL_M))
    if bad.size:
        i = int(bad[0])
        raise TrackError(
            f"road width at waypoint {i} is {widths[i]:.3g} m (inner to outer border); "
            f"it must be within {lo_w:g}-{hi_w:g} m"
        )
    if len(a) < 2:
        raise TrackError(f"too few waypoints: {len(a)} (at least 4 distinct points are needed)")
    is_loop = bool(np.allclose(a[0], a[-1], rtol=0.0, atol=_CLOSE_ATOL_M))
    if closed is None:
        closed = is_loop
    if is_loop:
        a = a[:-1]
    a = _dedupe(a)
    if closed and len(a) > 1 and math.hypot(*(a[-1, :2] - a[0, :2])) <= _DUPLICATE_M:
        a = a[:-1]
    if len(a) < 4:
        raise TrackError(
            f"too few waypoints: {len(a)} after removing duplicates (at least 4 are needed)"
        )
    center, inner, outer = a[:, 0:2], a[:, 2:4], a[:, 4:6]
    # Which border is on the left of the driving direction: the sign of the cross product of
    # the local direction with (inner - centre), summed over the track.
    direction = np.gradient(center, axis=0)
    rel = inner - center
    side = np.sum(direction[:, 0] * rel[:, 1] - direction[:, 1] * rel[:, 0])
    left, right = (inner, outer) if side >= 0.0 else (outer, inner)
    return Track(center, left, right, closed=closed, name=name, source=source)


def _check_npy_layout(shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    """Refuse a shape or dtype a DeepRacer array cannot have (before any data is read)."""
    if dtype.hasobject or dtype.fields is not None:
        raise TrackError(f"expected a float array, got dtype {dtype} (objects are refused)")
    if len(shape) != 2 or shape[1] != _NPY_COLUMNS:
        raise TrackError(
            f"expected a DeepRacer waypoint array of shape (N, 6) "
            f"[cx, cy, ix, iy, ox, oy], got shape {shape}"
        )
    if dtype.kind != "f":
        raise TrackError(f"expected a float array (DeepRacer's are float64), got dtype {dtype}")
    if not 0 <= shape[0] <= MAX_WAYPOINTS + 1:  # + DeepRacer's repeated first row
        raise TrackError(f"{shape[0]} rows; a track has at most {MAX_WAYPOINTS} waypoints")


def _read_npy(path: Path) -> np.ndarray:
    """Read a DeepRacer ``.npy`` file, checking its header before allocating anything."""
    not_npy = "cannot read it as a NumPy .npy file ({}); expected DeepRacer's (N, 6) array"
    with path.open("rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
        except (ValueError, EOFError):  # a pickle, an .npz, text: no b"\x93NUMPY" magic
            raise TrackError(
                not_npy.format("no .npy header: not a NumPy array file; pickles are refused")
            ) from None
        try:
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version[0]}.{version[1]}")
        except (ValueError, SyntaxError, EOFError, RecursionError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TrackError(not_npy.format(f"bad header: {reason[:200]}")) from None
        _check_npy_layout(shape, dtype)
        nbytes = int(shape[0]) * _NPY_COLUMNS * dtype.itemsize
        data = fh.read(nbytes)
    if len(data) < nbytes:
        raise TrackError(
            f"the file is truncated: its header says {shape[0]} rows ({nbytes} bytes of data), "
            f"only {len(data)} bytes follow"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _load_npy(path: Path, name: str, source: str) -> Track:
    check_regular_file(path, "track file", MAX_NPY_BYTES)
    try:
        array = _read_npy(path)
    except OSError as exc:
        raise TrackError(f"cannot read it ({exc.strerror or exc})") from None
    return track_from_deepracer(array, name=name, source=source)


def _toml_float(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None:
        raise TrackError(f"missing key {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrackError(f"{key!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise TrackError(f"{key!r} must be finite, got {value!r}")
    return float(value)


def track_from_toml_data(
    data: dict[str, Any], *, name: str | None = None, source: str = "file"
) -> Track:
    """Build a track from the parsed contents of a ``.track.toml`` file.

    Args:
        data: The TOML table (see the module docstring for the keys).
        name: Overrides the file's ``name``.
        source: Recorded in :attr:`Track.source`.

    Returns:
        The smoothed track (not yet validated).

    Raises:
        TrackError: Unknown or missing keys, or values of the wrong type.
    """
    unknown = sorted(set(data) - _TOML_KEYS)
    if unknown:
        raise TrackError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {sorted(_TOML_KEYS)}"
        )
    track_name = name if name is not None else data.get("name", "track")
    if (
        not isinstance(track_name, str)
        or not 0 < len(track_name) <= _MAX_TRACK_NAME_CHARS
        or not track_name.isprintable()
    ):
        shown = repr(track_name)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise TrackError(
            f"'name' must be a printable string of 1-{_MAX_TRACK_NAME_CHARS} characters, "
            f"got {shown}"
        )
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > _MAX_DESCRIPTION_CHARS:
        raise TrackError(
            f"'description' must be a string of at most {_MAX_DESCRIPTION_CHARS} characters"
        )
    closed = data.get("closed", True)
    if not isinstance(closed, bool):
        raise TrackError(f"'closed' must be true or false, got {closed!r}")
    lo_w, hi_w = ROAD_WIDTH_RANGE_M
    width = _toml_float(data, "width_m")
    if width <= 0.0:
        raise TrackError(f"road width must be > 0, got width_m = {width}")
    if not lo_w <= width <= hi_w:
        raise TrackError(f"road width must be within {lo_w:g}-{hi_w:g} m, got width_m = {width:g}")
    spacing = _toml_float(data, "spacing_m", DEFAULT_SPACING_M)
    if not _MIN_SPACING_M <= spacing <= _MAX_SPACING_M:
        raise TrackError(
            f"spacing_m must be within {_MIN_SPACING_M}-{_MAX_SPACING_M} m, got {spacing}"
        )
    if "points" not in data:
        raise TrackError("missing key 'points' (the centre-line control points, [[x, y], ...])")
    raw_points = data["points"]
    if not isinstance(raw_points, list):
        raise TrackError("'points' must be a list of [x, y] number pairs")
    if len(raw_points) > MAX_CONTROL_POINTS:
        raise TrackError(
            f"{len(raw_points)} control points; a .track.toml has at most {MAX_CONTROL_POINTS} "
            "(the spline needs far fewer: one every few metres)"
        )
    try:
        points = np.array(raw_points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise TrackError("'points' must be a list of [x, y] number pairs") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise TrackError(f"'points' must be a list of [x, y] pairs, got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise TrackError("'points' contains NaN or infinite values")
    far = np.flatnonzero(np.max(np.abs(points), axis=1) > MAX_COORDINATE_M)
    if far.size:
        raise TrackError(
            f"control point {int(far[0])} has a coordinate beyond {MAX_COORDINATE_M:g} m; "
            "coordinates are metres"
        )
    widths = np.full(len(points), width)
    if "widths_m" in data:
        raw_widths = data["widths_m"]
        if not isinstance(raw_widths, list) or len(raw_widths) != len(points):
            count = len(raw_widths) if isinstance(raw_widths, list) else "no list of"
            raise TrackError(
                f"'widths_m' has {count} values for {len(points)} points; give one per point"
            )
        try:
            widths = np.array(raw_widths, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise TrackError("'widths_m' must be a list of numbers") from None
        if widths.shape != (len(points),):
            raise TrackError(
                f"'widths_m' has {widths.size} values for {len(points)} points; give one per point"
            )
        if not np.all(np.isfinite(widths)) or np.any(widths <= 0.0):
            raise TrackError("every value of 'widths_m' must be a finite number > 0")
        bad = np.flatnonzero((widths < lo_w) | (widths > hi_w))
        if bad.size:
            i = int(bad[0])
            raise TrackError(
                f"widths_m[{i}] is {widths[i]:g} m; road widths must be within {lo_w:g}-{hi_w:g} m"
            )
    if closed and len(points) > 1 and math.hypot(*(points[-1] - points[0])) <= _DUPLICATE_M:
        points, widths = points[:-1], widths[:-1]
    keep = np.concatenate(([True], np.hypot(*np.diff(points, axis=0).T) > _DUPLICATE_M))
    points, widths = points[keep], widths[keep]
    if len(points) < 4:
        raise TrackError(
            f"too few control points: {len(points)} after removing duplicates (at least 4)"
        )
    # The smoothed line is about as long as the control polygon: bound the waypoints it makes.
    chords = np.diff(np.vstack((points, points[:1])) if closed else points, axis=0)
    polygon_m = float(np.hypot(*chords.T).sum())
    if polygon_m > MAX_TRACK_LENGTH_M or polygon_m / spacing > MAX_WAYPOINTS:
        raise TrackError(
            f"the control points span {polygon_m:.0f} m, {polygon_m / spacing:.0f} waypoints at "
            f"spacing_m = {spacing:g}; a track has at most {MAX_TRACK_LENGTH_M:g} m and "
            f"{MAX_WAYPOINTS} waypoints"
        )
    center, normals, w = smooth_centerline(points, closed=closed, spacing_m=spacing, widths=widths)
    half = 0.5 * w[:, None]
    return Track(
        center,
        center + normals * half,
        center - normals * half,
        closed=closed,
        name=track_name,
        description=description,
        source=source,
    )


def _load_toml(path: Path, name: str | None, source: str) -> Track:
    check_regular_file(path, "track file", MAX_TOML_BYTES)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TOML_BYTES + 1)
    except OSError as exc:
        raise TrackError(f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_TOML_BYTES:
        raise TrackError(f"the track file grew past {MAX_TOML_BYTES} bytes while being read")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise TrackError(
            f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise TrackError(f"not valid TOML ({str(exc).splitlines()[0]})") from None
    except RecursionError:  # [[[[...]]]] nested thousands deep
        raise TrackError("not valid TOML (arrays nested too deeply)") from None
    return track_from_toml_data(data, name=name, source=source)


def load_track_file(
    path: str | os.PathLike[str], *, name: str | None = None, source: str = "file"
) -> Track:
    """Load and validate a track file (DeepRacer ``.npy`` or ``.track.toml``).

    Args:
        path: The file.
        name: Track name; defaults to the TOML ``name`` or the file's stem.
        source: Recorded in :attr:`Track.source`.

    Returns:
        The validated track.

    Raises:
        TrackError: One line naming the file and the problem.
    """
    p = Path(path)
    label = shown_path(p)
    suffix = p.suffix.lower()
    try:
        if suffix not in (".npy", ".toml"):
            check_regular_file(p, "track file", max(MAX_NPY_BYTES, MAX_TOML_BYTES))
        if suffix == ".npy":
            track = _load_npy(p, name or p.stem, source)
        elif suffix == ".toml":
            track = _load_toml(p, name, source)
        else:
            raise TrackError("unknown track file type; use a DeepRacer .npy or a .track.toml file")
    except TrackError as exc:
        raise TrackError(f"{label}: {exc}") from None
    # A DeepRacer file gives its borders: the crossing checks are exact for them, while the
    # radius proxy would reject real tracks whose waypoints are a little noisy.
    margin = None if suffix == ".npy" else RADIUS_MARGIN
    if suffix == ".npy":
        repaired, folds = repair_border_folds(track)
        if folds:
            try:
                validate_track(repaired, where=label, radius_margin=margin)
            except TrackError:
                validate_track(track, where=label, radius_margin=margin)  # the file's own fault
                raise
            _warn_once(f"{label}: " + "; ".join(fold.describe() for fold in folds))
            return repaired
    return validate_track(track, where=label, radius_margin=margin)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One ``racer: warning:`` line on stderr, once per message and process.

    A process that :mod:`multiprocessing` started (a training worker, the leaderboard's
    sandbox) stays quiet: the process the user ran loaded the same file first and said it.
    """
    if message in _warned or multiprocessing.parent_process() is not None:
        return
    _warned.add(message)
    print(f"racer: warning: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- names


def _parse_random(name: str) -> int | None:
    if not name.startswith("random:"):
        return None
    text = name.split(":", 1)[1]
    try:
        return int(text)
    except ValueError:
        raise TrackError(
            f"bad random track {name!r}: the seed must be an integer, e.g. random:42"
        ) from None


@lru_cache(maxsize=64)
def _load_builtin(name: str) -> Track:
    path = _builtin_files()[name]
    return load_track_file(path, name=name, source="built-in")


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.endswith((".npy", ".toml"))


def load_track(name_or_path: str | os.PathLike[str] = DEFAULT_TRACK) -> Track:
    """Load a track by name or from a file.

    Args:
        name_or_path: ``random:<seed>`` for a generated track, a path to a ``.npy`` or
            ``.track.toml`` file, a built-in name (see :func:`builtin_track_names`), or the
            name of a track in the user library.

    Returns:
        The validated track. Built-in tracks are cached (their arrays are read-only).

    Raises:
        TrackError: Unknown name (with suggestions) or a bad file.
    """
    if isinstance(name_or_path, os.PathLike):
        return load_track_file(name_or_path)
    text = str(name_or_path)
    if len(text) > _MAX_NAME_OR_PATH_CHARS or "\x00" in text:
        shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
        raise TrackError(f"bad track name or path {shown}: too long or holds a NUL byte")
    seed = _parse_random(text)
    if seed is not None:
        from racer.track.generate import generate_track

        return generate_track(seed)
    if _looks_like_path(text) or Path(text).is_file():
        return load_track_file(text)
    builtin = _builtin_files()
    if text in builtin:
        return _load_builtin(text)
    user = _user_files()
    if text in user:
        return load_track_file(user[text], name=text, source="user")
    names = sorted(set(builtin) | set(user))
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5) if len(text) <= 64 else []
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
    raise TrackError(
        f"unknown track {shown}; {hint}available: {', '.join(map(shown_path, names))} "
        "(or a .npy / .track.toml path, or random:<seed>)"
    )


# ---------------------------------------------------------------------------- saving, library


def to_deepracer_array(track: Track) -> np.ndarray:
    """The track as a DeepRacer waypoint array.

    Args:
        track: The track.

    Returns:
        ``(N, 6)`` float64 rows ``[cx, cy, ix, iy, ox, oy]``; a loop repeats its first row at
        the end, as DeepRacer's files do.
    """
    rows = np.hstack((track.center, track.inner, track.outer)).astype(np.float64)
    if track.closed:
        rows = np.vstack((rows, rows[:1]))
    return rows


def save_npy(track: Track, path: str | os.PathLike[str]) -> Path:
    """Write a track in DeepRacer's ``.npy`` format.

    Args:
        track: The track.
        path: Destination file; ``.npy`` is appended when missing.

    Returns:
        The path written.
    """
    p = Path(path)
    if p.suffix != ".npy":
        p = p.with_name(p.name + ".npy")
    data = to_deepracer_array(track)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.save(fh, data, allow_pickle=False)

    try:
        if p.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        atomic_write(p, write, mode=0o644)
    except OSError as exc:  # a folder in the way, no permission
        raise TrackError(f"cannot write {shown_path(p)} ({exc.strerror or exc})") from None
    except DiskFullError:
        raise TrackError(f"cannot write {shown_path(p)} (the disk is full)") from None
    return p


def _copy(src: Path, dest: Path) -> None:
    shutil.copyfile(src, dest)


def import_track(
    path: str | os.PathLike[str], *, name: str | None = None, force: bool = False
) -> Path:
    """Validate a track file and add it to the user library.

    A ``.npy`` file is saved in DeepRacer's format; a ``.track.toml`` file is copied.

    Args:
        path: The ``.npy`` or ``.track.toml`` file.
        name: The library name; defaults to the file's stem.
        force: Replace an existing user track of that name.

    Returns:
        The file written in the library.

    Raises:
        TrackError: A bad file, a bad name, the name of a built-in track, or an existing user
            track without ``force``.
    """
    src = Path(path)
    track = load_track_file(src)
    lib_name = name if name is not None else _track_stem(src) or src.stem
    if not _NAME_RE.match(lib_name) or lib_name.startswith("random"):
        raise TrackError(
            f"bad track name {lib_name!r}: use letters, digits, '_', '-' or '.' "
            "(up to 64 characters, not starting with 'random')"
        )
    if lib_name in _builtin_files():
        raise TrackError(f"{lib_name!r} is a built-in track; choose another name with --name")
    existing = _user_files().get(lib_name)
    if existing is not None and not force:
        raise TrackError(
            f"a user track named {lib_name!r} already exists ({existing}); "
            "use --force to replace it"
        )
    folder = user_tracks_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # RACER_HOME is a file, or not writable
        raise TrackError(
            f"cannot create the track library {shown_path(folder)} ({exc.strerror or exc}); "
            "check RACER_HOME"
        ) from None
    if src.suffix.lower() == ".npy":
        dest = folder / f"{lib_name}.npy"
        save_npy(track, dest)
    else:
        dest = folder / f"{lib_name}{_TOML_SUFFIX}"
        try:
            atomic_write(dest, lambda tmp: _copy(src, tmp), mode=0o644)
        except OSError as exc:
            raise TrackError(f"cannot write {shown_path(dest)} ({exc.strerror or exc})") from None
        except DiskFullError:
            raise TrackError(f"cannot write {shown_path(dest)} (the disk is full)") from None
    # Only one file per name: drop the other format's file when replacing.
    for other in (folder / f"{lib_name}.npy", folder / f"{lib_name}{_TOML_SUFFIX}"):
        if other != dest and other.exists():
            other.unlink()
    return dest
