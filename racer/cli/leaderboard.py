"""`racer leaderboard submit | show | html | run | bracket`: the SQLite leaderboard of bundle
submissions, and head-to-head brackets beside it.

``submit`` also takes a built-in driver (``expert:racing-line``, ``expert:centerline``): a
reference row, evaluated under the same rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from racer.cli.evaluate import (
    EXPERT_NAMES,
    BotsOpt,
    BotSpeedOpt,
    BoxesOpt,
    CrashPenaltyOpt,
    OfftrackPenaltyOpt,
    RaceOpt,
    ResetLimitOpt,
    SeedOpt,
    model_source,
)
from racer.evaluate.races import (
    DEFAULT_BOT_SPEED_MPS,
    DEFAULT_BOTS,
    DEFAULT_BOXES,
    DEFAULT_CRASH_PENALTY_S,
    DEFAULT_OFFTRACK_PENALTY_S,
    DEFAULT_RESET_LIMIT,
    DEFAULT_TIME_LIMIT_PER_LAP_S,
    RaceFormat,
)

app = typer.Typer(
    help="""The leaderboard: submit bundles, show the standings, write the page.

Examples:

```
racer leaderboard submit export/mycar.tar.gz --track oval --name alice
racer leaderboard show
racer leaderboard html leaderboard.html
racer leaderboard bracket submissions/ --track oval
```
""",
    no_args_is_help=True,
)

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Leaderboard file (default: $RACER_LEADERBOARD or ./leaderboard.db)."
    ),
]
TrackOpt = Annotated[str, typer.Option("--track", "-t", help="Track name or file.")]
TimeLimitOpt = Annotated[
    float | None,
    typer.Option(
        "--time-limit",
        help=(
            "Wall-clock seconds allowed for each bundle's self-test and evaluation, in its own "
            "process (default: the race's simulated time limit, laps x time limit per lap, "
            "plus 120 s)."
        ),
        min=0.1,
    ),
]
MemoryLimitOpt = Annotated[
    str,
    typer.Option(
        "--memory-limit", help="Memory allowed to each bundle's evaluation process (4G, 512M...)."
    ),
]
LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        help="Seconds to wait while another process holds the leaderboard file locked.",
        min=0.0,
    ),
]
DEFAULT_MEMORY_LIMIT = "4G"  # racer.evaluate.sandbox.DEFAULT_MEMORY_BYTES
DEFAULT_LOCK_TIMEOUT_S = 30.0  # racer.evaluate.leaderboard.LOCK_TIMEOUT_S


def _db(db: Path | None) -> Path:
    from racer.evaluate.leaderboard import default_db

    return db if db is not None else default_db()


def _official(
    race: RaceFormat,
    seed: int,
    offtrack_penalty: float,
    crash_penalty: float,
    reset_limit: int,
    boxes: int,
    bots: int,
    bot_speed: float,
):  # type: ignore[no-untyped-def]
    from racer.evaluate.leaderboard import official_config

    return official_config(
        race,
        seed=seed,
        offtrack_penalty_s=offtrack_penalty,
        crash_penalty_s=crash_penalty,
        reset_limit=reset_limit,
        boxes=boxes,
        bots=bots,
        bot_speed_mps=bot_speed,
    )


def _limits(time_limit: float | None, memory_limit: str):  # type: ignore[no-untyped-def]
    """The child-process limits of untrusted bundles (one-line error for a bad size)."""
    from racer.evaluate.sandbox import Limits, parse_memory

    return Limits(time_s=time_limit, memory_bytes=parse_memory(memory_limit))


def _track_name(track: str) -> str:
    """Check the track exists (one-line error otherwise) and return the name to record."""
    from racer.track import load_track

    load_track(track)
    return track


@app.command()
def submit(
    bundle: Annotated[
        str,
        typer.Argument(
            help=(
                "The bundle: a folder or a .tar.gz; a DeepRacer model .tar.gz (model_metadata.json "
                "and model.pb); or a built-in privileged driver, recorded as a reference row: "
                f"{EXPERT_NAMES}."
            ),
            show_default=False,
        ),
    ],
    track: TrackOpt,
    name: Annotated[str, typer.Option("--name", "-n", help="The racer's name on the board.")],
    db: DbOpt = None,
    race: RaceOpt = RaceFormat.TIME_TRIAL,
    seed: SeedOpt = 0,
    offtrack_penalty: OfftrackPenaltyOpt = DEFAULT_OFFTRACK_PENALTY_S,
    crash_penalty: CrashPenaltyOpt = DEFAULT_CRASH_PENALTY_S,
    reset_limit: ResetLimitOpt = DEFAULT_RESET_LIMIT,
    boxes: BoxesOpt = DEFAULT_BOXES,
    bots: BotsOpt = DEFAULT_BOTS,
    bot_speed: BotSpeedOpt = DEFAULT_BOT_SPEED_MPS,
    time_limit: TimeLimitOpt = None,
    memory_limit: MemoryLimitOpt = DEFAULT_MEMORY_LIMIT,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT_S,
) -> None:
    """Run the official evaluation (3 consecutive laps) of a bundle and record it.

    The bundle (or DeepRacer model) is verified, self-tested and evaluated in its own process,
    within --time-limit and --memory-limit; past either it is stopped and nothing is recorded.

    A built-in driver (expert:racing-line, expert:centerline) is recorded the same way, its name
    as the model and no checksum: a reference row (it reads the car's true pose).

    Examples:

    ```
    racer leaderboard submit export/mycar.tar.gz --track oval --name alice
    racer leaderboard submit model.tar.gz -t speedway -n bob --db league.db
    racer leaderboard submit expert:racing-line --track oval --name reference
    ```
    """
    from racer.evaluate.evaluator import lap_ratio
    from racer.evaluate.leaderboard import format_lap, format_ratio, validate_name
    from racer.evaluate.leaderboard import submit as run_submit

    validate_name(name)
    cfg = _official(
        race, seed, offtrack_penalty, crash_penalty, reset_limit, boxes, bots, bot_speed
    )
    limits = _limits(time_limit, memory_limit)
    out = run_submit(
        model_source(bundle),
        _track_name(track),
        name,
        db=_db(db),
        config=cfg,
        limits=limits,
        lock_timeout_s=lock_timeout,
    )
    e = out.entry
    ratio = lap_ratio(e.average_lap_s, out.bound_s)
    vs_bound = (
        f", {format_ratio(ratio)} the bound ({out.bound_s:.3f} s)"
        if ratio is not None and out.bound_s is not None
        else ""
    )
    figure = (
        f"average of 3 laps {format_lap(e.average_lap_s)} s "
        f"(laps {', '.join(format_lap(x) for x in e.lap_times_s)}){vs_bound}"
        if e.complete
        else f"incomplete: {e.completion_percentage:.1f}% ({e.episode_status})"
    )
    typer.echo(
        f"recorded #{out.row_id}: {e.name} on {e.track} ({e.race}): {figure}, "
        f"{e.off_track_count} off-track(s); rank {out.rank}/{out.board_size}"
    )


@app.command()
def show(
    track: Annotated[str | None, typer.Option("--track", "-t", help="Only this track.")] = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the standings (each racer's best submission, DeepRacer's ranking).

    Each board's title gives the track's lap-time bound and the ``vs bound`` column each
    racer's average of 3 laps as a multiple of it. Rows of built-in drivers (expert:...) are
    reference laps, noted under the table.

    Examples:

    ```
    racer leaderboard show
    racer leaderboard show --track oval --db league.db
    racer leaderboard show --json
    ```
    """
    from racer.evaluate.leaderboard import (
        REFERENCE_NOTE,
        format_lap,
        format_ratio,
        is_expert,
        standings_rows,
        track_boards,
    )

    all_boards = track_boards(_db(db), track=track)
    if as_json:
        data = [
            {
                "track": b.label,
                "track_sha256": b.track_sha256,
                "race": b.race,
                "bound_s": None if b.bound_s is None else round(b.bound_s, 4),
                "standings": standings_rows(b.standings, b.bound_s),
            }
            for b in all_boards
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=160)
    if not all_boards:
        console.print("no submissions" + (f" on {track}" if track else ""))
        return
    for b in all_boards:
        t, r, board, bound_s = b.label, b.race, b.standings, b.bound_s
        bound = "bound -" if bound_s is None else f"bound {bound_s:.3f} s"
        reference = any(is_expert(s.entry.model) for s in board)
        table = Table(
            title=f"{escape(t)} - {escape(r)} ({bound})",
            caption=escape(REFERENCE_NOTE) if reference else None,
        )
        for col in (
            "#",
            "racer",
            "model",
            "avg of 3 laps (s)",
            "vs bound",
            "best lap (s)",
            "completion %",
        ):
            table.add_column(col, justify="left" if col in ("racer", "model") else "right")
        for col in ("off-tracks", "crashes", "resets", "submissions"):
            table.add_column(col, justify="right")
        for row in standings_rows(board, bound_s):
            table.add_row(
                str(row["rank"]),
                escape(row["name"]),
                escape(row["model"]),
                format_lap(row["average_lap_s"]),
                format_ratio(row["vs_bound"]),
                format_lap(row["best_lap_s"]),
                f"{row['completion_percentage']:.1f}",
                str(row["off_track_count"]),
                str(row["crash_count"]),
                str(row["reset_count"]),
                str(row["submissions"]),
            )
        console.print(table)


@app.command("html")
def html_page(
    out: Annotated[Path, typer.Argument(help="The .html file to write.")],
    db: DbOpt = None,
    title: Annotated[str, typer.Option(help="Page title.")] = "racer leaderboard",
) -> None:
    """Write the static leaderboard page (tables and track maps with the best laps).

    Examples:

    ```
    racer leaderboard html leaderboard.html
    racer leaderboard html site/index.html --db league.db --title "Club race"
    ```
    """
    from racer.evaluate.html import write_html

    path = write_html(_db(db), out, title=title)
    typer.echo(f"wrote {path}")


@app.command()
def run(
    folder: Annotated[Path, typer.Argument(help="A folder of bundles (folders or .tar.gz).")],
    track: TrackOpt,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel processes.", min=1)] = 1,
    db: DbOpt = None,
    race: RaceOpt = RaceFormat.TIME_TRIAL,
    seed: SeedOpt = 0,
    offtrack_penalty: OfftrackPenaltyOpt = DEFAULT_OFFTRACK_PENALTY_S,
    crash_penalty: CrashPenaltyOpt = DEFAULT_CRASH_PENALTY_S,
    reset_limit: ResetLimitOpt = DEFAULT_RESET_LIMIT,
    boxes: BoxesOpt = DEFAULT_BOXES,
    bots: BotsOpt = DEFAULT_BOTS,
    bot_speed: BotSpeedOpt = DEFAULT_BOT_SPEED_MPS,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    time_limit: TimeLimitOpt = None,
    memory_limit: MemoryLimitOpt = DEFAULT_MEMORY_LIMIT,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT_S,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help=(
                "Evaluate on a Ray cluster instead of --workers processes: `auto` (the one "
                "`ray start` made on this machine), HOST:PORT of its head node, or `local`. "
                "Rows are recorded here, one writer; needs `pip install 'racer[ray]'`."
            ),
        ),
    ] = None,
) -> None:
    """Evaluate and record every bundle in FOLDER (named after each bundle), in parallel.

    Each bundle runs in its own process within --time-limit and --memory-limit; one past a
    limit is skipped (nothing recorded for it) and the others still count.

    With --ray the evaluations are Ray tasks on the cluster's CPUs (a bundle whose worker
    dies is evaluated again) and this process records every row, exactly as without it.

    Examples:

    ```
    racer leaderboard run submissions/ --track oval
    racer leaderboard run submissions/ -t speedway --workers 4 --db league.db
    racer leaderboard run submissions/ --track oval --ray auto
    ```
    """
    from racer.errors import ConfigError
    from racer.evaluate.leaderboard import find_bundles, run_directory

    if not find_bundles(folder):
        raise ConfigError(f"{folder}: no bundles (folders with metadata.json or .tar.gz files)")
    cfg = _official(
        race, seed, offtrack_penalty, crash_penalty, reset_limit, boxes, bots, bot_speed
    )
    limits = _limits(time_limit, memory_limit)
    if ray is not None:
        from racer.distributed.cluster import check_address, require_ray
        from racer.distributed.leaderboard import run_directory_ray

        address = check_address(ray)
        require_ray()
        outcomes = run_directory_ray(
            folder,
            _track_name(track),
            address=address,
            db=_db(db),
            config=cfg,
            progress=progress,
            limits=limits,
            lock_timeout_s=lock_timeout,
        )
    else:
        outcomes = run_directory(
            folder,
            _track_name(track),
            db=_db(db),
            workers=workers,
            config=cfg,
            progress=progress,
            limits=limits,
            lock_timeout_s=lock_timeout,
        )
    bad = 0
    for o in outcomes:
        if o.ok:
            typer.echo(f"ok      {o.path.name}: {o.message}")
        else:
            bad += 1
            typer.echo(f"skipped {o.path.name}: {o.message}", err=True)
    typer.echo(f"{len(outcomes) - bad} recorded, {bad} skipped")


