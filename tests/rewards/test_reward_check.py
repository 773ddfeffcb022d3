"""`check_reward`: synthetic poses without physics, value ranges, keys read, failures."""

from __future__ import annotations

import math
import textwrap

import pytest
from rewards_testlib import PLUGINS, strip_track

from racer.rewards import ParamsBuilder, load_reward
from racer.rewards.check import SITUATIONS, RecordingParams, check_reward, generate_runs


def test_recording_params_tracks_reads():
    params = RecordingParams({"a": 1, "b": 2, "c": 3})
    assert params["a"] == 1
    assert params.get("zz") is None
    assert "c" in params
    assert params.accessed == {"a", "zz", "c"}
    list(params.items())
    assert params.accessed == {"a", "b", "c", "zz"}
    assert isinstance(params, dict)


def test_situations_are_what_they_say(circle):
    builder = ParamsBuilder(circle)
    for name in SITUATIONS:
        runs = list(generate_runs(circle, name, runs=4, steps=6))
        assert len(runs) == 4 and all(len(run) == 6 for run in runs)
        for run in runs:
            prev = 0.0
            progress = []
            for step, inp in enumerate(run, start=1):
                assert inp.steps == step
                inp.prev_progress = prev
                params = builder.build(inp)
                prev = params["progress"]
                progress.append(prev)
                if name in ("on_line", "zigzag", "objects"):
                    assert params["distance_from_center"] < 0.1 * params["track_width"]
                    assert params["all_wheels_on_track"]
                if name == "near_border":
                    assert 0.3 <= params["distance_from_center"] / params["track_width"] <= 0.45
                    assert params["all_wheels_on_track"]
                if name == "off_track":
                    assert params["distance_from_center"] >= 0.6 * params["track_width"] - 1e-9
                    assert not params["all_wheels_on_track"]
                if name == "reversed":
                    assert abs(abs(params["heading_error"]) - 180.0) < 30.0
                if name == "objects":
                    assert len(params["objects_location"]) == 3
            if name == "reversed":
                assert progress == sorted(progress, reverse=True) or max(progress) == 0.0
            else:
                assert progress == sorted(progress)
                assert progress[-1] > progress[0]


def test_zigzag_alternates_steering(circle):
    run = next(generate_runs(circle, "zigzag", runs=1, steps=4))
    assert [inp.steering_cmd_deg for inp in run] == [25.0, -25.0, 25.0, -25.0]


def test_check_centerline(circle):
    report = check_reward(load_reward("centerline"), circle)
    assert report.ok
    by_name = {r.name: r for r in report.situations}
    assert list(by_name) == list(SITUATIONS)
    assert by_name["on_line"].min == 1.0
    assert by_name["near_border"].max == 0.1
    assert by_name["off_track"].max == pytest.approx(1e-3)
    assert report.keys_read == ["all_wheels_on_track", "distance_from_center", "track_width"]
    assert report.unknown_keys == []
    assert report.notes == []


def test_check_no_zigzag_sees_the_penalty(circle):
    report = check_reward(load_reward(str(PLUGINS / "no_zigzag.py")), circle)
    by_name = {r.name: r for r in report.situations}
    assert by_name["zigzag"].max == pytest.approx(0.8)
    assert "steering_angle" in report.keys_read


def test_check_reports_failures_and_notes(tmp_path, circle):
    path = tmp_path / "fragile.py"
    path.write_text(
        textwrap.dedent(
            """
            def reward_function(params):
                if not params["all_wheels_on_track"]:
                    return None
                if params.get("speeed"):
                    return 2.0
                return 1.0 / (params["steps"] - 3)
            """
        ).lstrip()
    )
    report = check_reward(load_reward(str(path)), circle, runs=3, steps=5)
    assert not report.ok
    by_name = {r.name: r for r in report.situations}
    off = by_name["off_track"]
    assert off.failures == off.calls == 15
    assert off.values == [] and math.isnan(off.mean)
    assert any("returned None" in m and f"{path}:1" in m for m in off.messages)
    on = by_name["on_line"]
    assert on.failures == 3  # step 3 of each run divides by zero
    assert any(
        f"{path}:6" in m and "ZeroDivisionError" in m and "at step 3" in m for m in on.messages
    )
    assert len(on.messages) <= 3
    assert report.unknown_keys == ["speeed"]
    assert any("speeed" in note for note in report.notes)


def test_check_warns_when_off_track_pays(circle):
    def greedy(params):
        return params["distance_from_center"]

    report = check_reward(load_reward(greedy), circle, runs=2, steps=3)
    assert any("off-track" in note for note in report.notes)


def test_check_warns_on_constant(circle):
    report = check_reward(load_reward(lambda params: 1.0), circle, runs=2, steps=3)
    assert any("constant" in note for note in report.notes)
    assert report.keys_read == []


def test_check_on_an_open_track():
    report = check_reward(load_reward("waypoint_heading"), strip_track(length=20.0))
    assert report.ok
    assert {r.name: r for r in report.situations}["on_line"].min > 0.8


def test_unknown_situation(circle):
    with pytest.raises(ValueError, match="unknown situation"):
        next(generate_runs(circle, "flying"))
