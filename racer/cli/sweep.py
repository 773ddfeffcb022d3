"""`racer sweep`: many trainings of one recipe on Ray Tune, ranked by the leaderboard's rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from racer.errors import ConfigError

RayOpt = Annotated[
    str,
    typer.Option(
        "--ray",
        help=(
            "Ray cluster: `auto` (the one `ray start` made on this machine), HOST:PORT of its "
            "head node, or `local` (a private Ray on this machine)."
        ),
    ),
]


def sweep(
    agent: Annotated[
        str, typer.Argument(help="Agent recipe: a folder in agents/ or a .toml file.")
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            help=(
                "KEY=V1,V2: an agent.toml key (`section.field`) and its values; repeat for "
                "several keys (every combination is trained)."
            ),
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option(help="Trainings of each combination (seeds budget.seed + k).", min=1)
    ] = 1,
    track: Annotated[
        list[str] | None,
        typer.Option("--track", "-t", help="Track name or file; repeat for several."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Environment steps of each trial.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Sweep folder (default `sweeps/<agent>-<time>`); an existing one resumes."
        ),
    ] = None,
    ray: RayOpt = "local",
    grace_steps: Annotated[
        int | None,
        typer.Option(
            help="ASHA trains every trial at least this many steps (default: a quarter of them).",
            min=1,
        ),
    ] = None,
) -> None:
    """Train every combination of --grid values in parallel on Ray and rank the trials.

    Each trial is a normal run folder under OUT/trials (the same training as `racer train`).
    Ray Tune runs as many at once as the cluster has CPUs and stops those that do not learn
    (ASHA on the periodic evaluation). Each trial's best model then races the leaderboard's
    official evaluation (3 consecutive laps) and the trials are ranked by the leaderboard's
    rule: a table (OUT/ranking.txt), a plot (OUT/sweep.png) and OUT/sweep.json.

    After a crash, run the same command with --out OUT: finished trials are kept, cut-off ones
    continue from their last checkpoint.

    Examples:

    ```
    racer sweep agents/quickstart -g hyperparameters.learning_rate=1e-4,3e-4
    racer sweep quickstart -g env.reward=progress,centerline --samples 2
    racer sweep agents/racing -g hyperparameters.ent_coef=0.001,0.01 --ray auto
    racer sweep quickstart -g budget.seed=0,1,2 --steps 50000 --out sweeps/s
    ```
    """
    from racer.distributed.cluster import check_address, require_ray
    from racer.distributed.sweep import base_recipe, parse_grid, plan_trials, run_sweep

    if not grid:
        raise ConfigError(
            "give at least one --grid KEY=V1,V2 (for example hyperparameters.learning_rate=1e-4,3e-4)"
        )
    address = check_address(ray)
    values = parse_grid(list(grid))
    base = base_recipe(agent, list(track) if track else None, steps)
    trials = plan_trials(base, values, samples)  # every recipe checked before anything starts
    require_ray()
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("sweeps") / f"{base.name}-{stamp}"
    typer.echo(f"sweep: {len(trials)} trial(s) of {base.name} -> {out}")
    result = run_sweep(
        agent,
        values,
        out=out,
        samples=samples,
        tracks=list(track) if track else None,
        steps=steps,
        address=address,
        grace_steps=grace_steps,
        log=typer.echo,
    )
    typer.echo(result.table.rstrip())
    typer.echo(
        f"wrote {result.out / 'sweep.json'}, {result.out / 'ranking.txt'}, {result.out / 'sweep.png'}"
    )
