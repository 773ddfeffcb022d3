"""Hostile leaderboard submissions and a locked database (#12 items 4, 5 and 13).

Untrusted bundles are evaluated in a child process (:mod:`racer.evaluate.sandbox`) with a
wall-clock and a memory limit: a real tiny ONNX ``Loop`` of 10^15 iterations and a graph that
allocates gigabytes are built here with ``onnx.helper`` and refused in one line under tight
limits, with nothing recorded and no temporary folder left. A sandboxed submission records
exactly the row an in-process one records. A database held locked by another connection makes
``record`` wait a bounded time, saying so once, then refuse in one line.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from testlib.bundles import build_bundle
from testlib.cli import run_cli as racer

from racer.car import bundle as bmod
from racer.errors import ConfigError
from racer.evaluate import leaderboard as lb
from racer.evaluate import sandbox
from racer.evaluate.races import RaceConfig
from racer.evaluate.sandbox import Limits, SandboxError, run_limited

FAST = RaceConfig(trials=1, laps=1, time_limit_per_lap_s=1.0)  # 15 steps per submission
GiB = 2**30


@pytest.fixture(scope="module")
def _built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("lb-hostile") / "good", "discrete", samples=1)


@pytest.fixture
def good(_built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(_built, tmp_path / "good"))


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this process (and so of its sandboxes), to check for leftovers."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def rechecksum(folder: Path) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta["files"] = bmod.compute_checksums(folder)
    (folder / "metadata.json").write_text(json.dumps(meta))


def swap_policy(folder: Path, nodes: list[Any], inits: list[Any]) -> Path:
    """Replace policy.onnx by a graph obs (1, 1, 120, 160) -> action (1, 5) of these nodes."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, 120, 160])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (folder / "policy.onnx").write_bytes(model.SerializeToString())
    rechecksum(folder)
    return folder


def loop_bomb(folder: Path) -> Path:
    """A ``Loop`` with a trip count of 10^15 whose body adds 1 to the frame's sum."""
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one")],
    )
    return swap_policy(
        folder,
        [
            helper.make_node("ReduceSum", ["obs"], ["s"], keepdims=0),
            helper.make_node("Loop", ["trips", "go", "s"], ["v"], body=body),
            helper.make_node("Mul", ["v", "zeros"], ["y"]),
            helper.make_node("Add", ["y", "bias"], ["action"]),
        ],
        [
            numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "go"),
            numpy_helper.from_array(np.zeros((1, 5), np.float32), "zeros"),
            numpy_helper.from_array(np.zeros((1, 5), np.float32), "bias"),
        ],
    )


def memory_bomb(folder: Path) -> Path:
    """A graph that allocates ~2 GiB sized by the frame's brightest pixel (cannot be folded)."""
    from onnx import TensorProto, helper, numpy_helper

    return swap_policy(
        folder,
        [
            helper.make_node("ReduceMax", ["obs"], ["m"], keepdims=1),  # (1, 1, 1, 1), ~255
            helper.make_node("Cast", ["m"], ["mi"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["mi", "one_d"], ["n1"]),
            helper.make_node("Mul", ["n1", "scale"], ["n"]),  # ~255 * 2^21 floats: ~2 GiB
            helper.make_node("ConstantOfShape", ["n"], ["big"]),
            helper.make_node("ReduceSum", ["big"], ["t"], keepdims=0),
            helper.make_node("Mul", ["t", "zeros"], ["action"]),
        ],
        [
            numpy_helper.from_array(np.array([1], np.int64), "one_d"),
            numpy_helper.from_array(np.array([2**21], np.int64), "scale"),
            numpy_helper.from_array(np.zeros((1, 5), np.float32), "zeros"),
        ],
    )


def count_rows(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])


# --- item 4: time and memory limits ----------------------------------------------------------