@app.command()
def bracket(
    folder: Annotated[Path, typer.Argument(help="A folder of bundles (folders or .tar.gz).")],
    track: TrackOpt,
    laps: Annotated[int, typer.Option("--laps", help="Laps per race.", min=1)] = 3,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the coin tosses for pole position.")
    ] = 0,
    db: DbOpt = None,
    offtrack_penalty: OfftrackPenaltyOpt = DEFAULT_OFFTRACK_PENALTY_S,
    crash_penalty: CrashPenaltyOpt = DEFAULT_CRASH_PENALTY_S,
    reset_limit: ResetLimitOpt = DEFAULT_RESET_LIMIT,
    lap_time_limit: Annotated[
        float,
        typer.Option(
            "--lap-time-limit", help="Simulated seconds allowed per lap of a race.", min=1.0
        ),
    ] = DEFAULT_TIME_LIMIT_PER_LAP_S,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            help=(
                "Wall-clock seconds allowed to each match, in its own process (default: the "
                "race's simulated time limit plus 120 s)."
            ),
            min=0.1,
        ),
    ] = None,
    memory_limit: MemoryLimitOpt = DEFAULT_MEMORY_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print the bracket as JSON.")] = False,
) -> None:
    """Run a single-elimination head-to-head bracket of the bundles in FOLDER and save it.

    Seeds follow the track's time-trial board in the leaderboard file (bundles by their names
    there), the others by name; byes go to the top seeds when the field is not a power of two.
    Each match is one head-to-head race under DeepRacer's rules (the car behind counts a crash,
    is put back and waits out the crash penalty; off-tracks wait out theirs); the winner drove
    the laps first, penalties included, else drove further. The pole of each match is a coin
    toss from `--seed`: the same seed gives the same bracket. Each match runs in its own
    process within `--time-limit` and `--memory-limit`.

    The bracket is saved beside the leaderboard file (`leaderboard.brackets.json`), one per
    track, and drawn on the leaderboard's page and in `racer ui`.

    Examples:

    ```
    racer leaderboard bracket submissions/ --track oval
    racer leaderboard bracket submissions/ -t speedway --laps 1 --seed 7
    ```
    """
    from racer.evaluate.leaderboard.bracket import Match, run_bracket, save_bracket
    from racer.evaluate.races import RaceConfig

    config = RaceConfig(
        race=RaceFormat.HEAD_TO_HEAD,
        trials=1,
        laps=laps,
        offtrack_penalty_s=offtrack_penalty,
        crash_penalty_s=crash_penalty,
        reset_limit=reset_limit,
        time_limit_per_lap_s=lap_time_limit,
        seed=seed,
    )
    limits = _limits(time_limit, memory_limit)
    path = _db(db)

    def show(m: Match) -> None:
        if as_json:
            return
        if m.bye:
            typer.echo(f"round {m.round} match {m.number}: {m.winner} (bye)")
            return
        figures = ", ".join(
            f"{c['name']} {c['completion_percentage']:.1f}% "
            f"{c['elapsed_time_in_milliseconds'] / 1000.0:.2f} s "
            f"{c['crash_count']} crash(es)"
            for c in m.cars
        )
        typer.echo(f"round {m.round} match {m.number}: {m.winner} wins ({figures})")

    out = run_bracket(folder, _track_name(track), config, db=path, limits=limits, on_match=show)
    saved = save_bracket(path, out)
    if as_json:
        typer.echo(json.dumps(out.to_dict(), indent=2))
        return
    typer.echo(f"champion: {out.champion} ({len(out.entrants)} bundles, {out.wall_s:.1f} s)")
    typer.echo(f"saved {saved}")
