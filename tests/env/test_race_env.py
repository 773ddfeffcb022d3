"""RaceEnv: API checkers, determinism, pickling, DeepRacer episode rules, the follower lapping."""

from __future__ import annotations

import dataclasses
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import racer.env  # noqa: F401  (registers racer/Race-v0)
from racer.env import ENV_ID, OBSERVATIONS, ActionSpec, RaceEnv
from racer.env.follower import CenterlineFollower
from racer.errors import ConfigError, TrackError
from racer.track import builtin_track_names

DEEPRACER_KEYS = {
    "all_wheels_on_track", "x", "y", "heading", "distance_from_center", "is_left_of_center",
    "progress", "steps", "speed", "steering_angle", "track_width", "track_length", "waypoints",
    "closest_waypoints", "is_offtrack", "is_crashed", "is_reversed", "projection_distance",
    "closest_objects", "objects_location", "objects_left_of_center", "objects_speed",
    "objects_heading", "objects_distance", "objects_distance_from_center", "object_in_camera",
    "sim_time",
}  # fmt: skip


@pytest.mark.parametrize("observation", OBSERVATIONS)
def test_gymnasium_and_sb3_checkers(observation: str) -> None:
    env = gym.make(ENV_ID, track="oval", observation=observation, render_mode="rgb_array")
    gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped, warn=True)
    env.close()


def test_continuous_action_space_passes_checkers() -> None:
    env = gym.make(ENV_ID, track="oval", observation="state", action_space="continuous")
    gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped)
    assert env.action_space.shape == (2,)
    env.close()


def _rollout(env: RaceEnv, seed: int, n: int) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    for _ in range(n):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(r)
        if term or trunc:
            obs, _ = env.reset()
            observations.append(obs)
    return observations, rewards


@pytest.mark.parametrize("observation", ["camera", "state"])
def test_same_seed_same_trajectory(observation: str) -> None:
    a = RaceEnv(track="loop", observation=observation, start="random", direction="both")
    b = RaceEnv(track="loop", observation=observation, start="random", direction="both")
    oa, ra = _rollout(a, seed=7, n=60)
    ob, rb = _rollout(b, seed=7, n=60)
    assert ra == rb
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
    a.close()
    b.close()


def test_env_pickles_and_keeps_its_arguments() -> None:
    env = RaceEnv(track="oval", observation="lidar", action_space="continuous", start="random")
    env.reset(seed=1)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.observation_space == env.observation_space
    assert clone.action_space == env.action_space
    assert clone.start_mode == "random"
    obs, _ = clone.reset(seed=3)
    assert clone.observation_space.contains(obs)
    env.close()
    clone.close()


def test_reset_info_and_params_hold_every_deepracer_key() -> None:
    env = RaceEnv(track="oval", observation="state")
    _, info = env.reset(seed=0)
    assert set(info["params"]) >= DEEPRACER_KEYS
    _, _, _, _, info = env.step(0)
    params = info["params"]
    assert set(params) >= DEEPRACER_KEYS
    assert params["steps"] == 1
    assert isinstance(params["all_wheels_on_track"], bool)
    assert params["objects_location"] == []
    assert params["closest_objects"] == [0, 0]
    assert info["episode_status"] == "in_progress"
    env.close()


def test_follower_gets_progress_and_positive_steering_turns_left() -> None:
    env = RaceEnv(track="oval", observation="state", action_space="continuous", start="fixed")
    env.reset(seed=0)
    driver = CenterlineFollower(env)
    for _ in range(30):
        _, _, term, trunc, info = env.step(driver.act())
        assert not (term or trunc)
    assert info["progress"] > 5.0
    # full left lock from a straight line: yaw increases (counter-clockwise)
    env.reset(seed=0, options={"start_s": 0.0})
    yaw0 = env.world.car_state().yaw_rad
    for _ in range(5):
        env.step(np.array([1.0, -1.0], dtype=np.float32))
    dyaw = (env.world.car_state().yaw_rad - yaw0 + np.pi) % (2 * np.pi) - np.pi
    assert dyaw > 0.1
    env.close()


def test_off_track_ends_the_episode() -> None:
    env = RaceEnv(track="oval", observation="state", action_space="continuous", start="fixed")
    env.reset(seed=0)
    status = "in_progress"
    for _ in range(200):
        _, _, term, trunc, info = env.step(np.array([-1.0, 1.0], dtype=np.float32))
        status = info["episode_status"]
        if term or trunc:
            break
    assert term and status == "off_track"
    assert info["params"]["is_offtrack"] is True
    env.close()


