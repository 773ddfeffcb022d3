"""Loading reward plugins (name, file, file:fn, callable), validation, errors and pickling."""

from __future__ import annotations

import importlib.metadata
import math
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pytest
from rewards_testlib import PLUGINS

from racer.errors import RewardError
from racer.rewards import (
    MAX_ABS_REWARD,
    RewardPlugin,
    abbreviate_params,
    available_rewards,
    describe_rewards,
    load_reward,
)
from racer.rewards import plugin as plugin_mod


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


def constant(value):
    def reward_function(params):
        return value

    return reward_function


def module_level_reward(params):
    return 0.5


@pytest.fixture()
def params(builder, pose):
    return builder.build(pose(1.0, 0.05, steps=4))


# -- loading ------------------------------------------------------------------------------------


def test_builtins_are_entry_points():
    names = {ep.name for ep in importlib.metadata.entry_points(group="racer.rewards")}
    assert {"centerline", "progress", "waypoint_heading"} <= names
    docs = available_rewards()
    assert {"centerline", "progress", "waypoint_heading"} <= docs.keys()
    assert all(doc and "\n" not in doc for doc in docs.values())
    info = {i.name: i for i in describe_rewards()}["centerline"]
    assert "racer.rewards.builtin:centerline" in info.source


def test_load_by_name(params):
    plugin = load_reward("centerline")
    assert plugin.name == "centerline"
    assert plugin.source == "entry point centerline"
    assert plugin(params) == 1.0


def test_load_file_default_and_named_function(params):
    plugin = load_reward(str(PLUGINS / "point_ahead.py"))
    assert plugin.source == str((PLUGINS / "point_ahead.py").resolve())
    assert plugin.line == 8  # the `def reward_function` line
    strict = load_reward(f"{PLUGINS / 'point_ahead.py'}:strict")
    assert strict.name == "point_ahead.py:strict"
    assert strict(params) == 2.0 * plugin(params)
    assert load_reward(PLUGINS / "point_ahead.py") == plugin  # a Path works too


def test_relative_path(monkeypatch, params):
    monkeypatch.chdir(PLUGINS)
    assert load_reward("stay_inside.py")(params) == 1.0


def test_callable_and_passthrough(params):
    plugin = load_reward(module_level_reward)
    assert plugin(params) == 0.5
    assert plugin.source.startswith("callable ")
    assert plugin.source.endswith("module_level_reward")
    assert load_reward(plugin) is plugin


def test_unknown_name_suggests():
    with pytest.raises(RewardError) as info:
        load_reward("centreline")
    message = str(info.value)
    assert "\n" not in message
    assert "did you mean 'centerline'" in message
    assert "waypoint_heading" in message


def test_missing_file():
    with pytest.raises(RewardError, match=r"reward file not found: .*nope\.py"):
        load_reward("nope.py")


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "broken.py",
        """
        def reward_function(params):
            x = 1
            return x +
        """,
    )
    with pytest.raises(RewardError) as info:
        load_reward(str(path))
    assert f"{path}:3: syntax error" in str(info.value)
    assert "\n" not in str(info.value)


def test_import_error_names_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "imports.py",
        """
        import math

        import not_a_module_anywhere
        """,
    )
    with pytest.raises(RewardError, match=rf"{path}:3: importing the reward file raised"):
        load_reward(str(path))


def test_missing_function_lists_defined(tmp_path):
    path = write(tmp_path, "other.py", "def my_reward(params):\n    return 1.0\n")
    with pytest.raises(RewardError, match=r"no function 'reward_function'.*my_reward"):
        load_reward(str(path))
    assert load_reward(f"{path}:my_reward")({}) == 1.0


def test_plugin_imports_a_helper_beside_it(tmp_path, params):
    write(tmp_path, "helper_for_reward.py", "VALUE = 0.25\n")
    path = write(
        tmp_path,
        "uses_helper.py",
        """
        from helper_for_reward import VALUE

        def reward_function(params):
            return VALUE
        """,
    )
    assert load_reward(str(path))(params) == 0.25


