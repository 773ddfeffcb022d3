"""``racer sweep``'s grid, plan and book, and the CLI's refusals: no Ray needed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from distributed_testlib import tiny_agent
from testlib.cli import assert_refused

from racer.distributed.sweep import (
    COMPLETE_SCORE,
    Trial,
    base_recipe,
    check_key,
    open_book,
    parse_grid,
    plan_trials,
    race_key,
    training_score,
)
from racer.errors import ConfigError


def test_grid_values_are_read_as_agent_toml_reads_them() -> None:
    grid = parse_grid(
        [
            "hyperparameters.learning_rate=1e-3,3e-4",
            "env.reward=progress,centerline",
            "algorithm.net_arch=[16],[32,32]",
            "hyperparameters.n_epochs=2,4",
            "hyperparameters.normalize_observations=true,false",
        ]
    )
    assert grid == {
        "hyperparameters.learning_rate": [1e-3, 3e-4],
        "env.reward": ["progress", "centerline"],
        "algorithm.net_arch": [[16], [32, 32]],
        "hyperparameters.n_epochs": [2, 4],
        "hyperparameters.normalize_observations": [True, False],
    }
    assert parse_grid(["hyperparameters.gamma=1"]) == {"hyperparameters.gamma": [1.0]}


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("ppo.learning_rate=1e-3", "did you mean 'hyperparameters.learning_rate'"),
        ("reward.function=a,b", "unknown key 'reward.function'"),
        ("learning_rate", "write KEY=V1,V2"),
        ("hyperparameters.learning_rate=2.0", "in (0, 1]"),
        ("hyperparameters.n_epochs=2.5", "an integer"),
        ("hyperparameters.n_epochs=2,,3", "an empty value"),
        ("hyperparameters.n_epochs=2,2", "listed twice"),
        ("env.observation=camra", "did you mean 'camera'"),
    ],
)
def test_a_bad_grid_is_one_line(item: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_grid([item])
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_the_plan_repeats_each_point_with_its_own_seed(tmp_path: Path) -> None:
    base = base_recipe(tiny_agent(tmp_path / "a"), steps=512)
    trials = plan_trials(base, parse_grid(["hyperparameters.learning_rate=1e-3,3e-4"]), samples=2)
    assert [t.params for t in trials] == [
        {"hyperparameters.learning_rate": 1e-3, "budget.seed": 0},
        {"hyperparameters.learning_rate": 1e-3, "budget.seed": 1},
        {"hyperparameters.learning_rate": 3e-4, "budget.seed": 0},
        {"hyperparameters.learning_rate": 3e-4, "budget.seed": 1},
    ]
    assert len({t.name for t in trials}) == 4
    assert all(t.recipe["budget"]["steps"] == 512 for t in trials)
    assert trials[3].recipe["hyperparameters"]["learning_rate"] == 3e-4
    # a seed in the grid is the seed: no repeats
    seeded = plan_trials(base, parse_grid(["budget.seed=5,6"]), samples=3)
    assert [t.params["budget.seed"] for t in seeded] == [5, 6]


def test_a_combination_the_trainer_refuses_stops_the_plan(tmp_path: Path) -> None:
    base = base_recipe(tiny_agent(tmp_path / "a"))
    with pytest.raises(ConfigError, match="batch_size = 4096 is larger than a rollout"):
        plan_trials(base, parse_grid(["hyperparameters.batch_size=64,4096"]))


def test_keys_are_the_recipes() -> None:
    assert check_key("budget.steps") == "budget.steps"
    with pytest.raises(ConfigError, match="did you mean 'env.tracks'"):
        check_key("track.tracks")


def test_the_training_score_orders_like_the_training_evaluation() -> None:
    assert training_score(0, 3, 10.0, float("nan")) < training_score(1, 3, 5.0, float("nan"))
    assert training_score(2, 3, 99.0, 12.0) < COMPLETE_SCORE < training_score(3, 3, 100.0, 20.0)
    assert training_score(3, 3, 100.0, 20.0) < training_score(3, 3, 100.0, 10.0)


def test_final_ranking_is_the_leaderboards_rule() -> None:
    fast = {
        "complete": True,
        "average_lap_s": 10.0,
        "completion_percentage": 100.0,
        "off_track_count": 3,
    }
    slow = {**fast, "average_lap_s": 11.0, "off_track_count": 0}
    far = {
        "complete": False,
        "average_lap_s": None,
        "completion_percentage": 80.0,
        "off_track_count": 0,
    }
    near = {**far, "completion_percentage": 20.0}
    races = [near, {"error": "no model"}, slow, far, fast, None]
    assert sorted(races, key=race_key) == [fast, slow, far, near, {"error": "no model"}, None]


def test_a_folder_of_another_sweep_is_refused(tmp_path: Path) -> None:
    trials = [Trial("t000", {"budget.seed": 0}, {"budget": {"seed": 0}})]
    book = open_book(tmp_path / "s", {"grid": {"a": [1]}}, trials)
    assert json.loads(book.path.read_text())["trials"]["t000"]["status"] == "pending"
    assert open_book(tmp_path / "s", {"grid": {"a": [1]}}, trials).data == book.data
    with pytest.raises(ConfigError, match="holds a different sweep \\(grid differ\\)"):
        open_book(tmp_path / "s", {"grid": {"a": [2]}}, trials)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not an empty folder"):
        open_book(tmp_path / "other", {}, trials)


def test_cli_refuses_a_bad_grid_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = str(tiny_agent(tmp_path / "a"))
    out = tmp_path / "sweep"
    assert_refused(
        ["sweep", agent, "--grid", "ppo.learning_rate=1e-3", "--out", str(out)],
        capsys,
        "unknown key 'ppo.learning_rate'",
        "did you mean 'hyperparameters.learning_rate'",
    )
    assert_refused(["sweep", agent, "--out", str(out)], capsys, "--grid")
    assert_refused(
        ["sweep", agent, "-g", "budget.seed=1,2", "--ray", "nowhere", "--out", str(out)],
        capsys,
        "not a Ray address",
    )
    assert not out.exists()


BLOCK_RAY = textwrap.dedent(
    """
    import sys

    class NoRay:
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ModuleNotFoundError("No module named 'ray'")
            return None

    sys.meta_path.insert(0, NoRay())
    from racer.cli.main import main
    main(sys.argv[1:])
    """
)


def test_without_ray_installed_each_ray_command_is_one_line(tmp_path: Path) -> None:
    agent = str(tiny_agent(tmp_path / "a"))
    (tmp_path / "bundles" / "x").mkdir(parents=True)
    (tmp_path / "bundles" / "x" / "metadata.json").write_text("{}")
    for args in (
        ["sweep", agent, "-g", "budget.seed=1,2", "--out", str(tmp_path / "s")],
        ["leaderboard", "run", str(tmp_path / "bundles"), "-t", "oval", "--ray", "auto"],
    ):
        done = subprocess.run(
            [sys.executable, "-c", BLOCK_RAY, *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            "racer: error: --ray needs Ray, which is not installed: pip install 'racer[ray]'"
        ]
    assert not (tmp_path / "s").exists()


NO_RAY_IMPORTED = textwrap.dedent(
    """
    import shutil, sys
    from pathlib import Path
    from testlib.bundles import H, W, build_bundle

    import racer.cli.main  # every command registered
    from racer.evaluate import RaceConfig
    from racer.evaluate import leaderboard as lb

    root = Path(sys.argv[1])
    build_bundle(root / "entries" / "b0", "discrete", 2, frame_shape=(H, W))
    cfg = RaceConfig(trials=1, laps=1, time_limit_per_lap_s=1.0)
    out = lb.run_directory(root / "entries", "oval", db=root / "lb.db", config=cfg, progress=False)
    assert out[0].ok, out[0].message
    print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
    """
)


def test_the_local_paths_never_import_ray(tmp_path: Path) -> None:
    tests = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", NO_RAY_IMPORTED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": tests},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
