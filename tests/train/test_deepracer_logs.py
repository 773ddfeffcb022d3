"""A run folder opens in DeepRacer's log-analysis tools as it is (deepracer-utils itself reads it).

deepracer-utils' ``DeepRacerLog(model_folder=RUN)`` recognises DeepRacer-for-Cloud's layouts:
``training-simtrace/<k>-iteration.csv`` (one environment), ``<w>/training-simtrace/...`` (several),
``evaluation-<stamp>/evaluation-simtrace/0-iteration.csv``, ``model/model_metadata.json`` and
``ip/hyperparameters.json``; its ``TrainingMetrics`` reads ``metrics/TrainingMetrics.json``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from racer.train.run_folder import SIMTRACE_HEADER, RunFolder

deepracer_logs = pytest.importorskip("deepracer.logs")

#: What deepracer-utils' dataframe holds (its names for X, Y, steer, throttle, on-track).
COLUMNS = {"episode", "steps", "x", "y", "yaw", "steering_angle", "speed", "action", "reward",
           "done", "on_track", "progress", "closest_waypoint", "track_len", "tstamp",
           "episode_status", "pause_duration", "iteration", "worker", "unique_episode"}  # fmt: skip


def _recipe(tmp_path: Path, envs: int, steps: int = 256) -> Any:
    from tests.train.conftest import tiny_recipe

    # 40-step episodes: every 64-step iteration of every environment ends some
    return tiny_recipe(tmp_path, env={"max_steps": 40},
                       budget={"steps": steps, "envs": envs, "device": "cpu"},
                       evaluation={"every_steps": 128, "episodes": 2},
                       checkpoint={"every_steps": 128, "keep": 2})  # fmt: skip


#: Episodes per DRfC trace file in these tests (DeepRacer's 20 would make one file of a tiny run).
PER_FILE = 2


def _few_per_file(mp: pytest.MonkeyPatch) -> None:
    from racer.train import callbacks

    mp.setattr(callbacks, "DRFC_EPISODES_PER_ITERATION", PER_FILE)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run, one environment, 4 PPO iterations of 64 steps (a few seconds)."""
    from racer.train.pipeline import train

    base = tmp_path_factory.mktemp("drfc1")
    run = base / "run"
    with pytest.MonkeyPatch.context() as mp:
        _few_per_file(mp)
        train(_recipe(base, envs=1), out=run, progress_bar=False)
    return run


