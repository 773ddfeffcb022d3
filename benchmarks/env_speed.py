"""Environment speed: steps per second per observation mode on one core.

    python benchmarks/env_speed.py [--track oval] [--steps 3000] [--vector-only]

For each observation mode it prints the env's steps/s (one process, one core: torch is not
involved), the cost of the raw simulator work inside one step (``World.step`` for the control
period's physics substeps, plus the sensor: one camera render, two for stereo, one lidar cast),
and the ratio of the two. Then the reward-plugin overhead: the same env with a DeepRacer-style
reward loaded from a ``.py`` file vs. racer's built-in ``progress`` reward.

The car follows the centre line (pure pursuit), so episodes are long and realistic; resets are
included in the timing.

Then the native vectorised env (:class:`racer.env.RaceVectorEnv`): car-steps per second of
one core for N = 1, 16, 64, 256 cars in each mode, with the built-in ``progress`` reward (its
batched form) and with the same reward from a ``.py`` file (called once per car per step with a
full params dict). The cars follow the centre line too (a batched pure pursuit, computed outside
the timed ``step`` calls); the timing is this process's CPU time inside ``step``, so other load
on the machine does not count against it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from racer.env import RaceEnv, RaceVectorEnv
from racer.env.follower import CenterlineFollower, VectorCenterlineFollower

FILE_REWARD = '''
def reward_function(params):
    """Progress per step plus a little speed: the shape of racer's built-in `progress`."""
    if params["is_offtrack"]:
        return 1e-3
    steps = max(params["steps"], 1)
    return 10.0 * params["progress"] / steps + params["speed"] / 4.0
'''


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _actions(env: RaceEnv, n: int) -> list[np.ndarray]:
    """Pre-compute a follower's actions, so the timing measures the env only."""
    env.reset(seed=0)
    drv = CenterlineFollower(env)
    out = []
    for _ in range(n):
        a = drv.act()
        out.append(a)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return out


def time_env(env: RaceEnv, actions: list[np.ndarray], repeats: int = 3) -> float:
    """Best seconds per step over ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        env.reset(seed=0)
        t0 = time.perf_counter()
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        best = min(best, (time.perf_counter() - t0) / len(actions))
    return best


def time_raw(env: RaceEnv, actions: list[np.ndarray], repeats: int = 3) -> float:
    """Best seconds per step of the simulator work alone (physics substeps + the sensor)."""
    world = env.world
    obs = env.observation_name
    cmds = [env.action_spec.to_command(a) for a in actions]
    best = float("inf")
    for _ in range(repeats):
        env.reset(seed=0)
        t0 = time.perf_counter()
        for steer_deg, speed in cmds:
            world.step(np.radians(steer_deg), speed)
            world.car_state()
            if obs == "camera":
                world.camera()
            elif obs == "stereo":
                world.stereo()
            elif obs == "lidar":
                world.lidar()
        best = min(best, (time.perf_counter() - t0) / len(cmds))
    return best


def time_vector(venv: RaceVectorEnv, car_steps: int) -> float:
    """Car-steps per CPU second of ``venv.step`` over about ``car_steps`` car-steps."""
    driver = VectorCenterlineFollower(venv)
    venv.reset(seed=0)
    for _ in range(5):  # warm up (the racing line, the first allocations)
        venv.step(driver.act())
    spent = 0.0
    steps = max(20, car_steps // venv.num_envs)
    for _ in range(steps):
        actions = driver.act()
        t0 = time.process_time()
        venv.step(actions)
        spent += time.process_time() - t0
    return steps * venv.num_envs / spent


def vector_table(track: str, reward_file: str, car_steps: int) -> None:
    """The vectorised env's car-steps/s per core: modes x N x reward."""
    sizes = (1, 16, 64, 256)
    print(f"\nnative vectorised env (RaceVectorEnv), car-steps/s per core, track={track}")
    print(f"{'observation':<12}{'reward':<10}" + "".join(f"{'N=' + str(n):>10}" for n in sizes))
    for obs in ("state", "lidar", "camera", "stereo"):
        for label, reward in (("built-in", "progress"), ("file", reward_file)):
            rates = []
            for n in sizes:
                budget = car_steps if obs in ("state", "lidar") else car_steps // 4
                venv = RaceVectorEnv(
                    n, track=track, observation=obs, action_space="continuous", reward=reward
                )
                rates.append(time_vector(venv, budget))
                venv.close()
            print(f"{obs:<12}{label:<10}" + "".join(f"{r:>10,.0f}" for r in rates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--track", default="oval")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--car-steps", type=int, default=40_000, help="per vectorised measurement")
    ap.add_argument("--vector-only", action="store_true", help="only the vectorised table")
    args = ap.parse_args()
    _pin_one_core()
    if args.vector_only:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reward.py"
            path.write_text(FILE_REWARD)
            vector_table(args.track, str(path), args.car_steps)
        return

    print(f"track={args.track} steps={args.steps} (best of 3, one core)")
    print(f"{'observation':<12}{'steps/s':>10}{'env us':>10}{'raw sim us':>12}{'ratio':>8}")
    for obs in ("state", "lidar", "camera", "stereo"):
        env = RaceEnv(track=args.track, observation=obs, action_space="continuous")
        acts = _actions(env, args.steps)
        t_env = time_env(env, acts)
        t_raw = time_raw(env, acts)
        print(
            f"{obs:<12}{1 / t_env:>10.0f}{t_env * 1e6:>10.0f}{t_raw * 1e6:>12.0f}"
            f"{t_env / t_raw:>8.2f}"
        )
        env.close()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reward.py"
        path.write_text(FILE_REWARD)
        envs = {
            label: RaceEnv(
                track=args.track, observation="lidar", action_space="continuous", reward=reward
            )
            for label, reward in (("built-in", "progress"), ("file", str(path)))
        }
        acts = _actions(envs["built-in"], args.steps)
        rates: dict[str, list[float]] = {label: [] for label in envs}
        for _ in range(7):  # alternate, so drift in machine load hits both alike
            for label, env in envs.items():
                rates[label].append(1 / time_env(env, acts, repeats=1))
        for env in envs.values():
            env.close()
    b = statistics.median(rates["built-in"])
    f = statistics.median(rates["file"])
    print(
        f"reward plugin (lidar env, median of 7 alternating passes): built-in progress "
        f"{b:.0f} steps/s, file plugin {f:.0f} steps/s, file/built-in = {f / b:.3f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reward.py"
        path.write_text(FILE_REWARD)
        vector_table(args.track, str(path), args.car_steps)


if __name__ == "__main__":
    main()
