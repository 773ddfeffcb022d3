"""`racer train` and `racer report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from racer.errors import ConfigError

INTERRUPTED_EXIT = 130  # 128 + SIGINT: what shells expect of a program stopped by Ctrl-C


def train(
    agent: Annotated[
        str | None, typer.Argument(help="Agent recipe: a folder in agents/ or a .toml file.")
    ] = None,
    track: Annotated[
        list[str] | None,
        typer.Option("--track", "-t", help="Track name or file; repeat for several; 'random'."),
    ] = None,
    reward: Annotated[
        str | None, typer.Option(help="Reward: name, file.py[:fn] or plugin.")
    ] = None,
    observation: Annotated[
        str | None, typer.Option(help="camera | stereo | lidar | state.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Total environment steps (the budget).")] = None,
    envs: Annotated[
        int | None, typer.Option(help="Training cars, stepped together (0 = 16).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of every source of randomness.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default `runs/<agent>-<time>`).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="torch device: auto, cpu, cuda.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run from its last checkpoint.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train an agent with PPO (or SAC) and write a run folder.

    The options override the recipe's values. Ctrl-C saves a checkpoint and exits with status
    130 (the shell's convention for SIGINT); `--resume RUN` continues from it.

    Examples:

    ```
    racer train agents/quickstart
    racer train agents/racing --track speedway --steps 200000 --envs 4
    racer train agents/quickstart --reward my_reward.py --seed 3
    racer train --resume runs/quickstart-20250101-120000
    ```
    """
    from racer.train.config import check_option, load_agent
    from racer.train.pipeline import train as run_training
    from racer.train.run_folder import RunFolder

    # every option gets the recipe's own rule for the key it overrides, before anything runs
    options = (
        ("--track", "env.tracks", list(track) if track is not None else None),
        ("--reward", "env.reward", reward),
        ("--observation", "env.observation", observation),
        ("--steps", "budget.steps", steps),
        ("--envs", "budget.envs", envs),
        ("--seed", "budget.seed", seed),
        ("--device", "budget.device", device),
    )
    for flag, key, value in options:
        if value is not None:
            check_option(flag, key, value)
    if resume is not None:
        if agent is not None:
            raise ConfigError("give either AGENT or --resume RUN, not both")
        if out is not None:
            raise ConfigError("--out cannot be given with --resume (the run folder is RUN)")
        cfg = RunFolder.open(resume).config()
        for name, value in (
            ("--track", track),
            ("--reward", reward),
            ("--observation", observation),
            ("--seed", seed),
        ):
            if value is not None:
                raise ConfigError(f"{name} cannot change on --resume (the run's config is fixed)")
    elif agent is None:
        raise ConfigError("missing AGENT (for example: racer train agents/quickstart)")
    else:
        cfg = load_agent(agent)
        if track:
            cfg.env.tracks = list(track)
        if reward:
            cfg.env.reward = reward
        if observation:
            cfg.env.observation = observation
    if steps is not None:
        cfg.budget.steps = steps
    if envs is not None:
        cfg.budget.envs = envs
    if seed is not None:
        cfg.budget.seed = seed
    if device is not None:
        cfg.budget.device = device
    from racer.train.config import config_from_dict

    # re-validate the overridden values with the recipe's rules
    config_from_dict({**_as_recipe(cfg)}, source=str(agent or resume), base_dir=cfg.base_dir)
    result = run_training(cfg, out=out, resume=resume, progress_bar=progress)
    state = "interrupted: checkpoint saved" if result.interrupted else "done"
    typer.echo(f"{state}: {result.steps} steps in {result.wall_s:.0f} s -> {result.run_dir}")
    if result.interrupted:
        typer.echo(f"resume with: racer train --resume {result.run_dir}")
        raise typer.Exit(INTERRUPTED_EXIT)


def _as_recipe(cfg) -> dict:  # type: ignore[no-untyped-def]
    data = cfg.to_dict()
    agent = {"name": data.pop("name"), "description": data.pop("description")}
    if not data["action_space"]:
        data.pop("action_space")
    return {"agent": agent, **data}


def report(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the PNGs (default RUN/report).")
    ] = None,
    video: Annotated[
        bool,
        typer.Option(
            help="Also replay the best evaluation lap as best_lap.mp4 (a GIF where no MP4 "
            "encoder works): chase view and map, speed, steering, progress, lap time."
        ),
    ] = True,
) -> None:
    """Write PNG plots of a run: learning curves, lap times, trajectories, action usage.

    Examples:

    ```
    racer report runs/quickstart-20250101-120000
    racer report runs/quickstart-20250101-120000 --out plots/
    ```
    """
    import csv

    from racer.train.report import write_report

    try:
        paths = write_report(run, out, video=video)
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, csv.Error) as exc:
        # a hand-edited or damaged metrics.csv / eval.csv / best_trajectories.npz
        detail = (str(exc).strip().splitlines() or [""])[0][:160]
        raise ConfigError(
            f"{run}: cannot read the run's logs for the report ({type(exc).__name__}: {detail})"
        ) from None
    for p in paths:
        typer.echo(f"wrote {p}")
