"""Robustness: how a model drives when the world is not the one it trained on.

    python benchmarks/robustness.py BUNDLE [--track T] [--laps 3] [--names noise,blur]
        [--levels noise=0:8:16] [--out DIR] [--json]

BUNDLE is anything ``racer evaluate`` takes (a bundle, a run folder, a DeepRacer model,
``expert:...``). For each perturbation (:data:`racer.sim.randomize.PERTURBATIONS`: light,
exposure, noise, blur, JPEG, latency, steering offset and gain, speed gain, field of view, camera
pose, lens, backdrop, floor) and each of its levels, one evaluation of ``--laps`` consecutive laps
from the start line, the first off-track ending it (``--reset-limit 0``), through
``racer evaluate --perturb``'s code path (:class:`racer.evaluate.Evaluator` with a
:class:`racer.sim.randomize.Perturbation`). Prints a table of completion (percent of the laps)
and mean lap time per level, marks the levels inside the camera recipe's training ranges
(``[randomize]``'s defaults) with ``*``, and with ``--out`` writes ``robustness.json`` and
``robustness.png`` (completion and lap time against each perturbation's level).

This is the number to check before putting a model on a real car.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from racer.evaluate.evaluator import Evaluator
from racer.evaluate.policies import close_policy, load_policy
from racer.evaluate.races import RaceConfig
from racer.sim.config import CameraConfig
from racer.sim.randomize import PERTURBATIONS, Perturbation, RandomizeConfig
from racer.track import load_track


def trained_range(name: str, cfg: RandomizeConfig | None = None) -> tuple[float, float]:
    """The levels of ``name`` that ``[randomize]`` (its defaults) draws in training."""
    c = cfg or RandomizeConfig(enabled=True)
    hfov = CameraConfig().hfov_deg
    g = 1.0 + c.gamma
    return {
        "brightness": (-c.brightness, c.brightness),
        "contrast": (1 - c.contrast, 1 + c.contrast),
        "gamma": (1 / g, g),
        "exposure": (-c.exposure_ev, c.exposure_ev),
        "noise": (0.0, c.noise),
        "blur": (0.0, c.blur),
        "jpeg": (float(c.jpeg_quality), 95.0),
        "latency_steps": (0.0, float(c.latency_steps)),
        "steering_offset_deg": (-c.steering_offset_deg, c.steering_offset_deg),
        "steering_gain": (1 - c.steering_gain, 1 + c.steering_gain),
        "speed_gain": (1 - c.speed_gain, 1 + c.speed_gain),
        "fov": (hfov - c.fov_jitter_deg, hfov + c.fov_jitter_deg),
        "pitch_deg": (-c.pitch_jitter_deg, c.pitch_jitter_deg),
        "roll_deg": (-c.roll_jitter_deg, c.roll_jitter_deg),
        "height_m": (-c.height_jitter_m, c.height_jitter_m),
        "distortion": (0.0, c.distortion),
        "backdrop_m": (c.backdrop_near_m, c.backdrop_far_m),
        "floor_noise": (0.0, c.floor_noise),
        "line_wear": (0.0, c.line_wear),
        "gradient": (0.0, c.gradient),
        "shadows": (0.0, float(c.shadows)),
    }[name]


def is_plain(name: str, level: float) -> bool:
    """Whether ``level`` is the plain world's for perturbation ``name``."""
    target = PERTURBATIONS[name][0]
    plain = {
        "contrast": 1.0,
        "gamma": 1.0,
        "steering_gain": 1.0,
        "speed_gain": 1.0,
        "fov_deg": CameraConfig().hfov_deg,
        "backdrop_m": math.inf,
    }.get(target, 0.0)
    return level == plain


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as a string ("inf": no backdrop), so that the file
    is strict JSON (json.dumps would write ``Infinity``, which JSON does not have)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def in_training(name: str, level: float) -> bool:
    """Whether training's randomisation covers ``level`` (the plain level always)."""
    if is_plain(name, level):
        return True
    if name == "jpeg" and level == 0:
        return True
    lo, hi = trained_range(name)
    return lo <= level <= hi


def evaluate_level(policy: Any, track: Any, levels: dict[str, float], laps: int) -> dict[str, Any]:
    """One evaluation under fixed levels: completion percent, laps, mean lap time, off-tracks."""
    config = RaceConfig(trials=1, laps=laps, reset_limit=0)
    perturbation = Perturbation.of(levels) if levels else None
    with Evaluator(policy, track, config, randomize=perturbation) as ev:
        result = ev.run()
    trial = result.trials[0]
    times = trial.lap_times_s
    return {
        "completion": round(trial.completion_percentage, 2),
        "laps": len(times),
        "lap_time_s": round(sum(times) / len(times), 3) if times else None,
        "status": trial.episode_status,
    }


