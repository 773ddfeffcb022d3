"""DeepRacer model archives (model_metadata.json + TensorFlow model.pb) loaded by racer.car:
detection, the bounds, the graph contract, preprocessing and action decoding."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from testlib.deepracer_models import (
    CONTINUOUS_SPACE,
    DISCRETE_ACTIONS,
    SAC_OUTPUT,
    H,
    W,
    Weights,
    build_archive,
    graph_bytes,
    metadata_bytes,
    model_metadata,
    reference,
    write_archive,
)

import racer.car.bundle as bmod
import racer.car.deepracer as drmod
from racer.car.actuators import parse_actuator
from racer.car.bundle import Bundle, pack_bundle
from racer.car.deepracer import (
    DeepRacerModel,
    counts_as_model,
    deepracer_steps,
    load_deepracer,
    load_model,
)
from racer.car.preprocess import resize
from racer.car.runtime import Driver
from racer.errors import BundleError

pytest.importorskip("openvino")
pytest.importorskip("tensorboard")

DISCRETE_W = Weights.random(1, len(DISCRETE_ACTIONS), seed=1)
CONTINUOUS_W = Weights.random(1, 2, seed=2)


def frames(n: int, seed: int = 0) -> np.ndarray:
    """Random 120x160 gray frames, uint8."""
    return np.random.default_rng(seed).integers(0, 256, (n, H, W), dtype=np.uint8)


@pytest.fixture(scope="module")
def discrete(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("dr") / "disc.tar.gz", "discrete", DISCRETE_W)


@pytest.fixture(scope="module")
def continuous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dr") / "cont.tar.gz"
    return build_archive(path, "continuous", CONTINUOUS_W)


def refused(path: Path, *needles: str) -> str:
    """The archive is refused with one BundleError line naming it and holding every needle."""
    with pytest.raises(BundleError) as info:
        load_model(path)
    msg = str(info.value)
    assert "\n" not in msg and path.name in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# --- loading and decoding ------------------------------------------------------------------


def test_discrete_archive_decodes_the_argmax_of_the_graph(discrete: Path) -> None:
    with load_model(discrete) as model:
        assert isinstance(model, DeepRacerModel) and isinstance(model, Bundle)
        assert model.observation == "camera" and model.input_shape == (1, 1, H, W)
        assert model.metadata["action_output"] == "probabilities"
        assert model.metadata["provenance"]["training_algorithm"] == "clipped_ppo"
        be = model.backend()
        assert model.self_test(be).summary().startswith("check openvino: DeepRacer model")
        pre, dec = model.preprocessor(), model.decoder()
        picked = set()
        for frame in frames(12):
            x = pre(frame).astype(np.float32).reshape(model.input_shape)
            y = be.run(x)
            want = reference(DISCRETE_W, frame[:, :, None].astype(np.float64))
            np.testing.assert_allclose(y.reshape(-1), want, atol=1e-5)
            action = dec.decode(y)
            i = int(np.argmax(want))
            assert action.index == i
            a = DISCRETE_ACTIONS[i]
            assert (action.steering_deg, action.speed_mps) == (a["steering_angle"], a["speed"])
            picked.add(i)
        assert len(picked) > 1  # the frames exercise more than one action
        root = model.root
    assert not root.exists()  # the unpacked archive is removed on close


def test_continuous_archive_matches_numpy(continuous: Path) -> None:
    with load_model(continuous) as model:
        assert model.metadata["action_output"] == "normalized"
        be = model.backend("openvino")
        for frame in frames(5, seed=3):
            y = be.run(frame.astype(np.float32).reshape(1, 1, H, W))
            want = reference(CONTINUOUS_W, frame[:, :, None], head="identity")
            np.testing.assert_allclose(y.reshape(-1), want, atol=1e-5)
            action = model.decoder().decode(y)
            a = np.clip(want, -1.0, 1.0)
            st, sp = CONTINUOUS_SPACE["steering_angle"], CONTINUOUS_SPACE["speed"]
            steer = st["low"] + (a[0] + 1) / 2 * (st["high"] - st["low"])
            speed = sp["low"] + (a[1] + 1) / 2 * (sp["high"] - sp["low"])
            assert action.steering_deg == pytest.approx(steer, abs=1e-3)
            assert action.speed_mps == pytest.approx(speed, abs=1e-4)


@pytest.mark.parametrize("algorithm", ["clipped_ppo", "sac"])
def test_continuous_outputs_are_clamped_then_mapped(tmp_path: Path, algorithm: str) -> None:
    """Outputs beyond [-1, 1] clamp to the ends; SAC's pre-tanh mean is clamped like the car
    does (no tanh): 0.5 maps to three quarters of the range, not tanh(0.5)."""
    w = Weights.constant(1, [2.0, 0.5])
    path = build_archive(tmp_path / f"{algorithm}.tar.gz", "continuous", w, algorithm=algorithm)
    with load_model(path) as model:
        if algorithm == "sac":
            assert model.output_name == SAC_OUTPUT
        y = model.backend().run(np.zeros((1, 1, H, W), np.float32))
        action = model.decoder().decode(y)
    assert action.steering_deg == pytest.approx(30.0)
    assert action.speed_mps == pytest.approx(0.5 + 0.75 * 1.5)


def test_stereo_channels_reach_the_graph_in_nhwc(tmp_path: Path) -> None:
    w = Weights.random(2, len(DISCRETE_ACTIONS), seed=4, scale=0.5)
    path = build_archive(tmp_path / "stereo.tar.gz", "discrete", w, sensor="STEREO_CAMERAS")
    with load_model(path) as model:
        assert model.observation == "stereo" and model.input_shape == (1, 2, H, W)
        pair = frames(2, seed=5)  # (2, H, W): left, right
        x = model.preprocessor()(pair).astype(np.float32).reshape(model.input_shape)
        y = model.backend().run(x)
    want = reference(w, np.moveaxis(pair, 0, 2))
    np.testing.assert_allclose(y.reshape(-1), want, atol=1e-5)


def test_preprocessing_is_deepracers(discrete: Path) -> None:
    with load_model(discrete) as model:
        assert model.metadata["preprocessing"] == deepracer_steps(W, H)
        pre = model.preprocessor()
    sim = frames(1)[0]
    np.testing.assert_array_equal(pre(sim)[0], sim)  # the simulator's frame: unchanged
    rgb = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    small = resize(rgb, W, H, "bilinear").astype(np.float64)  # resize first, as DeepRacer
    gray = 0.2989 * small[..., 0] + 0.587 * small[..., 1] + 0.114 * small[..., 2]
    want = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pre(rgb)[0], want)


def test_driver_runs_a_deepracer_archive_by_path(discrete: Path) -> None:
    class Frames:
        def __init__(self) -> None:
            self.left = list(frames(4, seed=9))

        def read(self) -> np.ndarray | None:
            return self.left.pop() if self.left else None

        def close(self) -> None:
            pass

    driver = Driver(discrete, "openvino", Frames(), parse_actuator("null"), realtime=False)
    report = driver.run()
    driver.bundle.close()
    assert report.steps == 4 and report.backend == "openvino"
    assert report.self_test is not None and "DeepRacer model" in report.summary()


def test_deepracer_model_refuses_onnxruntime(discrete: Path) -> None:
    with load_model(discrete) as model, pytest.raises(BundleError, match="OpenVINO only"):
        model.backend("onnxruntime")


def test_racer_bundles_still_load_as_bundles(tmp_path: Path) -> None:
    from testlib.bundles import build_bundle

    folder = build_bundle(tmp_path / "b", "discrete")
    for path in (folder, pack_bundle(folder, tmp_path / "b.tar.gz")):
        with load_model(path) as b:
            assert type(b) is Bundle


def test_folder_and_dot_slash_archives_load(tmp_path: Path) -> None:
    folder = tmp_path / "unpacked"
    (folder / "agent").mkdir(parents=True)
    (folder / "agent" / "model.pb").write_bytes(graph_bytes(DISCRETE_W))
    (folder / "model_metadata.json").write_bytes(metadata_bytes(model_metadata()))
    with load_model(folder) as model:
        assert isinstance(model, DeepRacerModel) and model.root == folder
    dotted = tmp_path / "dotted.tar.gz"  # `tar czf dotted.tar.gz -C unpacked .`
    with tarfile.open(dotted, "w:gz") as tar:
        tar.add(folder, arcname=".")
    with load_model(dotted) as model:
        assert model.pb.name == "model.pb"


def test_older_metadata_without_sensor_or_algorithm(tmp_path: Path) -> None:
    meta = {"action_space": DISCRETE_ACTIONS}  # 2019 models: only the action space
    path = write_archive(
        tmp_path / "old.tar.gz",
        [
            ("model_metadata.json", metadata_bytes(meta)),
            ("agent/model.pb", graph_bytes(DISCRETE_W)),
        ],
    )
    with load_deepracer(path) as model:
        assert model.decoder().kind == "discrete" and model.observation == "camera"


def test_checksum_is_the_models_identity(discrete: Path, tmp_path: Path) -> None:
    again = build_archive(tmp_path / "again.tar.gz", "discrete", DISCRETE_W)
    other = build_archive(tmp_path / "other.tar.gz", "discrete", Weights.random(1, 5, seed=8))
    with load_model(discrete) as a, load_model(again) as b, load_model(other) as c:
        assert isinstance(a, DeepRacerModel) and isinstance(b, DeepRacerModel)
        assert isinstance(c, DeepRacerModel)
        assert a.checksum == b.checksum != c.checksum and len(a.checksum) == 64


# --- the car's file rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("agent/model.pb", True),
        ("model", True),
        ("agent/checkpoint", True),
        ("model.p", True),
        ("model.b", False),
        ("model_metadata.json", False),
        ("model.onnx", False),
        ("model.pbtxt", False),
    ],
)
def test_counts_as_model(name: str, counts: bool) -> None:
    assert counts_as_model(name) is counts


# --- refusals: one line naming the archive -------------------------------------------------


def _members(**extra: bytes | None) -> list[tuple[object, bytes | None]]:
    base: list[tuple[object, bytes | None]] = [
        ("model_metadata.json", metadata_bytes(model_metadata())),
        ("agent/model.pb", graph_bytes(DISCRETE_W)),
    ]
    return base + list(extra.items())


def test_two_models_are_refused(tmp_path: Path) -> None:
    two = write_archive(tmp_path / "two.tar.gz", [*_members(), ("agent/model_2.pb", b"x")])
    refused(two, "2 files count as a model", "agent/model_2.pb")
    no_ext = write_archive(tmp_path / "noext.tar.gz", [*_members(), ("agent/checkpoint", b"x")])
    refused(no_ext, "2 files count as a model", "without an extension")


def test_missing_parts_are_refused(tmp_path: Path) -> None:
    pb = graph_bytes(DISCRETE_W)
    meta = metadata_bytes(model_metadata())
    refused(
        write_archive(tmp_path / "nometa.tar.gz", [("agent/model.pb", pb)]),
        "no model_metadata.json",
    )
    refused(
        write_archive(tmp_path / "nopb.tar.gz", [("model_metadata.json", meta)]),
        "no TensorFlow graph (.pb)",
    )


def test_unsafe_members_are_refused(tmp_path: Path) -> None:
    refused(write_archive(tmp_path / "trav.tar.gz", [*_members(), ("../evil.txt", b"x")]), "unsafe")
    abs_ = write_archive(tmp_path / "abs.tar.gz", [*_members(), ("/tmp/evil.txt", b"x")])
    refused(abs_, "unsafe member path")
    assert not (tmp_path / "evil.txt").exists()
    for kind, name in (
        (tarfile.SYMTYPE, "sym"),
        (tarfile.LNKTYPE, "hard"),
        (tarfile.CHRTYPE, "dev"),
    ):
        info = tarfile.TarInfo(f"agent/{name}")
        info.type = kind
        info.linkname = "/etc/passwd" if kind != tarfile.CHRTYPE else ""
        path = write_archive(tmp_path / f"{name}.tar.gz", [*_members(), (info, None)])
        refused(path, "link or special file")


def test_decompression_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member of 4 MB of zeros (a few KB packed) against a 1 MB bound: refused while the
    stream is read (the real bound is racer.car.bundle.MAX_BUNDLE_BYTES, 200 MB)."""
    monkeypatch.setattr(bmod, "MAX_BUNDLE_BYTES", 2**20)
    monkeypatch.setattr(bmod, "_TAR_SLACK_BYTES", 2**20)
    path = write_archive(tmp_path / "bomb.tar.gz", [*_members(), ("filler.bin", bytes(4 * 2**20))])
    assert path.stat().st_size < 64 * 1024
    refused(path, "unpacks to more than 1 MB")


