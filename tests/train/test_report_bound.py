"""`racer report`: the best evaluation lap against the track's racing line and its bound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racer.env import RaceEnv
from racer.env.follower import CenterlineFollower
from racer.track import load_track
from racer.track.plot import lap_vs_bound
from racer.track.racing_line import racing_line
from racer.train.report import best_evaluation_lap, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def drive(start_s: float, max_steps: int | None = None) -> tuple[np.ndarray, float | None]:
    """The follower's evaluation episode on the oval, rows (x, y, speed) as the callback saves."""
    env = RaceEnv("oval", observation="state", max_steps=max_steps)
    follower = CenterlineFollower(env)
    env.reset(seed=0, options={"start_s": start_s, "reverse": False})
    rows = []
    while True:
        _, _, term, trunc, info = env.step(follower.act())
        p = info["params"]
        rows.append((p["x"], p["y"], info["speed_mps"]))
        if term or trunc:
            break
    env.close()
    lap = float(info["lap_time_s"]) if info["episode_status"] == "lap_complete" else None
    return np.asarray(rows, dtype=np.float32), lap


@pytest.fixture(scope="module")
def episodes() -> dict[str, tuple[np.ndarray, float | None]]:
    length = load_track("oval").length
    return {"lap": drive(0.5 * length), "partial": drive(0.0, max_steps=60)}


def make_run(folder: Path, *trajectories: np.ndarray, **extra: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(
        '[agent]\nname = "tiny"\n\n[env]\ntracks = ["oval"]\nobservation = "state"\n'
    )
    np.savez_compressed(folder / "best_trajectories.npz", *trajectories, **extra)
    return folder


def test_best_lap_is_the_completed_one_with_its_time(episodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lap, lap_s = episodes["lap"]
    partial, none = episodes["partial"]
    assert lap_s is not None and none is None
    run = make_run(tmp_path / "run", partial, lap)
    best = best_evaluation_lap(run, load_track("oval"))
    assert best is not None
    assert best.lap_time_s == pytest.approx(lap_s)  # one control period per row
    assert len(best.xy) == len(lap) and best.covered > 0.99
    only_partial = best_evaluation_lap(make_run(tmp_path / "p", partial), load_track("oval"))
    assert only_partial is not None and only_partial.lap_time_s is None
    assert 0.05 < only_partial.covered < 0.5


def test_saved_lap_times_win_over_inference(episodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lap, _ = episodes["lap"]
    run = make_run(tmp_path / "run", lap, lap, lap_time_s=np.array([np.nan, 12.5]))
    best = best_evaluation_lap(run, load_track("oval"))
    assert best is not None and best.lap_time_s == 12.5


def test_lap_vs_bound_text() -> None:
    assert lap_vs_bound(6.12, 5.51) == "6.120 s = 1.11x the bound (5.510 s)"


def test_report_draws_the_lap_over_the_racing_line(episodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lap, _ = episodes["lap"]
    run = make_run(tmp_path / "run", lap)
    paths = write_report(run)
    racing = run / "report" / "racing_line.png"
    assert racing in paths
    assert racing.read_bytes()[:8] == PNG and racing.stat().st_size > 20_000
    bound = racing_line(load_track("oval")).lap_time_s
    best = best_evaluation_lap(run, load_track("oval"))
    assert best is not None and best.lap_time_s is not None
    assert best.lap_time_s > bound  # the follower is no faster than the optimum


def test_report_without_evaluations_still_draws_the_line(tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('[agent]\nname = "t"\n\n[env]\ntracks = ["oval"]\n')
    paths = write_report(run)
    assert run / "report" / "racing_line.png" in paths
