"""RaceVectorEnv: each car behaves exactly as a RaceEnv seeded with seed + i, in every mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import racer  # noqa: F401  (registers racer/Race-v0)
from racer.env import RaceEnv, RaceVectorEnv
from racer.env.follower import VectorCenterlineFollower
from racer.errors import ConfigError

#: DeepRacer's own track files in the team workspace, beside the repository (never in it)
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "deepracer-format"
FILE_REWARD = """
def reward_function(params):
    if params["is_offtrack"]:
        return 1e-3
    return params["speed"] / 4.0 + 0.1 * (params["closest_waypoints"][1] % 3) - params["heading"] / 1e4
"""


def _item(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _same(a: Any, b: Any, what: str) -> None:
    """Equal, floats to rounding (the batched arithmetic is the same, elementwise)."""
    a = _item(a)
    if isinstance(b, bool) or isinstance(a, (bool, np.bool_)):
        assert bool(a) == bool(b) and type(a) is type(b), (what, a, b)
    elif isinstance(b, (float, np.floating)) and not isinstance(b, bool):
        assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), (what, a, b)
    elif isinstance(b, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype, what
        np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-6, atol=1e-5)
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), (what, a, b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, what)
    else:
        assert a == b and type(a) is type(b), (what, a, b)


def _compare(
    tmp_path: Path,
    observation: str,
    track: str,
    reward: str = "progress",
    direction: str = "forward",
    action_space: str = "discrete",
    steps: int = 240,
    n: int = 3,
    seed: int = 5,
    max_steps: int = 150,
    race: Any = None,
    randomize: Any = None,
) -> dict[str, int]:
    if reward == "file":
        path = tmp_path / "reward.py"
        path.write_text(FILE_REWARD)
        reward = str(path)
    kw = dict(
        track=track,
        observation=observation,
        reward=reward,
        direction=direction,
        action_space=action_space,
        max_steps=max_steps,
        race=race,
        randomize=randomize,
    )
    venv = RaceVectorEnv(n, **kw)
    envs = [RaceEnv(**kw) for _ in range(n)]
    vobs, vinfo = venv.reset(seed=11)
    for i, env in enumerate(envs):
        obs, info = env.reset(seed=11 + i)
        _same(vobs[i], obs, "reset obs")
        _params_same(vinfo["params"][i], info["params"])
        for key in ("start_s", "reversed", "lap_m", "episode_status"):
            _same(vinfo[key][i], info[key], key)
    rng = np.random.default_rng(seed)
    venv.single_action_space.seed(seed)
    driver = VectorCenterlineFollower(venv)
    done = [False] * n
    statuses: dict[str, int] = {}
    for t in range(steps):
        actions = driver.act()
        if t % 5 == 0:  # now and then a random action, so cars also leave the road
            actions = np.asarray([venv.single_action_space.sample() for _ in range(n)])
        if action_space == "discrete":
            actions = np.where(rng.random(n) < 0.2, rng.integers(0, 10, n), actions)
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(actions)
        for i, env in enumerate(envs):
            if done[i]:  # NEXT_STEP autoreset: this step reset car i, its action unused
                obs, info = env.reset()
                assert vinfo["episode_status"][i] == "prepare" and vinfo["_start_s"][i]
                assert vrew[i] == 0.0 and not vterm[i] and not vtrunc[i]
                _same(vobs[i], obs, "autoreset obs")
                _params_same(vinfo["params"][i], info["params"])
                done[i] = False
                continue
            obs, rew, term, trunc, info = env.step(actions[i])
            _same(vobs[i], obs, f"obs step {t}")
            _same(float(vrew[i]), rew, "reward")
            assert (bool(vterm[i]), bool(vtrunc[i])) == (term, trunc), (t, i, info)
            for key in ("episode_status", "progress", "steps", "laps", "lap_completed"):
                _same(vinfo[key][i], info[key], key)
            for key in ("distance_m", "speed_mps", "steering_deg", "throttle_mps", "sim_time_s"):
                _same(float(vinfo[key][i]), info[key], key)
            assert ("lap_time_s" in info) == bool(vinfo.get("_lap_time_s", np.zeros(n))[i])
            if "lap_time_s" in info:
                _same(float(vinfo["lap_time_s"][i]), info["lap_time_s"], "lap_time_s")
            _params_same(vinfo["params"][i], info["params"])
            statuses[info["episode_status"]] = statuses.get(info["episode_status"], 0) + 1
            done[i] = term or trunc
    return statuses


def _deepracer_file(tmp_path: Path, name: str) -> str:
    """DeepRacer's ``NAME_track.npy``; where the workspace lacks it, a built-in track written in
    DeepRacer's format (centre, inner, outer borders per row), so the ``.npy`` path is tested."""
    path = SAMPLES / f"{name}_track.npy"
    if path.is_file():
        return str(path)
    from racer.track import load_track

    t = load_track("speedway" if name == "Vegas" else "oval")
    rows = np.hstack((t.center, t.inner, t.outer))
    out = tmp_path / f"{name}_track.npy"
    np.save(out, rows)
    return str(out)


def _params_same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    assert set(a) == set(b), set(a) ^ set(b)
    for key in b:
        if key == "waypoints":  # the track's shared list, exactly
            assert a[key] == b[key]
        else:
            _same(a[key], b[key], key)
    return True


