"""The one ranking rule (racer.env.ranking) and how training's best-model rule builds on it."""

from __future__ import annotations

import math

from racer.env.ranking import RaceScore, better, ranking_key
from racer.train.callbacks import evaluation_key


def score(avg: float | None, completion: float = 100.0, off: int = 0) -> RaceScore:
    return RaceScore(avg is not None, avg, completion if avg is None else 100.0, off)


def test_complete_results_rank_first_by_average_then_off_tracks() -> None:
    assert better(score(30.0), score(None, completion=99.9))
    assert better(score(20.0), score(21.0))
    assert better(score(20.0, off=1), score(20.0, off=2))
    assert better(score(20.0, off=5), score(20.5, off=0))  # the time counts before off-tracks
    assert ranking_key(score(20.0, off=1)) == (0, 20.0, 1)


def test_incomplete_results_rank_by_completion_then_off_tracks() -> None:
    assert better(score(None, completion=60.0), score(None, completion=40.0))
    assert better(score(None, completion=60.0, off=1), score(None, completion=60.0, off=3))
    assert ranking_key(score(None, completion=60.0, off=1)) == (1, -60.0, 1)
    assert not better(score(None, completion=50.0), score(None, completion=50.0))


def test_complete_without_an_average_counts_as_incomplete() -> None:
    odd = RaceScore(complete=True, average_lap_s=None, completion_percentage=100.0)
    assert ranking_key(odd)[0] == 1


def test_training_evaluations_count_laps_first_then_the_same_rule() -> None:
    # 4 one-lap episodes: two laps beat one lap with a further reach on average
    two = evaluation_key(2, 4, 50.0, 11.0)
    one = evaluation_key(1, 4, 92.5, 10.0)
    assert two < one
    # every lap complete: the faster mean lap wins (the ranking rule's complete branch)
    assert evaluation_key(4, 4, 100.0, 10.0) < evaluation_key(4, 4, 100.0, 10.5)
    # same laps, incomplete: progress, then the laps' mean time
    assert evaluation_key(1, 4, 60.0, 12.0) < evaluation_key(1, 4, 55.0, 10.0)
    assert evaluation_key(1, 4, 60.0, 10.0) < evaluation_key(1, 4, 60.0, 12.0)
    # no lap at all: progress only
    none = evaluation_key(0, 4, 30.0, math.nan)
    assert none[-1] == math.inf and evaluation_key(0, 4, 31.0, math.nan) < none
