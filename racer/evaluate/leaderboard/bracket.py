"""A single-elimination head-to-head bracket of the bundles in a folder.

- **Entrants**: every bundle of the folder (:func:`racer.evaluate.leaderboard.find_bundles`:
  bundle folders and archives, DeepRacer models), named as the leaderboard names them (the folder
  or archive name).
- **Seeding**: by the time-trial leaderboard of the track when the leaderboard file has one: a
  bundle whose name is a model on that board takes the board's order (its best row); the others
  follow, by name. Without a board, by name. Seed 1 is the strongest.
- **Draw**: the standard bracket (1 v N, 2 v N-1, ... nested so that seeds 1 and 2 can meet only
  in the final) over the next power of two; the missing places are byes, which go to the top
  seeds and advance without a race.
- **Matches**: one head-to-head race each (:mod:`racer.evaluate.headtohead`: DeepRacer's
  head-to-head rules, ``laps`` laps), the pole drawn by a coin toss from the bracket's seed and
  the match's number (:func:`racer.evaluate.races.trial_rng`); the winner is the race's winner
  (:func:`racer.evaluate.headtohead.race_order`: first to drive the laps, penalties included, else
  the longer way driven). Each match runs in its own child process within the time and memory
  limits of :mod:`racer.evaluate.sandbox` (the bundles are somebody else's models); a match that
  fails stops the bracket with its one-line error and nothing is saved.
- **Result**: saved atomically beside the leaderboard file (``leaderboard.db`` ->
  ``leaderboard.brackets.json``), one bracket per track (a new bracket on a track replaces the
  older one); the leaderboard's page (:mod:`racer.evaluate.html`) and ``racer ui`` draw it.

Deterministic for a seed: the races are (the simulator and the drivers are deterministic) and so
are the seeding, the draw and the coin tosses.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from racer.errors import ConfigError, RacerError
from racer.evaluate.races import RaceConfig, RaceFormat, trial_rng
from racer.util.files import atomic_write_text

BRACKETS_SUFFIX = ".brackets.json"  # leaderboard.db -> leaderboard.brackets.json
SCHEMA = 1
MATCH_SEED_BASE = 1000  # match m's coin toss uses trial_rng(seed, MATCH_SEED_BASE + m)


@dataclass
class Entrant:
    """A bundle in the bracket.

    Attributes:
        seed: its seed (1 = the strongest).
        name: its name (the bundle's folder or archive name).
        path: the bundle's path.
        seeded_by: why it has that seed: ``leaderboard #k`` or ``name``.
    """

    seed: int
    name: str
    path: str
    seeded_by: str


@dataclass
class Match:
    """One match of the bracket.

    Attributes:
        round: its round, from 1.
        number: its number over the whole bracket, from 1 (round by round, top to bottom).
        a: the upper entrant's name, or None for a bye.
        b: the lower entrant's name, or None for a bye.
        winner: the winner's name.
        bye: advanced without a race.
        pole: the name of the car on pole (None for a bye).
        cars: each car's figures (``racer.evaluate.headtohead.CarRace.to_dict()`` less the
            line), upper entrant first; empty for a bye.
        contacts: contacts in the race.
        sim_s: simulated seconds of the race.
    """

    round: int
    number: int
    a: str | None
    b: str | None
    winner: str
    bye: bool = False
    pole: str | None = None
    cars: list[dict[str, Any]] = field(default_factory=list)
    contacts: int = 0
    sim_s: float = 0.0


@dataclass
class Bracket:
    """A whole bracket.

    Attributes:
        track: the track's name.
        laps: laps per race.
        seed: the seed of the coin tosses.
        entrants: by seed.
        rounds: the matches of each round, top to bottom.
        champion: the winner's name.
        config: the race rules (:meth:`racer.evaluate.races.RaceConfig.to_dict`).
        created_utc: when it was run (ISO, UTC).
        wall_s: wall-clock seconds the bracket took.
    """

    track: str
    laps: int
    seed: int
    entrants: list[Entrant]
    rounds: list[list[Match]]
    champion: str
    config: dict[str, Any] = field(default_factory=dict)
    created_utc: str = ""
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def bracket_order(size: int) -> list[int]:
    """Seeds (1-based) by slot of a standard bracket of ``size`` (a power of two).

    ``[1, 2]`` -> ``[1, 4, 2, 3]`` -> ``[1, 8, 4, 5, 2, 7, 3, 6]``: adjacent slots meet in the
    first round, every pair of seeds sums to ``size + 1``, and seeds 1 and 2 are in opposite
    halves.
    """
    if size < 2 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 2, got {size}")
    order = [1, 2]
    while len(order) < size:
        n = 2 * len(order) + 1
        order = [s for x in order for s in (x, n - x)]
    return order


def brackets_path(db: str | Path) -> Path:
    """Where the brackets of a leaderboard file are kept (beside it)."""
    p = Path(db)
    return p.with_name(p.stem + BRACKETS_SUFFIX)


def load_brackets(db: str | Path) -> list[dict[str, Any]]:
    """The saved brackets of a leaderboard file (JSON data), newest first; [] when none.

    Raises:
        RacerError: the file is not a brackets file.
    """
    path = brackets_path(db)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = list(data["brackets"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RacerError(f"{path}: not a brackets file ({exc})") from None
    return sorted(found, key=lambda b: str(b.get("created_utc", "")), reverse=True)


def save_bracket(db: str | Path, bracket: Bracket) -> Path:
    """Save a bracket beside the leaderboard file, atomically (replacing the track's older one).

    Returns:
        The brackets file.
    """
    path = brackets_path(db)
    kept = [b for b in load_brackets(db) if b.get("track") != bracket.track]
    data = {"schema": SCHEMA, "brackets": [bracket.to_dict(), *kept]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1) + "\n", mode=0o644)
    return path


def _unique_names(paths: Sequence[Path]) -> list[str]:
    from racer.evaluate.policies import bundle_label

    labels = [bundle_label(p) for p in paths]
    return [lab if labels.count(lab) == 1 else p.name for lab, p in zip(labels, paths, strict=True)]


def seed_entrants(paths: Sequence[Path], track: str, db: str | Path | None = None) -> list[Entrant]:
    """The entrants by seed (see the module docstring).

    Args:
        paths: the bundles.
        track: the track (its time-trial board, if any, seeds them).
        db: the leaderboard file, or None (seeding by name).

    Returns:
        The entrants, seed 1 first.
    """
    names = _unique_names(paths)
    board_rank: dict[str, int] = {}
    if db is not None and Path(db).is_file():
        from racer.evaluate.leaderboard.ranking import track_boards

        for b in track_boards(db, track=track):
            if b.race != RaceFormat.TIME_TRIAL.value:
                continue
            for s in b.standings:
                board_rank.setdefault(s.entry.model, s.rank)
            break
    ranked = sorted(
        zip(names, paths, strict=True),
        key=lambda np_: (board_rank.get(np_[0], math.inf), np_[0]),
    )
    return [
        Entrant(
            seed=k + 1,
            name=name,
            path=str(path),
            seeded_by=f"leaderboard #{board_rank[name]}" if name in board_rank else "name",
        )
        for k, (name, path) in enumerate(ranked)
    ]


def race_match(a: str, b: str, track: str, config: dict[str, Any], pole: int) -> dict[str, Any]:
    """One match's race, in this process: JSON data (the sandboxed child's target too).

    Args:
        a: the upper entrant's bundle.
        b: the lower entrant's bundle.
        track: the track.
        config: the race rules (:meth:`RaceConfig.to_dict`).
        pole: 0 when ``a`` is on pole, 1 when ``b`` is.

    Returns:
        ``{"winner": 0 | 1, "cars": [...], "contacts": n, "sim_s": s}``.
    """
    from racer.evaluate.headtohead import HeadToHeadRace
    from racer.evaluate.policies import close_policy, load_policy

    policies = []
    try:
        for source in (a, b):
            policies.append(load_policy(Path(source)))
        with HeadToHeadRace(policies, track, RaceConfig(**config)) as race:
            result = race.run(pole=pole)
    finally:
        for p in policies:
            close_policy(p)
    r = result.races[0]
    cars = [c.to_dict() for c in r.cars]
    return {"winner": r.winner, "cars": cars, "contacts": len(r.contacts), "sim_s": r.sim_s}


def run_bracket(
    folder: str | Path,
    track: str,
    config: RaceConfig | None = None,
    db: str | Path | None = None,
    limits: Any = None,
    on_match: Callable[[Match], None] | None = None,
) -> Bracket:
    """Run the bracket of the bundles in ``folder`` on ``track`` (nothing saved).

    Args:
        folder: the folder of bundles (at least two).
        track: the track (a loop).
        config: the race rules (``laps``, penalties, ``seed`` of the coin tosses...); the race
            format is head-to-head and each match is one race.
        db: the leaderboard file whose time-trial board seeds the bracket, or None.
        limits: :class:`racer.evaluate.sandbox.Limits` of each match's child process; None
            races in this process (trusted bundles, tests).
        on_match: called with each match as it is decided.

    Returns:
        The bracket.

    Raises:
        ConfigError: fewer than two bundles, a track that is not a loop.
        RacerError: a match failed (a bundle's error, or a limit reached).
    """
    from racer.evaluate.leaderboard.submission import find_bundles
    from racer.track import load_track

    t0 = time.perf_counter()
    paths = find_bundles(folder)
    if len(paths) < 2:
        raise ConfigError(
            f"{folder}: a bracket needs 2 bundles or more, found {len(paths)} "
            "(folders with metadata.json, DeepRacer models or .tar.gz files)"
        )
    track_obj = load_track(track)
    if not track_obj.closed:
        raise ConfigError(f"track {track_obj.name!r} is not a loop: head-to-head races need one")
    base = config or RaceConfig()
    cfg = dataclasses.replace(base, race=RaceFormat.HEAD_TO_HEAD, trials=1)
    entrants = seed_entrants(paths, track, db)
    by_seed = {e.seed: e for e in entrants}
    size = 1
    while size < len(entrants):
        size *= 2
    slots: list[Entrant | None] = [by_seed.get(s) for s in bracket_order(size)]
    rounds: list[list[Match]] = []
    number = 0
    rnd = 0
    while len(slots) > 1:
        rnd += 1
        matches: list[Match] = []
        nxt: list[Entrant | None] = []
        for k in range(0, len(slots), 2):
            number += 1
            a, b = slots[k], slots[k + 1]
            if a is None or b is None:
                winner = a if a is not None else b
                assert winner is not None  # the draw never pairs two byes
                m = Match(rnd, number, _name(a), _name(b), winner.name, bye=True)
            else:
                m, winner = _play(rnd, number, a, b, track, cfg, limits)
            matches.append(m)
            nxt.append(winner)
            if on_match is not None:
                on_match(m)
        rounds.append(matches)
        slots = nxt
    champion = slots[0]
    assert champion is not None
    return Bracket(
        track=track_obj.name,
        laps=cfg.laps,
        seed=cfg.seed,
        entrants=entrants,
        rounds=rounds,
        champion=champion.name,
        config=cfg.to_dict(),
        created_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        wall_s=round(time.perf_counter() - t0, 3),
    )


def _name(e: Entrant | None) -> str | None:
    return None if e is None else e.name


def _play(
    rnd: int, number: int, a: Entrant, b: Entrant, track: str, cfg: RaceConfig, limits: Any
) -> tuple[Match, Entrant]:
    """Race ``a`` against ``b`` (sandboxed when ``limits`` is given)."""
    pole = int(trial_rng(cfg.seed, MATCH_SEED_BASE + number).integers(2))
    args: dict[str, Any] = {
        "a": a.path,
        "b": b.path,
        "track": track,
        "config": cfg.to_dict(),
        "pole": pole,
    }
    if limits is None:
        data = race_match(**args)
    else:
        from racer.evaluate.sandbox import default_time_limit_s, run_limited

        time_s = limits.time_s or default_time_limit_s(1, cfg.laps, cfg.time_limit_per_lap_s)
        data = run_limited(
            f"{__name__}:race_match",
            args,
            time_limit_s=time_s,
            memory_bytes=limits.memory_bytes,
            label=f"match {number} ({a.name} v {b.name})",
        )
    try:
        winner = (a, b)[int(data["winner"])]
        cars = [dict(c) for c in data["cars"]]
        for c, e in zip(cars, (a, b), strict=True):
            c["name"] = e.name  # the bracket's name (unique), not the runtime's label
        match = Match(
            rnd,
            number,
            a.name,
            b.name,
            winner.name,
            pole=(a, b)[pole].name,
            cars=cars,
            contacts=int(data["contacts"]),
            sim_s=float(data["sim_s"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RacerError(
            f"match {number}: the race process sent a malformed result ({exc})"
        ) from None
    return match, winner


__all__ = [
    "BRACKETS_SUFFIX",
    "Bracket",
    "Entrant",
    "Match",
    "bracket_order",
    "brackets_path",
    "load_brackets",
    "race_match",
    "run_bracket",
    "save_bracket",
    "seed_entrants",
]