def test_driving_backwards_ends_as_reversed() -> None:
    env = RaceEnv(track="oval", observation="state", action_space="continuous", start="fixed")
    # Start a quarter lap in, then turn the car round on the spot: it faces against the driving
    # direction, on the centre line, where the env's lap counter already is.
    track = env.driven_track
    env.reset(seed=0, options={"start_s": track.length * 0.25})
    x, y = track.point_at(track.length * 0.25)
    env.world.reset_car(float(x), float(y), float(track.heading_at(track.length * 0.25)) + np.pi)
    for _ in range(100):
        _, _, term, trunc, info = env.step(np.array([0.0, -1.0], dtype=np.float32))
        if term or trunc:
            break
    assert term and info["episode_status"] == "reversed"
    env.close()


def test_time_limit_truncates() -> None:
    env = RaceEnv(track="oval", observation="state", max_steps=5)
    env.reset(seed=0)
    for _ in range(5):
        _, _, term, trunc, info = env.step(4)
    assert trunc and not term and info["episode_status"] == "time_up"
    with pytest.raises(RuntimeError):
        env.step(4)
    env.close()


def test_immobilized_ends_the_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    env = RaceEnv(track="oval", observation="state")
    env.reset(seed=0)
    real = env.world.car_state

    def stuck():  # the car stands still (e.g. blocked), whatever is commanded
        return dataclasses.replace(real(), speed_mps=0.0)

    monkeypatch.setattr(env.world, "car_state", stuck)
    monkeypatch.setattr(env.world, "step", lambda steering_rad, speed_mps: None)
    for _ in range(40):
        _, _, term, _, info = env.step(4)
        if term:
            break
    assert term and info["episode_status"] == "immobilized"
    env.close()


def test_round_robin_starts_move_along_the_lap() -> None:
    env = RaceEnv(track="oval", observation="state")
    starts = []
    for i in range(3):
        _, info = env.reset(seed=i if i == 0 else None)
        starts.append(info["start_s"])
    assert starts[0] < starts[1] < starts[2]
    assert starts[1] - starts[0] == pytest.approx(0.1 * env.track.length, abs=0.3)
    env.close()


def test_reverse_direction_runs_the_reversed_track() -> None:
    env = RaceEnv(track="loop", observation="state", direction="reverse")
    _, info = env.reset(seed=0)
    assert info["reversed"] is True
    _, _, _, _, info = env.step(4)
    assert info["params"]["is_reversed"] is True
    assert info["progress"] >= 0.0
    env.close()


def test_render_views() -> None:
    env = RaceEnv(track="oval", observation="state", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame is not None and frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()
    env = RaceEnv(track="oval", observation="state", render_mode="rgb_array", render_view="topdown")
    env.reset(seed=0)
    top = env.render()
    assert top is not None and top.ndim == 3 and top.shape[2] == 3
    env.close()


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="did you mean 'camera'"):
        RaceEnv(track="oval", observation="camra")
    with pytest.raises(TrackError):
        RaceEnv(track="no-such-track")
    with pytest.raises(ConfigError, match="steering_angle"):
        RaceEnv(track="oval", action_space={"action_space": [{"steering_angle": 45, "speed": 1}]})
    with pytest.raises(ConfigError):
        RaceEnv(track="oval", start="sideways")


def test_action_spec_round_trips_model_metadata() -> None:
    spec = ActionSpec(kind="continuous", steering_deg=(-20.0, 20.0), speed_mps=(0.5, 3.0))
    again = ActionSpec.from_model_metadata(spec.to_model_metadata())
    assert again == spec
    assert spec.to_command(np.array([-1.0, 1.0])) == (-20.0, 3.0)
    d = ActionSpec()
    assert ActionSpec.from_model_metadata(d.to_model_metadata()) == d


@pytest.mark.parametrize("name", builtin_track_names())
def test_follower_laps_every_builtin_track(name: str) -> None:
    env = RaceEnv(track=name, observation="state", action_space="continuous", start="fixed")
    env.reset(seed=0)
    driver = CenterlineFollower(env)
    info: dict = {}
    for _ in range(env.max_steps):
        _, _, term, trunc, info = env.step(driver.act())
        if term or trunc:
            break
    assert info["episode_status"] == "lap_complete", (
        name,
        info["episode_status"],
        info["progress"],
    )
    assert info["lap_time_s"] > 0
    env.close()


def test_next_lap_continues_without_stopping() -> None:
    env = RaceEnv(track="oval", observation="state", action_space="continuous", start="fixed")
    env.reset(seed=0)
    driver = CenterlineFollower(env)
    with pytest.raises(RuntimeError):
        env.next_lap()
    laps = []
    for _ in range(3 * env.max_steps):
        _, _, term, trunc, info = env.step(driver.act())
        if info["episode_status"] == "lap_complete":
            laps.append(info["lap_time_s"])
            speed = env.world.car_state().speed_mps
            env.next_lap()
            assert env.progress == 0.0 and env.world.car_state().speed_mps == speed
            if len(laps) == 2:
                break
        elif term or trunc:
            raise AssertionError(info["episode_status"])
    # the flying second lap is faster than the first, which started from rest
    assert len(laps) == 2 and laps[1] < laps[0] < laps[1] + 1.0
    env.close()
