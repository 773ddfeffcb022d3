"""Prints the per-call cost of the simulator's observation path.

Figures: the fast floor renderer vs PyBullet's TinyRenderer for one 160x120 frame, ``World.step``
(one 1/15 s control period), the lidar, and the texture / world set-up costs. Then sim-to-real
randomisation (:mod:`racer.sim.randomize`): a camera step of the vectorised env (16 cars, the
training default), plain vs randomised with ``[randomize]``'s defaults, and the frames alone; CPU
time of this process (the machine may be loaded), per car-step.

Run: ``python benchmarks/render_speed.py [track]`` (a track name or file; the built-in oval by
default).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

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
    randomized_rows(track)


def _frames_call(venv: Any) -> Callable[[], object]:
    """One frame of every car of ``venv``: the plain renderer's, or the randomiser's (finished)."""
    x, y, yaw = venv.car_poses()
    n = venv.num_envs
    if venv._rand is None:
        cam = venv._cams[0]
        return lambda: cam.render_many(x, y, yaw)
    r = venv._rand
    idx, speed, steps = np.arange(n), np.full(n, 2.0), np.full(n, 3)
    return lambda: r.render(idx, x, y, yaw, speed, steps)


def randomized_rows(
    track: object, cars: int = 16, steps: int = 120, rounds: int = 15, config: Any = None
) -> None:
    """A camera step of RaceVectorEnv, plain vs randomised, and the frames alone (per car).

    The two envs step in alternation (a few steps each, ``rounds`` times) and each figure is the
    median over the rounds, so a load that comes and goes on the machine hits both alike.
    """
    import statistics

    from racer.env import RaceVectorEnv
    from racer.env.follower import VectorCenterlineFollower
    from racer.sim.randomize import RandomizeConfig

    envs, acts, setup = {}, {}, {}
    rand = config if config is not None else RandomizeConfig(enabled=True)
    for name, rnd in (("plain", None), ("randomised", rand)):
        t = time.process_time()
        venv = RaceVectorEnv(cars, track, observation="camera", randomize=rnd)
        setup[name] = time.process_time() - t
        venv.reset(seed=0)
        driver = VectorCenterlineFollower(venv)
        acts[name] = []
        for _ in range(steps):  # the follower's actions, outside the timing
            a = driver.act()
            acts[name].append(a)
            venv.step(a)
        venv.reset(seed=0)
        envs[name] = venv
    step_ms: dict[str, list[float]] = {k: [] for k in envs}
    frame_ms: dict[str, list[float]] = {k: [] for k in envs}
    per = steps // rounds
    for r in range(rounds):
        for name, venv in envs.items():
            chunk = acts[name][r * per : (r + 1) * per]
            t = time.process_time()
            for a in chunk:
                venv.step(a)
            step_ms[name].append((time.process_time() - t) / len(chunk) / cars * 1e3)
            call = _frames_call(venv)
            t = time.process_time()
            for _ in range(5):
                call()
            frame_ms[name].append((time.process_time() - t) / 5 / cars * 1e3)
    med = {k: statistics.median(v) for k, v in step_ms.items()}
    for name in envs:
        print(
            f"camera step, {cars} cars, {name:10s}: {med[name]:.3f} ms per car-step "
            f"(frames alone {statistics.median(frame_ms[name]):.3f} ms; env set-up "
            f"{setup[name]:.2f} s)"
        )
    rand_env = envs["randomised"]._rand
    jpeg = sum(p.jpeg > 0 for p in rand_env.params) if rand_env is not None else 0
    print(
        f"randomised / plain camera step: {med['randomised'] / med['plain']:.2f}x (CPU time; "
        f"{jpeg} of {cars} cars with JPEG artefacts, ~0.2 ms a frame each)"
    )


if __name__ == "__main__":
    main()
