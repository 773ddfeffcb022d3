"""The leaderboard's ranking: DeepRacer's order of a board, and its table rows.

Per track and race format each racer's best submission counts, ordered by the one ranking rule
(:func:`racer.env.ranking.ranking_key`: complete submissions first by the average of the 3
consecutive laps, penalties included, then off-tracks; incomplete ones after them by completion,
then off-tracks), ties going to the earlier submission.

Each board also shows every racer's average as a multiple of the track's lap-time bound (the
fastest lap the simulated car can drive, :func:`racer.track.racing_line`): computed when shown,
from the recorded average and the track installed here, never stored, so old files need nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racer.errors import RacerError
from racer.evaluate.evaluator import lap_ratio, lap_time_bound_s
from racer.evaluate.leaderboard.store import Entry, entries
from racer.evaluate.policies import EXPERT_PREFIX
from racer.track import load_track


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


def boards(db: str | Path, track: str | None = None) -> dict[tuple[str, str], list[Standing]]:
    """Every board's standings, keyed by ``(track, race)``, sorted by track then race.

    Args:
        db: the SQLite file.
        track: only this track.

    Returns:
        ``{(track, race): standings}``.
    """
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries(db, track=track):
        groups.setdefault((e.track, e.race), []).append(e)
    return {key: rank(groups[key]) for key in sorted(groups)}


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