def test_graph_over_its_bound_is_refused(
    tmp_path: Path, discrete: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drmod, "MAX_PB_BYTES", 1024)
    refused(discrete, "agent/model.pb is", "more than the 1024 bytes")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"sensor": ["LIDAR", "FRONT_FACING_CAMERA"]}, "camera models only"),
        ({"sensor": ["SONAR"]}, "unknown sensor"),
        ({"training_algorithm": "dqn"}, "training_algorithm"),
        ({"action_space_type": "hybrid"}, "action_space_type"),
        ({"action_space": [{"steering_angle": 0.0}]}, "lacks steering_angle or speed"),
        ({"action_space": [{"steering_angle": 0.0, "speed": 9.0}]}, "out of range"),
        (
            {
                "action_space_type": "continuous",
                "action_space": {
                    "steering_angle": {"low": 30.0, "high": -30.0},
                    "speed": {"low": 0.5, "high": 1.0},
                },
            },
            "low < high",
        ),
        ({"action_space": DISCRETE_ACTIONS[:3]}, "3 outputs"),
    ],
)
def test_bad_model_metadata_is_refused(
    tmp_path: Path, change: dict[str, object], needle: str
) -> None:
    meta = {**model_metadata(), **change}
    path = write_archive(
        tmp_path / "meta.tar.gz",
        [
            ("model_metadata.json", metadata_bytes(meta)),
            ("agent/model.pb", graph_bytes(DISCRETE_W)),
        ],
    )
    refused(path, needle)


