"""``racer sweep`` on a local Ray: trials as run folders, ASHA, the race, the ranking, resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from distributed_testlib import tiny_agent

from racer.distributed.sweep import (
    RANKING_TXT,
    SWEEP_JSON,
    SWEEP_PNG,
    TRIALS,
    parse_grid,
    race_key,
    run_sweep,
)
from racer.evaluate import RaceConfig

FAST_RACE = RaceConfig(trials=1, laps=3, time_limit_per_lap_s=3.0)


def eval_steps(run: Path) -> list[int]:
    with open(run / "eval.csv", newline="") as fh:
        return [int(r["steps"]) for r in csv.DictReader(fh)]


@pytest.mark.slow  # ~50 s on a loaded 2-core machine: each trial and race starts a worker (torch)
def test_a_sweep_trains_races_ranks_and_resumes(tmp_path: Path, ray_local: Any) -> None:
    agent = tiny_agent(tmp_path / "agent", steps=256, every=128, checkpoint=128)
    grid = parse_grid(["hyperparameters.learning_rate=1e-3,3e-4"])
    out = tmp_path / "sweep"
    lines: list[str] = []
    res = run_sweep(agent, grid, out=out, race=FAST_RACE, log=lines.append)
    names = ["t000-learning_rate=0.001-seed=0", "t001-learning_rate=0.0003-seed=0"]
    assert sorted(res.trained) == names
    book = json.loads((out / SWEEP_JSON).read_text())
    assert book == res.book
    assert sorted(book["ranking"]) == names
    for name in names:
        trial = book["trials"][name]
        run = out / TRIALS / name
        assert (run / "config.toml").exists() and (run / "best_model.zip").exists()
        assert trial["status"] in ("done", "stopped")
        assert trial["training"]["steps"] == eval_steps(run)[-1]
        assert set(trial["race"]) >= {"complete", "completion_percentage", "off_track_count"}
    assert book["trials"][names[0]]["recipe"]["hyperparameters"]["learning_rate"] == 1e-3
    keys = [race_key(book["trials"][n]["race"]) for n in book["ranking"]]
    assert keys == sorted(keys)
    assert [book["trials"][n]["rank"] for n in book["ranking"]] == [1, 2]
    assert (out / SWEEP_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert book["ranking"][0] in (out / RANKING_TXT).read_text()

    # the driver "crashed" while the second trial was training: its run folder holds a
    # checkpoint, the book says it was running and it has no race yet
    second = book["trials"][names[1]]
    second["status"] = "running"
    del second["race"]
    (out / SWEEP_JSON).write_text(json.dumps(book))
    first_model = (out / TRIALS / names[0] / "best_model.zip").stat().st_mtime_ns
    again = run_sweep(agent, grid, out=out, race=FAST_RACE, log=lines.append)
    assert again.trained == [names[1]]
    assert (out / TRIALS / names[0] / "best_model.zip").stat().st_mtime_ns == first_model
    steps = eval_steps(out / TRIALS / names[1])
    assert steps == sorted(set(steps))  # continued from its checkpoint: no row twice
    assert again.book["trials"][names[1]]["status"] in ("done", "stopped")
    assert "race" in again.book["trials"][names[1]]
    assert sorted(again.ranking) == names
