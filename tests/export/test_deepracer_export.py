"""racer export --deepracer: the NAME.tar.gz a stock AWS DeepRacer car loads (CAR.md's contract)."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_testlib import DEEPRACER_RESULTS, RUNS, deepracer_archive, tiny_config, trained_run
from testlib.cli import assert_refused, run_cli

from racer.contract.actions import ActionSpace
from racer.export import deepracer as dr
from racer.export import parity
from racer.export.errors import ExportError
from racer.export.policy import load_trained_policy
from racer.export.record import record_observations
from racer.train.pipeline import prepare_run
from racer.train.run_folder import ObsNorm

CAR_RUNS = ["camera", "camera-continuous"]  # discrete and continuous camera runs (PPO)


def _graph_def(pb: bytes) -> Any:
    from tensorboard.compat.proto import graph_pb2

    g = graph_pb2.GraphDef()
    g.ParseFromString(pb)
    return g


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = f.read() if f is not None else b""
        return out


@pytest.fixture(scope="session", params=CAR_RUNS)
def car_export(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(name, archive, ExportResult) of each run exported with deepracer=True."""
    name = request.param
    archive = deepracer_archive(tmp_path_factory, name)
    return name, archive, DEEPRACER_RESULTS[name]


# --- the graph builder ----------------------------------------------------------------------
def test_graph_builder_docstring_example_reads_in_openvino(tmp_path: Path) -> None:
    """The builder's example: OpenVINO reads it, names and shapes survive, /255 and softmax hold."""
    rng = np.random.default_rng(0)
    b = dr.GraphBuilder()
    x = b.placeholder(dr.INPUT_NAMES["camera"], [None, 120, 160, 1])
    x = b.mul(x, np.float32(1 / 255))
    w = rng.normal(size=(8, 8, 1, 4)).astype(np.float32)
    x = b.relu(b.bias_add(b.conv2d(x, w, strides=(4, 4)), np.zeros(4, np.float32)))
    x = b.reshape(x, [-1, 29 * 39 * 4])
    dense = rng.normal(size=(29 * 39 * 4, 3)).astype(np.float32) * 0.01
    x = b.dense(x, dense, np.arange(3, dtype=np.float32))
    b.softmax(x, name=dr.OUTPUT_NAMES["ppo"])
    assert b.op_types() <= dr.SAFE_OPS
    pb = tmp_path / "model.pb"
    pb.write_bytes(b.to_bytes())
    frames = rng.integers(0, 256, (3, 120, 160, 1)).astype(np.float32)
    got = dr.run_openvino(pb, frames, input_name=dr.INPUT_NAMES["camera"])
    # the same computation in numpy
    import torch

    conv = torch.nn.functional.conv2d(
        torch.as_tensor(frames.transpose(0, 3, 1, 2) * np.float32(1 / 255)),
        torch.as_tensor(w.transpose(3, 2, 0, 1).copy()),
        stride=4,
    ).numpy()
    feat = np.maximum(conv, 0).transpose(0, 2, 3, 1).reshape(3, -1)
    logits = feat @ dense + np.arange(3)
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_graph_builder_scalars_names_and_bytes() -> None:
    b = dr.GraphBuilder()
    x = b.placeholder("in", [None, 4])
    y = b.mul(x, 2.0, name="twice")
    assert y == "twice" and b.add(y, np.ones(4, np.float32)) == "add"
    assert b.add(y, 1.0) == "add_1"  # generated names stay unique
    with pytest.raises(ValueError, match="already in the graph"):
        b.identity(x, name="twice")
    g = _graph_def(b.to_bytes())
    scalar = next(n for n in g.node if n.name == "twice/y")
    assert list(scalar.attr["value"].tensor.float_val) == [2.0]  # TF's scalar form
    assert b.to_bytes() == b.to_bytes()


# --- the archive ----------------------------------------------------------------------------
def test_archive_holds_exactly_the_two_files(car_export: Any) -> None:
    name, archive, _ = car_export
    assert archive.name == f"run-{name}.tar.gz" and archive.name.split(".")[0] == f"run-{name}"
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["model_metadata.json", "agent/model.pb"]
    assert all(m.isfile() and m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in members)


