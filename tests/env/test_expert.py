"""The racing expert drives the bound: racing-line laps within 5% of the track's lap-time bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from racer.env import STATE_FEATURES, RaceEnv
from racer.env.expert import RacingLineExpert
from racer.env.follower import command_to_action
from racer.env.spaces import ActionSpec
from racer.evaluate.policies import FULL_ACTION_SPACE
from racer.track import builtin_track_names


def drive_laps(env: RaceEnv, laps: int, start_s: float = 0.0, reverse: bool = False) -> list[float]:
    """Drive the expert for ``laps`` consecutive laps; returns the lap times (stops early off-road)."""
    expert = RacingLineExpert(env)
    env.reset(seed=0, options={"start_s": start_s, "reverse": reverse})
    times: list[float] = []
    while len(times) < laps:
        while True:
            _, _, term, trunc, info = env.step(expert.act())
            if term or trunc:
                break
        if info["episode_status"] != "lap_complete":
            break
        times.append(info["lap_time_s"])
        env.next_lap()
    return times


@pytest.mark.parametrize("track", builtin_track_names())
def test_expert_laps_within_5_percent_of_the_bound(track: str) -> None:
    env = RaceEnv(track=track, observation="state", action_space=FULL_ACTION_SPACE)
    times = drive_laps(env, 3)
    assert len(times) == 3, f"{track}: the expert left the road after {len(times)} laps"
    line = env.racing_line
    flying = float(np.mean(times[1:]))
    assert flying <= 1.05 * line.lap_time_s, (track, times, line.lap_time_s)
    # a lap can't beat the bound by more than a control period's rounding of the lap time
    assert flying >= line.lap_time_s - 2.0 / 15.0, (track, times, line.lap_time_s)
    # the first lap starts from rest: its bound is the standing lap
    assert times[0] <= 1.05 * line.standing_lap_time_s
    env.close()


def test_expert_laps_the_reverse_direction_on_its_own_line() -> None:
    env = RaceEnv(track="technical", observation="state", action_space=FULL_ACTION_SPACE)
    times = drive_laps(env, 2, reverse=True)
    assert len(times) == 2
    assert env.driven_track is not env.track
    assert times[1] <= 1.05 * env.racing_line.lap_time_s
    env.close()


def test_expert_in_a_discrete_space_still_laps() -> None:
    # snapped to the nearest of DeepRacer's default 10 actions it is slower, but it stays on the road
    env = RaceEnv(track="oval", observation="state")
    times = drive_laps(env, 1)
    assert len(times) == 1
    env.close()


def test_command_to_action_inverts_to_command() -> None:
    cont = ActionSpec(kind="continuous", steering_deg=(-30.0, 30.0), speed_mps=(0.5, 4.0))
    a = command_to_action(cont, 12.0, 3.1)
    steer, speed = cont.to_command(a)
    assert steer == pytest.approx(12.0, abs=1e-4) and speed == pytest.approx(3.1, abs=1e-4)
    disc = ActionSpec()
    i = command_to_action(disc, 14.0, 1.9)
    assert disc.actions[i] == (15.0, 2.0)


def test_state_features_describe_the_racing_line() -> None:
    names = [name for name, _, _ in STATE_FEATURES]
    assert len(names) == 23 and names[16] == "line_offset"
    env = RaceEnv(track="loop", observation="state", action_space=FULL_ACTION_SPACE)
    obs, info = env.reset(seed=0, options={"start_s": 3.0})
    assert obs.shape == (23,) and env.observation_space.contains(obs)
    line = env.racing_line
    params = info["params"]
    # the car starts on the centre line: its offset from the racing line is the line's lateral
    lateral_line = float(np.interp(params["projection_distance"], *_by_center_s(line)))
    half = 0.5 * params["track_width"]
    assert obs[16] == pytest.approx(-lateral_line / half, abs=0.02)
    assert 0.1 / 4 <= obs[17] <= 1.0 and 0.1 / 4 <= obs[18] <= 1.0
    env.close()


def test_params_carry_the_racing_line() -> None:
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    expert = RacingLineExpert(env)
    env.reset(seed=0, options={"start_s": 0.0})
    distances, speeds = [], []
    for _ in range(60):
        _, _, term, trunc, info = env.step(expert.act())
        p = info["params"]
        distances.append(p["racing_line_distance"])
        speeds.append((p["measured_speed"], p["racing_line_speed"]))
        assert len(p["racing_line_point"]) == 2
        assert math.isclose(
            p["racing_line_distance"],
            math.dist((p["x"], p["y"]), p["racing_line_point"]),
            rel_tol=1e-9,
        )
        assert abs(p["racing_line_offset"]) <= p["racing_line_distance"] + 0.02
        assert -180.0 < p["racing_line_heading"] <= 180.0
        assert p["racing_line_lap_time"] == pytest.approx(env.racing_line.lap_time_s)
        if term or trunc:
            break
    # the expert drives the line: after the start it stays within a few centimetres of it
    assert max(distances[15:]) < 0.08, max(distances[15:])
    # and at its speed, once up to speed
    assert all(abs(v - target) < 0.5 for v, target in speeds[20:]), speeds[20:]
    env.close()


def _by_center_s(line) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    order = np.argsort(line.center_s_m)
    return np.asarray(line.center_s_m)[order], np.asarray(line.lateral_m)[order]


def test_expert_with_a_wider_margin_drives_its_own_safer_line() -> None:
    env = RaceEnv(track="oval", observation="state", action_space=FULL_ACTION_SPACE)
    expert = RacingLineExpert(env, safety_margin_m=0.15)
    env.reset(seed=0, options={"start_s": 0.0})
    assert expert.line is not env.racing_line and expert.line.safety_margin_m == 0.15
    assert expert.line is expert.line  # computed once per direction
    times = []
    for _ in range(2):
        while True:
            _, _, term, trunc, info = env.step(expert.act())
            if term or trunc:
                break
        assert info["episode_status"] == "lap_complete"
        times.append(info["lap_time_s"])
        env.next_lap()
    # slower than the bound (a tighter line), but still racing
    assert env.racing_line.lap_time_s < times[1] <= 1.10 * env.racing_line.lap_time_s
    env.close()
