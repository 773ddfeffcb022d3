"""The head-to-head bracket: the draw, seeding, a deterministic 4-bundle bracket, saving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from evaluate_testlib import build_bundle

from racer.errors import ConfigError
from racer.evaluate.leaderboard import Entry, record
from racer.evaluate.leaderboard.bracket import (
    bracket_order,
    brackets_path,
    load_brackets,
    run_bracket,
    save_bracket,
    seed_entrants,
)
from racer.evaluate.races import RaceConfig

#: Each bundle always picks one action of the test list: hard right, right, straight, left.
PREFERRED = {"hard-right": 0, "right": 1, "straight": 2, "left": 3}
SHORT = RaceConfig(race="head-to-head", laps=1, time_limit_per_lap_s=12.0)


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 4 real camera bundles, each always picking one action."""
    root = tmp_path_factory.mktemp("bracket")
    for name, k in PREFERRED.items():
        build_bundle(root / name, "discrete", preferred=k)
    return root


def _decided(data: dict[str, object]) -> dict[str, object]:
    out = dict(data)
    out.pop("created_utc")
    out.pop("wall_s")
    return out


def test_bracket_order_is_the_standard_draw() -> None:
    assert bracket_order(2) == [1, 2]
    assert bracket_order(4) == [1, 4, 2, 3]
    assert bracket_order(8) == [1, 8, 4, 5, 2, 7, 3, 6]
    for size in (2, 4, 8, 16):
        order = bracket_order(size)
        assert sorted(order) == list(range(1, size + 1))
        assert all(order[k] + order[k + 1] == size + 1 for k in range(0, size, 2))
        assert order.index(2) >= size // 2  # seeds 1 and 2 meet in the final only
    with pytest.raises(ValueError):
        bracket_order(6)


def test_seeding_by_name_then_by_the_time_trial_board(four: Path, tmp_path: Path) -> None:
    paths = sorted(four.iterdir())
    by_name = seed_entrants(paths, "oval")
    assert [e.name for e in by_name] == ["hard-right", "left", "right", "straight"]
    assert {e.seeded_by for e in by_name} == {"name"}
    db = tmp_path / "league.db"
    for model, lap in (("straight", 9.0), ("right", 12.0)):
        record(
            db,
            Entry(
                track="oval",
                race="time-trial",
                name=f"racer-{model}",
                model=model,
                bundle_sha256="0" * 64,
                complete=True,
                average_lap_s=lap,
                best_lap_s=lap,
                completion_percentage=100.0,
                elapsed_time_in_milliseconds=int(lap * 3000),
                episode_status="lap_complete",
                off_track_count=0,
                crash_count=0,
                reset_count=0,
                lap_times_s=[lap] * 3,
            ),
        )
    seeded = seed_entrants(paths, "oval", db)
    assert [e.name for e in seeded] == ["straight", "right", "hard-right", "left"]
    assert [e.seeded_by for e in seeded] == ["leaderboard #1", "leaderboard #2", "name", "name"]


def test_a_bracket_of_four_bundles_is_deterministic_for_a_seed(four: Path, tmp_path: Path) -> None:
    decided = []
    first = run_bracket(four, "oval", SHORT, on_match=decided.append)
    assert [len(r) for r in first.rounds] == [2, 1]
    assert [m.number for m in decided] == [1, 2, 3]
    final = first.rounds[1][0]
    assert {final.a, final.b} == {first.rounds[0][0].winner, first.rounds[0][1].winner}
    assert first.champion == final.winner
    for m in decided:
        assert not m.bye and len(m.cars) == 2 and m.winner in (m.a, m.b)
        assert m.pole in (m.a, m.b)
        a, b = m.cars
        assert (a["name"], b["name"]) == (m.a, m.b)
        assert {a["place"], b["place"]} == {1, 2}
        assert (a if a["place"] == 1 else b)["name"] == m.winner
    again = run_bracket(four, "oval", SHORT)
    assert _decided(again.to_dict()) == _decided(first.to_dict())


def test_byes_go_to_the_top_seeds(four: Path, tmp_path: Path) -> None:
    three = tmp_path / "three"
    three.mkdir()
    for name in ("left", "right", "straight"):
        shutil.copytree(four / name, three / name)
    out = run_bracket(three, "oval", SHORT)
    first = out.rounds[0]
    assert [m.bye for m in first] == [True, False]
    assert (first[0].a, first[0].b, first[0].winner) == ("left", None, "left")  # seed 1
    assert first[0].cars == []
    assert out.rounds[1][0].a == "left"


def test_saved_beside_the_leaderboard_one_per_track(four: Path, tmp_path: Path) -> None:
    db = tmp_path / "league.db"
    assert load_brackets(db) == []
    two = tmp_path / "two"
    two.mkdir()
    for name in ("left", "straight"):
        shutil.copytree(four / name, two / name)
    out = run_bracket(two, "oval", SHORT)
    path = save_bracket(db, out)
    assert path == brackets_path(db) == tmp_path / "league.brackets.json"
    assert json.loads(path.read_text())["brackets"][0]["champion"] == out.champion
    save_bracket(db, out)  # the same track again: replaced, not added
    assert len(load_brackets(db)) == 1
    assert not list(tmp_path.glob("*.tmp*"))


def test_fewer_than_two_bundles_is_an_error(four: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    shutil.copytree(four / "left", one / "left")
    with pytest.raises(ConfigError, match="needs 2 bundles or more, found 1"):
        run_bracket(one, "oval", SHORT)
