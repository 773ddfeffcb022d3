"""Prints headless evaluation speed as a multiple of real time, per CPU core, with the camera.

The figure is simulated seconds / wall seconds of :class:`racer.evaluate.Evaluator` driving a
camera policy through ONNX Runtime on one thread (one core): render the 160x120 frame, preprocess
it as the car does, infer, step the physics, judge the step, keep DeepRacer's lap accounting. The
target is >= 200x real time per core (issue 14; it was 20x).

Policies measured:

- ``bundle``: a camera bundle given on the command line (``--bundle PATH``), if any;
- ``cnn``: otherwise a random-weight CNN the size of racer's camera policy (DeepRacer's shallow
  CNN shape: conv 8x8/4, 4x4/2, 3x3/2 with 16/32/32 filters, dense 256, a 64-64 head, softmax
  over the default 10 actions), built with torch and exported to ONNX on the fly. Random weights
  drive badly, so this also exercises the off-track put-backs of continuous evaluation;
- ``follower``: the privileged centre-line follower with the camera observation rendered but no
  network: the simulator's share of the cost.

Then the trials driven together (:meth:`racer.evaluate.Evaluator.run_together`: one car of a
:class:`racer.env.RaceVectorEnv` per trial, each with its own frame stack) for 1, 3 and 16
trials: simulated seconds of all the trials per wall second.

With ``--procs N`` it also runs N copies of the ``cnn``/``bundle`` case in parallel processes and
prints the aggregate and per-process figures (how it scales over cores).

Run: ``python benchmarks/eval_speed.py [--track oval] [--sim-seconds 120] [--bundle PATH]
[--procs N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

DISCRETE = [
    {"steering_angle": s, "speed": v} for s in (-30.0, -15.0, 0.0, 15.0, 30.0) for v in (1.0, 2.0)
]
PREPROCESSING = [
    {"op": "color", "to": "gray", "weights": [0.299, 0.587, 0.114]},
    {"op": "resize", "width": 160, "height": 120, "interpolation": "area"},
    {"op": "stack", "frames": 1},
]


def build_cnn_onnx(path: Path, seed: int = 0) -> Path:
    """Export a random-weight camera CNN (raw 0-255 frames in, action probabilities out)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(1, 16, 8, stride=4),
                nn.ReLU(),
                nn.Conv2d(16, 32, 4, stride=2),
                nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2),
                nn.ReLU(),
                nn.Flatten(),
            )
            n_flat = self.cnn(torch.zeros(1, 1, 120, 160)).shape[1]
            self.head = nn.Sequential(
                nn.Linear(n_flat, 256),
                nn.ReLU(),
                nn.Linear(256, 64),
                nn.Tanh(),
                nn.Linear(64, 64),
                nn.Tanh(),
                nn.Linear(64, len(DISCRETE)),
            )

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.head(self.cnn(obs / 255.0)), dim=-1)

    net = Net().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is enough here
        torch.onnx.export(
            net,
            (torch.zeros(1, 1, 120, 160),),
            str(path),
            input_names=["obs"],
            output_names=["action"],
            opset_version=17,
            dynamo=False,
        )
    return path


def make_policy(kind: str, onnx_path: str | None, bundle: str | None) -> Any:
    """The policy to time (built in the calling process)."""
    from racer.evaluate.policies import FollowerPolicy, OnnxPolicy, load_policy

    if kind == "follower":
        return FollowerPolicy(observation="camera")
    if bundle:
        return load_policy(bundle, threads=1)
    assert onnx_path is not None
    return OnnxPolicy.from_file(
        onnx_path,
        {"type": "discrete", "actions": DISCRETE},
        "probabilities",
        PREPROCESSING,
        observation="camera",
        threads=1,
        name="random-cnn",
    )