def test_loop_bomb_submit_is_stopped_at_the_time_limit(
    good: Path, tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "lb.db"
    bomb = loop_bomb(good)
    t0 = time.monotonic()
    code, _, err = racer(
        ["leaderboard", "submit", str(bomb), "-t", "oval", "-n", "eve", "--db", str(db)]
        + ["--time-limit", "2.5"],
        capsys,
    )
    wall = time.monotonic() - t0
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "2.5 s time limit" in lines[0] and "nothing recorded" in lines[0]
    assert wall < 2.5 + sandbox.KILL_WAIT_S
    assert count_rows(db) == 0
    assert not list(scratch.iterdir())  # the child's unpack folder went with it


def test_memory_bomb_is_refused_under_the_memory_limit(
    good: Path, tmp_path: Path, scratch: Path
) -> None:
    db = tmp_path / "lb.db"
    with pytest.raises(SandboxError) as info:
        lb.submit(
            memory_bomb(good), "oval", "eve", db=db, config=FAST,
            limits=Limits(time_s=60, memory_bytes=GiB),
        )  # fmt: skip
    msg = str(info.value)
    assert "\n" not in msg and "1 GiB memory limit" in msg and "allocate" in msg, msg
    assert count_rows(db) == 0
    assert not list(scratch.iterdir())


def test_sandbox_memory_limit_and_crash(scratch: Path) -> None:
    with pytest.raises(SandboxError, match=r"1 GiB memory limit .*MemoryError"):
        run_limited(
            "numpy:ones", {"shape": [2**31], "dtype": "float64"},
            time_limit_s=60, memory_bytes=GiB, label="bomb",
        )  # fmt: skip
    with pytest.raises(SandboxError, match="died .*SIGABRT"):
        run_limited("os:abort", {}, time_limit_s=60, memory_bytes=GiB, label="crash")
    assert not list(scratch.iterdir())


def test_sandboxed_submission_records_the_in_process_row(good: Path, tmp_path: Path) -> None:
    """``run`` with limits (each bundle in its own child, recorded here) vs ``submit`` in-process."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    lb.submit(good, "oval", "good", db=a, config=FAST)
    (out,) = lb.run_directory(
        good.parent, "oval", db=b, config=FAST, progress=False, limits=Limits(time_s=60)
    )
    assert out.ok, out.message

    def row(db: Path) -> dict[str, Any]:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            (r,) = [dict(x) for x in conn.execute("SELECT * FROM submissions")]
        r.pop("submitted_utc")
        result = json.loads(r.pop("result_json"))
        result["summary"].pop("realtime_factor")  # wall-clock speed, differs run to run
        r["result"] = result
        return r

    assert row(a) == row(b)


def test_default_time_limit_comes_from_the_race() -> None:
    official = lb.official_config()
    assert sandbox.default_time_limit_s(
        official.trials, official.laps, official.time_limit_per_lap_s
    ) == pytest.approx(3 * 180 + sandbox.STARTUP_MARGIN_S)
    assert sandbox.parse_memory("4G") == 4 * GiB and sandbox.parse_memory("512MiB") == 2**29
    for bad in ("lots", "-1G", "4X"):
        with pytest.raises(SandboxError):
            sandbox.parse_memory(bad)
    with pytest.raises(SandboxError, match="at least"):
        Limits(memory_bytes=2**20)


def test_cli_limits_options_are_checked(good: Path, tmp_path: Path, capsys: Any) -> None:
    db = str(tmp_path / "lb.db")
    code, _, err = racer(
        ["leaderboard", "submit", str(good), "-t", "oval", "-n", "x", "--db", db]
        + ["--memory-limit", "lots"],
        capsys,
    )
    assert code == 2 and "memory limit 'lots'" in err and len(err.strip().splitlines()) == 1


# --- item 5: an empty golden set -------------------------------------------------------------


def test_empty_golden_set_submit_and_run(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """K = 0 golden samples: one line from submit, one skipped line from run, no row."""
    (good / "golden.npz").unlink()
    np.savez(
        good / "golden.npz",
        inputs=np.zeros((0, 1, 1, 120, 160), np.float32),
        outputs=np.zeros((0, 1, 5), np.float32),
    )
    rechecksum(good)
    db = tmp_path / "lb.db"
    code, _, err = racer(
        ["leaderboard", "submit", str(good), "-t", "oval", "-n", "x", "--db", str(db)], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no samples" in err, err
    (out,) = lb.run_directory(
        good.parent, "oval", db=db, config=FAST, progress=False, limits=Limits(time_s=60)
    )
    assert not out.ok and "no samples" in out.message and "\n" not in out.message
    assert count_rows(db) == 0


# --- item 13: a locked database --------------------------------------------------------------


def entry(name: str = "ann") -> lb.Entry:
    return lb.Entry(
        track="oval", race="time-trial", name=name, model="m", bundle_sha256="0" * 64,
        complete=True, average_lap_s=20.0, best_lap_s=19.0, completion_percentage=100.0,
        elapsed_time_in_milliseconds=60000, episode_status="lap_complete", off_track_count=0,
        crash_count=0, reset_count=0, lap_times_s=[20.0] * 3,
    )  # fmt: skip


def test_locked_database_waits_a_bounded_time_then_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, entry("first"))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        with pytest.raises(ConfigError) as info:
            lb.record(db, entry(), lock_timeout_s=0.6)
        waited = time.monotonic() - t0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert 0.6 <= waited < 3.0
    assert "\n" not in str(info.value) and "locked by another process" in str(info.value)
    assert "--lock-timeout" in str(info.value)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "waiting up to 0.6 s" in err[0]
    assert [e.name for e in lb.entries(db)] == ["first"]  # nothing written, nothing lost
    lb.record(db, entry("after"))  # and the file works once the lock is gone
    assert lb.integrity_check(db) == "ok"


def test_locked_fresh_database_at_connect(tmp_path: Path) -> None:
    """Not yet in WAL mode: even switching the journal needs the lock another process holds."""
    db = tmp_path / "lb.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ConfigError, match="locked by another process"):
            lb.entries(db, lock_timeout_s=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_cli_submit_lock_timeout(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    db = tmp_path / "lb.db"
    lb.record(db, entry("first"))
    # submit() looks it up in its own module
    monkeypatch.setattr(lb.submission, "evaluate_limited", lambda *a, **k: (entry("x"), None))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = racer(
            ["leaderboard", "submit", str(good), "-t", "oval", "-n", "x", "--db", str(db)]
            + ["--lock-timeout", "0.4"],
            capsys,
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2, err
    assert "waiting up to 0.4 s" in lines[0] and lines[1].startswith("racer: error: ")
    assert count_rows(db) == 1
