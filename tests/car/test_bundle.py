"""Bundle reading, verification, archives and the golden self-test."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from testlib.bundles import build_bundle

from racer.car.bundle import (
    SCHEMA_VERSION,
    compute_checksums,
    load_bundle,
    pack_bundle,
    write_metadata,
)
from racer.errors import BundleError


def _meta(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text())


def test_load_ok(discrete_bundle: Path) -> None:
    b = load_bundle(discrete_bundle)
    assert b.metadata["schema_version"] == SCHEMA_VERSION
    assert b.input_shape == (1, 1, 120, 160) and b.output_shape == (1, 5)
    assert set(b.metadata["files"]) == set(compute_checksums(discrete_bundle))
    assert "metadata.json" not in b.metadata["files"]


def test_tampered_file_named(discrete_bundle: Path) -> None:
    with (discrete_bundle / "openvino/policy.bin").open("r+b") as f:
        f.seek(10)
        f.write(b"\xff\xfe")
    with pytest.raises(BundleError, match=r"openvino/policy.bin: checksum mismatch"):
        load_bundle(discrete_bundle)


def test_missing_file_named(discrete_bundle: Path) -> None:
    (discrete_bundle / "golden.npz").unlink()
    with pytest.raises(BundleError, match=r"golden.npz: listed .* but missing"):
        load_bundle(discrete_bundle)


def test_unlisted_file_rejected(discrete_bundle: Path) -> None:
    (discrete_bundle / "extra.bin").write_bytes(b"x")
    with pytest.raises(BundleError, match=r"extra.bin: not listed"):
        load_bundle(discrete_bundle)


def test_listed_unknown_file_rejected(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    meta["files"]["ghost.onnx"] = "0" * 64
    (discrete_bundle / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"ghost.onnx: listed .* but missing"):
        load_bundle(discrete_bundle)


def test_wrong_input_shape_rejected(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    meta["inputs"][0]["shape"] = [1, 2, 120, 160]
    write_metadata(discrete_bundle, meta)
    with pytest.raises(BundleError, match=r"policy.onnx: inputs"):
        load_bundle(discrete_bundle)


def test_future_schema_rejected(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    meta["schema_version"] = SCHEMA_VERSION + 1
    (discrete_bundle / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=rf"schema_version {SCHEMA_VERSION + 1} .*upgrade"):
        load_bundle(discrete_bundle)


def test_action_count_mismatch_rejected(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    meta["action_space"] = meta["action_space"][:3]
    with pytest.raises(BundleError, match=r"does not match the action space"):
        write_metadata(discrete_bundle, meta)


def test_metadata_carries_the_action_space_in_deepracer_form(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    dr = json.loads((discrete_bundle / "model_metadata.json").read_text())
    assert meta["schema_version"] == 2
    assert meta["action_space_type"] == dr["action_space_type"] == "discrete"
    assert meta["action_space"] == dr["action_space"]


def test_metadata_without_action_space_type_rejected(discrete_bundle: Path) -> None:
    meta = _meta(discrete_bundle)
    del meta["action_space_type"]
    with pytest.raises(BundleError, match=r"missing key 'action_space_type'"):
        write_metadata(discrete_bundle, meta)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_schema_1_bundle_still_loads(kind: str, tmp_path: Path) -> None:
    """Bundles exported before schema 2 ({"type", "actions"}) load, decode and self-test."""
    old = build_bundle(tmp_path / "old", kind, samples=2, legacy=True)
    new = build_bundle(tmp_path / "new", kind, samples=2)
    assert "type" in _meta(old)["action_space"] and "action_space_type" not in _meta(old)
    with load_bundle(old) as b_old, load_bundle(new) as b_new:
        assert b_old.metadata["schema_version"] == 1
        assert b_old.decoder().space == b_new.decoder().space
        assert b_old.self_test("onnxruntime").passed


def test_schema_1_bundle_edited_after_export_still_refused(tmp_path: Path) -> None:
    old = build_bundle(tmp_path / "old", "discrete", samples=1, legacy=True)
    meta = _meta(old)
    meta["action_space"]["actions"][0]["speed"] = 3.0
    write_metadata(old, meta)
    with pytest.raises(BundleError, match=r"differs from the checksummed model_metadata.json"):
        load_bundle(old)


def test_tar_round_trip(discrete_bundle: Path, tmp_path: Path) -> None:
    archive = pack_bundle(discrete_bundle, tmp_path / "car.tar.gz")
    with load_bundle(archive) as b:
        root = b.root
        assert b.self_test("onnxruntime").max_abs_diff <= 1e-4
    assert not root.exists()


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(member, io.BytesIO(data) if data else None)
    return path


def test_malicious_tar_rejected(tmp_path: Path) -> None:
    m = tarfile.TarInfo("../escape.txt")
    m.size = 3
    with pytest.raises(BundleError, match="unsafe member path"):
        load_bundle(_tar_with(tmp_path, m, b"bad"))
    assert not (tmp_path.parent / "escape.txt").exists()
    link = tarfile.TarInfo("b/metadata.json")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(BundleError, match="link or special"):
        load_bundle(_tar_with(tmp_path, link))
    big = tarfile.TarInfo("/abs.txt")
    with pytest.raises(BundleError, match="unsafe member path"):
        load_bundle(_tar_with(tmp_path, big))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_self_test_passes(discrete_bundle: Path, continuous_bundle: Path, backend: str) -> None:
    for folder in (discrete_bundle, continuous_bundle):
        report = load_bundle(folder).self_test(backend)
        assert report.max_abs_diff <= 1e-4 and report.preprocess_checked
        assert backend in report.summary()


def test_self_test_int8_path(discrete_bundle: Path) -> None:
    shutil.copytree(discrete_bundle / "openvino", discrete_bundle / "openvino_int8")
    write_metadata(discrete_bundle, _meta(discrete_bundle))
    b = load_bundle(discrete_bundle)
    assert b.has_int8 and b.self_test("openvino_int8").tolerance == pytest.approx(5e-2)


def test_self_test_fails_on_altered_golden(continuous_bundle: Path) -> None:
    g = dict(np.load(continuous_bundle / "golden.npz"))
    g["outputs"] = g["outputs"] + np.float32(1e-3)
    np.savez(continuous_bundle / "golden.npz", **g)
    write_metadata(continuous_bundle, _meta(continuous_bundle))
    b = load_bundle(continuous_bundle)
    with pytest.raises(BundleError, match="self-test on onnxruntime failed"):
        b.self_test("onnxruntime")


def test_self_test_fails_on_changed_argmax(discrete_bundle: Path) -> None:
    g = dict(np.load(discrete_bundle / "golden.npz"))
    g["outputs"] = g["outputs"][..., ::-1].copy()
    np.savez(discrete_bundle / "golden.npz", **g)
    write_metadata(discrete_bundle, _meta(discrete_bundle))
    with pytest.raises(BundleError, match="self-test"):
        load_bundle(discrete_bundle).self_test("openvino")
