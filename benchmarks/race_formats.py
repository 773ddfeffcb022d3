"""Race formats: train the object-avoidance and head-to-bot recipes, then race them on objects
they have never seen.

    python benchmarks/race_formats.py                       # train both recipes, then race
    python benchmarks/race_formats.py --runs runs/oa runs/h2b   # race run folders trained before
    python benchmarks/race_formats.py --recipes agents/head-to-bot --runs runs/h2b

For each recipe (``agents/object-avoidance``, ``agents/head-to-bot``) the script trains with the
recipe's budget (or takes a run folder) and prints the training's wall and CPU seconds. Then the
best model drives ``--trials`` trials (20) on each of ``--tracks`` (oval, speedway) with the
race's objects placed from ``--seed`` (1000: layouts the training never drew; ``--bots`` and
``--bot-lane-change-s`` make the bots other than in training):

- ``clean``: trials whose lap was driven without a crash or an off-track (each trial one episode
  from the start line, ending at the first incident);
- ``complete``: trials that finished the lap under DeepRacer's evaluation rules (an incident
  costs a penalty and a reset; :func:`racer.evaluate.evaluate`), with their crashes and
  off-tracks;
- head-to-bot also ``overtakes``: bot cars passed in the clean runs (a bot counts once it is
  behind the car along the track; a bot that passes back takes one away).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from racer.env import RaceEnv
from racer.evaluate import RaceConfig, evaluate, load_policy
from racer.train.config import load_agent
from racer.train.pipeline import train

RECIPES = ("agents/object-avoidance", "agents/head-to-bot")
ROOT = Path(__file__).resolve().parents[1]


def _train(recipe: str, out: Path) -> tuple[Path, float, float]:
    cfg = load_agent(str(ROOT / recipe))
    wall, cpu = time.perf_counter(), time.process_time()
    train(cfg, out, progress_bar=False)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _clean_runs(run: Path, track: str, race: RaceConfig) -> tuple[int, int, int]:
    """Trials driven as single episodes: (clean laps, overtakes, bots met)."""
    policy = load_policy(run)
    env = RaceEnv(track=track, observation=policy.observation, action_space=policy.action_space)
    clean = overtakes = met = 0
    length = env.track.length
    try:
        from racer.evaluate.races import setup_race

        for k in range(race.trials):
            setup_race(env.world, env.track, race, k)
            obs, info = env.reset(options={"start_s": 0.0, "reverse": False})
            policy.reset(env)
            gaps = _bot_gaps(env, info, length)
            met += len(gaps)
            passed = np.zeros(len(gaps), dtype=np.int64)
            while True:
                obs, _, term, trunc, info = env.step(policy.act(obs))
                now = _bot_gaps(env, info, length)
                # a gap through zero (not across half a lap): a pass (+) or a pass back (-)
                near = np.abs(now - gaps) < 0.5 * length
                passed += near & (gaps > 0) & (now <= 0)
                passed -= near & (gaps <= 0) & (now > 0)
                gaps = now
                if term or trunc:
                    break
            clean += info["episode_status"] == "lap_complete"
            overtakes += int(np.clip(passed, 0, None).sum())
    finally:
        env.close()
    return clean, overtakes, met


def _bot_gaps(env: RaceEnv, info: dict[str, Any], length: float) -> np.ndarray:
    """Each bot's distance ahead of the car along the track, in (-L/2, L/2], m."""
    car_s = float(info["params"]["projection_distance"])
    bots = [o.s_m for o in env.world.objects() if o.kind == "bot" and o.s_m is not None]
    gap = (np.asarray(bots, dtype=np.float64) - car_s) % length
    return np.where(gap > 0.5 * length, gap - length, gap)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), help="recipe folders")
    ap.add_argument("--runs", nargs="+", type=Path, default=None, help="their trained run folders")
    ap.add_argument("--out", type=Path, default=Path("runs"), help="where new runs go")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--tracks", nargs="+", default=["oval", "speedway"])
    ap.add_argument("--seed", type=int, default=1000, help="object placements (unseen)")
    ap.add_argument("--bots", type=int, default=0, help="head-to-head: bots (0: the recipe's)")
    ap.add_argument(
        "--bot-lane-change-s", type=float, default=None, help="head-to-head: lane changes (s)"
    )
    args = ap.parse_args()

    if args.runs is not None and len(args.runs) != len(args.recipes):
        ap.error("one run folder per recipe")
    for k, recipe in enumerate(args.recipes):
        cfg = load_agent(str(ROOT / recipe))
        name = Path(recipe).name
        if args.runs is not None:
            run = args.runs[k]
            print(f"{name}: run {run}")
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run, wall, cpu = _train(recipe, args.out / f"{name}-bench-{stamp}")
            print(
                f"{name}: trained {cfg.budget.steps:,} steps in {wall:.0f} s wall, "
                f"{cpu:.0f} s CPU ({run})"
            )
        race = RaceConfig(
            race=cfg.race.format,
            trials=args.trials,
            boxes=cfg.race.boxes,
            box_placement=cfg.race.box_placement,
            bots=args.bots or cfg.race.bots,
            bot_speed_mps=cfg.race.bot_speed_mps,
            bot_lane_change_s=(
                cfg.race.bot_lane_change_s
                if args.bot_lane_change_s is None
                else args.bot_lane_change_s
            ),
            bot_line=cfg.race.bot_line,
            seed=args.seed,
        )
        for track in args.tracks:
            t0 = time.perf_counter()
            clean, overtakes, met = _clean_runs(run, track, race)
            result = evaluate(load_policy(run), track, race)
            done = [t for t in result.trials if t.complete]
            crashes = sum(t.crash_count for t in result.trials)
            offs = sum(t.off_track_count for t in result.trials)
            line = (
                f"  {track:10s} clean {clean}/{args.trials} ({100 * clean / args.trials:.0f}%)  "
                f"complete {len(done)}/{args.trials} with {crashes} crashes, {offs} off-tracks"
            )
            if met:
                line += f"  overtakes {overtakes} of {met} bots on the track"
            laps = [t.lap_times_s[0] for t in done if t.lap_times_s]
            if laps:
                line += f"  mean lap {float(np.mean(laps)):.2f} s"
            print(line + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
