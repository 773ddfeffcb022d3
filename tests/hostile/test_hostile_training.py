"""Training and export that never lie: kill -9 then resume, damaged checkpoints, a full disk,
Ctrl-C, broken run folders, stale export temporaries (issue #12, item 10).

One tiny run is trained per module (1 env, 192 steps, a checkpoint and an evaluation every 64);
each test works on its own copy of it.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from racer.cli.main import main
from racer.errors import ConfigError, RacerError
from racer.export.errors import ExportError
from racer.train.checkpoint import latest_checkpoint
from racer.train.config import config_from_dict
from racer.train.io import DiskFullError
from racer.train.pipeline import TrainResult, load_run_config, train

STEPS = 192
EVERY = 64


def _cfg(base: Path) -> Any:
    return config_from_dict(
        {
            "agent": {"name": "tiny"},
            "env": {"tracks": ["oval"], "observation": "state", "max_steps": 40},
            "algorithm": {"net_arch": [8]},
            "hyperparameters": {"n_steps": EVERY, "batch_size": EVERY, "n_epochs": 1},
            "budget": {"steps": STEPS, "envs": 1, "seed": 3, "device": "cpu"},
            "evaluation": {"every_steps": EVERY, "episodes": 1},
            "checkpoint": {"every_steps": EVERY, "keep": 3},
        },
        source="test",
        base_dir=str(base),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("trained")
    run = base / "run"
    result = train(_cfg(base), out=run, progress_bar=False)
    assert result.steps == STEPS
    return run


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _simtrace_rows(run: Path) -> int:
    with open(run / "simtrace" / "worker-0.csv") as fh:
        return sum(1 for _ in fh) - 1


def _resume(run: Path, steps: int) -> TrainResult:
    cfg = load_run_config(run)
    cfg.budget.steps = steps
    return train(cfg, resume=run, progress_bar=False)


def _check_continuous_logs(run: Path, steps: int) -> None:
    metrics = _rows(run / "metrics.csv")
    iterations = [int(r["iteration"]) for r in metrics]
    assert iterations == list(range(1, len(iterations) + 1)), iterations
    metric_steps = [int(r["steps"]) for r in metrics]
    assert metric_steps == sorted(set(metric_steps)) and metric_steps[-1] == steps
    walls = [float(r["wall_s"]) for r in metrics]
    assert walls == sorted(walls) and walls[-1] > walls[0]
    eval_steps = [int(r["steps"]) for r in _rows(run / "eval.csv")]
    assert eval_steps == list(range(EVERY, steps + 1, EVERY)), eval_steps
    assert _simtrace_rows(run) == steps  # 1 env: one row per step, none twice


def test_kill_after_checkpoint_then_resume_cuts_every_log_back(run: Path) -> None:
    # a kill -9 after the checkpoint at 128: the checkpoint at 192 was never completed, but the
    # rows of steps 129-192 (and half a row) are in the logs, and best_model.zip was replaced
    ckpts = run / "checkpoints"
    for p in ckpts.glob("step-000000192.*"):
        p.unlink()
    shutil.copyfile(ckpts / "step-000000128.json", ckpts / "latest.json")
    with open(run / "metrics.csv", "a") as fh:
        fh.write("4,256,9.9,1,0.1,0")  # half a row
    (run / "best_model.zip").write_bytes(b"written after the checkpoint")
    (ckpts / ".step-000000256.zip.abcd1234.tmp").write_bytes(b"half a checkpoint")
    assert _simtrace_rows(run) == STEPS

    result = _resume(run, 256)
    assert result.steps == 256
    _check_continuous_logs(run, 256)
    assert not list(ckpts.glob(".*.tmp"))
    from stable_baselines3 import PPO

    PPO.load(run / "best_model.zip", device="cpu")  # the checkpoint's best, put back
    metrics = _rows(run / "metrics.csv")
    # the checkpoint at 128 was taken before iteration 2 ended: iteration 2 is the resumed one
    assert [(r["iteration"], r["steps"]) for r in metrics][:2] == [("1", "64"), ("2", "192")]


def test_damaged_latest_checkpoint_falls_back_with_one_warning(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = run / "checkpoints" / "step-000000192.zip"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # a truncated zip
    assert latest_checkpoint(run / "checkpoints")["name"] == "step-000000128"
    result = _resume(run, 256)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("racer: warning")]
    assert len(warnings) == 1, err
    assert "step-000000192.zip is damaged" in warnings[0] and "step-000000128" in warnings[0]
    assert result.steps == 256
    _check_continuous_logs(run, 256)


def test_no_usable_checkpoint_is_one_line(run: Path) -> None:
    for p in (run / "checkpoints").glob("step-*.zip"):
        p.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ConfigError, match="no usable checkpoint") as err:
        _resume(run, 256)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda run: shutil.rmtree(run / "checkpoints"), "checkpoints is missing"),
        (lambda run: (run / "config.toml").write_text("[budget\nsteps = 5"), "not valid TOML"),
        (
            lambda run: (run / "config.toml").write_text(
                (run / "config.toml").read_text().replace("seed = 3", "seed = -3")
            ),
            "budget.seed must be >= 0",
        ),
        (lambda run: (run / "config.toml").unlink(), "not a run folder"),
        (lambda run: shutil.rmtree(run), "no such run folder"),
    ],
)
def test_resume_of_a_broken_run_folder_is_exit_2_one_line(
    run: Path, capsys: pytest.CaptureFixture[str], damage: Any, fragment: str
) -> None:
    damage(run)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--resume", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and fragment in err, err


def test_disk_full_while_checkpointing_names_the_path_and_the_intact_checkpoint(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stable_baselines3 import PPO

    def full(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PPO, "save", full)
    with pytest.raises(DiskFullError) as err:
        _resume(run, 256)
    msg = str(err.value)
    assert "no space left on device" in msg and "\n" not in msg
    assert "step-000000256.zip" in msg or "best_model.zip" in msg, msg
    assert "step-000000192 (192 steps) is intact" in msg and "--resume" in msg
    monkeypatch.undo()
    ckpt = latest_checkpoint(run / "checkpoints")
    assert ckpt["steps"] == STEPS
    PPO.load(ckpt["zip"], device="cpu")
    assert not list((run / "checkpoints").glob(".*.tmp")) and not list(run.glob(".*.tmp"))


def test_disk_full_while_writing_metrics_is_one_line(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racer.train import callbacks

    real_open = open

    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("metrics.csv") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(callbacks, "open", full_open, raising=False)
    with pytest.raises(DiskFullError) as err:
        _resume(run, 256)
    msg = str(err.value)
    assert msg.startswith(str(run / "metrics.csv") + ": no space left on device"), msg
    assert "is intact" in msg and "\n" not in msg


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from racer.train import pipeline

    def interrupted(cfg: Any, out: Any = None, **kwargs: Any) -> TrainResult:
        return TrainResult(run_dir=tmp_path, steps=64, interrupted=True, wall_s=1.0)

    monkeypatch.setattr(pipeline, "train", interrupted)
    recipe = tmp_path / "agent.toml"
    recipe.write_text("[agent]\nname = 'tiny'\n[budget]\nenvs = 1\n")
    with pytest.raises(SystemExit) as exc:
        main(["train", str(recipe), "--no-progress"])
    assert exc.value.code == 130
    assert "interrupted: checkpoint saved" in capsys.readouterr().out


# ---- export -------------------------------------------------------------------------------


def _old(path: Path, age_s: float = 3600.0) -> None:
    t = time.time() - age_s
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (t, t))
    os.utime(path, (t, t))


def test_stale_export_temporaries_are_cleaned_and_live_ones_kept(tmp_path: Path) -> None:
    from racer.export.exporter import clean_stale_exports
    from racer.train.io import mark_owner

    dest = tmp_path / "bundle"
    dead = tmp_path / ".bundle.abcd1234.tmp"  # a killed export
    (dead / "bundle").mkdir(parents=True)
    (dead / "bundle" / "policy.onnx").write_bytes(b"x" * 100)
    _old(dead)
    moved = tmp_path / ".bundle.efgh5678.tmp"  # killed while publishing: the old bundle inside
    (moved / "bundle.old").mkdir(parents=True)
    (moved / "bundle.old" / "metadata.json").write_text("{}")
    _old(moved)
    stray = tmp_path / ".bundle.ijkl9012.tmp"  # an archive temporary (a file)
    stray.write_bytes(b"x")
    _old(stray)
    young = tmp_path / ".bundle.mnop3456.tmp"  # another export, still running
    young.mkdir()
    live = tmp_path / ".bundle.qrst7890.tmp"  # old, but its owner process is alive (us)
    live.mkdir()
    mark_owner(live)
    _old(live)
    other = tmp_path / ".bundle.abc.tmp"  # not racer's exact pattern
    other.mkdir()
    _old(other)
    other_name = tmp_path / ".bundle2.uvwx1234.tmp"  # another bundle's
    other_name.mkdir()
    _old(other_name)

    removed = clean_stale_exports(dest)
    assert sorted(p.name for p in removed) == sorted([dead.name, moved.name, stray.name])
    assert (dest / "metadata.json").is_file()  # the previous bundle is back in place
    for kept in (young, live, other, other_name):
        assert kept.exists()


def _fake_camera_run(tmp_path: Path) -> Path:
    from racer.train.pipeline import config_to_toml

    run = tmp_path / "camrun"
    run.mkdir()
    cfg = config_from_dict(
        {"agent": {"name": "cam"}, "env": {"observation": "camera"}}, base_dir=str(run)
    )
    (run / "config.toml").write_text(config_to_toml(cfg))
    return run


def test_export_of_a_run_without_a_model_or_with_a_corrupt_one_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _fake_camera_run(tmp_path)
    out = tmp_path / "bundle"
    with pytest.raises(SystemExit) as exc:
        main(["export", str(run), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "no best_model.zip" in err, err
    (run / "best_model.zip").write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(SystemExit) as exc:
        main(["export", str(run), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "cannot load the model" in err, err
    (run / "config.toml").write_text("[env\n")
    with pytest.raises(SystemExit) as exc:
        main(["export", str(run), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "not valid TOML" in err, err
    assert not out.exists() and not list(tmp_path.glob(".bundle.*"))


def test_disk_full_during_export_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racer.export import exporter

    class Trained:
        observation = "camera"
        discrete = False
        obs_shape = (1, 120, 160)

    monkeypatch.setattr(exporter, "load_trained_policy", lambda run, which: Trained())
    monkeypatch.setattr(exporter, "run_track", lambda trained: "oval")
    monkeypatch.setattr(
        exporter, "record_observations", lambda trained, n, **kw: np.zeros((n, 1, 120, 160))
    )
    monkeypatch.setattr(exporter, "reference_outputs", lambda trained, obs: np.zeros((len(obs), 2)))
    monkeypatch.setattr(exporter, "PolicyGraph", lambda trained: None)

    def full(graph: Any, example: Any, path: Path) -> None:
        path.write_bytes(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(exporter.convert, "export_onnx", full)
    out = tmp_path / "exports" / "bundle"
    with pytest.raises(ExportError) as err:
        exporter.export_run(tmp_path, out)
    msg = str(err.value)
    assert "no space left on device" in msg and "nothing was published" in msg and "\n" not in msg
    assert isinstance(err.value, RacerError)
    assert list(out.parent.iterdir()) == []  # no bundle, no archive, no temporary


def test_interrupted_export_removes_its_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racer.export import exporter

    class Trained:
        observation = "camera"
        discrete = False
        obs_shape = (1, 120, 160)

    monkeypatch.setattr(exporter, "load_trained_policy", lambda run, which: Trained())
    monkeypatch.setattr(exporter, "run_track", lambda trained: "oval")
    monkeypatch.setattr(
        exporter, "record_observations", lambda trained, n, **kw: np.zeros((n, 1, 120, 160))
    )
    monkeypatch.setattr(exporter, "reference_outputs", lambda trained, obs: np.zeros((len(obs), 2)))
    monkeypatch.setattr(exporter, "PolicyGraph", lambda trained: None)

    def ctrl_c(graph: Any, example: Any, path: Path) -> None:
        path.write_bytes(b"x" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter.convert, "export_onnx", ctrl_c)
    out = tmp_path / "exports" / "bundle"
    with pytest.raises(KeyboardInterrupt):
        exporter.export_run(tmp_path, out)
    assert list(out.parent.iterdir()) == []


def test_checkpoint_metadata_records_the_logs_and_counters(trained: Path) -> None:
    meta = json.loads((trained / "checkpoints" / "latest.json").read_text())
    assert meta["steps"] == STEPS and meta["state"]["iteration"] == STEPS // EVERY
    logs = set(meta["logs"])
    assert {
        "metrics.csv",
        "eval.csv",
        "simtrace/worker-0.csv",
        "metrics/TrainingMetrics.json",
    } <= logs
    # DeepRacer's per-iteration training simtrace (deepracer-utils' layout) is rewound too
    extra = logs - {
        "metrics.csv",
        "eval.csv",
        "simtrace/worker-0.csv",
        "metrics/TrainingMetrics.json",
    }
    assert extra and all(re.fullmatch(r"training-simtrace/\d+-iteration\.csv", n) for n in extra)
    assert meta["logs"]["metrics.csv"] == (trained / "metrics.csv").stat().st_size


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--out", "x"], "--out cannot be given with --resume"),
        (["--seed", "4"], "--seed cannot change on --resume"),
        (["--steps", "-1"], "--steps must be > 0"),
    ],
)
def test_resume_options_that_cannot_apply_are_one_line(
    run: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "--resume", str(run), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and fragment in err, err


def test_out_that_is_a_file_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "afile").write_text("mine")
    cfg = _cfg(tmp_path)
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        train(cfg, out=tmp_path / "afile", progress_bar=False)
    assert (tmp_path / "afile").read_text() == "mine"


def test_report_of_damaged_logs_is_one_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(run / "metrics.csv", "ab") as fh:
        fh.write(b"\xff\xfe garbage,\x00\n")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "cannot read the run's logs" in err


def test_demo_stops_with_130_on_the_users_ctrl_c_not_on_its_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from racer.cli import demo
    from racer.train import pipeline

    def fake_train(cfg: Any, out: Any = None, **kwargs: Any) -> TrainResult:
        (Path(out) / "best_model.zip").parent.mkdir(parents=True, exist_ok=True)
        (Path(out) / "best_model.zip").write_bytes(b"x")
        return TrainResult(run_dir=Path(out), steps=64, interrupted=True, wall_s=1.0)

    monkeypatch.setattr(pipeline, "train", fake_train)
    with pytest.raises(typer.Exit) as exc:  # interrupted, and not by the time limit
        demo._train("agents/quickstart", None, tmp_path / "r", 1.0, False, until_lap=False)
    assert exc.value.exit_code == 130
