"""Prints the per-call cost of the simulator's observation path.

Figures: the fast floor renderer vs PyBullet's TinyRenderer for one 160x120 frame, ``World.step``
(one 1/15 s control period), the lidar, and the texture / world set-up costs.

Run: ``python benchmarks/render_speed.py [track]`` (a track name or file; the built-in oval by
default).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np


def _time_ms(fn: Callable[[], object], n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


def main() -> None:
    from racer.sim import World
    from racer.sim.texture import floor_texture
    from racer.track import load_track

    track = load_track(sys.argv[1] if len(sys.argv) > 1 else "oval")
    t = time.perf_counter()
    tex = floor_texture(track)
    print(
        f"texture build (first, then cached): {(time.perf_counter() - t) * 1e3:8.1f} ms"
        f"  {tex.rgb.shape[1]}x{tex.rgb.shape[0]} px at {tex.m_per_px * 1e3:.0f} mm"
    )
    t = time.perf_counter()
    w = World(track)
    print(f"World() with cached texture:        {(time.perf_counter() - t) * 1e3:8.2f} ms")

    start = np.asarray(track.point_at(0.0)).reshape(-1)
    w.reset_car(float(start[0]), float(start[1]), float(track.heading_at(0.0)))
    rows = [
        ("camera(): fast floor render 160x120", _time_ms(w.camera, 2000)),
        ("stereo(): 2 x 160x120", _time_ms(w.stereo, 1000)),
        ("TinyRenderer 160x120 (camera_reference)", _time_ms(w.camera_reference, 50)),
        ("step() no objects (8 substeps at 120 Hz)", _time_ms(lambda: w.step(0.1, 2.0), 5000)),
        ("car_state()", _time_ms(w.car_state, 5000)),
        ("lidar() no objects", _time_ms(w.lidar, 5000)),
    ]
    w.reset_car(float(start[0]), float(start[1]), float(track.heading_at(0.0)))
    h = float(track.heading_at(0.0))
    w.add_box(float(start[0]) + 1.2 * math.cos(h), float(start[1]) + 1.2 * math.sin(h))
    w.add_bot(track.length / 2, 1.0)
    rows += [
        ("lidar() 64 rays, box + bot", _time_ms(w.lidar, 2000)),
        ("step() with box in reach + bot", _time_ms(lambda: w.step(0.0, 0.0), 2000)),
        ("camera() with a box in view (composited)", _time_ms(w.camera, 50)),
    ]
    for name, ms in rows:
        print(f"{name:42s} {ms:8.4f} ms")
    w.close()


if __name__ == "__main__":
    main()
