"""racer.export: bundles from tiny trained runs load, self-test and carry their parity figures."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from export_testlib import RUNS, TEST_SAMPLES, tiny_config

from racer.car.bundle import load_bundle
from racer.car.selftest import main as selftest_main
from racer.env.sim_source import SimSource, action_spec_from_bundle
from racer.errors import MissingDependencyError
from racer.export import convert, parity
from racer.export.errors import ExportError, ParityError
from racer.export.exporter import export_run
from racer.export.policy import PolicyGraph, load_trained_policy, reference_outputs
from racer.export.record import record_observations
from racer.train.pipeline import prepare_run


def _kind(bundle: Path) -> tuple[str, str, bool]:
    return RUNS[bundle.name.removeprefix("bundle-")]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_bundle_loads_and_self_tests(bundle: Path, backend: str) -> None:
    for path in (bundle, bundle.with_name(bundle.name + ".tar.gz")):
        with load_bundle(path) as b:
            report = b.self_test(backend)
        assert report.samples == 16 and report.max_abs_diff <= 1e-5
        observation, kind, _ = _kind(bundle)
        if kind == "discrete":
            assert report.argmax_agreement == 1.0
        assert report.preprocess_checked == (observation != "lidar")


def test_metadata_contract_and_parity(bundle: Path) -> None:
    observation, kind, normalize = _kind(bundle)
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["observation"] == observation
    shape = (
        [1, 64] if observation == "lidar" else [1, 2 if observation == "stereo" else 1, 120, 160]
    )
    assert meta["inputs"][0] == {
        "name": "obs",
        "shape": shape,
        "dtype": "float32",
        "range": "metres (lidar ranges)" if observation == "lidar" else "raw 0-255 frames",
    }
    assert meta["outputs"][0]["name"] == "action"
    assert meta["action_output"] == ("probabilities" if kind == "discrete" else "normalized")
    assert meta["schema_version"] == 2 and meta["action_space_type"] == kind
    assert meta["control_hz"] == 15
    prov = meta["provenance"]
    assert prov["run_id"] == f"run-{bundle.name.removeprefix('bundle-')}"
    assert prov["git_commit"] and prov["libraries"]["torch"]
    assert prov["observation_normalization"] is normalize
    engines = meta["parity"]["engines"]
    assert meta["parity"]["samples"] >= TEST_SAMPLES
    for name in ("torch_module", "onnxruntime", "openvino"):
        assert engines[name]["passed"] and engines[name]["max_abs_diff"] <= 1e-5
        assert engines[name]["action_agreement"] == (1.0 if kind == "discrete" else None)
    for name in ("onnxruntime", "openvino"):
        lat = meta["latency"]["engines"][name]
        assert 0 < lat["p50_ms"] <= lat["p99_ms"]
    if observation != "lidar":
        assert [s["op"] for s in meta["preprocessing"]] == ["color", "resize", "stack"]
        assert meta["preprocessing"][0]["weights"] == [0.299, 0.587, 0.114]
    dr = json.loads((bundle / "model_metadata.json").read_text())
    assert dr["action_space_type"] == kind
    assert dr["action_space"] == meta["action_space"]  # the same DeepRacer form in both files


def test_onnx_is_one_self_contained_file(bundle: Path) -> None:
    import onnx

    model = onnx.load(str(bundle / "policy.onnx"))  # loads external data if any: there is none
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert sorted(p.name for p in bundle.iterdir()) == [
        "golden.npz",
        "metadata.json",
        "model_metadata.json",
        "openvino",
        "policy.onnx",
    ]
    with tarfile.open(bundle.with_name(bundle.name + ".tar.gz")) as tar:
        names = sorted(m.name for m in tar.getmembers())
    assert names == sorted(
        f"{bundle.name}/{n}"
        for n in (
            "golden.npz",
            "metadata.json",
            "model_metadata.json",
            "openvino/policy.bin",
            "openvino/policy.xml",
            "policy.onnx",
        )
    )


def test_graph_matches_policy_on_fresh_simulator_frames(
    bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Frames recorded from other start points than the export's still agree (ORT vs SB3)."""
    from export_testlib import trained_run

    trained = load_trained_policy(
        trained_run(tmp_path_factory, bundle.name.removeprefix("bundle-"))
    )
    obs = record_observations(trained, 24, phase=0.37, seed=99)
    expected = reference_outputs(trained, obs)
    with load_bundle(bundle) as b:
        got = parity.run_engine(b.backend("onnxruntime"), obs.astype(np.float32))
    assert np.max(np.abs(got - expected)) <= 1e-5
    if trained.discrete:
        assert np.array_equal(got.argmax(1), expected.argmax(1))


