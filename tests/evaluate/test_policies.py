"""Policies: bundles through ONNX Runtime, run folders through stable-baselines3, loading errors."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from evaluate_testlib import mismatch_outputs

from racer.car.bundle import pack_bundle, write_metadata
from racer.errors import BundleError, ConfigError, RacerError
from racer.evaluate import BundlePolicy, Evaluator, RaceConfig, Sb3Policy, evaluate, load_policy
from racer.evaluate.policies import close_policy, is_bundle_path

SHORT = RaceConfig(trials=1, time_limit_per_lap_s=3.0)


def test_bundle_policy_drives_through_onnx(discrete_bundle: Path) -> None:
    policy = load_policy(discrete_bundle)
    assert isinstance(policy, BundlePolicy)
    assert policy.observation == "camera"
    assert policy.action_space["action_space_type"] == "discrete"
    frame = np.full((1, 120, 160), 90, np.uint8)
    policy.reset(None)
    assert policy.act(frame) == 2  # the fixture's preferred action
    result = evaluate(policy, "oval", SHORT)
    t = result.trials[0]
    assert t.steps == 45 and t.episode_status in ("time_up", "off_track")
    assert result.model == "straight"


def test_continuous_bundle_actions_are_normalised(continuous_bundle: Path) -> None:
    policy = load_policy(continuous_bundle)
    policy.reset(None)
    a = policy.act(np.zeros((1, 120, 160), np.uint8))
    assert a.shape == (2,) and a.dtype == np.float32
    assert a[0] == pytest.approx(0.0, abs=1e-6) and a[1] == pytest.approx(np.tanh(0.5), abs=1e-5)
    assert evaluate(policy, "oval", SHORT).trials[0].steps > 0


def test_packed_bundle_loads_and_cleans_up(discrete_bundle: Path) -> None:
    archive = pack_bundle(discrete_bundle)
    assert is_bundle_path(archive)
    policy = load_policy(archive)
    root = policy.bundle.root  # type: ignore[attr-defined]
    assert root.exists()
    close_policy(policy)
    assert not root.exists()


def test_io_mismatch_is_rejected(discrete_bundle: Path) -> None:
    mismatch_outputs(discrete_bundle)
    with pytest.raises(BundleError, match="do not match"):
        load_policy(discrete_bundle)


def test_tampered_bundle_is_rejected(discrete_bundle: Path) -> None:
    onnx = discrete_bundle / "policy.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="checksum"):
        load_policy(discrete_bundle)


def test_preprocessing_that_does_not_fit_the_simulator_is_rejected(
    discrete_bundle: Path,
) -> None:
    meta = json.loads((discrete_bundle / "metadata.json").read_text())
    # crop away half the frame: the model still expects 120x160
    meta["preprocessing"] = [{"op": "crop", "top": 0.5}, *meta["preprocessing"][:1]]
    golden = dict(np.load(discrete_bundle / "golden.npz"))
    golden.pop("frames")  # keep the self-test on the inputs only
    np.savez(discrete_bundle / "golden.npz", **golden)
    write_metadata(discrete_bundle, meta)
    policy = load_policy(discrete_bundle)
    with pytest.raises(BundleError, match="does not fit|cannot read"):
        Evaluator(policy, "oval", SHORT)


def test_missing_and_unknown_paths(tmp_path: Path) -> None:
    with pytest.raises(RacerError, match="not found"):
        load_policy(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RacerError, match="neither a run folder"):
        load_policy(tmp_path / "empty")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(BundleError):
        load_policy(bad)
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        tar.addfile(info)
    with pytest.raises(BundleError, match="unsafe"):
        load_policy(evil)


def test_run_folder_policy(run_dir: Path) -> None:
    policy = load_policy(run_dir)
    assert isinstance(policy, Sb3Policy)
    assert policy.observation == "state" and policy.tracks == ["oval"]
    result = evaluate(policy, "oval", SHORT)
    assert result.trials[0].steps > 0
    assert result.model == "tiny"


def test_run_folder_errors(tmp_path: Path, run_dir: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.toml").write_text("[env\nobservation = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(broken)
    nomodel = tmp_path / "nomodel"
    nomodel.mkdir()
    (nomodel / "config.toml").write_text((run_dir / "config.toml").read_text())
    with pytest.raises(ConfigError, match="best_model.zip"):
        load_policy(nomodel)
    (nomodel / "config.toml").write_text('[algorithm]\nname = "dqn"\n')
    with pytest.raises(ConfigError, match="algorithm.name"):
        load_policy(nomodel)