def test_two_plugins_claiming_one_name_is_an_error(monkeypatch):
    real = tuple(importlib.metadata.entry_points(group="racer.rewards"))
    extra = importlib.metadata.EntryPoint(
        name="centerline", value="someone_else.rewards:centerline", group="racer.rewards"
    )
    monkeypatch.setattr(
        plugin_mod.importlib.metadata,
        "entry_points",
        lambda group: [*real, extra, real[0]],  # the same one twice is not a conflict
    )
    with pytest.raises(RewardError, match=r"'centerline' is claimed by 2 installed plugins"):
        load_reward("centerline")
    with pytest.raises(RewardError, match="claimed by 2"):
        available_rewards()
    assert load_reward("progress").name == "progress"


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [1, 0.5, -2.0, np.float32(0.25), np.float64(1.0), np.int64(3), np.array(0.5)]
)
def test_numbers_accepted(value, params):
    result = load_reward(constant(value))(params)
    assert type(result) is float
    assert result == float(value)


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (None, "returned None of type NoneType, not a number"),
        ("1.0", "returned '1.0' of type str, not a number"),
        (True, "returned True of type bool, not a number"),
        (np.bool_(True), "not a number"),
        ([1.0], "of type list, not a number"),
        (math.nan, "returned NaN"),
        (math.inf, "returned inf"),
        (-math.inf, "returned -inf"),
        (2 * MAX_ABS_REWARD, "returned 200000.0; a reward must be a finite number within"),
    ],
)
def test_bad_values_raise(tmp_path, value, cause, params):
    path = write(
        tmp_path,
        "bad_value.py",
        """
        VALUE = None


        def reward_function(params):
            return VALUE
        """,
    )
    plugin = load_reward(str(path))
    plugin.func.__globals__["VALUE"] = value
    with pytest.raises(RewardError) as info:
        plugin(params)
    message = str(info.value)
    assert f"{path}:4" in message  # the def line
    assert cause in message
    assert "at step 4" in message
    assert "'waypoints': <200 waypoints>" in message
    assert "\n" not in message
    assert info.value.step == 4
    assert info.value.line == 4


def test_exception_names_line_in_plugin_file(tmp_path, params):
    path = write(
        tmp_path,
        "raises.py",
        """
        def helper(params):
            width = params["track_width"] * 0
            return params["distance_from_center"] / width


        def reward_function(params):
            return helper(params)
        """,
    )
    plugin = load_reward(str(path))
    with pytest.raises(RewardError) as info:
        plugin(params, step=37)
    message = str(info.value)
    assert f"({path}:3)" in message
    assert "raised ZeroDivisionError: float division by zero at step 37" in message
    assert "'distance_from_center': 0.05" in message
    assert "\n" not in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_key_error_from_a_typo(tmp_path, params):
    path = write(
        tmp_path,
        "typo.py",
        """
        def reward_function(params):
            return params["distance_from_centre"]
        """,
    )
    with pytest.raises(RewardError, match=r"typo\.py:2\) raised KeyError: 'distance_from_centre'"):
        load_reward(str(path))(params)


def test_abbreviate_params():
    text = abbreviate_params(
        {"waypoints": [(0.0, 0.0)] * 120, "x": 1.234567, "flag": True, "l": list(range(10))}
    )
    assert text == (
        "{'waypoints': <120 waypoints>, 'x': 1.235, 'flag': True, "
        "'l': [0, 1, 2, 3, 4, 5, ... 10 items]}"
    )


# -- pickling -----------------------------------------------------------------------------------


def test_file_plugin_pickles_by_path(tmp_path, params):
    path = write(tmp_path, "picklable.py", "def reward_function(params):\n    return 0.75\n")
    plugin = load_reward(str(path))
    data = pickle.dumps(plugin)
    assert b"picklable.py" in data
    copy = pickle.loads(data)
    assert copy == plugin
    assert copy.func is not plugin.func  # the file was read again
    assert copy(params) == 0.75
    assert (copy.name, copy.source, copy.line) == (plugin.name, plugin.source, plugin.line)


def test_named_and_callable_plugins_pickle(params):
    for spec in ("centerline", "waypoint_heading", module_level_reward):
        plugin = load_reward(spec)
        copy = pickle.loads(pickle.dumps(plugin))
        assert isinstance(copy, RewardPlugin)
        assert copy == plugin
        assert copy(params) == plugin(params)


def test_unpicklable_callable_fails_at_pickling():
    plugin = load_reward(lambda params: 1.0)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(plugin)


def _call_in_child(plugin: RewardPlugin, params: dict) -> tuple[float, str]:
    return plugin(params), plugin.source


def test_file_plugin_runs_in_a_spawned_subprocess(tmp_path, params):
    import multiprocessing

    path = write(tmp_path, "child.py", "def reward_function(params):\n    return 0.125\n")
    plugin = load_reward(str(path))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        value, source = pool.apply(_call_in_child, (plugin, dict(params)))
    assert (value, source) == (0.125, str(path.resolve()))
