"""`racer evaluate`: headless trials of a run folder, a bundle, a DeepRacer model archive or a
built-in driver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from racer.evaluate.races import (
    DEFAULT_BOT_SPEED_MPS,
    DEFAULT_BOTS,
    DEFAULT_BOXES,
    DEFAULT_CRASH_PENALTY_S,
    DEFAULT_OFFTRACK_PENALTY_S,
    DEFAULT_RESET_LIMIT,
    DEFAULT_TIME_LIMIT_PER_LAP_S,
    DEFAULT_TRIALS,
    RaceFormat,
)
from racer.evaluate.races import RaceConfig as _RaceConfig

#: Shared options (the leaderboard commands use them too).
RaceOpt = Annotated[
    RaceFormat, typer.Option("--race", help="time-trial | object-avoidance | head-to-head.")
]
OfftrackPenaltyOpt = Annotated[
    float, typer.Option("--offtrack-penalty", help="Seconds added per off-track.", min=0.0)
]
CrashPenaltyOpt = Annotated[
    float, typer.Option("--crash-penalty", help="Seconds added per collision.", min=0.0)
]
ResetLimitOpt = Annotated[
    int,
    typer.Option(
        "--reset-limit",
        help="Put-backs allowed per trial (0 = the first off-track ends it).",
        min=0,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the object placement.")]
BoxesOpt = Annotated[int, typer.Option("--boxes", help="Object avoidance: number of boxes.", min=0)]
BotsOpt = Annotated[int, typer.Option("--bots", help="Head-to-head: number of bot cars.", min=0)]
BotSpeedOpt = Annotated[
    float, typer.Option("--bot-speed", help="Head-to-head: bot speed, m/s.", min=0.0, max=4.0)
]
BoxPlacementOpt = Annotated[
    str,
    typer.Option(
        "--box-placement",
        help="Object avoidance: random (per trial) | fixed (one draw from --seed) | alternating.",
    ),
]
BotLaneChangeOpt = Annotated[
    float,
    typer.Option(
        "--bot-lane-change",
        help="Head-to-head: seconds between a bot's lane changes (0: bots keep to their line).",
        min=0.0,
    ),
]
BotLineOpt = Annotated[
    str, typer.Option("--bot-line", help="Head-to-head: the line bots drive, center | racing.")
]
#: The built-in drivers for help texts, as :data:`racer.evaluate.policies.EXPERTS` names them
#: (written out so that ``racer --help`` does not import the car runtime; a test keeps it true).
EXPERT_NAMES = "expert:racing-line | expert:centerline"


def model_source(text: str) -> str | Path:
    """A model argument: a built-in driver's name (``expert:...``) as given, else a path."""
    from racer.evaluate.policies import EXPERT_PREFIX

    return text if text.startswith(EXPERT_PREFIX) else Path(text)


