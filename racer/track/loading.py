"""Loading and saving tracks: built-in names, user library, DeepRacer ``.npy``, ``.track.toml``.

Formats:

* DeepRacer ``.npy``: float array ``(N, 6)``, rows ``[cx, cy, ix, iy, ox, oy]`` (centre, inner
  border, outer border), m. The loop is closed when the first row equals the last (the duplicate
  is dropped); otherwise the track is open.
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

Names resolve in this order: ``random:<seed>`` (a generated track), an existing file path,
a built-in track, a track in the user library (``$RACER_HOME/tracks``, by default
``~/.local/share/racer/tracks``).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shutil
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
from racer.track.validation import RADIUS_MARGIN, validate_track

BUILTIN_PACKAGE = "racer.tracks_data"  # package mapped onto the top-level tracks/ folder
DEFAULT_TRACK = "oval"
DEFAULT_SPACING_M = 0.2  # m, waypoint spacing of smoothed .track.toml tracks
_MIN_SPACING_M = 0.05  # m
_MAX_SPACING_M = 1.0  # m
_CLOSE_ATOL_M = 1e-6  # m, first and last rows this close mean a closed DeepRacer loop
_DUPLICATE_M = 1e-9  # m, consecutive waypoints this close are one
_TOML_SUFFIX = ".track.toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOML_KEYS = {"name", "description", "width_m", "closed", "spacing_m", "points", "widths_m"}


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
    if a.ndim != 2 or a.shape[1] != 6:
        raise TrackError(
            f"expected a DeepRacer waypoint array of shape (N, 6) "
            f"[cx, cy, ix, iy, ox, oy], got shape {a.shape}"
        )
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise TrackError(f"expected a float array, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        row = int(np.flatnonzero(~np.all(np.isfinite(a), axis=1))[0])
        raise TrackError(f"row {row} contains NaN or infinite values")
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


def _load_npy(path: Path, name: str, source: str) -> Track:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in reason:  # numpy's words for "no .npy header here"
            reason = "no .npy header: not a NumPy array file, or a pickled object (refused)"
        raise TrackError(
            f"cannot read it as a NumPy .npy file ({reason}); expected DeepRacer's (N, 6) array"
        ) from None
    if not isinstance(array, np.ndarray):
        raise TrackError("expected a single .npy array, got an .npz archive")
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
    if not isinstance(track_name, str) or not track_name:
        raise TrackError(f"'name' must be a non-empty string, got {track_name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise TrackError(f"'description' must be a string, got {description!r}")
    closed = data.get("closed", True)
    if not isinstance(closed, bool):
        raise TrackError(f"'closed' must be true or false, got {closed!r}")
    width = _toml_float(data, "width_m")
    if width <= 0.0:
        raise TrackError(f"road width must be > 0, got width_m = {width}")
    spacing = _toml_float(data, "spacing_m", DEFAULT_SPACING_M)
    if not _MIN_SPACING_M <= spacing <= _MAX_SPACING_M:
        raise TrackError(
            f"spacing_m must be within {_MIN_SPACING_M}-{_MAX_SPACING_M} m, got {spacing}"
        )
    if "points" not in data:
        raise TrackError("missing key 'points' (the centre-line control points, [[x, y], ...])")
    try:
        points = np.array(data["points"], dtype=np.float64)
    except (TypeError, ValueError):
        raise TrackError("'points' must be a list of [x, y] number pairs") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise TrackError(f"'points' must be a list of [x, y] pairs, got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise TrackError("'points' contains NaN or infinite values")
    widths = np.full(len(points), width)
    if "widths_m" in data:
        try:
            widths = np.array(data["widths_m"], dtype=np.float64)
        except (TypeError, ValueError):
            raise TrackError("'widths_m' must be a list of numbers") from None
        if widths.shape != (len(points),):
            raise TrackError(
                f"'widths_m' has {widths.size} values for {len(points)} points; give one per point"
            )
        if not np.all(np.isfinite(widths)) or np.any(widths <= 0.0):
            raise TrackError("every value of 'widths_m' must be a finite number > 0")
    if closed and len(points) > 1 and math.hypot(*(points[-1] - points[0])) <= _DUPLICATE_M:
        points, widths = points[:-1], widths[:-1]
    keep = np.concatenate(([True], np.hypot(*np.diff(points, axis=0).T) > _DUPLICATE_M))
    points, widths = points[keep], widths[keep]
    if len(points) < 4:
        raise TrackError(
            f"too few control points: {len(points)} after removing duplicates (at least 4)"
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
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TrackError(f"not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackError(f"cannot read it ({exc})") from None
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
    if not p.is_file():
        raise TrackError(f"{p}: no such track file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            track = _load_npy(p, name or p.stem, source)
        elif suffix == ".toml":
            track = _load_toml(p, name, source)
        else:
            raise TrackError("unknown track file type; use a DeepRacer .npy or a .track.toml file")
    except TrackError as exc:
        raise TrackError(f"{p}: {exc}") from None
    # A DeepRacer file gives its borders: the crossing checks are exact for them, while the
    # radius proxy would reject real tracks whose waypoints are a little noisy.
    margin = None if suffix == ".npy" else RADIUS_MARGIN
    return validate_track(track, where=str(p), radius_margin=margin)


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
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise TrackError(
        f"unknown track {text!r}; {hint}available: {', '.join(names)} "
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
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("wb") as fh:
        np.save(fh, to_deepracer_array(track), allow_pickle=False)
    tmp.replace(p)
    return p


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
    folder.mkdir(parents=True, exist_ok=True)
    if src.suffix.lower() == ".npy":
        dest = folder / f"{lib_name}.npy"
        save_npy(track, dest)
    else:
        dest = folder / f"{lib_name}{_TOML_SUFFIX}"
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
    # Only one file per name: drop the other format's file when replacing.
    for other in (folder / f"{lib_name}.npy", folder / f"{lib_name}{_TOML_SUFFIX}"):
        if other != dest and other.exists():
            other.unlink()
    return dest
