"""RaceVecEnv (training's SB3 VecEnv over RaceVectorEnv) gives what DummyVecEnv of RaceEnv gave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from racer.env import RaceEnv
from racer.train.vec import RaceVecEnv
from racer.train.wrappers import TrainingWrapper


def _pair(
    tracks: list[str], observation: str, reward: str = "progress"
) -> tuple[RaceVecEnv, DummyVecEnv]:
    kw = dict(observation=observation, reward=reward, max_steps=120)
    ours = RaceVecEnv(tracks, seeds=list(range(len(tracks))), **kw)
    theirs = DummyVecEnv(
        [lambda t=t: TrainingWrapper(RaceEnv(track=t, **kw)) for t in tracks]  # type: ignore[misc]
    )
    theirs.seed(0)  # env i gets seed i, as RaceVecEnv's seeds
    return ours, theirs


@pytest.mark.parametrize("observation", ["state", "camera"])
def test_steps_resets_and_traces_equal_dummy_vec_env(observation: str) -> None:
    tracks = ["oval", "technical", "oval"]  # two tracks: the cars are grouped per track
    ours, theirs = _pair(tracks, observation)
    np.testing.assert_array_equal(ours.reset(), theirs.reset())
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(260):
        actions = np.where(rng.random(3) < 0.25, rng.integers(0, 10, 3), 7)
        o1, r1, d1, i1 = ours.step(actions)
        o2, r2, d2, i2 = theirs.step(actions)
        np.testing.assert_allclose(o1.astype(float), o2.astype(float), atol=1e-5)
        np.testing.assert_allclose(r1, r2, rtol=1e-9)
        np.testing.assert_array_equal(d1, d2)
        for a, b in zip(i1, i2, strict=True):
            for key in ("episode_status", "progress", "steps", "laps", "lap_time_s"):
                assert (key in a) == (key in b), (t, key)
                if key == "episode_status":
                    assert a[key] == b[key], t
                elif key in b:
                    assert a[key] == pytest.approx(b[key], rel=1e-9), (t, key)
            for key in ("trace", "trace_prepare"):
                assert (key in a) == (key in b), (t, key)
                if key in b:
                    *numbers, status = b[key]
                    assert a[key][-1] == status, t
                    assert list(a[key][:-1]) == pytest.approx(numbers, rel=1e-9, abs=1e-9), t
            if "terminal_observation" in b:
                ends += 1
                np.testing.assert_allclose(
                    a["terminal_observation"].astype(float),
                    b["terminal_observation"].astype(float),
                    atol=1e-5,
                )
                assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
    assert ends >= 3


def test_a_failing_reward_stops_every_car_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "def reward_function(params):\n"
        "    if params['steps'] > 3:\n"
        "        raise ValueError('boom at step ' + str(params['steps']))\n"
        "    return 1.0\n"
    )
    venv = RaceVecEnv(["oval", "oval"], seeds=[0, 1], observation="state", reward=str(path))
    venv.reset()
    infos: list[dict] = []
    for _ in range(4):
        _, _, dones, infos = venv.step(np.zeros(2, dtype=int))
    assert dones.all()
    for info in infos:
        assert "boom at step 4" in info["fatal_error"] and "bad.py" in info["fatal_error"]
    _, _, dones, infos = venv.step(np.zeros(2, dtype=int))  # stays stopped, never raises
    assert dones.all() and "fatal_error" in infos[0]
