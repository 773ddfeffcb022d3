"""Hostile reward functions (issue #12, items 7-9): never a hang, never a lie, one line each.

Every reward is built here under tmp_path. Time limits are tight (0.5 s) so that a reward that
never returns costs the suite half a second; the two real training runs are tiny (2 workers,
256 steps) and carry a pytest-timeout so that a regression fails instead of hanging CI.
"""

from __future__ import annotations

import math
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from testlib.cli import run_cli

from racer.errors import RewardError
from racer.rewards import load_reward
from racer.rewards import plugin as plugin_module
from racer.rewards.check import check_reward, check_reward_isolated, generate_runs
from racer.rewards.params import ParamsBuilder
from racer.track import load_track

LIMIT_S = 0.5  # the tests' reward time limit: a hang costs half a second


@pytest.fixture(scope="module")
def oval() -> Any:
    return load_track("oval")


@pytest.fixture(scope="module")
def params(oval: Any) -> dict[str, Any]:
    inp = next(generate_runs(oval, "on_line", runs=1, steps=3))[2]
    return ParamsBuilder(oval).build(inp)


def _reward(tmp_path: Path, body: str, name: str = "reward.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def _one_line(message: str, path: Path) -> None:
    assert "\n" not in message
    assert str(path) in message
    assert len(message) < 2_500


# -- item 7: a reward that changes params changes nothing of racer's -----------------------------

MUTATIONS = {
    "pop_waypoint": "params['waypoints'].pop()",
    "reverse_waypoints": "params['waypoints'].reverse()",
    "assign_waypoint": "params['waypoints'][0] = (9.0, 9.0)",
    "pop_is_offtrack": "params.pop('is_offtrack')",
    "clear": "params.clear()",
    "reassign_progress": "params['progress'] = 100.0",
    "mutate_nested": "params['closest_waypoints'].append(7)",
}


@pytest.mark.parametrize("statement", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_mutating_reward_leaves_racers_params_alone(tmp_path, params, statement):
    path = _reward(tmp_path, f"def reward_function(params):\n    {statement}\n    return 1.0\n")
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in params.items()}
    plugin = load_reward(path)
    try:
        plugin(params, step=3)
    except RewardError as exc:  # the shared waypoints refuse: one line naming file:line
        assert "waypoints" in statement
        _one_line(str(exc), path)
        assert f"{path}:2" in str(exc) and "read-only" in str(exc)
    else:
        assert "waypoints'].pop" not in statement and "reverse" not in statement
    after = {k: (list(v) if isinstance(v, list) else v) for k, v in params.items()}
    assert after == before


def test_deepracer_style_waypoint_reads_still_work(tmp_path, params):
    path = _reward(
        tmp_path,
        """
        import math
        import numpy as np

        def reward_function(params):
            wps = params['waypoints']
            prev, nxt = params['closest_waypoints']
            first = wps[nxt]
            ahead = wps[nxt:nxt + 5] + [wps[0]]
            total = sum(x for x, _ in wps) + len(wps) + np.asarray(wps).shape[0]
            mine = list(wps)
            mine.reverse()
            mine.append((0.0, 0.0))
            copy = wps.copy()
            copy.pop()
            return math.atan2(first[1] - wps[prev][1], first[0] - wps[prev][0]) * 0.0 + 1.0
        """,
    )
    assert load_reward(path)(params) == 1.0


def test_env_terminates_from_its_own_values(tmp_path):
    from racer.env import RaceEnv

    path = _reward(
        tmp_path,
        """
        def reward_function(params):
            params.pop('is_offtrack')
            params['progress'] = 100.0
            params.clear()
            return 1.0
        """,
    )
    env = RaceEnv(track="oval", observation="state", reward=str(path), max_steps=400)
    env.reset(seed=0, options={"start_s": 0.0})
    hard_right = 1  # (-30 deg, 2 m/s) in the default action space
    assert env.action_spec.to_command(hard_right) == (-30.0, 2.0)
    status = "in_progress"
    for _ in range(400):  # until the car leaves the road
        _, reward, term, trunc, info = env.step(hard_right)
        assert reward == 1.0 and "is_offtrack" in info["params"]
        status = info["episode_status"]
        if term or trunc:
            break
    assert status == "off_track" and info["params"]["is_offtrack"] is True
    env.close()


# -- items 8 and 9, and further: every hostile reward is one line naming its file -----------------

HOSTILE = {
    "while_true": ("while True:\n        pass", "time limit of 0.5 s"),
    "sleeps": ("import time\n    time.sleep(60)", "time limit"),
    "sys_exit": ("import sys\n    sys.exit(4)", "called sys.exit() (status 4)"),
    "os_exit": ("import os\n    os._exit(3)", "called os._exit() (status 3)"),
    "keyboard_interrupt": ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    "recursion": ("return reward_function(params)", "RecursionError"),
    "memory_error": ("raise MemoryError", "MemoryError"),
    "nan": ("return float('nan')", "returned NaN"),
    "inf": ("return float('inf')", "returned inf"),
    "none": ("return None", "returned None"),
    "string": ("return 'x' * 10_000_000", "of type str, not a number"),
    "huge_int": ("return 10 ** 400", "a reward must be a finite number"),
    "huge_float": ("return 1e300", "a reward must be a finite number"),
    "numpy_array": ("import numpy\n    return numpy.ones(3)", "of type ndarray"),
    "bool": ("return True", "of type bool"),
    "huge_message": ("raise ValueError('line\\n' * 1_000_000)", "ValueError: line line"),
    "broken_str": (
        "class E(Exception):\n        def __str__(self):\n            raise SystemExit\n"
        "    raise E()",
        "raised E",
    ),
}


@pytest.mark.parametrize(("body", "expected"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_reward_is_one_line_naming_file_and_step(tmp_path, params, body, expected):
    path = _reward(tmp_path, f"def reward_function(params):\n    {body}\n")
    plugin = load_reward(path).with_timeout(LIMIT_S)
    start = time.perf_counter()
    with pytest.raises(RewardError) as err:
        plugin(params, step=17)
    assert time.perf_counter() - start < LIMIT_S + 2.0
    message = str(err.value)
    _one_line(message, path)
    assert expected in message and "at step 17" in message
    assert os._exit is not plugin_module._refuse_exit  # put back after the call
    assert not plugin_module._timer_armed


def test_a_real_ctrl_c_during_a_reward_is_still_ctrl_c(tmp_path, params):
    path = _reward(
        tmp_path,
        """
        import os, signal, time

        def reward_function(params):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
            return 1.0
        """,
    )
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    with pytest.raises(KeyboardInterrupt):
        load_reward(path)(params)


def test_time_limit_is_validated():
    plugin = load_reward("progress")
    for bad in (0, -1.0, math.nan, math.inf, 1e9, "5", True):
        with pytest.raises(RewardError, match="time limit"):
            plugin.with_timeout(bad)  # type: ignore[arg-type]
    assert plugin.with_timeout(None).timeout_s is None
    assert plugin.timeout_s == plugin_module.DEFAULT_TIMEOUT_S


def test_time_limit_survives_pickling(tmp_path):
    import pickle

    path = _reward(tmp_path, "def reward_function(params):\n    return 1.0\n")
    plugin = pickle.loads(pickle.dumps(load_reward(path).with_timeout(0.25)))
    assert plugin.timeout_s == 0.25


LOAD_FAILURES = {
    "missing_module": ("import no_such_module_xyz\n", "ModuleNotFoundError"),
    "no_function": ("def something_else(params):\n    return 1\n", "no function 'reward_function'"),
    "two_args": (
        "def reward_function(params, extra):\n    return 1\n",
        "cannot be called with one argument",
    ),
    "no_args": ("def reward_function():\n    return 1\n", "cannot be called with one argument"),
    "exit_at_import": ("import sys\nsys.exit(1)\n", "SystemExit"),
    "interrupt_at_import": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "loop_at_import": ("while True:\n    pass\n", "took longer than 0.5 s"),
}


@pytest.mark.parametrize(("source", "expected"), LOAD_FAILURES.values(), ids=LOAD_FAILURES.keys())
def test_reward_file_that_cannot_load_is_one_line(tmp_path, monkeypatch, source, expected):
    monkeypatch.setattr(plugin_module, "IMPORT_TIMEOUT_S", LIMIT_S)
    path = _reward(tmp_path, source)
    with pytest.raises(RewardError) as err:
        load_reward(path)
    _one_line(str(err.value), path)
    assert expected in str(err.value)


def test_oversized_reward_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(plugin_module, "MAX_FILE_BYTES", 1_000)
    path = _reward(tmp_path, "def reward_function(params):\n    return 1.0\n" + "#" * 2_000)
    with pytest.raises(RewardError, match="a reward file is source code"):
        load_reward(path)


# -- racer rewards check -------------------------------------------------------------------------


def test_check_reports_changes_to_params_as_harmless(tmp_path, oval):
    path = _reward(tmp_path, "def reward_function(params):\n    params.clear()\n    return 1.0\n")
    report = check_reward(load_reward(path), oval, runs=1, steps=2)
    assert report.ok and report.changes == ["params.clear()"]
    assert any("changes its params" in note and "harmless" in note for note in report.notes)


def test_check_fails_a_reward_that_changes_the_waypoints(tmp_path, oval):
    path = _reward(tmp_path, "def reward_function(params):\n    params['waypoints'].pop()\n")
    report = check_reward(load_reward(path), oval, runs=1, steps=2)
    assert not report.ok and report.failures == sum(r.calls for r in report.situations)
    assert "read-only" in report.situations[0].messages[0]


def test_check_counts_printed_output_without_showing_it(tmp_path, oval, capsys):
    path = _reward(
        tmp_path, "def reward_function(params):\n    print('x' * 100_000)\n    return 1.0\n"
    )
    report = check_reward(load_reward(path), oval, runs=1, steps=2)
    assert report.printed_bytes == 12 * 100_001
    assert any("printed 1,200,012 characters" in note for note in report.notes)
    assert capsys.readouterr().out == ""


def test_check_stops_at_the_first_timeout(tmp_path, oval):
    path = _reward(tmp_path, "def reward_function(params):\n    while True:\n        pass\n")
    start = time.perf_counter()
    with pytest.raises(RewardError, match="time limit of 0.5 s") as err:
        check_reward(load_reward(path), oval, runs=8, steps=12, timeout_s=LIMIT_S)
    assert time.perf_counter() - start < LIMIT_S + 2.0
    assert getattr(err.value, "timed_out", False)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the isolated check forks")
def test_isolated_check_survives_a_reward_that_ends_the_process(tmp_path, oval):
    path = _reward(
        tmp_path,
        """
        import posix

        def reward_function(params):
            if params['steps'] == 2:
                posix._exit(5)  # the back door: not os._exit, which racer catches
            return 1.0
        """,
    )
    with pytest.raises(RewardError) as err:
        check_reward_isolated(load_reward(path), oval, runs=1, steps=3)
    message = str(err.value)
    _one_line(message, path)
    assert "exit status 5" in message and "situation 'on_line', run 1, step 2" in message


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the isolated check forks")
def test_isolated_check_returns_the_same_report(tmp_path, oval):
    plugin = load_reward("centerline")
    isolated = check_reward_isolated(plugin, oval, runs=1, steps=2)
    direct = check_reward(plugin, oval, runs=1, steps=2)
    assert isolated.plugin is plugin
    assert [r.values for r in isolated.situations] == [r.values for r in direct.situations]
    assert isolated.keys_read == direct.keys_read


SWALLOWS_EVERY_STOP = (
    "while True:\n        try:\n            while True:\n                pass\n"
    "        except BaseException:\n            pass"
)

CLI_CASES = {
    "while_true": ("while True:\n        pass", 2, "time limit of 0.5 s"),
    "swallows_every_stop": (SWALLOWS_EVERY_STOP, 2, "caught every stop"),
    "sys_exit": ("import sys\n    sys.exit(0)", 1, "called sys.exit() (status 0)"),
    "os_exit": ("import os\n    os._exit(0)", 1, "called os._exit() (status 0)"),
    "posix_exit": ("import posix\n    posix._exit(0)", 2, "ended the process with exit status 0"),
    "keyboard_interrupt": ("raise KeyboardInterrupt", 1, "raised KeyboardInterrupt"),
    "pop_waypoint": ("params['waypoints'].pop()\n    return 1.0", 1, "read-only"),
}


@pytest.mark.parametrize(("body", "code", "expected"), CLI_CASES.values(), ids=CLI_CASES.keys())
def test_rewards_check_cli_exits_non_zero_with_the_reason(
    tmp_path, capsys, monkeypatch, body, code, expected
):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("RACER_DEBUG", raising=False)
    monkeypatch.setattr(plugin_module, "HARD_STOP_GRACE_S", 0.3)  # the forked check inherits it
    path = _reward(tmp_path, f"def reward_function(params):\n    {body}\n")
    got, out, err = run_cli(
        ["rewards", "check", str(path), "--timeout", "0.5", "--runs", "1", "--steps", "2"], capsys
    )
    assert got == code, (out, err)
    # `import posix` is outside DeepRacer's allowed imports: one warning line comes first
    err = "".join(line for line in err.splitlines(keepends=True) if "racer: warning: " not in line)
    text = err if code == 2 else out
    assert expected in text
    if code == 2:
        assert err.startswith("racer: error: ") and err.count("\n") == 1


def test_rewards_check_cli_refuses_a_bad_timeout(capsys):
    code, _, err = run_cli(["rewards", "check", "progress", "--timeout", "-1"], capsys)
    assert code == 2 and "time limit" in err and err.count("\n") == 1


# -- training: a reward that fails mid-run ends it with one line, the checkpoint kept ------------


def _tiny(tmp_path: Path, reward: Path, **env: Any) -> Any:
    from racer.train.config import config_from_dict

    data = {
        "agent": {"name": "tiny"},
        "env": {"tracks": ["oval"], "observation": "state", "reward": str(reward), **env},
        "algorithm": {"net_arch": [16]},
        "hyperparameters": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        "budget": {"steps": 256, "envs": 2, "seed": 3},
        "evaluation": {"every_steps": 0, "episodes": 1},
        "checkpoint": {"every_steps": 128, "keep": 2},
    }
    return config_from_dict(data, source="test", base_dir=str(tmp_path))


# Fails after the first checkpoint (128 steps: 2 cars x 64), not in the preflight's checks.
LATE_FAILURE = """
CALLS = [0]

def reward_function(params):
    CALLS[0] += 1
    if CALLS[0] >= 200:
        {action}
    return 1.0
"""


@pytest.mark.timeout(90)
def test_train_with_a_reward_raising_mid_run_is_one_line(tmp_path):
    from racer.train.checkpoint import latest_checkpoint
    from racer.train.pipeline import train

    path = _reward(tmp_path, LATE_FAILURE.format(action="raise ValueError('boom')"))
    run = tmp_path / "run"
    with pytest.raises(RewardError) as err:
        train(_tiny(tmp_path, path), out=run, progress_bar=False)
    message = str(err.value)
    assert "reward.py:6" in message and "ValueError: boom" in message and "at step" in message
    assert "\n" not in message
    assert latest_checkpoint(run / "checkpoints")["steps"] >= 128


@pytest.mark.timeout(90)
def test_train_cli_with_a_hanging_or_exiting_reward_is_exit_2(tmp_path, capsys, monkeypatch):
    """os._exit(3) for one car, while True for the other: whichever comes first, one line."""
    monkeypatch.delenv("RACER_DEBUG", raising=False)
    action = "import os\n        os._exit(3) if params['x'] > 0 else None\n        while True: pass"
    path = _reward(tmp_path, LATE_FAILURE.format(action=action))
    recipe = tmp_path / "agent.toml"
    recipe.write_text(
        "[agent]\nname = 'tiny'\n"
        f"[env]\ntracks = ['oval']\nobservation = 'state'\nreward = '{path.name}'\n"
        "reward_timeout_s = 0.5\n"
        "[algorithm]\nnet_arch = [16]\n"
        "[hyperparameters]\nn_steps = 64\nbatch_size = 64\nn_epochs = 1\n"
        "[budget]\nsteps = 256\nenvs = 2\nseed = 3\n[evaluation]\nevery_steps = 0\n"
        "[checkpoint]\nevery_steps = 128\nkeep = 2\n"
    )
    run = tmp_path / "run"
    code, _, err = run_cli(["train", str(recipe), "--out", str(run), "--no-progress"], capsys)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("racer: error: ")]
    assert len(lines) == 1, err
    assert "reward.py" in lines[0]
    assert "called os._exit() (status 3)" in lines[0] or "time limit of 0.5 s" in lines[0]
