"""`racer demo`: the main job on the built-in default track, headless.

First the track's racing line and its lap-time bound (the fastest lap the car can drive), then:

1. train ``agents/racing`` (state observation with the racing line: the racing expert's warm
   start, then PPO) for a few minutes, until its 3-lap average stops improving;
2. evaluate it with DeepRacer's continuous evaluation (3 trials of 3 laps), against the bound,
   and write its report (PNGs and a video of its best lap);
3. train ``agents/camera`` (front camera, warm start by imitation, then PPO) until it laps;
4. export it to a deploy bundle (ONNX + OpenVINO, parity-checked) and to a stock DeepRacer car's
   ``model.pb`` archive;
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

RACING = "agents/racing"
CAMERA = "agents/camera"


def _train(
    recipe: str,
    track: str | None,
    run: Path,
    minutes: float,
    bar: bool,
    until_lap: bool,
    bound_s: float | None = None,
) -> Any:
    """Train ``recipe`` until it laps (``until_lap``) or until its plateau / ``minutes``.

    ``bound_s`` is the track's lap from rest at the car's limits: training evaluations drive
    single laps from rest, so that is the bound to compare them with.
    """
    from racer.train.config import load_agent
    from racer.train.pipeline import train
    from racer.train.run_folder import RunFolder

    cfg = load_agent(recipe)
    if track:
        cfg.env.tracks = [track]
    deadline = time.perf_counter() + 60 * minutes
    time_up: list[bool] = []  # set when the time limit (not the user's Ctrl-C) stopped it

    def on_eval(result: Any) -> None:
        laps = f"{result.laps}/{result.episodes} laps"
        if result.laps == result.episodes and bound_s:
            laps += (
                f", average {result.mean_lap_time_s:.2f} s from rest "
                f"({result.mean_lap_time_s / bound_s:.2f}x the bound from rest)"
            )
        typer.echo(
            f"      evaluation at {result.steps} steps: {laps}, "
            f"progress {result.mean_progress:.0f}%"
        )
        if time.perf_counter() > deadline:
            typer.echo(f"      {minutes:g} min are up: stopping here")
            time_up.append(True)
            raise KeyboardInterrupt

    result = train(
        cfg, out=run, progress_bar=bar, stop_after_laps=3 if until_lap else None, on_eval=on_eval
    )
    if result.interrupted and not time_up:  # the user's Ctrl-C: stop the demo, as shells expect
        typer.echo(f"      interrupted: checkpoint saved in {run}")
        raise typer.Exit(130)
    typer.echo(f"      trained {result.steps} steps in {result.wall_s:.0f} s -> {run}")
    if not RunFolder(run).best_model_path.exists():
        raise ConfigError(f"{run}: training left no model")
    return cfg


def demo(
    track: Annotated[str | None, typer.Option(help="Track (default: the recipes', oval).")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the runs (default runs/).")] = None,
    minutes: Annotated[float, typer.Option(help="Training time limit per agent.")] = 10.0,
    race_minutes: Annotated[
        float,
        typer.Option(help="Training time of the racing agent (it stops earlier on a plateau)."),
    ] = 3.0,
    camera: Annotated[
        bool, typer.Option(help="Also train, export and drive the camera agent.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show the progress bars.")] = True,
) -> None:
    """Race on the default track: the bound, a racing agent, then a camera agent to export.

    Headless, in steps:

    1. the track's racing line and its lap-time bound (the fastest lap the car can drive);
    2. train `agents/racing` (racing-expert warm start, then PPO) until it stops improving;
    3. evaluate it as DeepRacer does (3 trials of 3 laps) and write its report;
    4. train `agents/camera` (front camera) until it laps, and export it to a deploy bundle
       and a stock DeepRacer car's archive;
    5. drive the bundle in the simulator through the car's runtime.

    Examples:

    ```
    racer demo
    racer demo --no-camera --race-minutes 1
    racer demo --track speedway --out demo-runs/ --minutes 20
    ```
    """
    from racer.evaluate import RaceConfig, evaluate, load_policy
    from racer.evaluate.report import summary_line
    from racer.track import load_track, racing_line
    from racer.train.config import load_agent
    from racer.train.pipeline import eval_track
    from racer.train.report import write_report

    t0 = time.perf_counter()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = out or Path("runs")
    steps = 5 if camera else 2

    track_name = track or eval_track(load_agent(RACING))
    line = racing_line(load_track(track_name))
    typer.echo(
        f"track {track_name}: the racing line at the car's limits laps in "
        f"{line.lap_time_s:.2f} s flying, {line.standing_lap_time_s:.2f} s from rest (the bound; "
        f"the centre line at the same limits: {line.centerline_lap_time_s:.2f} s)"
    )
    run_q = root / f"demo-racing-{stamp}"
    typer.echo(
        f"[1/{steps}] training {RACING} (racing expert warm start, then PPO; "
        f"up to {race_minutes:g} min)"
    )
    bound_rest = line.standing_lap_time_s
    _train(RACING, track, run_q, race_minutes, progress, until_lap=False, bound_s=bound_rest)
    typer.echo(f"[2/{steps}] evaluating it on {track_name} (3 trials of 3 laps, DeepRacer rules)")
    result = evaluate(load_policy(run_q), track_name, RaceConfig(trials=3, laps=3))
    for t in result.trials:
        laps = ", ".join(f"{x:.2f} s" for x in t.lap_times_s) or "none"
        typer.echo(
            f"      trial {t.trial}: {t.episode_status}, {t.completion_percentage:.0f}%, "
            f"lap {laps}, off-track {t.off_track_count}"
        )
    typer.echo(f"      {summary_line(result)}")
    for p in write_report(run_q, video=True):
        typer.echo(f"      wrote {p}")
    if not camera:
        typer.echo(f"done in {time.perf_counter() - t0:.0f} s")
        return

    from racer.export import export_run

    run_c = root / f"demo-camera-{stamp}"
    typer.echo(f"[3/{steps}] training {CAMERA} (front camera) until it laps")
    _train(CAMERA, track, run_c, minutes, progress, until_lap=True, bound_s=bound_rest)
    typer.echo(f"[4/{steps}] exporting it to a deploy bundle")
    exported = export_run(run_c, deepracer=True)
    worst = max(p.max_abs_diff for p in exported.parity)
    typer.echo(
        f"      {exported.bundle_dir} (+ {exported.archive.name}); "
        f"largest output difference from the trained policy: {worst:.1e}"
    )
    if exported.deepracer is not None:
        car = exported.deepracer
        typer.echo(
            f"      for a stock DeepRacer car: {car.archive} "
            f"(model_metadata.json + agent/model.pb, {car.pb_bytes / 1e6:.1f} MB)"
        )
    typer.echo(f"[5/{steps}] driving the bundle in the simulator through the car runtime")
    bundle_result = evaluate(load_policy(exported.bundle_dir), track_name, RaceConfig(trials=1))
    typer.echo(f"      {summary_line(bundle_result)}")
    typer.echo(
        f"done in {time.perf_counter() - t0:.0f} s. Next: racer drive {exported.bundle_dir} "
        f"--source sim:{track_name} --actuator stdout"
    )
