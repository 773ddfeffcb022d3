"""Time to a lapping policy: train AGENT on TRACK until a deterministic evaluation laps 3 of 3.

    python benchmarks/time_to_lap.py agents/quickstart oval [--max-minutes 10]

Prints ``time_to_lap_s=<seconds>``: wall-clock from the start of training (environment start-up
included) to the first evaluation whose deterministic policy completes 3 of 3 laps from evenly
spaced start points, plus where the time went (environment stepping vs. learner updates vs.
evaluation). Exits 1 if no evaluation laps 3 of 3 within the limit. TRACK is a built-in name or
any DeepRacer ``.npy`` path.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from racer.train.config import load_agent
from racer.train.pipeline import train


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("agent")
    ap.add_argument("track")
    ap.add_argument("--max-minutes", type=float, default=10.0)
    ap.add_argument("--eval-every", type=int, default=0, help="steps between evaluations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--envs", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = ap.parse_args()

    cfg = load_agent(args.agent)
    track = str(Path(args.track).resolve()) if Path(args.track).exists() else args.track
    cfg.env.tracks = [track]
    cfg.budget.seed = args.seed
    if args.envs:
        cfg.budget.envs = args.envs
    if args.eval_every:
        cfg.evaluation.every_steps = args.eval_every
    cfg.evaluation.episodes = 3
    t0 = time.perf_counter()
    deadline = t0 + 60.0 * args.max_minutes
    hit: dict[str, float] = {}

    def on_eval(result) -> None:  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        laps = ", ".join(f"{t:.2f}" for t in result.lap_times_s)
        print(
            f"  eval at {result.steps:>7} steps, {now - t0:6.0f} s: {result.laps}/3 laps, "
            f"progress {result.mean_progress:5.1f}%  lap times [{laps}]",
            flush=True,
        )
        if result.laps >= 3 and "t" not in hit:
            hit["t"] = now - t0
            hit["steps"] = result.steps
        if now > deadline:
            raise KeyboardInterrupt  # out of time: stop like Ctrl-C (a checkpoint is kept)

    cfg.budget.steps = 10**9  # the clock, not the budget, ends this benchmark
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "run"
        result = train(cfg, out=out, progress_bar=False, stop_after_laps=3, on_eval=on_eval)
        metrics = []  # none when the warm start already lapped, before any PPO iteration
        if (out / "metrics.csv").exists():
            with open(out / "metrics.csv", newline="") as fh:
                metrics = list(csv.DictReader(fh))
    sps = [float(r["steps_per_s"]) for r in metrics if r["steps_per_s"]]
    print(f"agent={cfg.name} track={args.track} envs={cfg.resolved_envs()} steps={result.steps}")
    if sps:
        last = metrics[-1]
        collect, learn = float(last["collect_s"]), float(last["learn_s"])
        print(f"training throughput (env + learner) = {sps[-1]:.0f} steps/s")
        print(
            f"time split: collecting rollouts (envs + policy forward) {collect:.0f} s, "
            f"learner updates {learn:.0f} s, evaluation and start-up the rest"
        )
    if "t" not in hit:
        print(f"time_to_lap_s=none (no 3/3 lap within {args.max_minutes:g} min)")
        return 1
    print(f"time_to_lap_s={hit['t']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
