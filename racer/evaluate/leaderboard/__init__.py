"""The leaderboard: an SQLite store of official evaluations, DeepRacer's ranking, submission.

Three rooms, every public name re-exported here:

- :mod:`racer.evaluate.leaderboard.store`: the SQLite file (schema, WAL, the bounded wait for
  another process's lock), :class:`Entry` rows, :func:`record`, :func:`entries`, racer names.
- :mod:`racer.evaluate.leaderboard.ranking`: DeepRacer's order of a board (:func:`rank`,
  :func:`boards`, by :func:`racer.env.ranking.ranking_key`) and its table rows, with each
  average as a multiple of the track's lap-time bound.
- :mod:`racer.evaluate.leaderboard.submission`: the official evaluation of a bundle or a
  built-in driver (sandboxed within limits), :func:`submit`, and :func:`run_directory` for a
  folder of bundles in parallel.
"""

from __future__ import annotations

from racer.evaluate.leaderboard.ranking import (
    REFERENCE_NOTE,
    Standing,
    boards,
    format_lap,
    format_ratio,
    is_expert,
    rank,
    standings_rows,
    track_bound_s,
)
from racer.evaluate.leaderboard.store import (
    DEFAULT_DB,
    ENV_DB,
    LOCK_POLL_MS,
    LOCK_TIMEOUT_S,
    MAX_NAME_CHARS,
    SCHEMA_VERSION,
    Entry,
    connect,
    default_db,
    entries,
    integrity_check,
    record,
    validate_name,
)
from racer.evaluate.leaderboard.submission import (
    MAX_LINE_POINTS,
    RunOutcome,
    SubmitOutcome,
    entry_from_result,
    evaluate_bundle,
    evaluate_limited,
    evaluate_submission,
    find_bundles,
    official_config,
    run_directory,
    submit,
)

__all__ = [
    "DEFAULT_DB",
    "ENV_DB",
    "LOCK_POLL_MS",
    "LOCK_TIMEOUT_S",
    "MAX_LINE_POINTS",
    "MAX_NAME_CHARS",
    "REFERENCE_NOTE",
    "SCHEMA_VERSION",
    "Entry",
    "RunOutcome",
    "Standing",
    "SubmitOutcome",
    "boards",
    "connect",
    "default_db",
    "entries",
    "entry_from_result",
    "evaluate_bundle",
    "evaluate_limited",
    "evaluate_submission",
    "find_bundles",
    "format_lap",
    "format_ratio",
    "integrity_check",
    "is_expert",
    "official_config",
    "rank",
    "record",
    "run_directory",
    "standings_rows",
    "submit",
    "track_bound_s",
    "validate_name",
]
