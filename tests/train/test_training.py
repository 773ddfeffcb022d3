"""Training runs: the run folder, resume, Ctrl-C / SIGKILL, reward failures, the report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from racer.errors import RewardError
from racer.train.callbacks import SIMTRACE_HEADER
from racer.train.checkpoint import latest_checkpoint
from racer.train.pipeline import load_run_config, train

ROOT = Path(__file__).resolve().parents[2]


def _params(path: Path) -> dict[str, torch.Tensor]:
    from stable_baselines3 import PPO

    return {k: v.clone() for k, v in PPO.load(path, device="cpu").policy.state_dict().items()}


def test_run_folder_then_resume_adds_up(tiny, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = train(tiny(), out=run, progress_bar=False)
    assert first.steps == 256 and not first.interrupted
    for name in ("config.toml", "model_metadata.json", "best_model.zip", "final_model.zip",
                 "metrics.csv", "eval.csv"):  # fmt: skip
        assert (run / name).exists(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents*"))
    meta = json.loads((run / "model_metadata.json").read_text())
    assert meta["action_space_type"] == "discrete" and meta["training_algorithm"] == "clipped_ppo"
    with open(run / "simtrace" / "worker-0.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == SIMTRACE_HEADER
    assert len(rows) == 1 + 256

    ckpt = latest_checkpoint(run / "checkpoints")
    assert ckpt["steps"] == 256
    saved = _params(ckpt["zip"])

    cfg = load_run_config(run)
    cfg.budget.steps = 512
    # the resumed model starts as the saved one
    from racer.train import pipeline

    seen: dict[str, dict[str, torch.Tensor]] = {}
    real_learn = None

    def spy_build(*args, **kwargs):  # pragma: no cover - must not be called on resume
        raise AssertionError("resume must load the checkpoint, not build a new model")

    orig = pipeline.build_model
    pipeline.build_model = spy_build
    try:
        from stable_baselines3 import PPO

        real_learn = PPO.learn

        def learn(self, *a, **k):  # type: ignore[no-untyped-def]
            seen["start"] = {n: v.clone() for n, v in self.policy.state_dict().items()}
            seen["steps"] = self.num_timesteps
            return real_learn(self, *a, **k)

        PPO.learn = learn
        second = train(cfg, resume=run, progress_bar=False)
    finally:
        pipeline.build_model = orig
        PPO.learn = real_learn
    assert seen["steps"] == 256
    assert all(torch.equal(seen["start"][k], saved[k]) for k in saved)
    assert second.steps == 512
    assert latest_checkpoint(run / "checkpoints")["steps"] == 512
    assert load_run_config(run).budget.steps == 512  # the run's config.toml has the new budget
    with open(run / "simtrace" / "worker-0.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == SIMTRACE_HEADER and len(rows) == 1 + 512
    assert sum(1 for r in rows if r == SIMTRACE_HEADER) == 1
    with open(run / "metrics.csv", newline="") as fh:
        steps = [int(r["steps"]) for r in csv.DictReader(fh)]
    assert steps == sorted(steps) and steps[-1] == 512
    # keep=2: older checkpoints are pruned
    assert len(list((run / "checkpoints").glob("step-*.zip"))) == 2


def test_reward_failure_stops_the_run_and_keeps_checkpoints(tiny, tmp_path: Path) -> None:
    reward = tmp_path / "bad_reward.py"
    reward.write_text(
        "def reward_function(params):\n"
        "    if params['sim_time'] > 3.0:\n"
        "        raise ValueError('boom')\n"
        "    return 1.0\n"
    )
    cfg = tiny(env={"reward": str(reward), "start": "fixed"}, budget={"steps": 4096},
               checkpoint={"every_steps": 64})  # fmt: skip
    cfg.hyperparameters.n_steps = 64
    run = tmp_path / "run"
    with pytest.raises(RewardError) as err:
        train(cfg, out=run, progress_bar=False)
    msg = str(err.value)
    assert "reward.py:3" in msg and "boom" in msg and "step" in msg
    ckpt = latest_checkpoint(run / "checkpoints")
    assert ckpt["steps"] >= 64
    from stable_baselines3 import PPO

    PPO.load(ckpt["zip"], device="cpu")  # intact and loadable


def _spawn_train(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "racer.cli.main", "train", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # as from a terminal: a test run started in the background (`make test &`) would hand its
        # ignored SIGINT down, and Python keeps an ignored SIGINT ignored (no KeyboardInterrupt)
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _recipe_file(tmp_path: Path, every: int = 128) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(
        "[agent]\nname = 'tiny'\n[env]\ntracks = ['oval']\nobservation = 'state'\n"
        "[algorithm]\nnet_arch = [16]\n"
        "[hyperparameters]\nn_steps = 64\nbatch_size = 64\nn_epochs = 1\n"
        f"[budget]\nsteps = 1000000\nenvs = 1\n[evaluation]\nevery_steps = 0\n"
        f"[checkpoint]\nevery_steps = {every}\nkeep = 5\n"
    )
    return p


def _wait_for_checkpoint(run: Path, proc: subprocess.Popen[str], min_steps: int) -> int:
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            steps = latest_checkpoint(run / "checkpoints")["steps"]
            if steps >= min_steps:
                return steps
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("no checkpoint in time")


def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _spawn_train([str(_recipe_file(tmp_path)), "--out", str(run), "--no-progress"], tmp_path)
    _wait_for_checkpoint(run, proc, 256)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = latest_checkpoint(run / "checkpoints")["steps"]
    # the newest complete checkpoint loads: nothing half-written is named by latest.json
    out = subprocess.run(
        [sys.executable, "-m", "racer.cli.main", "train", "--resume", str(run),
         "--steps", str(before + 128), "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert latest_checkpoint(run / "checkpoints")["steps"] == before + 128
    assert not list((run / "checkpoints").glob(".*tmp"))


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _spawn_train(
        [str(_recipe_file(tmp_path, every=100000)), "--out", str(run), "--no-progress"], tmp_path
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.csv").exists():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out  # 128 + SIGINT, as shells expect
    assert "interrupted: checkpoint saved" in out and "racer train --resume" in out
    assert latest_checkpoint(run / "checkpoints")["steps"] > 0
    assert (run / "final_model.zip").exists()


def test_report_writes_plots(tiny, tmp_path: Path) -> None:
    from racer.train.report import write_report

    run = tmp_path / "run"
    train(tiny(), out=run, progress_bar=False)
    paths = write_report(run)
    assert [p.name for p in paths] == [
        "learning.png", "lap_times.png", "trajectories.png", "racing_line.png", "actions.png"
    ]  # fmt: skip
    for p in paths:
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_continuous_sac_and_camera_ppo_train(tiny, tmp_path: Path) -> None:
    sac = tiny(
        action_space={"action_space_type": "continuous"},
        algorithm={"name": "sac"},
        hyperparameters={"batch_size": 32, "buffer_size": 1000},
        budget={"steps": 200},
        evaluation={"every_steps": 0},
    )
    r = train(sac, out=tmp_path / "sac", progress_bar=False)
    assert r.steps == 200 and (tmp_path / "sac" / "final_model.zip").exists()
    cam = tiny(env={"observation": "camera"}, budget={"steps": 128}, evaluation={"every_steps": 0})
    r = train(cam, out=tmp_path / "cam", progress_bar=False)
    assert r.steps == 128
    from stable_baselines3 import PPO

    model = PPO.load(tmp_path / "cam" / "final_model.zip", device="cpu")
    assert type(model.policy.features_extractor).__name__ == "ShallowCNN"
    obs = np.zeros((1, 1, 120, 160), dtype=np.uint8)
    assert model.predict(obs, deterministic=True)[0].shape == (1,)


@pytest.mark.slow
def test_quickstart_learns_to_lap_the_oval(tmp_path: Path) -> None:
    from racer.train.callbacks import evaluate_policy_laps
    from racer.train.config import load_agent

    cfg = load_agent(ROOT / "agents" / "quickstart")
    result = train(cfg, out=tmp_path / "run", progress_bar=False, stop_after_laps=3)
    from stable_baselines3 import PPO

    from racer.env import RaceEnv

    model = PPO.load(tmp_path / "run" / "best_model.zip", device="cpu")
    env = RaceEnv(track="oval", observation="state", action_space=cfg.action_space,
                  reward="progress")  # fmt: skip
    laps = evaluate_policy_laps(model, env, episodes=3)
    assert laps.laps == 3, (result.steps, laps.mean_progress)
    assert all(10.0 < t < 40.0 for t in laps.lap_times_s)


def test_bad_track_or_reward_is_one_line_and_leaves_no_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from racer.cli.main import main

    recipe = _recipe_file(tmp_path)
    bad_reward = tmp_path / "broken.py"
    bad_reward.write_text("def reward_function(params):\n    return (\n")
    for extra, expected in (
        (["--track", "nosuch"], "unknown track 'nosuch'"),
        (["--reward", str(bad_reward)], "broken.py:2"),
    ):
        out = tmp_path / "run"
        with pytest.raises(SystemExit) as exc:
            main(["train", str(recipe), "--out", str(out), "--no-progress", *extra])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
