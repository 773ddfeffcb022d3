"""Helpers of the Ray tests: tiny bundles, a tiny recipe, Ray worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from testlib.bundles import DISCRETE_ACTIONS, H, W, build_bundle

from racer.car.bundle import pack_bundle


def bundle_folder(root: Path, n: int) -> Path:
    """``n`` camera bundles that each always pick one action (different ones: different
    results), every third one packed as a ``.tar.gz``."""
    folder = root / "entries"
    folder.mkdir(parents=True)
    for i in range(n):
        bias = [0.0] * len(DISCRETE_ACTIONS)
        bias[i % len(DISCRETE_ACTIONS)] = 3.0
        if i % 3 == 2:
            tmp = build_bundle(root / f"src{i}", "discrete", 2, bias=bias, frame_shape=(H, W))
            pack_bundle(tmp, folder / f"b{i}.tar.gz")
        else:
            build_bundle(folder / f"b{i}", "discrete", 2, bias=bias, frame_shape=(H, W))
    return folder


def tiny_agent(folder: Path, steps: int = 256, every: int = 128, checkpoint: int = 128) -> Path:
    """A recipe that trains in seconds: state observation, an MLP of 16, 128-step rollouts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "agent.toml"
    path.write_text(
        f"""[agent]
name = "tiny"

[env]
tracks = ["oval"]
observation = "state"
reward = "progress"

[algorithm]
name = "ppo"
net_arch = [16]

[hyperparameters]
n_steps = 128
batch_size = 64
n_epochs = 2

[budget]
steps = {steps}
envs = 1

[evaluation]
every_steps = {every}
episodes = 2

[checkpoint]
every_steps = {checkpoint}
keep = 2
"""
    )
    return folder


def ray_processes(prefix: str) -> list[int]:
    """Pids of this user's processes whose title starts with ``prefix`` (``ray::evaluate_task``)."""
    out = subprocess.run(
        ["ps", "-u", str(os.getuid()), "-o", "pid=,args="], capture_output=True, text=True
    ).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.strip().startswith(prefix):
            pids.append(int(pid))
    return pids


def kill_first(prefix: str, timeout_s: float, after: callable | None = None) -> int | None:  # type: ignore[valid-type]
    """SIGKILL the first process titled ``prefix`` once ``after()`` holds; its pid, or None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = ray_processes(prefix)
        if pids and (after is None or after()):
            os.kill(pids[0], signal.SIGKILL)
            return pids[0]
        time.sleep(0.2)
    return None