def sweep(
    model: str, track_name: str, names: list[str], levels: dict[str, list[float]], laps: int
) -> dict[str, Any]:
    """Every level of every perturbation in ``names`` (plus the plain world)."""
    from rich.progress import Progress

    from racer.cli.evaluate import model_source

    track = load_track(track_name)
    policy = load_policy(model_source(model))
    rows: list[dict[str, Any]] = []
    t0 = time.process_time()
    try:
        work = [(n, v) for n in names for v in levels.get(n, PERTURBATIONS[n][2])]
        with Progress(transient=True) as bar:
            task = bar.add_task("robustness", total=len(work) + 1)
            base = evaluate_level(policy, track, {}, laps)
            bar.advance(task)
            for name, level in work:
                row = (
                    base
                    if is_plain(name, level)
                    else evaluate_level(policy, track, {name: level}, laps)
                )
                rows.append(
                    {"name": name, "level": level, "trained": in_training(name, level), **row}
                )
                bar.advance(task)
    finally:
        close_policy(policy)
    return {
        "model": model,
        "track": track.name,
        "laps": laps,
        "plain": base,
        "rows": rows,
        "cpu_s": round(time.process_time() - t0, 1),
    }


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """Completion over the levels outside the training ranges (what the README reports)."""
    unseen = [r for r in data["rows"] if not r["trained"]]
    if not unseen:
        return {"unseen_levels": 0}
    laps = [r["lap_time_s"] for r in unseen if r["lap_time_s"] is not None]
    return {
        "unseen_levels": len(unseen),
        "mean_completion": round(sum(r["completion"] for r in unseen) / len(unseen), 1),
        "all_laps_done": sum(r["laps"] == data["laps"] for r in unseen),
        "mean_lap_time_s": round(sum(laps) / len(laps), 2) if laps else None,
    }


def print_table(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{data['model']} on {data['track']}: {data['laps']} laps per level "
        "(* = a level inside the training ranges)"
    )
    for col in ("perturbation", "level", "completion %", "laps", "mean lap s", "ended"):
        table.add_column(col, justify="right" if col not in ("perturbation", "ended") else "left")
    b = data["plain"]
    table.add_row("(none)", "", f"{b['completion']:.1f}", str(b["laps"]), _t(b), b["status"])
    for r in data["rows"]:
        level = f"{r['level']:g}" + (" *" if r["trained"] else "")
        table.add_row(
            r["name"], level, f"{r['completion']:.1f}", str(r["laps"]), _t(r), r["status"]
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(table)
    s = summary(data)
    if s.get("unseen_levels"):
        console.print(
            f"levels outside training: {s['unseen_levels']}, mean completion "
            f"{s['mean_completion']}%, all {data['laps']} laps at {s['all_laps_done']} of them, "
            f"mean lap {s['mean_lap_time_s']} s"
        )


def _t(row: dict[str, Any]) -> str:
    return "-" if row["lap_time_s"] is None else f"{row['lap_time_s']:.2f}"


def plot(data: dict[str, Any], path: Path) -> None:
    """Completion (bars' line) and lap time against each perturbation's level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["name"] for r in data["rows"]))
    cols = 4
    rows_n = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 2.8 * rows_n), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        rs = [r for r in data["rows"] if r["name"] == name]
        finite = [r for r in rs if math.isfinite(r["level"])]
        xs = [r["level"] for r in finite]
        ax.plot(xs, [r["completion"] for r in finite], "o-", color="tab:blue")
        for r in finite:
            if not r["trained"]:
                ax.plot([r["level"]], [r["completion"]], "s", mfc="none", color="tab:red", ms=10)
        ax.set_ylim(-5, 105)
        ax.set_title(f"{name} ({PERTURBATIONS[name][1]})", fontsize=8)
        ax.set_ylabel("completion %", color="tab:blue", fontsize=8)
        ax2 = ax.twinx()
        ax2.plot(
            xs,
            [r["lap_time_s"] if r["lap_time_s"] is not None else math.nan for r in finite],
            "x--",
            color="tab:orange",
        )
        ax2.set_ylabel("mean lap s", color="tab:orange", fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(
        f"{data['model']} on {data['track']}: completion and lap time per level "
        "(red squares: levels outside training)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _levels(specs: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for spec in specs:
        name, _, values = spec.partition("=")
        if name not in PERTURBATIONS or not values:
            raise SystemExit(
                f"--levels {spec!r}: use NAME=V1:V2:..., NAME one of {list(PERTURBATIONS)}"
            )
        out[name] = [float(v) for v in values.split(":")]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--track", default="oval")
    ap.add_argument("--laps", type=int, default=3)
    ap.add_argument("--names", default="", help="comma-separated perturbations (default: all)")
    ap.add_argument("--levels", action="append", default=[], help="NAME=V1:V2:... (repeat)")
    ap.add_argument("--out", type=Path, default=None, help="write robustness.json and .png here")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.names.split(",") if n.strip()] or list(PERTURBATIONS)
    bad = [n for n in names if n not in PERTURBATIONS]
    if bad:
        print(f"unknown perturbation(s) {bad}: use {', '.join(PERTURBATIONS)}", file=sys.stderr)
        return 2
    data = sweep(args.model, args.track, names, _levels(args.levels), args.laps)
    data["summary"] = summary(data)
    if args.out is not None:
        from racer.util.files import atomic_write_text

        args.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_json_safe(data), indent=2, allow_nan=False)
        atomic_write_text(args.out / "robustness.json", text + "\n")
        plot(data, args.out / "robustness.png")
    if args.json:
        print(json.dumps(_json_safe(data), indent=2, allow_nan=False))
    else:
        print_table(data)
        if args.out is not None:
            print(f"wrote {args.out / 'robustness.json'} and {args.out / 'robustness.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