def test_model_metadata_passes_the_cars_checks(car_export: Any) -> None:
    name, archive, _ = car_export
    meta = json.loads(_members(archive)["model_metadata.json"])
    assert meta["sensor"] == ["FRONT_FACING_CAMERA"]
    assert set(meta["sensor"]) <= dr.CAR_SENSORS
    assert meta["training_algorithm"] == "clipped_ppo"
    kind = RUNS[name][1]
    assert meta["action_space_type"] == kind
    if kind == "discrete":
        assert meta["action_space"] and all(
            {"steering_angle", "speed"} <= set(a) for a in meta["action_space"]
        )
    else:
        for key in ("steering_angle", "speed"):
            assert meta["action_space"][key]["high"] > meta["action_space"][key]["low"]
    assert dr.metadata_problems(meta) == []
    trained = load_trained_policy(trained_run_path(archive, name))
    assert ActionSpace.from_model_metadata(meta) == trained.action_spec


def trained_run_path(archive: Path, name: str) -> Path:
    return archive.parent.parent / f"run-{name}"


def test_graph_names_shapes_and_ops(car_export: Any) -> None:
    name, archive, result = car_export
    g = _graph_def(_members(archive)["agent/model.pb"])
    ops = {n.op for n in g.node}
    assert ops <= dr.SAFE_OPS | {"Tanh"}  # Tanh: PPO's MLP activation, a standard TF op
    assert "Transpose" not in ops
    placeholders = [n for n in g.node if n.op == "Placeholder"]
    assert [p.name for p in placeholders] == [dr.INPUT_NAMES["camera"]]
    assert [d.size for d in placeholders[0].attr["shape"].shape.dim] == [-1, 120, 160, 1]
    assert placeholders[0].attr["dtype"].type == 1  # DT_FLOAT
    consumed = {i.split(":")[0] for n in g.node for i in n.input}
    sinks = [n for n in g.node if n.name not in consumed]
    assert [s.name for s in sinks] == [dr.OUTPUT_NAMES["ppo"]]  # the policy head only
    assert sinks[0].op == ("Softmax" if RUNS[name][1] == "discrete" else "BiasAdd")
    graph = result.deepracer.graph
    assert graph.n_outputs == (10 if RUNS[name][1] == "discrete" else 2)
    assert result.deepracer.pb_bytes == len(_members(archive)["agent/model.pb"])


def test_export_parity_figures(car_export: Any) -> None:
    """The export's own check: FP32 within 1e-5 of the torch policy, FP16 the same action."""
    _, _, result = car_export
    fp32, fp16 = result.deepracer.parity
    assert fp32.engine == "deepracer_fp32" and fp32.passed and fp32.max_abs_diff <= 1e-5
    assert fp16.engine == "deepracer_fp16" and fp16.passed
    if fp16.action_agreement is not None:
        assert fp32.action_agreement == 1.0 and fp16.action_agreement >= 0.99
    assert fp32.samples >= 200
    assert (
        "deepracer_fp32" in result.summary() and str(result.deepracer.archive) in result.summary()
    )


def test_pb_matches_the_bundles_onnx_on_golden_frames(car_export: Any, tmp_path: Path) -> None:
    """OpenVINO on the .pb (NHWC) against policy.onnx's golden outputs (NCHW), independently."""
    import onnxruntime as ort

    name, archive, result = car_export
    pb = tmp_path / "model.pb"
    pb.write_bytes(_members(archive)["agent/model.pb"])
    golden = np.load(result.bundle_dir / "golden.npz")
    inputs = golden["inputs"][:, 0]  # (16, 1, 120, 160) raw 0-255
    session = ort.InferenceSession(str(result.bundle_dir / "policy.onnx"))
    onnx_out = np.concatenate([session.run(None, {"obs": x[None]})[0] for x in inputs])
    for fp16 in (False, True):
        got = dr.run_openvino(
            pb, inputs.transpose(0, 2, 3, 1), fp16=fp16, input_name=dr.INPUT_NAMES["camera"]
        )
        if RUNS[name][1] == "discrete":
            if fp16:
                agree = np.mean(got.argmax(1) == onnx_out.argmax(1))
                assert agree >= 0.99
            else:
                assert np.max(np.abs(got - onnx_out)) <= 1e-5
                assert np.array_equal(got.argmax(1), onnx_out.argmax(1))
        else:  # the car clamps the mean; the bundle's graph clips inside
            tol = parity.FP16_TOLERANCE if fp16 else 1e-5
            assert np.max(np.abs(np.clip(got, -1, 1) - onnx_out)) <= tol