def test_selftest_module(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest_main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "checksums ok" in out and "self-test onnxruntime" in out and "self-test openvino" in out


def test_state_policy_is_refused(tmp_path: Path) -> None:
    run = prepare_run(tiny_config("state"), tmp_path / "state-run")
    with pytest.raises(ExportError, match="'state' policy cannot run on a car"):
        export_run(run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_without_model_is_refused(tmp_path: Path) -> None:
    run = prepare_run(tiny_config("camera"), tmp_path / "empty-run")
    with pytest.raises(ExportError, match="no best_model.zip .* train it first"):
        export_run(run, tmp_path / "out")
    with pytest.raises(ExportError, match="not a run folder"):
        export_run(tmp_path, tmp_path / "out")
    with pytest.raises(ExportError, match="not found"):
        export_run(tmp_path / "nope", tmp_path / "out")


def test_failed_parity_leaves_nothing_behind(
    camera_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "metadata.json").write_text("{}")  # an older bundle: must survive
    monkeypatch.setattr(parity, "FP32_TOLERANCE", -1.0)
    with pytest.raises(ParityError, match="export parity failed on torch_module"):
        export_run(camera_run, out, samples=TEST_SAMPLES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert [p.name for p in out.iterdir()] == ["metadata.json"]


def test_int8_without_nncf_names_the_install_command(
    camera_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(convert, "nncf_available", lambda: False)
    monkeypatch.setitem(__import__("sys").modules, "nncf", None)
    with pytest.raises(MissingDependencyError, match="pip install"):
        export_run(camera_run, tmp_path / "out", int8=True)


def test_policy_graph_takes_raw_frames(camera_run: Path) -> None:
    """The graph's input is raw 0-255 frames: /255 happens inside, as SB3 does in training."""
    import torch

    trained = load_trained_policy(camera_run)
    frame = np.full((1, 1, 120, 160), 255, dtype=np.uint8)
    with torch.no_grad():
        probs = PolicyGraph(trained)(torch.as_tensor(frame, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(probs, reference_outputs(trained, frame), atol=1e-6)
    assert probs.shape == (1, len(trained.action_spec.actions))
    np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-6)


def test_sim_source_maps_physical_commands_back_exactly(bundle: Path) -> None:
    meta = json.loads((bundle / "metadata.json").read_text())
    src = SimSource.from_metadata("oval", meta, episodes=1, max_steps=5)
    try:
        frame = src.read()
        observation, kind, _ = _kind(bundle)
        assert frame is not None and frame.shape == tuple(meta["inputs"][0]["shape"][1:])
        spec = action_spec_from_bundle(meta)
        if kind == "discrete":
            for i, (steer, speed) in enumerate(spec.actions):
                assert src.env_action(steer, speed) == spec.actions.index((steer, speed)) or i
            with pytest.raises(Exception, match="not in the bundle's action list"):
                src.env_action(1.234, 0.5)
        else:
            a = src.env_action(0.0, 1.25)
            np.testing.assert_allclose(a, [0.0, 0.0], atol=1e-7)
            assert spec.to_command(src.env_action(-12.0, 1.7)) == pytest.approx((-12.0, 1.7))
        for _ in range(10):  # 5-step episodes: the source ends after one
            if src.read() is None:
                break
            src.apply(0.0, 0.0, *spec.to_command(0 if kind == "discrete" else [0.0, 0.0]))
        assert src.done and src.records[0].steps <= 5
    finally:
        src.close()
