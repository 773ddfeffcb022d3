"""`racer rewards list` and `racer rewards check`."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from racer.cli.main import main

BUILTINS = ("centerline", "progress", "waypoint_heading")


@pytest.fixture()
def track_file(tmp_path: Path) -> Path:
    """A DeepRacer-format .npy loop (radius 4 m, width 0.8 m), closed by repeating row 0."""
    theta = np.linspace(0.0, 2.0 * math.pi, 61)
    unit = np.c_[np.cos(theta), np.sin(theta)]
    path = tmp_path / "ring.npy"
    np.save(path, np.c_[4.0 * unit, 3.6 * unit, 4.4 * unit])
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("RACER_DEBUG", raising=False)


def test_list_shows_builtins_with_docs(capsys):
    code, out, _ = run(capsys, "rewards", "list")
    assert code == 0
    for name in BUILTINS:
        assert name in out
    assert "racer.rewards.builtin:centerline" in out
    assert "Follow the centre line" in out


def test_check_good_reward(capsys, track_file):
    code, out, err = run(capsys, "rewards", "check", "centerline", "--track", str(track_file))
    assert code == 0, err
    for situation in ("on_line", "near_border", "off_track", "reversed", "zigzag", "objects"):
        assert situation in out
    assert "params read: all_wheels_on_track, distance_from_center, track_width" in out
    assert "ok" in out


def test_check_file_with_failures(capsys, track_file, tmp_path):
    path = tmp_path / "offtrack_none.py"
    path.write_text(
        textwrap.dedent(
            """
            def reward_function(params):
                if params["is_offtrack"]:
                    return None
                return 1.0
            """
        ).lstrip()
    )
    code, out, _ = run(capsys, "rewards", "check", str(path), "-t", str(track_file), "--runs", "2")
    assert code == 1
    assert "failed call(s)" in out
    assert f"{path}:1" in out and "returned None" in out and "at step" in out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def reward_function(params)\n    return 1.0\n", ":1: syntax error"),
        ("x = 1\n", "no function 'reward_function'"),
    ],
)
def test_check_unloadable_is_one_line_exit_2(capsys, tmp_path, track_file, source, expected):
    path = tmp_path / "bad.py"
    path.write_text(source)
    code, out, err = run(capsys, "rewards", "check", str(path), "--track", str(track_file))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("racer: error: ")
    assert expected in err
    assert "Traceback" not in err


def test_check_unknown_name(capsys, track_file):
    code, _, err = run(capsys, "rewards", "check", "centreline", "--track", str(track_file))
    assert code == 2
    assert "did you mean 'centerline'" in err
    assert err.count("\n") == 1
