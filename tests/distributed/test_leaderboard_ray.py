"""``racer leaderboard run --ray``: Ray tasks, one writer, the local path's rows and ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from distributed_testlib import bundle_folder

from racer.distributed.leaderboard import pack_for_worker, run_directory_ray, unpack_in_worker
from racer.evaluate import RaceConfig
from racer.evaluate import leaderboard as lb
from racer.evaluate.sandbox import Limits

FAST = RaceConfig(trials=1, laps=3, time_limit_per_lap_s=2.0)  # 90 steps per bundle


def board(db: Path) -> list[tuple[Any, ...]]:
    """Every board's standings, without what differs between two runs (row ids, times)."""
    out = []
    for b in lb.track_boards(db):
        for s in b.standings:
            e = s.entry
            out.append(
                (
                    b.label,
                    b.race,
                    s.rank,
                    e.name,
                    e.model,
                    e.bundle_sha256,
                    e.complete,
                    e.average_lap_s,
                    e.completion_percentage,
                    e.off_track_count,
                    tuple(e.lap_times_s),
                    tuple(e.best_lap_line),
                    e.track_sha256,
                )
            )
    return out


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = bundle_folder(tmp_path_factory.mktemp("lb"), 4)
    broken = folder / "b1" / "metadata.json"  # a tampered bundle: refused, no row, either way
    broken.write_text(broken.read_text().replace('"control_hz": 15', '"control_hz": 16'))
    return folder


@pytest.fixture(scope="module")
def local_run(entries: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """The folder evaluated and recorded by the local path (worker processes)."""
    db = tmp_path_factory.mktemp("local") / "local.db"
    outcomes = lb.run_directory(entries, "oval", db=db, workers=2, config=FAST, progress=False)
    return db, outcomes


def test_ray_and_local_runs_give_equal_boards(
    tmp_path: Path, entries: Path, local_run: tuple[Path, list[Any]], ray_local: Any
) -> None:
    local_db, local = local_run
    on_ray = run_directory_ray(entries, "oval", db=tmp_path / "ray.db", config=FAST, progress=False)
    assert (
        [o.path.name for o in on_ray]
        == [o.path.name for o in local]
        == [
            "b0",
            "b1",
            "b2.tar.gz",
            "b3",
        ]
    )
    assert [o.ok for o in on_ray] == [o.ok for o in local] == [True, False, True, True]
    assert on_ray[1].message == local[1].message  # the bundle's own one-line refusal
    assert len(lb.entries(tmp_path / "ray.db")) == 3
    assert board(tmp_path / "ray.db") == board(local_db)
    assert lb.integrity_check(tmp_path / "ray.db") == "ok"


def test_sandboxed_evaluations_on_ray_record_the_same_rows(
    tmp_path: Path, entries: Path, local_run: tuple[Path, list[Any]], ray_local: Any
) -> None:
    """With limits (what the CLI always passes) each worker runs its bundle in the sandbox."""
    import shutil

    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("b0", "b1"):
        shutil.copytree(entries / name, folder / name)
    db = tmp_path / "ray.db"
    out = run_directory_ray(
        folder, "oval", db=db, config=FAST, progress=False, limits=Limits(time_s=120.0)
    )
    assert [o.ok for o in out] == [True, False]
    assert "control_hz" in out[1].message or "checksum" in out[1].message
    rows = [r[3:] for r in board(db)]
    assert rows == [r[3:] for r in board(local_run[0]) if r[3] == "b0"]


def test_a_bundle_travels_to_its_worker_whole(tmp_path: Path, entries: Path) -> None:
    for name in ("b0", "b2.tar.gz"):
        src = entries / name
        back = unpack_in_worker(name, pack_for_worker(src), src.is_dir(), tmp_path)
        assert back.name == name
        if src.is_dir():
            files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
            assert files == sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file())
            assert all((src / f).read_bytes() == (back / f).read_bytes() for f in files)
        else:
            assert back.read_bytes() == src.read_bytes()


def test_a_link_in_a_bundle_folder_is_not_sent(tmp_path: Path, entries: Path) -> None:
    import shutil

    src = Path(shutil.copytree(entries / "b0", tmp_path / "linked"))
    (src / "secret").symlink_to("/etc/passwd")
    back = unpack_in_worker("linked", pack_for_worker(src), True, tmp_path / "out")
    assert not (back / "secret").exists()
