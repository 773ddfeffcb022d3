"""Racing line: compute time and lap-time bounds per track.

    python benchmarks/racing_line.py [--spacing 0.1]

For every built-in track, the DeepRacer samples in ../shared/deepracer-format (when present) and
an ~89 m generated track, prints the cold compute time of the min-time line (the min-curvature
line and the centre line included, as racing_line() computes them), the bound of the
min-curvature line, of the min-time line and of the centre line, and the min-time gain.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from racer.track import Track, builtin_track_names, generate_track, load_track

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "deepracer-format"


def tracks() -> list[Track]:
    out = [load_track(name) for name in builtin_track_names()]
    if SAMPLES.is_dir():
        out += [load_track(path) for path in sorted(SAMPLES.glob("*.npy"))]
    out.append(generate_track(3, length_m=89.0))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--spacing", type=float, default=None, help="line point spacing, m")
    args = ap.parse_args()
    rl = importlib.import_module("racer.track.racing_line")
    if args.spacing is not None:
        rl.SPACING_M = args.spacing
    rl.racing_line(load_track("oval"), method="min-curvature")  # import SciPy outside the timing
    print(
        f"{'track':<14}{'length_m':>9}{'points':>7}{'cold_s':>8}"
        f"{'min_curv_s':>11}{'min_time_s':>11}{'centre_s':>9}{'gain':>7}"
    )
    for track in tracks():
        rl._cache.clear()
        rl._frames.clear()
        t0 = time.perf_counter()
        mt = rl.racing_line(track, method="min-time")
        cold = time.perf_counter() - t0
        mc = rl.racing_line(track, method="min-curvature")
        cl = rl.centerline_line(track)
        gain = 100.0 * (1.0 - mt.lap_time_s / mc.lap_time_s)
        print(
            f"{track.name:<14}{track.length:>9.2f}{mt.n_points:>7}{cold:>8.2f}"
            f"{mc.lap_time_s:>11.3f}{mt.lap_time_s:>11.3f}{cl.lap_time_s:>9.3f}{gain:>6.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