def test_two_exports_are_byte_identical(car_export: Any, tmp_path: Path) -> None:
    name, archive, _ = car_export
    trained = load_trained_policy(trained_run_path(archive, name))
    first, second = tmp_path / "a" / "m.tar.gz", tmp_path / "b" / "m.tar.gz"
    dr.write_deepracer_archive(trained, first)
    dr.write_deepracer_archive(trained, second)
    assert first.read_bytes() == second.read_bytes() == archive.read_bytes()


def test_observation_normalisation_is_mirrored(camera_run: Path) -> None:
    """A camera run with VecNormalize statistics: Add/Mul/Maximum/Minimum before the /255."""
    trained = load_trained_policy(camera_run)
    rng = np.random.default_rng(1)
    shape = trained.obs_shape
    norm = ObsNorm(
        mean=rng.uniform(50, 200, shape),
        var=rng.uniform(100, 4000, shape),
        clip=1.5,  # small: the clip is active on many pixels
        epsilon=1e-8,
    )
    normed = dataclasses.replace(trained, obs_norm=norm)
    graph = dr.policy_graph(normed)
    assert {"Maximum", "Minimum"} <= graph.ops <= dr.SAFE_OPS | dr.EXTRA_OPS
    obs = record_observations(trained, 24, phase=0.2, seed=3)
    fp32, _ = dr.check_parity(normed, graph, obs)
    assert fp32.max_abs_diff <= 1e-5, fp32.summary()


# --- refusals ---------------------------------------------------------------------------------
def test_state_run_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = prepare_run(tiny_config("state"), tmp_path / "state-run")
    assert_refused(
        ["export", str(run), "--deepracer", "--out", str(tmp_path / "b")], capsys, "state"
    )
    assert not (tmp_path / "b").exists() and not (tmp_path / "deepracer").exists()


def test_lidar_run_is_refused_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = trained_run(tmp_path_factory, "lidar")
    line = assert_refused(
        ["export", str(run), "--deepracer", "--out", str(tmp_path / "b")], capsys, "lidar-only"
    )
    assert "train with observation = 'camera' or 'stereo'" in line
    assert not any(tmp_path.iterdir())


