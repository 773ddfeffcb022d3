"""The leaderboard: an SQLite store of official evaluations, DeepRacer's ranking, submission.

Three rooms, every public name re-exported here:

- :mod:`racer.evaluate.leaderboard.store`: the SQLite file (schema, WAL, the bounded wait for
  another process's lock, version 1 files migrated on first write), :class:`Entry` rows with
  the evaluated track's geometry and hash, :func:`record`, :func:`entries`, racer names.
- :mod:`racer.evaluate.leaderboard.ranking`: the boards, one per track geometry and race format
  (:class:`Board`, :func:`track_boards`, :func:`boards`), DeepRacer's order of a board
  (:func:`rank`, by :func:`racer.env.ranking.ranking_key`) and its table rows, with each
  average as a multiple of the track's lap-time bound.
- :mod:`racer.evaluate.leaderboard.submission`: the official evaluation of a bundle or a
  built-in driver (sandboxed within limits), :func:`submit`, and :func:`run_directory` for a
  folder of bundles in parallel.
- :mod:`racer.evaluate.leaderboard.bracket`: a single-elimination head-to-head bracket of a
  folder of bundles (:func:`run_bracket`), saved beside the leaderboard file
  (:func:`save_bracket`, :func:`load_brackets`).
"""

from __future__ import annotations

from racer.evaluate.leaderboard.bracket import (
    Bracket,
    brackets_path,
    load_brackets,
    run_bracket,
    save_bracket,
)
from racer.evaluate.leaderboard.ranking import (
    REFERENCE_NOTE,
    SHORT_HASH_CHARS,
    Board,
    Standing,
    board_of,
    boards,
    format_lap,
    format_ratio,
    is_expert,
    rank,
    standings_rows,
    track_boards,
    track_bound_s,
)
from racer.evaluate.leaderboard.store import (
    DEFAULT_DB,
    ENV_DB,
    GEOMETRY_DECIMALS,
    LOCK_POLL_MS,
    LOCK_TIMEOUT_S,
    MAX_NAME_CHARS,
    SCHEMA_VERSION,
    Entry,
    connect,
    default_db,
    entries,
    geometry_sha256,
    integrity_check,
    record,
    track_from_geometry,
    track_geometry,
    validate_name,
)
from racer.evaluate.leaderboard.submission import (
    MAX_LINE_POINTS,
    RunOutcome,
    SubmitOutcome,
    entry_from_result,
    evaluate_bundle,
    evaluate_entry,
    evaluate_limited,
    evaluate_submission,
    find_bundles,
    official_config,
    record_entry,
    run_directory,
    run_outcome,
    submit,
)

__all__ = [
    "DEFAULT_DB",
    "ENV_DB",
    "GEOMETRY_DECIMALS",
    "LOCK_POLL_MS",
    "LOCK_TIMEOUT_S",
    "MAX_LINE_POINTS",
    "MAX_NAME_CHARS",
    "REFERENCE_NOTE",
    "SCHEMA_VERSION",
    "SHORT_HASH_CHARS",
    "Board",
    "Bracket",
    "Entry",
    "RunOutcome",
    "Standing",
    "SubmitOutcome",
    "board_of",
    "boards",
    "brackets_path",
    "connect",
    "default_db",
    "entries",
    "entry_from_result",
    "evaluate_bundle",
    "evaluate_entry",
    "evaluate_limited",
    "evaluate_submission",
    "find_bundles",
    "format_lap",
    "format_ratio",
    "geometry_sha256",
    "integrity_check",
    "is_expert",
    "load_brackets",
    "official_config",
    "rank",
    "record",
    "record_entry",
    "run_bracket",
    "run_directory",
    "run_outcome",
    "save_bracket",
    "standings_rows",
    "submit",
    "track_boards",
    "track_bound_s",
    "track_from_geometry",
    "track_geometry",
    "validate_name",
]