def _check_grouping(df: Any) -> None:
    """Every trace file but the last holds exactly PER_FILE whole episodes of each worker, so
    deepracer-utils' ``unique_episode`` numbers every episode once."""
    for _, wdf in df.groupby("worker"):
        per_iteration = wdf.groupby("iteration")["episode"].nunique()
        assert list(per_iteration.index) == list(range(len(per_iteration)))
        assert (per_iteration.iloc[:-1] == PER_FILE).all() and per_iteration.iloc[-1] <= PER_FILE
        assert (wdf["iteration"] == wdf["episode"] // PER_FILE).all()
    firsts = df.groupby("unique_episode")[["worker", "episode"]].first()
    assert not firsts.duplicated().any()  # one unique_episode per (worker, episode)
    assert df.groupby(["worker", "episode"])["unique_episode"].nunique().max() == 1


def _load(run: Path) -> Any:
    log = deepracer_logs.DeepRacerLog(model_folder=str(run))
    log.load_training_trace()
    return log


def _episodes(df: Any) -> list[Any]:
    return [g for _, g in df.groupby("unique_episode", sort=True)]


def test_deepracer_utils_reads_a_single_environment_run(single: Path) -> None:
    log = _load(single)
    assert log.fh.type == deepracer_logs.LogFolderType.DRFC_MODEL_SINGLE_WORKERS
    df = log.dataframe()
    assert set(df.columns) >= COLUMNS
    # DeepRacer's iterations: PER_FILE whole episodes per file (not PPO's iterations)
    files = RunFolder(single).training_simtrace_files()
    assert len(files) >= 2
    assert [p.name for p in files] == [f"{k}-iteration.csv" for k in range(len(files))]
    _check_grouping(df)
    assert (df["unique_episode"] == df["episode"]).all()  # one worker: DeepRacer's own numbers
    for path in files:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == SIMTRACE_HEADER
        k = int(path.name.split("-")[0])
        assert (df["iteration"] == k).sum() == len(rows) - 1
    assert (df["worker"] == 0).all()
    # every episode: a prepare row (the car at rest, no action), then steps 1..N, done at the end
    for ep in _episodes(df):
        assert ep["episode_status"].iloc[0] == "prepare" and ep["steps"].iloc[0] == 0
        assert ep["action"].iloc[0] == -1 and ep["speed"].iloc[0] == 0.0
        assert list(ep["steps"]) == list(range(len(ep)))
        assert not ep["done"].iloc[:-1].any() and ep["done"].iloc[-1]
        assert ep["episode_status"].iloc[-1] in {"off_track", "time_up", "lap_complete",
                                                 "reversed", "immobilized"}  # fmt: skip
        assert ep["iteration"].nunique() == 1 and ep["episode"].nunique() == 1
    # the episodes are numbered on across iterations, and no episode is cut or repeated
    numbers = [int(ep["episode"].iloc[0]) for ep in _episodes(df)]
    assert sorted(numbers) == list(range(len(numbers)))
    # racer's own per-step trace stays beside it: the same steps (plus its unfinished episode)
    with open(single / "simtrace" / "worker-0.csv", newline="") as fh:
        own = list(csv.DictReader(fh))
    assert len(own) == 256
    assert len(df[df["episode_status"] != "prepare"]) == sum(
        1 for r in own if int(r["episode"]) < len(numbers)
    )


def test_the_notebooks_aggregates_and_action_space(single: Path) -> None:
    log = _load(single)
    df = log.dataframe()
    agg = deepracer_logs.AnalysisUtils.simulation_agg(df)
    assert len(agg) == df["unique_episode"].nunique()
    # an episode's time is its simulated time (the prepare row starts its sums at zero)
    last = df.groupby(["iteration", "episode"])["tstamp"].max().reset_index()
    merged = agg.merge(last, on=["iteration", "episode"])
    assert (abs(merged["time"] - merged["tstamp"]) < 1e-6).all()
    assert (agg["time"] > 0).all() and (agg["dist"] > 0).all()
    meta = json.loads((single / "model_metadata.json").read_text())
    assert log.action_space() == meta["action_space"]
    assert log.agent_and_network()["sensor_list"] == meta["sensor"]
    hp = log.hyperparameters()
    for key in ("batch_size", "beta_entropy", "discount_factor", "e_greedy_value",
                "epsilon_steps", "exploration_type", "loss_type", "lr",
                "num_episodes_between_training", "num_epochs", "stack_size",
                "term_cond_avg_score", "term_cond_max_episodes"):  # fmt: skip
        assert key in hp, key
    cfg = RunFolder.open(single).config()
    assert hp["lr"] == cfg.hyperparameters.learning_rate
    assert hp["discount_factor"] == cfg.hyperparameters.gamma
    assert hp["beta_entropy"] == cfg.hyperparameters.ent_coef
    assert hp["batch_size"] == 64 and hp["num_epochs"] == 1
    assert hp["racer"]["steps_between_training"] == 64


def test_training_metrics_reads_the_metrics_file(single: Path) -> None:
    path = single / "metrics" / "TrainingMetrics.json"
    data = json.loads(path.read_text())
    assert data["version"] == "2" and data["best_model_metric"] == "progress"
    tm = deepracer_logs.TrainingMetrics(None, fname=str(path))
    training = tm.getTraining()
    df = _load(single).dataframe()
    assert len(training) == df["unique_episode"].nunique()  # one entry per traced episode
    assert list(training["episode"]) == list(range(1, len(training) + 1))
    # evaluation episodes: 2 per evaluation, at steps 128 and 256
    assert len(tm.getEvaluation()) == 4
    entries = data["metrics"]
    trained = [e for e in entries if e["phase"] == "training"]
    per_ep = df.groupby("episode").agg(progress=("progress", "max"), t=("tstamp", "max"))
    for e in trained:
        row = per_ep.loc[e["episode"] - 1]
        assert e["completion_percentage"] == int(row["progress"])
        assert e["elapsed_time_in_milliseconds"] == round(row["t"] * 1000)
        assert e["metric_time"] - e["start_time"] == e["elapsed_time_in_milliseconds"]
    summary = tm.getSummary()
    assert {"train_completion", "eval_completion"} <= set(summary.columns)


def test_resume_after_a_checkpoint_leaves_no_duplicate_rows(
    single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed after its checkpoint (rows written after it) resumes without duplicates."""
    import shutil

    _few_per_file(monkeypatch)

    from racer.train.checkpoint import latest_checkpoint
    from racer.train.pipeline import load_run_config, train

    run = tmp_path / "run"
    shutil.copytree(single, run)
    ckpt = latest_checkpoint(run / "checkpoints")
    # what a kill after the checkpoint leaves: rows and entries written after it
    sizes = {p: p.stat().st_size for p in RunFolder(run).log_files()}
    extra = RunFolder(run).training_simtrace_files()[-1]
    with open(extra, "a") as fh:
        fh.write("99,1,0,0,0,0,1,0,0,False,True,0,0,1,0.067,in_progress,0\n")
    later = RunFolder(run).training_simtrace_path(None, 99)  # a file begun after the checkpoint
    later.write_text(",".join(SIMTRACE_HEADER) + "\n")
    from racer.train.run_folder import append_metrics

    metrics = run / "metrics" / "TrainingMetrics.json"
    append_metrics(metrics, [{"episode": 999, "trial": 1, "phase": "training"}])
    assert ckpt["steps"] == 256 and all(p.stat().st_size >= s for p, s in sizes.items())

    cfg = load_run_config(run)
    cfg.budget.steps = 384
    train(cfg, resume=run, progress_bar=False)
    df = _load(run).dataframe()
    assert not later.exists()
    _check_grouping(df)
    assert not df.duplicated(["unique_episode", "steps"]).any()
    assert 99 not in set(df["episode"])
    numbers = sorted(df.groupby("unique_episode")["episode"].first())
    assert numbers == list(range(len(numbers)))  # numbered on from the checkpoint
    data = json.loads(metrics.read_text())  # still valid JSON, the stray entry gone
    episodes = [e["episode"] for e in data["metrics"] if e["phase"] == "training"]
    assert episodes == list(range(1, len(numbers) + 1))


@pytest.mark.slow
def test_deepracer_utils_reads_a_two_environment_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racer.train.pipeline import train

    _few_per_file(monkeypatch)
    run = tmp_path / "run"
    train(_recipe(tmp_path, envs=2), out=run, progress_bar=False)
    assert not (run / "training-simtrace").exists()  # else it reads as one worker
    log = _load(run)
    assert log.fh.type == deepracer_logs.LogFolderType.DRFC_MODEL_MULTIPLE_WORKERS
    df = log.dataframe()
    assert set(df.columns) >= COLUMNS
    assert sorted(df["worker"].unique()) == [0, 1]
    _check_grouping(df)
    for w in (0, 1):
        for k in sorted(df[df["worker"] == w]["iteration"].unique()):
            path = RunFolder(run).training_simtrace_path(w, int(k))
            rows = path.read_text().splitlines()
            assert ((df["worker"] == w) & (df["iteration"] == k)).sum() == len(rows) - 1
    for ep in _episodes(df):  # unique across workers: each is one whole episode
        assert ep["worker"].nunique() == 1 and ep["episode_status"].iloc[0] == "prepare"
        assert list(ep["steps"]) == list(range(len(ep)))
    assert (run / "metrics" / "TrainingMetrics.json").is_file()
    tm = deepracer_logs.TrainingMetrics(None, fname=str(run / "metrics/TrainingMetrics_1.json"))
    assert len(tm.getTraining()) == df[df["worker"] == 1]["unique_episode"].nunique()


def test_racer_evaluate_writes_the_evaluation_trace(
    single: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.testlib.cli import run_cli

    run = tmp_path / "run"
    shutil.copytree(single, run)
    code, out, err = run_cli(
        ["evaluate", str(run), "--track", "oval", "--trials", "1", "--reset-limit", "2"], capsys
    )
    assert code == 0, err
    assert "DeepRacer evaluation trace" in out
    log = deepracer_logs.DeepRacerLog(model_folder=str(run))
    log.load_evaluation_trace()
    df = log.dataframe()
    assert COLUMNS - {"unique_episode"} <= set(df.columns) and "stream" in df.columns
    assert df["stream"].nunique() == 1 and list(df["episode"].unique()) == [0]
    assert df["episode_status"].iloc[0] == "prepare" and df["done"].iloc[-1]
    assert list(df["steps"]) == list(range(len(df)))
    stamp = df["stream"].iloc[0]
    metrics = json.loads((run / "metrics" / f"EvaluationMetrics-{stamp}.json").read_text())
    (entry,) = metrics["metrics"]
    assert entry["trial"] == 1 and entry["episode_status"] in {"Lap complete", "Off track",
                                                               "Time up", "Crashed"}  # fmt: skip
    # tstamp counts the penalties so far; the elapsed time also the last incident's (5 s)
    assert entry["elapsed_time_in_milliseconds"] - round(df["tstamp"].iloc[-1] * 1000) in (0, 5000)
    agg = deepracer_logs.AnalysisUtils.simulation_agg(df, "stream", is_eval=True)
    assert len(agg) == 1
