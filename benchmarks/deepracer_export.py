"""Prints what ``racer export --deepracer`` costs and how faithful the car's model is.

For each run: the whole export's wall time and the DeepRacer step's share of it (graph, parity
through OpenVINO's TensorFlow front end in FP32 and FP16, archive), the size of ``model.pb`` and
of the ``.tar.gz``, the graph's ops, and the parity figures (FP32 max |diff| against the torch
policy; FP16, the car's conversion: max |diff| and the share of frames with the same action).

Without RUN arguments it trains two tiny camera runs first (PPO, discrete and continuous; a
minute or two on a laptop CPU) in a temporary folder.

Run: ``python benchmarks/deepracer_export.py [RUN ...] [--samples 256]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread everywhere, before torch loads

CONTINUOUS = {
    "action_space_type": "continuous",
    "action_space": {
        "steering_angle": {"low": -30.0, "high": 30.0},
        "speed": {"low": 0.5, "high": 2.0},
    },
}


def tiny_run(root: Path, kind: str) -> Path:
    """Train a tiny camera run (a few hundred steps) with ``kind`` actions; its folder."""
    from racer.train.config import config_from_dict
    from racer.train.pipeline import train

    data: dict[str, Any] = {
        "agent": {"name": f"bench-camera-{kind}"},
        "env": {
            "tracks": ["oval"],
            "observation": "camera",
            "reward": "progress",
            "max_steps": 100,
        },
        "algorithm": {"name": "ppo", "network": "shallow_cnn", "net_arch": [64]},
        "hyperparameters": {"n_steps": 128, "batch_size": 64, "n_epochs": 2},
        "budget": {"steps": 512, "envs": 1, "seed": 0, "device": "cpu"},
        "evaluation": {"every_steps": 256, "episodes": 1},
        "checkpoint": {"every_steps": 256, "keep": 1},
    }
    if kind == "continuous":
        data["action_space"] = CONTINUOUS
    run = root / f"bench-camera-{kind}"
    train(config_from_dict(data, source="benchmark"), out=run, progress_bar=False)
    return run


def main(argv: list[str] | None = None) -> int:
    """Export, measure and print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders (default: train two tiny)")
    parser.add_argument("--samples", type=int, default=256, help="recorded frames for parity")
    args = parser.parse_args(argv)

    import openvino
    import torch

    from racer.export.exporter import export_run

    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, openvino {openvino.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="racer-bench-deepracer.") as tmp:
        root = Path(tmp)
        runs = args.runs
        if not runs:
            t0 = time.perf_counter()
            runs = [tiny_run(root, "discrete"), tiny_run(root, "continuous")]
            print(f"trained 2 tiny camera runs in {time.perf_counter() - t0:.1f} s")
        for run in runs:
            out = root / "export" / run.resolve().name
            result = export_run(run, out, samples=args.samples, deepracer=True)
            car = result.deepracer
            assert car is not None
            with tarfile.open(car.archive) as tar:
                members = [m.name for m in tar.getmembers()]
            kind = (
                "discrete" if result.metadata["action_space_type"] == "discrete" else "continuous"
            )
            print(f"\nrun {run.resolve().name} (camera, {kind}, {result.samples} recorded frames)")
            print(f"  export, whole (bundle + car archive)  {result.wall_s:6.1f} s")
            print(f"  of which the DeepRacer step           {car.wall_s:6.1f} s")
            print(
                f"  model.pb {car.pb_bytes:,} bytes; {car.archive.name} "
                f"{car.archive.stat().st_size:,} bytes: {members}"
            )
            print(f"  ops: {', '.join(sorted(car.graph.ops))}")
            for p in car.parity:
                agree = (
                    "" if p.action_agreement is None else f", same action {p.action_agreement:.1%}"
                )
                print(
                    f"  {p.engine}: max |diff| {p.max_abs_diff:.2e}, mean {p.mean_abs_diff:.2e}"
                    f"{agree} ({'ok' if p.passed else 'FAILED'})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
