"""DeepRacer model archives in the evaluator and the leaderboard: loaded as policies, evaluated,
submitted in-process and sandboxed; and the round trip racer run -> DeepRacer archive -> racer."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from testlib.deepracer_models import DISCRETE_ACTIONS, Weights, build_archive, write_archive

from racer.errors import BundleError
from racer.evaluate import RaceConfig, evaluate
from racer.evaluate.leaderboard import entries, find_bundles, submit
from racer.evaluate.policies import BundlePolicy, close_policy, load_policy
from racer.evaluate.sandbox import Limits

pytest.importorskip("openvino")
pytest.importorskip("tensorboard")

FAST = RaceConfig(trials=1, laps=1, time_limit_per_lap_s=2.0)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A discrete DeepRacer-style archive (random weights)."""
    w = Weights.random(1, len(DISCRETE_ACTIONS), seed=11)
    return build_archive(tmp_path_factory.mktemp("dr-eval") / "console_model.tar.gz", weights=w)


def test_load_policy_takes_a_deepracer_archive(archive: Path) -> None:
    policy = load_policy(archive)
    try:
        assert isinstance(policy, BundlePolicy)
        assert policy.name == "console_model" and policy.observation == "camera"
        assert policy.backend.name == "openvino"
        assert policy.action_space is not None
        assert policy.action_space["action_space_type"] == "discrete"
        result = evaluate(policy, "oval", FAST)
    finally:
        close_policy(policy)
    trial = result.trials[0]
    assert trial.metrics()["elapsed_time_in_milliseconds"] > 0
    assert result.model == "console_model"


def test_load_policy_takes_an_unpacked_deepracer_folder(archive: Path, tmp_path: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    policy = load_policy(tmp_path / "unpacked")
    close_policy(policy)
    assert isinstance(policy, BundlePolicy)


def test_a_bad_archive_is_one_line(tmp_path: Path) -> None:
    bad = write_archive(tmp_path / "bad.tar.gz", [("agent/model.pb", b"x")])
    with pytest.raises(BundleError, match=r"^bad.tar.gz: no model_metadata.json"):
        load_policy(bad)


def test_submit_records_a_deepracer_model(archive: Path, tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    out = submit(archive, "oval", "dora", db=db, config=FAST)
    assert out.entry.model == "console_model" and len(out.entry.bundle_sha256) == 64
    limited = submit(archive, "oval", "dora", db=db, config=FAST, limits=Limits(time_s=120))
    assert limited.entry.bundle_sha256 == out.entry.bundle_sha256  # the same identity
    assert limited.entry.lap_times_s == out.entry.lap_times_s  # and the same drive
    assert len(entries(db)) == 2


def test_sandboxed_submit_refuses_a_bad_archive(tmp_path: Path) -> None:
    db = tmp_path / "lb.db"
    two = build_archive(tmp_path / "two.tar.gz")
    with tarfile.open(two) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    write_archive(two, [*members, ("agent/model_copy.pb", members[1][1])])
    with pytest.raises(BundleError, match="2 files count as a model"):
        submit(two, "oval", "eve", db=db, config=FAST, limits=Limits(time_s=120))
    assert not db.exists() or entries(db) == []


def test_find_bundles_lists_deepracer_models(archive: Path, tmp_path: Path) -> None:
    folder = tmp_path / "entries"
    folder.mkdir()
    shutil.copy(archive, folder / "a.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "b", filter="data")
    (folder / "notes").mkdir()
    assert [p.name for p in find_bundles(folder)] == ["a.tar.gz", "b"]


# --- the round trip: a racer camera run as a DeepRacer archive drives as its ONNX bundle -----


def _drive(model_path: Path, episodes: int) -> list[tuple[list[object], np.ndarray]]:
    """Drive ``model_path`` closed loop on oval, ``episodes`` episodes from spread starts:
    each episode's (actions, trajectory)."""
    from racer.car.actuators import parse_actuator
    from racer.car.deepracer import default_backend, load_model
    from racer.car.runtime import Driver
    from racer.env.sim_source import SimSource

    with load_model(model_path) as model:
        src = SimSource.from_metadata("oval", model.metadata, episodes=episodes, max_steps=150)
        Driver(model, default_backend(model), src, parse_actuator("null"), realtime=False).run()
        return [(list(r.actions), np.asarray(r.trajectory)) for r in src.records]


def _evaluation(model_path: Path) -> dict[str, object]:
    """The evaluator's figures for ``model_path``: one 10 s trial on oval, with put-backs."""
    policy = load_policy(model_path)
    try:
        result = evaluate(policy, "oval", RaceConfig(trials=1, time_limit_per_lap_s=10.0))
    finally:
        close_policy(policy)
    return result.trials[0].metrics()


@pytest.mark.slow
def test_round_trip_deepracer_export_drives_the_same_lap(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The issue's acceptance test: a camera run exported to ONNX and with --deepracer; the
    imported DeepRacer archive takes the same actions on the same frames as the bundle, and
    the evaluator scores the same drive."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
    from export_testlib import TEST_SAMPLES, trained_run

    from racer.export.exporter import export_run

    run = trained_run(tmp_path_factory, "camera")
    out = tmp_path_factory.mktemp("roundtrip") / "bundle"
    res = export_run(run, out, samples=TEST_SAMPLES, deepracer=True)
    assert res.deepracer is not None
    archive = Path(res.deepracer.archive)
    bundle_eps = _drive(res.bundle_dir, 6)
    dr_eps = _drive(archive, 6)
    assert len(dr_eps) == len(bundle_eps) == 6 and sum(len(a) for a, _ in bundle_eps) > 30
    for (dr_actions, dr_path), (b_actions, b_path) in zip(dr_eps, bundle_eps, strict=True):
        assert dr_actions == b_actions
        np.testing.assert_array_equal(dr_path, b_path)
    assert _evaluation(archive) == _evaluation(res.bundle_dir)
