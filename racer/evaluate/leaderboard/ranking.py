"""The leaderboard's ranking: DeepRacer's order of a board, and its table rows.

Per track and race format each racer's best submission counts, ordered by the one ranking rule
(:func:`racer.env.ranking.ranking_key`: complete submissions first by the average of the 3
consecutive laps, penalties included, then off-tracks; incomplete ones after them by completion,
then off-tracks), ties going to the earlier submission.

A board's track is its geometry, not its name (:class:`Board`): rows are grouped by the
``track_sha256`` recorded with them, so two different files with the same name make two boards
and one geometry from two paths makes one. Rows of older files (no geometry) take the installed
track of their name, and join the board of that geometry; a name installed nowhere here makes a
board of its own, without a map. Boards that share a name are told apart by a short hash
(``my_track (a1b2c3)``).

Each board also shows every racer's average as a multiple of the track's lap-time bound (the
fastest lap the simulated car can drive, :func:`racer.track.racing_line`): computed when shown,
from the recorded average and the board's track (the stored geometry, else the installed track
of its name), never stored.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from racer.errors import RacerError
from racer.evaluate.evaluator import lap_ratio, lap_time_bound_s
from racer.evaluate.leaderboard.store import (
    Entry,
    entries,
    geometry_sha256,
    track_from_geometry,
    track_geometry,
)
from racer.evaluate.policies import EXPERT_PREFIX
from racer.track import Track, load_track

SHORT_HASH_CHARS = 6  # hex digits of a track's hash that tell apart boards sharing a name
_NAME_KEY = "name:"  # a board key for rows with no geometry and no installed track of their name


@dataclass
class Standing:
    """A racer's place on a leaderboard.

    Attributes:
        rank: 1 for the leader.
        entry: the racer's best submission.
        submissions: how many submissions the racer made on this board.
    """

    rank: int
    entry: Entry
    submissions: int


def rank(items: Iterable[Entry]) -> list[Standing]:
    """DeepRacer's ranking of one board: each racer's best submission, best first.

    Args:
        items: the submissions of one track and race format.

    Returns:
        The standings.
    """
    best: dict[str, Entry] = {}
    counts: dict[str, int] = {}
    for e in items:
        counts[e.name] = counts.get(e.name, 0) + 1
        if e.name not in best or e.rank_key() < best[e.name].rank_key():
            best[e.name] = e
    ordered = sorted(best.values(), key=Entry.rank_key)
    return [
        Standing(rank=i + 1, entry=e, submissions=counts[e.name]) for i, e in enumerate(ordered)
    ]


@dataclass
class Board:
    """One leaderboard: the submissions on one track geometry in one race format, ranked.

    Attributes:
        key: the track's :func:`~racer.evaluate.leaderboard.store.geometry_sha256`, or
            ``name:<track>`` for rows with no geometry whose name is installed nowhere here.
        race: the race format.
        track_name: the track's name (the first recorded).
        label: the name to show: ``track_name``, with a short hash when another board's track
            has the same name (``my_track (a1b2c3)``); unique per race format.
        track: the geometry to draw and derive the bound from (the stored one, else the
            installed track of the name), or None: no map.
        standings: the ranking.
        names: every name the track was recorded under, first recorded first.
    """

    key: str
    race: str
    track_name: str
    label: str
    track: Track | None
    standings: list[Standing]
    names: list[str] = field(default_factory=list)

    @property
    def track_sha256(self) -> str:
        """The track's hash, or empty when the board has no geometry."""
        return "" if self.key.startswith(_NAME_KEY) else self.key

    @functools.cached_property
    def bound_s(self) -> float | None:
        """The lap-time bound of the board's track (driven forward), s, or None."""
        return None if self.track is None else lap_time_bound_s(self.track)


@functools.lru_cache(maxsize=64)
def _installed(name: str) -> tuple[Track, str] | None:
    """The installed track of a recorded name and its hash, or None (cached per name)."""
    try:
        track = load_track(name)
        return track, geometry_sha256(track_geometry(track))
    except RacerError:
        return None


class _Resolver:
    """Each entry's board key and track, building each stored geometry once."""

    def __init__(self) -> None:
        self._stored: dict[str, Track | None] = {}

    def __call__(self, e: Entry) -> tuple[str, Track | None]:
        if e.track_sha256:
            if e.track_sha256 not in self._stored:
                built = None
                if e.track_geometry is not None:
                    try:
                        built = track_from_geometry(e.track_geometry, e.track)
                    except RacerError:  # a damaged geometry: fall back to the name below
                        built = None
                self._stored[e.track_sha256] = built
            stored = self._stored[e.track_sha256]
            if stored is not None:
                return e.track_sha256, stored
            installed = _installed(e.track)
            same = installed is not None and installed[1] == e.track_sha256
            return e.track_sha256, installed[0] if installed and same else None
        installed = _installed(e.track)
        if installed is None:
            return _NAME_KEY + e.track, None
        return installed[1], installed[0]


def _labels(names_by_key: dict[str, str]) -> dict[str, str]:
    """Board labels: the name, with a short hash where two keys share a name."""
    keys_by_name: dict[str, list[str]] = {}
    for key, name in names_by_key.items():
        keys_by_name.setdefault(name, []).append(key)
    labels: dict[str, str] = {}
    for name, keys in keys_by_name.items():
        if len(keys) == 1:
            labels[keys[0]] = name
            continue
        hashes = [k for k in keys if not k.startswith(_NAME_KEY)]
        n = SHORT_HASH_CHARS
        while len({h[:n] for h in hashes}) < len(hashes):
            n += 2
        for k in keys:
            tag = "no geometry recorded" if k.startswith(_NAME_KEY) else k[:n]
            labels[k] = f"{name} ({tag})"
    return labels


