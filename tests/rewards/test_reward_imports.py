"""What DeepRacer lets a reward import, and rewards pasted from a web page (#13, part 2).

DeepRacer's reward functions may import math, random, numpy, scipy and shapely: all five run
wherever racer runs a reward (in this process, in ``racer rewards check``'s forked child, in the
training workers). Anything else runs too, with one warning line. A character pasted from a web
page (a zero-width space, a byte-order mark in the middle, a non-breaking space, a typographic
quote) is one error line naming the file, the line, the column and the character.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from testlib.cli import assert_refused, run_cli

from racer.rewards import load_reward
from racer.rewards.check import check_reward_isolated
from racer.track import load_track

SHAPELY_SCIPY = '''
import math
import random

import numpy as np
from scipy import spatial
from scipy.interpolate import interp1d
from shapely.geometry import Point, Polygon


def reward_function(params):
    """Closer to the centre line is better; computed the community's way, with shapely."""
    car = Point(params["x"], params["y"])
    centre_line = Polygon(params["waypoints"]).exterior
    inside = centre_line.distance(car) <= params["track_width"] / 2
    d = spatial.distance.euclidean((params["x"], params["y"]), params["waypoints"][0])
    scale = float(interp1d([0.0, 100.0], [1.0, 2.0])(params["progress"]))
    return float(inside) * scale + 1e-3 * min(d, 1.0) + 0.0 * math.pi * random.random()
'''

FOREIGN = """
import math
import os
from collections import deque


def reward_function(params):
    import json  # inside a function counts too

    return 1.0 + 0.0 * len(os.sep) * len(json.dumps(1)) * len(deque()) * math.pi
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shapely_and_scipy_reward_runs_in_process(
    tmp_path: Path, builder: Any, pose: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = load_reward(write(tmp_path, "shapely_reward.py", SHAPELY_SCIPY))
    value = plugin(builder.build(pose(1.0, 0.0)))
    assert 1.0 <= value <= 2.01
    assert plugin(builder.build(pose(1.0, 3.0))) < 0.01  # far off the road
    assert capsys.readouterr().err == ""  # DeepRacer allows every import in it: no warning


def test_shapely_and_scipy_reward_runs_in_rewards_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "shapely_reward.py", SHAPELY_SCIPY)
    report = check_reward_isolated(load_reward(path), load_track("oval"), runs=2, steps=4)
    assert report.ok
    code, out, err = run_cli(["rewards", "check", str(path), "--runs", "2"], capsys)
    assert code == 0, err
    assert "shapely_reward.py" in out and "warning" not in err


@pytest.mark.slow  # two forkserver workers import torch and the simulator: ~30 s here
def test_shapely_and_scipy_reward_runs_in_training_workers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Two subprocess workers, built as training builds them, step the shapely reward; its one
    foreign import is said once, by the learner, not again by each worker."""
    from racer.train.config import config_from_dict
    from racer.train.pipeline import build_vec_env

    path = write(tmp_path, "shapely_reward.py", "import os\n" + SHAPELY_SCIPY)
    cfg = config_from_dict(
        {
            "agent": {"name": "imports"},
            "env": {"tracks": ["oval"], "observation": "state", "reward": str(path)},
            "algorithm": {"net_arch": [16]},
            "budget": {"steps": 64, "envs": 2, "seed": 1},
        },
        source="test",
        base_dir=str(tmp_path),
    )
    load_reward(path)  # as the learner's preflight does
    venv = build_vec_env(cfg, 2)
    try:
        venv.reset()
        rewards = []
        for _ in range(10):
            actions = np.array([venv.action_space.sample() for _ in range(2)])
            _, reward, _, infos = venv.step(actions)
            assert not any("fatal_error" in info for info in infos), infos
            rewards.append(reward)
    finally:
        venv.close()
    assert np.all(np.isfinite(rewards)) and np.max(rewards) >= 1.0
    warnings = [x for x in capfd.readouterr().err.splitlines() if "racer: warning:" in x]
    assert len(warnings) == 1 and "imports os (line 1)" in warnings[0], warnings


def test_a_foreign_import_warns_once_in_one_line_and_runs(
    tmp_path: Path, builder: Any, pose: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "foreign.py", FOREIGN)
    plugin = load_reward(path)
    assert plugin(builder.build(pose(1.0, 0.0))) == 1.0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"racer: warning: {path}:3: imports ")
    assert "os (line 3)" in line and "collections (line 4)" in line and "json (line 8)" in line
    assert "math" not in line.split("(only")[0] and "DeepRacer" in line
    load_reward(path)  # again, and through pickling (what the workers get): nothing more
    import pickle

    pickle.loads(pickle.dumps(plugin))
    assert capsys.readouterr().err == ""


def test_a_foreign_import_warns_once_in_rewards_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "uses_subprocess.py", "import subprocess\n" + FOREIGN)
    code, _, err = run_cli(["rewards", "check", str(path), "--runs", "1"], capsys)
    lines = err.strip().splitlines()
    assert code == 0 and len(lines) == 1, err
    assert "imports subprocess (line 1), os (line 4)" in lines[0]


def test_a_missing_foreign_module_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "missing.py", "import no_such_module_here\n" + FOREIGN)
    code, _, err = run_cli(["rewards", "check", str(path)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("racer: error: ") and len(lines) == 2, err
    assert "ModuleNotFoundError" in lines[-1] and f"{path}:1" in lines[-1]


PASTED = [
    ("\u200b", "invisible character U+200B (ZERO WIDTH SPACE); delete it"),
    ("\ufeff", "invisible character U+FEFF (ZERO WIDTH NO-BREAK SPACE); delete it"),
    ("\u00a0", "non-breaking space U+00A0 (NO-BREAK SPACE); replace it with a plain space"),
]


@pytest.mark.parametrize(("char", "needle"), PASTED, ids=["zwsp", "bom", "nbsp"])
def test_a_pasted_character_is_one_line_with_line_and_column(
    char: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "import math\n\n\ndef reward_function(params):\n"
        f"    speed = params['speed']{char}\n    return float(speed)\n"
    )
    path = write(tmp_path, "my_reward.py", text)
    line = assert_refused(["rewards", "check", str(path)], capsys, f"{path}:5:28: {needle}")
    assert line.endswith("(often pasted from a web page)")


def test_smart_quotes_and_a_leading_bom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quoted = write(
        tmp_path,
        "quoted.py",
        "def reward_function(params):\n    return params[\u201cspeed\u201d]\n",
    )
    assert_refused(
        ["rewards", "check", str(quoted)],
        capsys,
        f"{quoted}:2:19: typographic quote U+201C (LEFT DOUBLE QUOTATION MARK)",
    )
    # A byte-order mark at the very start is how some editors save UTF-8: it is fine there.
    bom = write(tmp_path, "bom.py", "\ufeffdef reward_function(params):\n    return 1.0\n")
    assert load_reward(bom)({"steps": 1}) == 1.0
    # In a string a zero-width space is data, not code: the file loads.
    in_string = write(
        tmp_path, "in_string.py", "def reward_function(params):\n    return len('a\u200b')\n"
    )
    assert load_reward(in_string)({}) == 2.0
    # Any other syntax error keeps its own message.
    broken = write(tmp_path, "broken.py", "def reward_function(params)\n    return 1.0\n")
    assert_refused(["rewards", "check", str(broken)], capsys, f"{broken}:1: syntax error")
