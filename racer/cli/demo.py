"""`racer demo`: the main job on the built-in default, headless."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

DEFAULT_TRACK = "oval"


def demo(
    track: Annotated[str, typer.Option(help="Track name or file.")] = DEFAULT_TRACK,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/demo"),
) -> None:
    """Drive the default track headless with the built-in centre-line follower; save the lap."""
    from racer.env import RaceEnv
    from racer.env.follower import CenterlineFollower
    from racer.track import plot_track

    out.mkdir(parents=True, exist_ok=True)
    env = RaceEnv(track=track, observation="state", action_space="continuous", start="fixed")
    env.reset(seed=0)
    driver = CenterlineFollower(env)
    xs, ys, speeds = [], [], []
    info: dict = {}
    for _ in range(env.max_steps):
        _, _, term, trunc, info = env.step(driver.act())
        p = info["params"]
        xs.append(p["x"])
        ys.append(p["y"])
        speeds.append(info["speed_mps"])
        if term or trunc:
            break
    env.close()
    picture = out / "lap.png"
    plot_track(env.track, picture, trajectories=[np.array([xs, ys, speeds]).T])
    status = info.get("episode_status")
    if status == "lap_complete":
        typer.echo(f"lap of {track!r} complete in {info['lap_time_s']:.2f} s ({len(xs)} steps)")
    else:
        typer.echo(f"lap of {track!r} ended: {status} at {info.get('progress', 0):.1f}%")
    typer.echo(f"saved {picture}")