def _group(items: Iterable[Entry]) -> list[Board]:
    resolve = _Resolver()
    groups: dict[tuple[str, str], list[Entry]] = {}
    tracks: dict[str, Track | None] = {}
    names: dict[str, list[str]] = {}
    for e in items:  # oldest first: a track's first name is the first recorded
        key, track = resolve(e)
        groups.setdefault((key, e.race), []).append(e)
        tracks.setdefault(key, track)
        if e.track not in names.setdefault(key, []):
            names[key].append(e.track)
    labels = _labels({k: v[0] for k, v in names.items()})
    out = [
        Board(
            key=key,
            race=race,
            track_name=names[key][0],
            label=labels[key],
            track=tracks[key],
            standings=rank(group),
            names=names[key],
        )
        for (key, race), group in groups.items()
    ]
    return sorted(out, key=lambda b: (b.label, b.race))


def _matches(board: Board, track: str, sha: str | None) -> bool:
    text = track.strip().lower()
    return (
        track in board.names
        or track == board.label
        or (sha is not None and board.key == sha)
        or (
            len(text) >= SHORT_HASH_CHARS
            and all(c in "0123456789abcdef" for c in text)
            and board.track_sha256.startswith(text)
        )
    )


def track_boards(
    db: str | Path, track: str | None = None, lock_timeout_s: float | None = None
) -> list[Board]:
    """Every board, sorted by label then race format.

    Args:
        db: the SQLite file.
        track: only the boards of this track: a recorded name, a board's label, a track file
            (matched by its geometry) or the start of a track's hash.
        lock_timeout_s: the most seconds to wait for another process's lock.

    Returns:
        The boards.
    """
    found = _group(entries(db, lock_timeout_s=lock_timeout_s))
    if track is None:
        return found
    sha = None
    if Path(track).is_file():
        installed = _installed(track)
        sha = None if installed is None else installed[1]
    return [b for b in found if _matches(b, track, sha)]


def board_of(db: str | Path, entry: Entry, lock_timeout_s: float | None = None) -> list[Standing]:
    """The standings of the board an entry belongs to (its track geometry and race format).

    Args:
        db: the SQLite file.
        entry: a submission (recorded or not).
        lock_timeout_s: the most seconds to wait for another process's lock.

    Returns:
        The standings of the recorded submissions on that board.
    """
    if entry.track_geometry is not None:  # the hash record() gives it, whatever it claims
        entry = replace(entry, track_sha256=geometry_sha256(entry.track_geometry))
    resolve = _Resolver()
    key, _ = resolve(entry)
    recorded = entries(db, race=entry.race, lock_timeout_s=lock_timeout_s)
    return rank(e for e in recorded if resolve(e)[0] == key)


def boards(db: str | Path, track: str | None = None) -> dict[tuple[str, str], list[Standing]]:
    """Every board's standings, keyed by ``(label, race)``, sorted by label then race.

    The label is the track's name, with a short hash when two boards' tracks share a name
    (:class:`Board`); :func:`track_boards` gives each board's track and bound too.

    Args:
        db: the SQLite file.
        track: only this track (as :func:`track_boards`).

    Returns:
        ``{(label, race): standings}``.
    """
    return {(b.label, b.race): b.standings for b in track_boards(db, track)}


#: Under a board that holds built-in drivers' rows (``show`` and the HTML page).
REFERENCE_NOTE = (
    f"{EXPERT_PREFIX}* rows are built-in drivers recorded for reference: they read the car's "
    "true pose, so they are not deployable models"
)


def is_expert(source: str | Path) -> bool:
    """Whether a submission or a recorded model names a built-in driver (``expert:...``)."""
    return str(source).startswith(EXPERT_PREFIX)


def format_lap(value: float | None) -> str:
    """A lap time for tables: ``12.345`` or ``-``."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def format_ratio(ratio: float | None) -> str:
    """A ratio to the bound for tables: ``1.11x`` or ``-``."""
    return "-" if ratio is None or not math.isfinite(ratio) else f"{ratio:.2f}x"


@functools.lru_cache(maxsize=64)
def track_bound_s(track: str) -> float | None:
    """The lap-time bound of a board's track, by the name recorded on the board, or None.

    The track is loaded here (a name, a user-library name or a path) and driven forward, as
    the official evaluation drives it. None when it is not installed here or has no bound.
    Cached per name for the life of the process.

    Args:
        track: the recorded track name.

    Returns:
        The bound, s, or None.
    """
    try:
        loaded = load_track(track)
    except RacerError:
        return None
    return lap_time_bound_s(loaded)


def standings_rows(board: Sequence[Standing], bound_s: float | None = None) -> list[dict[str, Any]]:
    """Table rows for a board (shared by ``show`` and the HTML page).

    Args:
        board: the standings.
        bound_s: the track's lap-time bound (:func:`track_bound_s`), s; None when unknown.

    Returns:
        One dict per racer: rank, name, model, average_lap_s, vs_bound (the average over the
        bound, None without either), best_lap_s, completion, off_track_count, crash_count,
        reset_count, submissions, submitted_utc.
    """
    return [
        {
            "rank": s.rank,
            "name": s.entry.name,
            "model": s.entry.model,
            "average_lap_s": s.entry.average_lap_s,
            "vs_bound": _rounded(lap_ratio(s.entry.average_lap_s, bound_s)),
            "best_lap_s": s.entry.best_lap_s,
            "completion_percentage": s.entry.completion_percentage,
            "off_track_count": s.entry.off_track_count,
            "crash_count": s.entry.crash_count,
            "reset_count": s.entry.reset_count,
            "submissions": s.submissions,
            "submitted_utc": s.entry.submitted_utc,
        }
        for s in board
    ]


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
