"""Prints what Ray brings and costs: sweep and leaderboard throughput with 1 and 2 CPUs given to
Ray, and the overhead of one task.

For each CPU count a private single-node Ray (``--ray local``, 127.0.0.1) is started with that
many CPUs, then:

- leaderboard: ``--bundles`` tiny camera bundles (one action each) evaluated with
  :func:`racer.distributed.leaderboard.run_directory_ray` (3 laps of ``--lap-limit`` simulated
  seconds each), cold (fresh workers: imports) and warm (the same workers again), against the
  local path (:func:`racer.evaluate.leaderboard.run_directory` with as many worker processes);
- sweep: ``--trials`` tiny trainings (state observation, MLP [16], ``--steps`` steps) with
  :func:`racer.distributed.sweep.run_sweep`, their final races included;
- overhead: a no-op task's round trip (one at a time, and ``--tasks`` at once), a bundle's trip
  to its worker (pack + unpack), and one bundle's evaluation in this process against the same
  evaluation as a warm Ray task.

Run: ``python benchmarks/ray_scaling.py [--bundles 8] [--trials 4] [--steps 1024]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread everywhere, before torch loads
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # testlib: tiny bundles


def make_bundles(root: Path, n: int) -> Path:
    """``n`` camera bundles that each always pick one action."""
    from testlib.bundles import DISCRETE_ACTIONS, H, W, build_bundle

    folder = root / "bundles"
    folder.mkdir(parents=True)
    for i in range(n):
        bias = [0.0] * len(DISCRETE_ACTIONS)
        bias[i % len(DISCRETE_ACTIONS)] = 3.0
        build_bundle(folder / f"b{i:02d}", "discrete", 2, bias=bias, frame_shape=(H, W))
    return folder


def make_agent(root: Path, steps: int) -> Path:
    """A recipe that trains in seconds (state observation, MLP [16], 128-step rollouts)."""
    folder = root / "agent"
    folder.mkdir()
    (folder / "agent.toml").write_text(
        '[agent]\nname = "bench"\n\n[env]\ntracks = ["oval"]\nobservation = "state"\n'
        'reward = "progress"\n\n[algorithm]\nname = "ppo"\nnet_arch = [16]\n\n'
        "[hyperparameters]\nn_steps = 128\nbatch_size = 64\nn_epochs = 2\n\n"
        f"[budget]\nsteps = {steps}\nenvs = 1\n\n[evaluation]\nevery_steps = {steps // 2}\n"
        f"episodes = 2\n\n[checkpoint]\nevery_steps = {steps // 2}\nkeep = 1\n"
    )
    return folder


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """Wall seconds of ``fn(*args, **kwargs)``, and its result."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def overhead(ray: Any, bundles: Path, root: Path, race: Any, tasks: int) -> list[tuple[str, str]]:
    """What one task costs beyond its work."""
    from racer.distributed.leaderboard import pack_for_worker, run_directory_ray, unpack_in_worker
    from racer.evaluate import leaderboard as lb

    noop = ray.remote(lambda: None)
    ray.get(noop.remote())
    t_one, _ = timed(lambda: [ray.get(noop.remote()) for _ in range(tasks)])
    t_many, _ = timed(lambda: ray.get([noop.remote() for _ in range(tasks)]))
    src = next(bundles.iterdir())
    scratch = root / "scratch"
    scratch.mkdir()
    t_ship, _ = timed(lambda: unpack_in_worker(src.name, pack_for_worker(src), True, scratch))
    one = root / "one"
    one.mkdir()
    shutil.copytree(src, one / src.name)
    lb.evaluate_entry(one / src.name, "oval", src.name, race)  # imports and caches, once
    t_here, _ = timed(lb.evaluate_entry, one / src.name, "oval", src.name, race)
    t_task, _ = timed(
        run_directory_ray, one, "oval", db=root / "one.db", config=race, progress=False
    )
    return [
        ("no-op task round trip, one at a time", f"{1000 * t_one / tasks:.2f} ms"),
        (f"no-op tasks, {tasks} at once", f"{1000 * t_many / tasks:.2f} ms each"),
        ("a bundle's trip to its worker (pack + unpack)", f"{1000 * t_ship:.1f} ms"),
        ("one bundle: evaluated in this process (warm)", f"{t_here:.2f} s"),
        ("one bundle: a warm Ray task, recorded", f"{t_task:.2f} s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bundles", type=int, default=8)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--lap-limit", type=float, default=4.0, help="simulated s per lap")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from racer.distributed.cluster import connect
    from racer.distributed.leaderboard import run_directory_ray
    from racer.distributed.sweep import parse_grid, run_sweep
    from racer.evaluate import RaceConfig
    from racer.evaluate import leaderboard as lb

    race = RaceConfig(trials=1, laps=3, time_limit_per_lap_s=args.lap_limit)
    root = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    rows: list[tuple[str, str, str]] = []
    n = args.bundles
    try:
        bundles = make_bundles(root, n)
        agent = make_agent(root, args.steps)
        values = [f"{x:g}" for x in (1e-3, 3e-4, 1e-4, 3e-5)][: min(4, args.trials)]
        grid = parse_grid([f"hyperparameters.learning_rate={','.join(values)}"])
        samples = max(1, args.trials // len(values))
        n_trials = len(values) * samples
        for cpus in args.cpus:
            t_local, _ = timed(
                lb.run_directory,
                bundles,
                "oval",
                db=root / f"local{cpus}.db",
                workers=cpus,
                config=race,
                progress=False,
            )
            temp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
            t_init, ray = timed(connect, "local", num_cpus=cpus, temp_dir=temp)
            runs = []
            for kind in ("cold", "warm"):  # fresh workers (imports), then the same ones again
                db = root / f"{kind}{cpus}.db"
                runs.append(
                    timed(run_directory_ray, bundles, "oval", db=db, config=race, progress=False)[0]
                )
            t_sweep, _ = timed(
                run_sweep,
                agent,
                grid,
                out=root / f"sweep{cpus}",
                samples=samples,
                race=race,
                grace_steps=args.steps,
                log=None,
            )
            who = f"{cpus} CPU"
            rows += [
                (who, "Ray start (ray.init, local)", f"{t_init:.1f} s"),
                (
                    who,
                    f"leaderboard, local --workers {cpus}",
                    f"{n / t_local:.2f} bundles/s ({t_local:.1f} s)",
                ),
                (
                    who,
                    "leaderboard --ray, cold workers",
                    f"{n / runs[0]:.2f} bundles/s ({runs[0]:.1f} s)",
                ),
                (
                    who,
                    "leaderboard --ray, warm workers",
                    f"{n / runs[1]:.2f} bundles/s ({runs[1]:.1f} s)",
                ),
                (
                    who,
                    f"sweep of {n_trials} x {args.steps} steps (+ races)",
                    f"{60 * n_trials / t_sweep:.1f} trials/min ({t_sweep:.1f} s)",
                ),
            ]
            if cpus == args.cpus[-1]:
                rows += [("overhead", *r) for r in overhead(ray, bundles, root, race, args.tasks)]
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    width = max(len(r[1]) for r in rows)
    for who, what, value in rows:
        print(f"{who:>9}  {what:<{width}}  {value}")


if __name__ == "__main__":
    main()