@pytest.mark.parametrize(
    ("observation", "track", "reward", "direction", "action_space"),
    [
        ("state", "oval", "progress", "forward", "discrete"),
        ("state", "technical", "racing_line", "both", "continuous"),
        ("lidar", "loop", "centerline", "reverse", "discrete"),
        ("camera", "oval", "waypoint_heading", "forward", "continuous"),
        ("stereo", "speedway", "file", "forward", "discrete"),
        ("state", "Vegas", "file", "both", "discrete"),
        ("camera", "Oval", "progress", "reverse", "discrete"),
    ],
)
def test_each_car_equals_a_race_env(
    tmp_path: Path, observation: str, track: str, reward: str, direction: str, action_space: str
) -> None:
    if track in ("Vegas", "Oval"):
        track = _deepracer_file(tmp_path, track)
    statuses = _compare(tmp_path, observation, track, reward, direction, action_space)
    assert statuses.get("in_progress", 0) > 100
    assert set(statuses) - {"in_progress"}, "no episode ended: the comparison missed the rules"


@pytest.mark.parametrize(
    ("observation", "track", "direction", "race"),
    [
        ("lidar", "oval", "forward", {"race": "object-avoidance", "boxes": 4}),
        (
            "state_lidar",
            "technical",
            "both",
            {"race": "object-avoidance", "box_placement": "fixed"},
        ),
        ("camera", "oval", "reverse", {"race": "object-avoidance", "boxes": 5}),
        (
            "lidar",
            "speedway",
            "both",
            {"race": "head-to-head", "bots": 3, "bot_speed_mps": 0.5, "bot_lane_change_s": 2.0},
        ),
        ("stereo", "oval", "forward", {"race": "head-to-head", "bots": 2, "bot_speed_mps": 0.3}),
        ("state", "oval", "forward", {"race": "head-to-head", "bot_line": "racing"}),
    ],
)
def test_each_car_equals_a_race_env_with_objects(
    tmp_path: Path, observation: str, track: str, direction: str, race: dict[str, Any]
) -> None:
    """Boxes and bot cars: positions, contacts (``crashed``), lidar, camera and the object params
    agree between the numpy cars and RaceEnv's world, step for step."""
    statuses = _compare(
        tmp_path, observation, track, direction=direction, race=race, steps=200, max_steps=120
    )
    assert statuses.get("in_progress", 0) > 100
    assert statuses.get("crashed", 0) >= 1, statuses


@pytest.mark.parametrize(
    ("observation", "track", "direction", "race"),
    [
        ("camera", "oval", "both", None),
        ("stereo", "speedway", "forward", None),
        ("state", "technical", "forward", None),
        ("camera", "oval", "forward", {"race": "object-avoidance", "boxes": 3}),
    ],
)
def test_each_car_equals_a_race_env_randomized(
    tmp_path: Path, observation: str, track: str, direction: str, race: Any
) -> None:
    """Sim-to-real randomisation (racer.sim.randomize): every car draws its own world per episode
    from its own generator, frames and actuation (latency, offsets, gains) equal RaceEnv's."""
    from racer.sim.randomize import RandomizeConfig

    cfg = RandomizeConfig(
        enabled=True, jpeg=0.5, latency_steps=2, geometries=3, geometry_steps=9, variants=2
    )
    statuses = _compare(
        tmp_path, observation, track, direction=direction, race=race, randomize=cfg, steps=200
    )
    assert statuses.get("in_progress", 0) > 100
    assert set(statuses) - {"in_progress"}, statuses


def test_laps_and_time_ups_are_compared(tmp_path: Path) -> None:
    """A long comparison on the oval: laps complete (their times compared); short ones time out."""
    statuses = _compare(tmp_path, "state", "oval", steps=700, n=2, max_steps=330)
    assert statuses.get("lap_complete", 0) >= 1, statuses
    statuses = _compare(tmp_path, "state", "oval", steps=200, n=2, max_steps=60)
    assert statuses.get("time_up", 0) >= 1, statuses


def test_make_vec_returns_the_native_vector_env() -> None:
    venv = gym.make_vec(
        "racer/Race-v0", num_envs=5, vectorization_mode="vector_entry_point", observation="state"
    )
    assert isinstance(venv, RaceVectorEnv)
    assert venv.num_envs == 5 and venv.observation_space.shape == (5, 23)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, info = venv.reset(seed=0)
    assert obs.shape == (5, 23) and info["_episode_status"].all()
    obs2, rew, term, trunc, info = venv.step(venv.action_space.sample())
    assert rew.shape == (5,) and term.dtype == bool and info["_progress"].all()
    assert obs2.dtype == np.float32
    venv.close()


def test_same_seed_same_episodes_and_seeds_differ_per_car() -> None:
    def run(seed: int) -> np.ndarray:
        venv = RaceVectorEnv(4, track="oval", observation="state", start="random")
        obs, _ = venv.reset(seed=seed)
        return obs

    a, b = run(3), run(3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1]), "cars share a seed"


def test_bad_arguments_fail_with_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="num_envs"):
        RaceVectorEnv(0, observation="state")
    with pytest.raises(ConfigError, match="observation"):
        RaceVectorEnv(2, observation="lidr")
    venv = RaceVectorEnv(2, observation="state")
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(2, dtype=int))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="one action per car"):
        venv.step(np.zeros(3, dtype=int))


def test_batched_builtin_rewards_equal_the_scalar_functions() -> None:
    """The built-ins' batched forms give each car the scalar function's value on its params."""
    from racer.rewards import builtin

    venv = RaceVectorEnv(16, track="technical", observation="state", reward="progress")
    venv.reset(seed=1)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        _, _, _, _, info = venv.step(rng.integers(0, 10, 16))
        rows = info["params"]
        for batch in {id(w[0]): w[0] for w in rows._where if w is not None}.values():
            for scalar, many in builtin.BATCHED.items():
                values = many(batch)
                for j in range(batch.n):
                    assert values[j] == pytest.approx(scalar(batch.row(j)), rel=1e-12, abs=1e-12)
                    checked += 1
    assert checked > 1000
