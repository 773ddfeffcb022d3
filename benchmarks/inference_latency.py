"""Prints single-frame inference latency of an exported bundle on one CPU thread.

Engines: torch eager (the trained stable-baselines3 policy, both through ``model.predict`` as the
training evaluation calls it and as the bare exported module), ONNX Runtime, OpenVINO (f32) and
OpenVINO INT8 when the bundle has it. Inputs are the bundle's golden frames (recorded in the
simulator). The torch model is the run named in the bundle's provenance when that folder exists,
or the run given with ``--run``.

Targets (DESIGN.md, the issue): a camera policy at p50 <= 1 ms with ONNX Runtime or OpenVINO, and
at least 2x faster than torch eager.

Run: ``python benchmarks/inference_latency.py BUNDLE [--run RUN] [--runs 1000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread everywhere, before torch loads

import numpy as np  # noqa: E402


def _time(fn: Callable[[np.ndarray], object], inputs: np.ndarray, runs: int) -> dict[str, float]:
    """p50/p99/mean of ``fn`` over ``runs`` single-input calls (cycling the inputs), ms."""
    for k in range(min(50, runs)):
        fn(inputs[k % len(inputs)])
    ms = np.empty(runs)
    for i in range(runs):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        fn(x)
        ms[i] = (time.perf_counter() - t0) * 1e3
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="bundle folder or .tar.gz")
    parser.add_argument("--run", type=Path, help="run folder of the torch model (overrides)")
    parser.add_argument("--runs", type=int, default=1000, help="timed inferences per engine")
    args = parser.parse_args(argv)

    from racer.car.bundle import load_bundle

    bundle = load_bundle(args.bundle)
    golden = bundle.golden()["inputs"].astype(np.float32)  # (K, 1, ...)
    meta = bundle.metadata
    print(f"bundle {args.bundle} ({meta['observation']}, {meta['action_space']['type']})")
    print(f"input {list(bundle.input_shape)}, {args.runs} single-frame runs per engine, 1 thread")
    results: dict[str, dict[str, float]] = {}

    run = args.run or Path(meta["provenance"].get("run_dir", ""))
    if run and (run / "config.toml").is_file():
        import torch

        from racer.export.policy import PolicyGraph, load_trained_policy

        torch.set_num_threads(1)
        model_name = str(meta["provenance"].get("model", "best_model.zip"))
        trained = load_trained_policy(run, "final" if model_name.startswith("final") else "best")
        graph = PolicyGraph(trained).eval()

        def predict(x: np.ndarray) -> object:
            return trained.model.predict(trained.normalize(x), deterministic=True)

        def module(x: np.ndarray) -> object:
            with torch.no_grad():
                return graph(torch.from_numpy(x))

        results["torch eager (sb3 predict)"] = _time(predict, golden, args.runs)
        results["torch eager (module)"] = _time(module, golden, args.runs)
    else:
        print("torch: the run folder is not available here; pass --run RUN to include it")

    engines = ["onnxruntime", "openvino"] + (["openvino_int8"] if bundle.has_int8 else [])
    for name in engines:
        be = bundle.backend(name, threads=1)
        results[name] = _time(be.run, golden, args.runs)

    print(f"{'engine':<28}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'vs torch':>10}")
    ref = results.get("torch eager (module)")
    for name, r in results.items():
        speedup = f"{ref['p50'] / r['p50']:.1f}x" if ref else "-"
        print(f"{name:<28}{r['p50']:>10.3f}{r['p99']:>10.3f}{r['mean']:>10.3f}{speedup:>10}")
    best = min((results[n]["p50"], n) for n in ("onnxruntime", "openvino"))
    line = f"fastest car engine: {best[1]} p50 {best[0]:.3f} ms (target <= 1 ms"
    if ref:
        line += f"; {ref['p50'] / best[0]:.1f}x torch eager, target >= 2x"
    print(line + ")")
    bundle.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