def evaluate(
    model: Annotated[
        str,
        typer.Argument(
            help=(
                "A run folder (runs/NAME), a bundle (folder or .tar.gz), a DeepRacer model "
                "(.tar.gz with model_metadata.json and model.pb), or a built-in privileged "
                f"driver: {EXPERT_NAMES}."
            ),
            show_default=False,
        ),
    ],
    track: Annotated[
        str | None,
        typer.Option(
            "--track", "-t", help="Track name or file (default: a run's first track, else oval)."
        ),
    ] = None,
    trials: Annotated[int, typer.Option(help="Trials, each from the start line.", min=1)] = (
        DEFAULT_TRIALS
    ),
    laps: Annotated[int, typer.Option(help="Consecutive laps per trial.", min=1)] = 1,
    race: RaceOpt = RaceFormat.TIME_TRIAL,
    offtrack_penalty: OfftrackPenaltyOpt = DEFAULT_OFFTRACK_PENALTY_S,
    crash_penalty: CrashPenaltyOpt = DEFAULT_CRASH_PENALTY_S,
    reset_limit: ResetLimitOpt = DEFAULT_RESET_LIMIT,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="Simulated seconds allowed per lap.", min=1.0)
    ] = DEFAULT_TIME_LIMIT_PER_LAP_S,
    seed: SeedOpt = 0,
    boxes: BoxesOpt = DEFAULT_BOXES,
    bots: BotsOpt = DEFAULT_BOTS,
    bot_speed: BotSpeedOpt = DEFAULT_BOT_SPEED_MPS,
    box_placement: BoxPlacementOpt = "random",
    bot_lane_change: BotLaneChangeOpt = 0.0,
    bot_line: BotLineOpt = "center",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON instead of a table.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write results.json and trajectories.png into this folder.")
    ] = None,
    video: Annotated[
        bool,
        typer.Option(
            help="With --out: also replay the best lap as best_lap.mp4 (a GIF where no MP4 "
            "encoder works): chase view and map, speed, steering, progress, lap time."
        ),
    ] = True,
    perturb: Annotated[
        str | None,
        typer.Option(
            "--perturb",
            help="Sim-to-real check: fixed levels NAME=VALUE,... (noise, blur, latency_steps, ...).",
        ),
    ] = None,
    opponent: Annotated[
        list[str] | None,
        typer.Option(
            "--opponent",
            help=(
                "With `--race head-to-head`: race this model (run folder, bundle, DeepRacer "
                "model or built-in driver) instead of the bots; repeat for more cars. Each "
                "trial is one race; the pole rotates."
            ),
        ),
    ] = None,
) -> None:
    """Evaluate a model headless: DeepRacer's continuous evaluation, metrics and penalties.

    Each trial starts from the start line; off-tracks and collisions add their penalties and
    the car is put back, up to `--reset-limit` times. Prints a table of the trials (or JSON);
    with `--out` also writes the results, a plot of the trajectories and a video of the best lap.

    Examples:

    ```
    racer evaluate runs/quickstart-20250101-120000
    racer evaluate export/mycar.tar.gz --track speedway --laps 3 --out eval/
    racer evaluate expert:racing-line --track technical --json
    racer evaluate runs/camera-20250101-120000 --race object-avoidance --boxes 4
    racer evaluate runs/h2b --race head-to-head --bots 3 --bot-lane-change 3
    racer evaluate export/mycar.tar.gz --perturb noise=8,latency_steps=1
    racer evaluate a.tar.gz --race head-to-head --opponent b.tar.gz --laps 3
    ```
    """
    from racer.evaluate.evaluator import Evaluator
    from racer.evaluate.policies import Sb3Policy, close_policy, load_policy
    from racer.evaluate.races import RaceConfig
    from racer.evaluate.report import results_table, summary_line, write_outputs
    from racer.track import DEFAULT_TRACK

    config = RaceConfig(
        race=race,
        trials=trials,
        laps=laps,
        offtrack_penalty_s=offtrack_penalty,
        crash_penalty_s=crash_penalty,
        reset_limit=reset_limit,
        time_limit_per_lap_s=time_limit,
        boxes=boxes,
        bots=bots,
        bot_speed_mps=bot_speed,
        box_placement=box_placement,
        bot_lane_change_s=bot_lane_change,
        bot_line=bot_line,
        seed=seed,
    )
    perturbation = None
    if perturb is not None:  # a bad level fails before the model is loaded
        from racer.sim.randomize import Perturbation

        perturbation = Perturbation.parse(perturb)
    if track is not None:  # a bad track name fails before the model is loaded
        from racer.track import load_track

        track_obj = load_track(track)
    if opponent:  # model against model: racer.evaluate.headtohead
        _head_to_head(model, opponent, track, config, as_json, out, perturb is not None)
        return
    policy = load_policy(model_source(model))
    try:
        if track is None:
            tracks = policy.tracks if isinstance(policy, Sb3Policy) else []
            named = [t for t in tracks if t != "random"]
            from racer.track import load_track

            track_obj = load_track(named[0] if named else DEFAULT_TRACK)
        with Evaluator(policy, track_obj, config, randomize=perturbation) as ev:
            result = ev.run()
    finally:
        close_policy(policy)
    written = write_outputs(result, out, video=video) if out is not None else {}
    # A run folder: DeepRacer's evaluation files beside it (the plain world's only: a perturbed
    # check must not stand in for the run's evaluation).
    if isinstance(policy, Sb3Policy) and perturbation is None:
        from racer.evaluate.evaluator import write_deepracer_evaluation

        written.update(write_deepracer_evaluation(policy.run_dir, result))
    if as_json:
        data = result.to_dict()
        if perturbation is not None:
            data["perturb"] = dict(perturbation.values)
        typer.echo(json.dumps(data, indent=2))
        return
    extra = [f"perturbation: {perturbation}"] if perturbation is not None else []
    _print_results(results_table(result), summary_line(result), extra, written)


def _head_to_head(
    model: str,
    opponents: list[str],
    track: str | None,
    config: _RaceConfig,
    as_json: bool,
    out: Path | None,
    perturbed: bool = False,
) -> None:
    """`racer evaluate A --race head-to-head --opponent B`: the cars race each other."""
    from racer.errors import ConfigError
    from racer.evaluate.headtohead import HeadToHeadRace, results_table, summary_line
    from racer.evaluate.headtohead import write_outputs as write_race
    from racer.evaluate.policies import close_policy, load_policy
    from racer.track import DEFAULT_TRACK

    if config.race != RaceFormat.HEAD_TO_HEAD:
        raise ConfigError("--opponent races models against each other: add --race head-to-head")
    if perturbed:
        raise ConfigError("--perturb checks one car alone: leave out --opponent")
    for source in opponents:  # a missing file fails before anything is loaded
        if not source.startswith("expert:") and not Path(source).exists():
            raise ConfigError(f"--opponent {source}: no such file or folder")
    policies = []
    try:
        for source in [model, *opponents]:
            policies.append(load_policy(model_source(source)))
        with HeadToHeadRace(policies, track or DEFAULT_TRACK, config) as race:
            result = race.run()
    finally:
        for p in policies:
            close_policy(p)
    written = write_race(result, out) if out is not None else {}
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_results(results_table(result), summary_line(result), [], written)


def _print_results(table: Any, summary: str, extra: list[str], written: dict[str, Any]) -> None:
    """The results table, the summary line, any extra lines and the files written."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    console.print(summary)
    for line in extra:
        console.print(line)
    for what, path in written.items():
        console.print(f"{what}: {path}")
