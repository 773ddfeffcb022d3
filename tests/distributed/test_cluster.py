"""A real Ray cluster on this machine, bound to loopback: a sweep and a leaderboard run, each
with a worker killed mid-run, and every result there exactly once."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ray_temp_dir
from distributed_testlib import bundle_folder, kill_first, tiny_agent

from racer.distributed.cluster import AUTH_MODE_ENV, LOOPBACK_ENV, USAGE_STATS_ENV, connect
from racer.distributed.leaderboard import run_directory_ray
from racer.distributed.sweep import SWEEP_JSON, TRIALS, parse_grid, run_sweep
from racer.evaluate import RaceConfig
from racer.evaluate import leaderboard as lb

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ray start --head`` on 127.0.0.1 (2 CPUs, no dashboard); ``ray stop`` afterwards."""
    env = {**os.environ, LOOPBACK_ENV: "0", USAGE_STATS_ENV: "0"}
    # the cluster's token (Ray's default authentication): a driver given an explicit address
    # presents it only when told to
    os.environ[AUTH_MODE_ENV] = env[AUTH_MODE_ENV] = "token"
    port = _free_port()
    temp = ray_temp_dir(tmp_path_factory)
    start = [
        RAY, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
        "--include-dashboard=false", "--num-cpus", "2", "--temp-dir", str(temp),
    ]  # fmt: skip
    try:
        subprocess.run(start, env=env, check=True, capture_output=True, timeout=180)
        address = f"127.0.0.1:{port}"
        ray = connect(address)
        yield address
        ray.shutdown()
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _killer(prefix: str, when: object = None) -> tuple[threading.Thread, list[int | None]]:
    killed: list[int | None] = []
    thread = threading.Thread(
        target=lambda: killed.append(kill_first(prefix, 240.0, when)),  # type: ignore[arg-type]
        daemon=True,
    )
    thread.start()
    return thread, killed


@pytest.mark.slow
def test_cluster_survives_killed_workers(tmp_path: Path, cluster: str) -> None:
    # a sweep of 4 tiny trainings (1,536 steps: a window of several seconds to kill one in); a
    # training worker killed once every training under way has a checkpoint
    agent = tiny_agent(tmp_path / "agent", steps=1536, every=512, checkpoint=128)
    out = tmp_path / "sweep"

    def checkpointed() -> bool:
        """Every trial training now has a checkpoint to continue from."""
        running = (
            [d for d in (out / TRIALS).glob("*") if not (d / "final_model.zip").exists()]
            if (out / TRIALS).is_dir()
            else []
        )
        return bool(running) and all(any(d.glob("checkpoints/*.zip")) for d in running)

    thread, killed = _killer("ray::ImplicitFunc.train", checkpointed)
    res = run_sweep(
        agent,
        parse_grid(["hyperparameters.learning_rate=1e-3,3e-4"]),
        out=out,
        samples=2,
        address=cluster,
        grace_steps=1536,  # no early stop: every trial trains its whole budget
        race=RaceConfig(trials=1, laps=3, time_limit_per_lap_s=3.0),
        log=None,
    )
    thread.join(5)
    assert killed and killed[0] is not None, "no training worker was seen to kill"
    book = json.loads((out / SWEEP_JSON).read_text())
    assert len(book["trials"]) == 4 and sorted(book["ranking"]) == sorted(book["trials"])
    for name, trial in book["trials"].items():
        assert trial["status"] == "done", (name, trial)
        assert "error" not in trial["race"], trial["race"]
        with open(out / TRIALS / name / "eval.csv", newline="") as fh:
            steps = [int(r["steps"]) for r in csv.DictReader(fh)]
        assert steps == [512, 1024, 1536], (name, steps)  # each evaluation once
    assert sum(t.get("restarts", 0) for t in book["trials"].values()) >= 1  # Tune restarted it
    assert sorted(res.ranking) == sorted(book["trials"])

    # a leaderboard run of 6 bundles; an evaluation worker killed mid-evaluation
    folder = bundle_folder(tmp_path / "lb", 6)
    db = tmp_path / "lb.db"
    thread, killed = _killer("ray::evaluate_task")
    outcomes = run_directory_ray(
        folder,
        "oval",
        address=cluster,
        db=db,
        config=RaceConfig(trials=1, laps=3, time_limit_per_lap_s=8.0),
        progress=False,
    )
    thread.join(5)
    assert killed and killed[0] is not None, "no evaluation worker was seen to kill"
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    names = sorted(e.name for e in lb.entries(db))
    assert names == ["b0", "b1", "b2", "b3", "b4", "b5"]  # every bundle exactly once
    assert lb.integrity_check(db) == "ok"
