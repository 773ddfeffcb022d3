"""`racer demo`: the main job on the built-in default, headless: train, evaluate, report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from racer.errors import ConfigError

DEFAULT_AGENT = "agents/quickstart"


def demo(
    agent: Annotated[str, typer.Option(help="Agent recipe to train.")] = DEFAULT_AGENT,
    track: Annotated[str | None, typer.Option(help="Track (default: the recipe's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/demo-<time>).")] = None,
    minutes: Annotated[float, typer.Option(help="Stop training after this long at most.")] = 10.0,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train the quickstart agent until it laps, evaluate it headless, and write its report."""
    import time

    from racer.env import RaceEnv
    from racer.train.callbacks import evaluate_policy_laps
    from racer.train.config import load_agent
    from racer.train.pipeline import eval_track, train
    from racer.train.report import write_report

    cfg = load_agent(agent)
    if track:
        cfg.env.tracks = [track]
    run = out or Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    typer.echo(f"training {cfg.name} on {', '.join(cfg.env.tracks)} -> {run}")
    t0 = time.perf_counter()
    deadline = t0 + 60 * minutes

    def on_eval(result) -> None:  # type: ignore[no-untyped-def]
        typer.echo(
            f"  evaluation at {result.steps} steps: {result.laps}/{result.episodes} laps, "
            f"progress {result.mean_progress:.0f}%"
        )
        if time.perf_counter() > deadline:
            raise KeyboardInterrupt

    result = train(cfg, out=run, progress_bar=progress, stop_after_laps=3, on_eval=on_eval)
    typer.echo(f"trained {result.steps} steps in {result.wall_s:.0f} s")

    from stable_baselines3 import PPO, SAC

    algo = SAC if cfg.algorithm.name == "sac" else PPO
    model_path = run / "best_model.zip"
    if not model_path.exists():
        raise ConfigError(f"{run}: training left no model")
    model = algo.load(model_path, device="cpu")
    env = RaceEnv(
        track=eval_track(cfg),
        observation=cfg.env.observation,
        action_space=cfg.action_space or None,
        reward="progress",
    )
    laps = evaluate_policy_laps(model, env, episodes=3)
    env.close()
    times = ", ".join(f"{t:.2f} s" for t in laps.lap_times_s) or "none"
    typer.echo(
        f"evaluation on {env.track.name}: {laps.laps}/3 laps completed "
        f"(mean progress {laps.mean_progress:.0f}%), lap times: {times}"
    )
    for p in write_report(run):
        typer.echo(f"wrote {p}")
