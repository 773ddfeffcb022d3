"""Lap quality: train AGENT on TRACK for M minutes and compare its laps with the track's bound.

    python benchmarks/lap_quality.py agents/racing /path/to/reinvent_base.npy --minutes 10

The bound is the lap time of the optimal racing line at the car's limits
(:func:`racer.track.racing_line`, a flying lap). As training goes, every evaluation prints its
3-lap average (three laps from rest, evenly spaced starts: the training evaluation) and the best
so far over the bound. At the end the best model is raced the leaderboard's way (one trial of 3
consecutive laps, DeepRacer's continuous evaluation with 5 s per off-track) and the script prints

    lap_ratio=<3-lap average / bound> time_s=<training seconds until that model was saved>

and, for reference, the racing expert's and the centre-line follower's ratios on the same track.
Exits 1 if the final model does not complete its 3 laps. TRACK: a built-in name or a DeepRacer
``.npy`` / ``.track.toml`` path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from racer.evaluate import RaceConfig, evaluate, load_policy
from racer.track import load_track
from racer.track.racing_line import racing_line
from racer.train.config import load_agent
from racer.train.pipeline import train


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("agent")
    ap.add_argument("track")
    ap.add_argument("--minutes", type=float, default=10.0, help="training wall-clock limit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--envs", type=int, default=0, help="subprocess environments (0: the recipe's)")
    ap.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    ap.add_argument("--no-reference", action="store_true", help="skip the expert/follower rows")
    args = ap.parse_args()

    track = str(Path(args.track).resolve()) if Path(args.track).exists() else args.track
    t_line = time.perf_counter()
    bound = racing_line(load_track(track)).lap_time_s
    print(f"{track}: bound {bound:.3f} s (line in {time.perf_counter() - t_line:.2f} s)")

    cfg = load_agent(args.agent)
    cfg.env.tracks = [track]
    cfg.budget.seed = args.seed
    cfg.budget.steps = max(cfg.budget.steps, 10_000_000)  # the clock decides, not the budget
    if args.envs:
        cfg.budget.envs = args.envs
    t0 = time.perf_counter()
    deadline = t0 + 60.0 * args.minutes
    best: dict[str, float] = {}

    def on_eval(result: Any) -> None:
        now = time.perf_counter() - t0
        avg = result.mean_lap_time_s if result.laps == result.episodes else float("nan")
        if avg == avg and avg < best.get("avg", float("inf")):
            best.update(avg=avg, t=now, steps=result.steps)
        best_avg = best.get("avg", float("nan"))
        print(
            f"  {now:6.0f} s {result.steps:>8} steps: {result.laps}/{result.episodes} laps, "
            f"avg {avg:6.3f} s ({avg / bound:5.3f}x)  best {best_avg:6.3f} s "
            f"({best_avg / bound:5.3f}x)",
            flush=True,
        )
        if time.perf_counter() > deadline:
            raise KeyboardInterrupt  # train() saves and stops cleanly

    with tempfile.TemporaryDirectory() as tmp:
        run = args.out or Path(tmp) / "run"
        res = train(cfg, out=run, progress_bar=False, on_eval=on_eval)
        print(f"trained {res.steps} steps in {res.wall_s:.0f} s")
        if not (run / "best_model.zip").exists():
            print("lap_ratio=nan time_s=nan (no model saved)")
            return 1
        final = evaluate(load_policy(run), track, RaceConfig(trials=1, laps=3))
    trial = final.best_trial()
    avg = trial.average_lap_s
    laps = ", ".join(f"{t:.3f}" for t in trial.lap_times_s)
    print(
        f"final (1 trial x 3 laps, leaderboard rules): laps [{laps}] off-track "
        f"{trial.off_track_count}, bound {bound:.3f} s"
    )
    if not args.no_reference:
        for name in ("expert:racing-line", "expert:centerline"):
            ref = evaluate(load_policy(name), track, RaceConfig(trials=1, laps=3)).best_trial()
            ratio = (ref.average_lap_s or float("nan")) / bound
            print(f"reference {name}: 3-lap average {ref.average_lap_s} s = {ratio:.3f}x")
    if avg is None:
        print(f"lap_ratio=nan time_s={best.get('t', float('nan')):.0f}")
        return 1
    print(f"lap_ratio={avg / bound:.3f} time_s={best.get('t', float('nan')):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