def measure(
    kind: str, track: str, sim_seconds: float, onnx_path: str | None, bundle: str | None
) -> dict[str, float]:
    """Evaluate one trial of ``sim_seconds`` simulated seconds; return the figures."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from racer.evaluate import Evaluator, RaceConfig

    policy = make_policy(kind, onnx_path, bundle)
    # laps high enough that the time limit ends the trial: a fixed amount of simulated driving
    cfg = RaceConfig(trials=1, laps=50, time_limit_per_lap_s=sim_seconds / 50)
    with Evaluator(policy, track, cfg) as ev:
        ev.run_trial(0)  # warm-up (first render, first inference, caches)
        t0 = time.perf_counter()
        trial = ev.run_trial(1)
        wall = time.perf_counter() - t0
    return {
        "sim_s": trial.sim_time_s,
        "wall_s": wall,
        "factor": trial.sim_time_s / wall,
        "steps": trial.steps,
        "resets": trial.reset_count,
        "ms_per_step": 1e3 * wall / max(trial.steps, 1),
    }


def measure_together(
    kind: str, track: str, sim_seconds: float, onnx_path: str | None, bundle: str | None, n: int
) -> dict[str, float]:
    """Evaluate ``n`` trials together, each ``sim_seconds`` long; return the figures."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from racer.evaluate import Evaluator, RaceConfig

    policy = make_policy(kind, onnx_path, bundle)
    cfg = RaceConfig(trials=n, laps=50, time_limit_per_lap_s=sim_seconds / 50)
    with Evaluator(policy, track, cfg, together=True) as ev:
        warm = RaceConfig(trials=n, laps=50, time_limit_per_lap_s=2.0 / 50)
        Evaluator(policy, track, warm, together=True).run()  # warm-up
        t0 = time.perf_counter()
        result = ev.run()
        wall = time.perf_counter() - t0
    sim = sum(t.sim_time_s for t in result.trials)
    steps = sum(t.steps for t in result.trials)
    return {"sim_s": sim, "wall_s": wall, "factor": sim / wall, "steps": steps,
            "resets": sum(t.reset_count for t in result.trials),
            "ms_per_step": 1e3 * wall / max(steps, 1)}  # fmt: skip


def _worker(args: tuple[str, str, float, str | None, str | None]) -> dict[str, float]:
    return measure(*args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval")
    ap.add_argument("--sim-seconds", type=float, default=120.0)
    ap.add_argument("--bundle", default=None, help="a camera bundle to time instead of the CNN")
    ap.add_argument("--procs", type=int, default=0, help="also run N processes in parallel")
    args = ap.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"racer evaluation speed on {args.track!r}, {args.sim_seconds:g} s simulated per case,")
    print(f"one process = one core (ONNX Runtime 1 thread); {cores} core(s) available\n")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = None
        if args.bundle is None:
            onnx_path = str(build_cnn_onnx(Path(tmp) / "cnn.onnx"))
        net = "bundle" if args.bundle else "cnn"
        print(f"{'case':<30} {'steps':>6} {'resets':>6} {'ms/step':>8} {'x real time':>12}")
        for kind in (net, "follower"):
            r = measure(kind, args.track, args.sim_seconds, onnx_path, args.bundle)
            label = {
                "cnn": "camera + random CNN (ONNX)",
                "bundle": "camera + bundle (ONNX)",
                "follower": "camera, follower (no net)",
            }[kind]
            print(
                f"{label:<30} {r['steps']:>6.0f} {r['resets']:>6.0f} {r['ms_per_step']:>8.2f} "
                f"{r['factor']:>11.1f}x"
            )
        print("\ntrials driven together (one RaceVectorEnv car per trial), all trials' sim time:")
        print(f"{'case':<30} {'trials':>6} {'steps':>6} {'ms/car-step':>11} {'x real time':>12}")
        for kind in (net, "follower"):
            for n in (1, 3, 16):
                r = measure_together(kind, args.track, args.sim_seconds, onnx_path, args.bundle, n)
                label = "camera + " + ("bundle" if kind == "bundle" else "random CNN")
                label = label if kind != "follower" else "camera, follower (no net)"
                print(
                    f"{label:<30} {n:>6} {r['steps']:>6.0f} {r['ms_per_step']:>11.2f} "
                    f"{r['factor']:>11.1f}x"
                )
        if args.procs > 0:
            ctx = multiprocessing.get_context("spawn")
            job = (net, args.track, args.sim_seconds, onnx_path, args.bundle)
            with ctx.Pool(args.procs) as pool:
                t0 = time.perf_counter()
                res = pool.map(_worker, [job] * args.procs)
                wall = time.perf_counter() - t0
            per = [r["factor"] for r in res]
            total_sim = sum(r["sim_s"] for r in res)
            print(
                f"\n{args.procs} processes in parallel: "
                f"per process {min(per):.1f}-{max(per):.1f}x real time, "
                f"aggregate {sum(per):.1f}x (sim {total_sim:.0f} s in {wall:.1f} s wall "
                "including start-up)"
            )
    print("\ntarget: >= 200x real time per core with the camera (issue 14)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
