"""Closed-loop parity (slow): the exported bundle driving the simulator through the car runtime
(``racer drive --source sim:TRACK``'s path) retraces the trained policy driving it through the
training evaluation (:func:`racer.train.callbacks.evaluate_policy_laps` with the SB3 model).

Same track, same start points, same seeds: PyBullet is deterministic, so identical actions give
identical trajectories. The runtime side goes through everything the car does: the golden
self-test, preprocessing of the frame, the engine, decoding to (steering_deg, speed_mps), and the
simulator source mapping that back to the environment's action.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from racer.car.actuators import NullActuator
from racer.car.bundle import load_bundle
from racer.car.runtime import Driver
from racer.env import RaceEnv
from racer.env.sim_source import SimSource
from racer.export.exporter import export_run
from racer.export.policy import load_trained_policy, reference_outputs
from racer.train.callbacks import evaluate_policy_laps
from racer.train.config import load_agent
from racer.train.pipeline import train

AGENT = Path(__file__).resolve().parents[2] / "agents" / "camera"

EPISODES = 4  # start points, evenly spaced along the lap (the training evaluation's)
EPISODE_STEPS: int | None = None  # step limit per episode: the environment's default
MIN_COMPARED_STEPS = 200  # the comparison must cover at least this many steps
LAP_TIME_RTOL = 0.02  # lap times within 2%


class _Recorder(gym.Wrapper):
    """Keeps the actions and observations the SB3 evaluation loop feeds the environment."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actions: list[list[Any]] = []
        self.observations: list[list[np.ndarray]] = []

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self.actions.append([])
        self.observations.append([obs])
        return obs, info

    def step(self, action: Any) -> Any:
        self.actions[-1].append(np.asarray(action).copy())
        out = self.env.step(action)
        self.observations[-1].append(out[0])
        return out


@pytest.fixture(scope="module")
def driving_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The agents/camera recipe on a short budget (it laps the oval at about 10k steps)."""
    root = tmp_path_factory.mktemp("closed-loop")
    cfg = load_agent(AGENT)
    cfg.budget.steps = 10240
    cfg.budget.envs = 2
    cfg.evaluation.every_steps = 5120
    cfg.checkpoint.every_steps = 5120
    run = root / "run"
    train(cfg, out=run, progress_bar=False)
    bundle = root / "bundle"
    export_run(run, bundle, samples=256)
    return run, bundle


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_runtime_retraces_training_evaluation(driving_run: tuple[Path, Path], backend: str) -> None:
    run, bundle_dir = driving_run
    trained = load_trained_policy(run)
    bundle = load_bundle(bundle_dir.with_name(bundle_dir.name + ".tar.gz"))

    # 1. The training evaluation's loop, with the SB3 model.
    env = _Recorder(
        RaceEnv(
            track="oval",
            observation="camera",
            action_space=trained.action_spec,
            max_steps=EPISODE_STEPS,
        )
    )
    ref = evaluate_policy_laps(trained.model, env, EPISODES)
    env.close()

    # 2. The car runtime, closed loop through the simulator source.
    source = SimSource.from_metadata("oval", bundle.metadata, EPISODES, EPISODE_STEPS)
    report = Driver(bundle, backend, source, NullActuator(), realtime=False).run()
    assert report.stopped_by == "source_end" and report.self_test is not None

    compared = 0
    for k, rec in enumerate(source.records):
        want = [int(a) for a in env.actions[k]]
        got = [int(a) for a in rec.actions]
        first = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
        if first is not None:  # say how close to a tie the policy was where they parted
            p = reference_outputs(trained, env.observations[k][first][None])[0]
            top = np.sort(p)[-2:]
            pytest.fail(
                f"episode {k}: actions differ at step {first} ({want[first]} vs {got[first]}), "
                f"top-2 probability margin {top[1] - top[0]:.2e}"
            )
        assert got == want
        traj = np.asarray(rec.trajectory, dtype=np.float32)
        np.testing.assert_array_equal(traj, ref.trajectories[k])
        compared += len(got)
    assert compared >= MIN_COMPARED_STEPS, f"only {compared} steps driven; train longer"

    for k, rec in enumerate(source.records):  # shown with pytest -s
        print(
            f"{backend} episode {k}: {rec.steps} steps, {rec.status}, progress "
            f"{rec.progress:.4f}% (evaluation {ref.trajectories[k].shape[0]} steps), "
            f"lap {rec.lap_time_s} s"
        )
    print(f"{backend}: evaluation laps {ref.lap_times_s}, mean progress {ref.mean_progress:.4f}")
    progress = [r.progress for r in source.records]
    assert abs(float(np.mean(progress)) - ref.mean_progress) <= 1e-6
    laps = [r.lap_time_s for r in source.records if r.lap_time_s is not None]
    assert len(laps) == ref.laps
    for got_t, want_t in zip(laps, ref.lap_times_s, strict=True):
        assert abs(got_t - want_t) <= LAP_TIME_RTOL * want_t
    bundle.close()
