"""`racer demo`: the main job on the built-in default track, headless.

1. train ``agents/quickstart`` (state observation, PPO) until a deterministic evaluation laps 3/3;
2. evaluate it with DeepRacer's continuous evaluation (3 trials) and write its report PNGs;
3. train ``agents/camera`` (front camera, warm start by imitation, then PPO) until it laps;
4. export it to a deploy bundle (ONNX + OpenVINO, parity-checked);
5. drive the bundle through the car's runtime path (preprocess -> ONNX Runtime -> action) in the
   simulator and print its laps: what the car would do.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from racer.errors import ConfigError

QUICKSTART = "agents/quickstart"
CAMERA = "agents/camera"


def _train_until_lap(recipe: str, track: str | None, run: Path, minutes: float, bar: bool) -> Any:
    from racer.train.config import load_agent
    from racer.train.pipeline import train

    cfg = load_agent(recipe)
    if track:
        cfg.env.tracks = [track]
    deadline = time.perf_counter() + 60 * minutes

    def on_eval(result: Any) -> None:
        typer.echo(
            f"      evaluation at {result.steps} steps: {result.laps}/{result.episodes} laps, "
            f"progress {result.mean_progress:.0f}%"
        )
        if time.perf_counter() > deadline:
            typer.echo(f"      {minutes:g} min are up: stopping here")
            raise KeyboardInterrupt

    result = train(cfg, out=run, progress_bar=bar, stop_after_laps=3, on_eval=on_eval)
    typer.echo(f"      trained {result.steps} steps in {result.wall_s:.0f} s -> {run}")
    if not (run / "best_model.zip").exists():
        raise ConfigError(f"{run}: training left no model")
    return cfg


def demo(
    track: Annotated[str | None, typer.Option(help="Track (default: the recipes', oval).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the runs (default runs/).")] = None,
    minutes: Annotated[float, typer.Option(help="Training time limit per agent.")] = 10.0,
    camera: Annotated[
        bool, typer.Option(help="Also train, export and drive the camera agent.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show the progress bars.")] = True,
) -> None:
    """Train, evaluate and export on the default track (quickstart, then the camera agent)."""
    from racer.evaluate import RaceConfig, evaluate, load_policy
    from racer.evaluate.report import summary_line
    from racer.train.pipeline import eval_track
    from racer.train.report import write_report

    t0 = time.perf_counter()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = out or Path("runs")
    steps = 5 if camera else 2

    run_q = root / f"demo-quickstart-{stamp}"
    typer.echo(f"[1/{steps}] training {QUICKSTART} until it laps")
    cfg_q = _train_until_lap(QUICKSTART, track, run_q, minutes, progress)
    track_name = eval_track(cfg_q)
    typer.echo(f"[2/{steps}] evaluating it on {track_name} (3 trials, DeepRacer rules)")
    result = evaluate(load_policy(run_q), track_name, RaceConfig(trials=3))
    for t in result.trials:
        laps = ", ".join(f"{x:.2f} s" for x in t.lap_times_s) or "none"
        typer.echo(
            f"      trial {t.trial}: {t.episode_status}, {t.completion_percentage:.0f}%, "
            f"lap {laps}, off-track {t.off_track_count}"
        )
    typer.echo(f"      {summary_line(result)}")
    for p in write_report(run_q):
        typer.echo(f"      wrote {p}")
    if not camera:
        typer.echo(f"done in {time.perf_counter() - t0:.0f} s")
        return

    from racer.export import export_run

    run_c = root / f"demo-camera-{stamp}"
    typer.echo(f"[3/{steps}] training {CAMERA} (front camera) until it laps")
    _train_until_lap(CAMERA, track, run_c, minutes, progress)
    typer.echo(f"[4/{steps}] exporting it to a deploy bundle")
    exported = export_run(run_c)
    worst = max(p.max_abs_diff for p in exported.parity)
    typer.echo(
        f"      {exported.bundle_dir} (+ {exported.archive.name}); "
        f"largest output difference from the trained policy: {worst:.1e}"
    )
    typer.echo(f"[5/{steps}] driving the bundle in the simulator through the car runtime")
    bundle_result = evaluate(load_policy(exported.bundle_dir), track_name, RaceConfig(trials=1))
    typer.echo(f"      {summary_line(bundle_result)}")
    typer.echo(
        f"done in {time.perf_counter() - t0:.0f} s. Next: racer drive {exported.bundle_dir} "
        f"--source sim:{track_name} --actuator stdout"
    )