def test_metadata_the_car_rejects_is_refused(camera_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(camera_run, run)
    meta = json.loads((run / "model_metadata.json").read_text())
    (run / "model_metadata.json").write_text(json.dumps({**meta, "training_algorithm": "dqn"}))
    with pytest.raises(ExportError, match="the car would reject model_metadata.json"):
        dr.check_car_compatible(load_trained_policy(run))
    (run / "model_metadata.json").write_text(json.dumps({**meta, "sensor": ["SPEEDOMETER"]}))
    with pytest.raises(ExportError, match="sensor"):
        dr.check_car_compatible(load_trained_policy(run))


def test_stacked_frames_are_refused(camera_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = load_trained_policy(camera_run)
    monkeypatch.setattr(type(trained), "obs_shape", property(lambda self: (4, 120, 160)))
    with pytest.raises(ExportError, match=r"stacks no frames"):
        dr.check_car_compatible(trained)


@pytest.mark.parametrize("bad", ["run.model.tar.gz", "my run.tar.gz", "run.zip", ".tar.gz"])
def test_archive_name_must_be_car_safe(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="NAME.tar.gz"):
        dr.check_archive_path(tmp_path / bad)
    assert dr.model_name("my run.v2") == "my_run_v2"


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_writes_the_car_archive(
    camera_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export" / "bundle"
    code, stdout, err = run_cli(
        ["export", str(camera_run), "--out", str(out), "--samples", "200", "--deepracer", "-q"],
        capsys,
    )
    assert code == 0, err
    archive = tmp_path / "export" / "deepracer" / f"{camera_run.name}.tar.gz"
    assert archive.is_file() and str(archive) in stdout
    assert "parity deepracer_fp32" in stdout and "parity deepracer_fp16" in stdout
    assert sorted(_members(archive)) == ["agent/model.pb", "model_metadata.json"]


# --- SAC, and TensorFlow itself when installed --------------------------------------------------
@pytest.mark.slow
def test_sac_camera_run_exports_the_pre_tanh_mean(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    archive = deepracer_archive(tmp_path_factory, "camera-sac")
    result = DEEPRACER_RESULTS["camera-sac"]
    g = _graph_def(_members(archive)["agent/model.pb"])
    consumed = {i for n in g.node for i in n.input}
    assert [n.name for n in g.node if n.name not in consumed] == [dr.OUTPUT_NAMES["sac"]]
    meta = json.loads(_members(archive)["model_metadata.json"])
    assert meta["training_algorithm"] == "sac"
    fp32, fp16 = result.deepracer.parity
    assert fp32.max_abs_diff <= 1e-5 and fp16.passed
    assert {n.op for n in g.node} <= dr.SAFE_OPS  # SAC's MLP uses ReLU: no Tanh


@pytest.mark.slow
def test_stereo_run_exports_the_stereo_input(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A stereo run: DeepRacer's STEREO_CAMERAS placeholder, two channels NHWC, parity with
    its bundle's policy.onnx on the golden frames (FP32 within 1e-5, FP16 the same action)."""
    import onnxruntime as ort

    archive = deepracer_archive(tmp_path_factory, "stereo")
    result = DEEPRACER_RESULTS["stereo"]
    graph = result.deepracer.graph
    assert graph.input_name == dr.INPUT_NAMES["stereo"]
    assert tuple(graph.input_shape[1:]) == (120, 160, 2)
    meta = json.loads(_members(archive)["model_metadata.json"])
    assert meta["sensor"] == ["STEREO_CAMERAS"]
    fp32, fp16 = result.deepracer.parity
    assert fp32.max_abs_diff <= 1e-5 and fp16.passed and fp16.action_agreement >= 0.99
    pb = tmp_path / "model.pb"
    pb.write_bytes(_members(archive)["agent/model.pb"])
    golden = np.load(result.bundle_dir / "golden.npz")
    inputs = golden["inputs"][:, 0]  # (16, 2, 120, 160) raw 0-255, left then right
    session = ort.InferenceSession(str(result.bundle_dir / "policy.onnx"))
    onnx_out = np.concatenate([session.run(None, {"obs": x[None]})[0] for x in inputs])
    got = dr.run_openvino(pb, inputs.transpose(0, 2, 3, 1), input_name=dr.INPUT_NAMES["stereo"])
    assert np.max(np.abs(got - onnx_out)) <= 1e-5
    assert np.array_equal(got.argmax(1), onnx_out.argmax(1))


def test_tensorflow_loads_the_graph_and_converts_to_tflite(car_export: Any, tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    name, archive, result = car_export
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(_members(archive)["agent/model.pb"])
    golden = np.load(result.bundle_dir / "golden.npz")
    frames = golden["inputs"][:, 0].transpose(0, 2, 3, 1)
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            got = sess.run(dr.OUTPUT_NAMES["ppo"] + ":0", {dr.INPUT_NAMES["camera"] + ":0": frames})
    want = dr.reference_head(
        load_trained_policy(trained_run_path(archive, name)), golden["inputs"][:, 0]
    )
    np.testing.assert_allclose(got, want, atol=1e-5)
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(_write(tmp_path / "model.pb", _members(archive)["agent/model.pb"])),
        input_arrays=[dr.INPUT_NAMES["camera"]],
        output_arrays=[dr.OUTPUT_NAMES["ppo"]],
        input_shapes={dr.INPUT_NAMES["camera"]: [1, 120, 160, 1]},
    )
    assert len(converter.convert()) > 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_archive_bytes_are_gzip_with_no_name_or_time() -> None:
    data = dr.archive_bytes(b"pb", {"a": 1})
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # mtime 0
    assert data[3] & 0x08 == 0  # no FNAME field
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.getnames() == ["model_metadata.json", "agent/model.pb"]
