"""The ranking rule: which of two results is better, in one place.

DeepRacer's rule, used by the evaluator (an evaluation's best trial), the leaderboard (each racer's
best submission and the order of a board) and the training evaluation callback (the best model):

1. complete results (every requested lap driven) before incomplete ones;
2. complete ones by the average of the requested laps, penalties included (lower is better),
   then by off-tracks (fewer is better);
3. incomplete ones by completion (higher is better), then by off-tracks.

Ties left after that are broken by the caller (the trial's index, the submission's time and row
id). :func:`ranking_key` is the rule as a sort key; it lives in :mod:`racer.env` so that
:mod:`racer.train` can use it without importing :mod:`racer.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RaceScore:
    """What a result is ranked by.

    Attributes:
        complete: every requested lap was driven.
        average_lap_s: the average of the requested laps, penalties included, s; None when
            incomplete.
        completion_percentage: percent of the requested laps driven, 0-100.
        off_track_count: times the car left the road.
    """

    complete: bool
    average_lap_s: float | None
    completion_percentage: float
    off_track_count: int = 0

    @classmethod
    def of(cls, result: Any) -> RaceScore:
        """The score of any result that has these four attributes (a trial, a board entry)."""
        return cls(
            complete=bool(result.complete),
            average_lap_s=result.average_lap_s,
            completion_percentage=float(result.completion_percentage),
            off_track_count=int(result.off_track_count),
        )


def ranking_key(score: RaceScore) -> tuple[int, float, int]:
    """The sort key of a result: lower is better (see the module docstring).

    Args:
        score: the result's figures.

    Returns:
        ``(0, average_lap_s, off_track_count)`` for a complete result,
        ``(1, -completion_percentage, off_track_count)`` for an incomplete one.
    """
    if score.complete and score.average_lap_s is not None:
        return (0, score.average_lap_s, score.off_track_count)
    return (1, -score.completion_percentage, score.off_track_count)


def better(a: RaceScore, b: RaceScore) -> bool:
    """Whether ``a`` ranks strictly before ``b``."""
    return ranking_key(a) < ranking_key(b)


__all__ = ["RaceScore", "better", "ranking_key"]