def test_bad_graphs_are_refused(tmp_path: Path) -> None:
    meta = metadata_bytes(model_metadata())
    junk = write_archive(
        tmp_path / "junk.tar.gz", [("model_metadata.json", meta), ("agent/model.pb", b"\xff" * 64)]
    )
    refused(junk, "not a TensorFlow frozen graph")
    wrong_out = graph_bytes(DISCRETE_W, output="main_level/agent/main/online/network_1/other")
    path = write_archive(
        tmp_path / "out.tar.gz", [("model_metadata.json", meta), ("agent/model.pb", wrong_out)]
    )
    refused(path, "no single policy output")
    wrong_in = graph_bytes(DISCRETE_W, sensor="CAMERA_X")
    path = write_archive(
        tmp_path / "in.tar.gz", [("model_metadata.json", meta), ("agent/model.pb", wrong_in)]
    )
    refused(path, "not one DeepRacer camera input")
    bad_json = write_archive(
        tmp_path / "json.tar.gz",
        [("model_metadata.json", b"{nope"), ("agent/model.pb", graph_bytes(DISCRETE_W))],
    )
    refused(bad_json, "model_metadata.json: not valid JSON")


def test_not_a_gzip_archive(tmp_path: Path) -> None:
    path = tmp_path / "plain.tar.gz"
    path.write_bytes(io.BytesIO(b"not gzip at all").getvalue())
    refused(path, "not a readable .tar.gz")
