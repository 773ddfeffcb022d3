"""Hostile deploy bundles (#12 items 1, 2, 3, 5 and the ``/tmp/racer-bundle-*`` leftovers of 10).

Every input is built here from a tiny real bundle (:mod:`testlib.bundles`), re-checksummed with
:func:`racer.car.bundle.write_metadata` where the attack needs valid checksums (a submitter can
always recompute them). Bombs are small real payloads against bounds lowered in the test. Each
refusal is one :class:`BundleError` line from the library, and one ``racer: error:`` line with
exit status 2 from ``racer drive``, ``racer evaluate`` and ``python -m racer.car.selftest``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from testlib.bundles import build_bundle
from testlib.cli import assert_refused as cli_refuses

from racer.car import bundle as bmod
from racer.car.bundle import clean_stale_temp, load_bundle, pack_bundle
from racer.car.preprocess import MAX_RESIZE_PX, Preprocessor, validate_steps
from racer.car.selftest import main as selftest_main
from racer.errors import BundleError

ONE_LINE = r"^[^\n]+$"


@pytest.fixture(scope="module")
def _built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("hostile") / "good", "discrete", samples=2)


@pytest.fixture
def good(_built: Path, tmp_path: Path) -> Path:
    """A fresh copy of a valid discrete camera bundle, safe to tamper with."""
    return Path(shutil.copytree(_built, tmp_path / "entry"))


def meta_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "metadata.json").read_text())


def rewrite(folder: Path, **changes: Any) -> Path:
    """Change metadata.json fields and recompute every checksum (what a submitter can do)."""
    meta = meta_of(folder)
    meta.update(changes)
    meta.pop("files", None)
    out = dict(meta)
    out["files"] = bmod.compute_checksums(folder)
    (folder / "metadata.json").write_text(json.dumps(out))
    return folder


def refused(folder: Path | str, *needles: str) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(folder).close()
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 400, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# --- item 1: the action space and control rate -----------------------------------------------


def test_speed_raised_in_metadata_only_is_refused(good: Path) -> None:
    meta = meta_of(good)
    for a in meta["action_space"]:
        a["speed"] = 4.0
    rewrite(good, action_space=meta["action_space"])
    refused(good, "model_metadata.json", "differs", "action 0")


def test_continuous_range_changed_in_metadata_only_is_refused(tmp_path: Path) -> None:
    folder = build_bundle(tmp_path / "c", "continuous", samples=1)
    space = meta_of(folder)["action_space"]
    space["speed"]["high"] = 4.0
    rewrite(folder, action_space=space)
    refused(folder, "differs", "speed")


def test_action_space_forms_cannot_be_mixed_across_schema_versions(good: Path) -> None:
    """Schema 2 needs DeepRacer's form; schema 1 its own {"type", "actions"}: never the other."""
    original = meta_of(good)
    rewrite(good, action_space={"type": "discrete", "actions": original["action_space"]})
    refused(good, "metadata.json", "action_space")
    rewrite(good, schema_version=1, action_space=original["action_space"])
    refused(good, "metadata.json", "action_space")
    no_type = {k: v for k, v in original.items() if k != "action_space_type"}
    (good / "metadata.json").write_text(json.dumps(no_type))
    refused(good, "metadata.json", "action_space_type")


def test_control_rate_must_be_the_cars(good: Path) -> None:
    for hz in (30, 15.5, True, "15"):
        rewrite(good, control_hz=hz)
        refused(good, "control_hz", "15 Hz")


def test_control_rate_constant_matches_the_simulator() -> None:
    from racer.sim.config import CONTROL_HZ

    assert bmod.CONTROL_HZ == CONTROL_HZ


@pytest.mark.parametrize(
    ("action", "needle"),
    [
        ({"steering_angle": 45.0, "speed": 1.0}, "steering_angle"),
        ({"steering_angle": 0.0, "speed": 9.0}, "speed"),
        ({"steering_angle": 0.0, "speed": 0.0}, "speed"),
        ({"steering_angle": 0.0, "speed": -1.0}, "speed"),
        ({"steering_angle": 0.0, "speed": 1e300}, "speed"),
        ({"steering_angle": "0", "speed": 1.0}, "number"),
        ({"steering_angle": True, "speed": 1.0}, "number"),
    ],
)
def test_physical_values_beyond_the_car_are_refused(
    good: Path, action: dict[str, Any], needle: str
) -> None:
    """Both files agree (a consistent forgery) but the values are not the car's."""
    meta = meta_of(good)
    meta["action_space"][0] = action
    dr = json.loads((good / "model_metadata.json").read_text())
    dr["action_space"][0] = action
    (good / "model_metadata.json").write_text(json.dumps(dr))
    rewrite(good, action_space=meta["action_space"])
    refused(good, needle)


def test_nan_and_infinity_in_metadata_are_refused(good: Path) -> None:
    text = (good / "metadata.json").read_text()
    for bad in ("NaN", "Infinity", "-Infinity"):
        (good / "metadata.json").write_text(
            text.replace('"control_hz": 15', f'"control_hz": {bad}')
        )
        refused(good, "metadata.json", "not valid JSON")


def test_malformed_metadata_files(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta_path = good / "metadata.json"
    original = meta_path.read_bytes()
    meta_path.write_bytes(b"\xff\xfe{}")
    refused(good, "not UTF-8")
    meta_path.write_bytes(b"[" * 200_000 + b"]" * 200_000)  # nesting: RecursionError in json
    refused(good, "not valid JSON")
    meta_path.write_bytes(b"1" * 100_000)  # an int past Python's digit limit
    refused(good, "not valid JSON")
    monkeypatch.setattr(bmod, "MAX_METADATA_BYTES", 1000)
    meta_path.write_bytes(original + b" " * 2000)
    refused(good, "KB bound")
    monkeypatch.undo()
    dr = good / "model_metadata.json"
    meta_path.write_bytes(original)
    dr.write_text('{"action_space": NaN}')
    rewrite(good)
    refused(good, "model_metadata.json")


@pytest.mark.parametrize(
    "change",
    [
        {"inputs": [{"name": "obs", "shape": [1, 1, 100000, 100000], "dtype": "float32"}]},
        {"inputs": [{"name": "x" * 100_000, "shape": [1, 1, 120, 160], "dtype": "float32"}]},
        {"inputs": [{"name": "obs", "shape": [1, 1, 120.0, 160], "dtype": "float32"}]},
        {"outputs": [{"name": "action", "shape": [1, 5], "dtype": "float64"}]},
        {"files": {f"f{i}": "0" * 64 for i in range(1000)}},
    ],
)
def test_oversized_or_mistyped_tensor_specs(good: Path, change: dict[str, Any]) -> None:
    meta = meta_of(good)
    meta.update(change)
    (good / "metadata.json").write_text(json.dumps(meta))
    refused(good, "metadata.json")


# --- item 3: preprocessing bounds ------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ({"op": "resize", "width": 100000, "height": 100000}, str(MAX_RESIZE_PX)),
        ({"op": "resize", "width": 160.5, "height": 120}, "whole number"),
        ({"op": "resize", "width": True, "height": 120}, "whole number"),
        ({"op": "resize", "width": "160", "height": 120}, "whole number"),
        ({"op": "stack", "frames": 10**9}, "frames"),
        ({"op": "stack", "frames": 2.7}, "frames"),
        ({"op": "crop", "top": "0.1"}, "number"),
        ({"op": "crop", "top": 0.6, "bottom": 0.4}, "edges"),
        ({"op": "clip", "low": 0, "high": 1e301}, "finite"),
        ({"op": "color", "to": "gray", "weights": "abc"}, "weights"),
        ({"op": "color", "to": "gray", "weights": [5, 0, 0]}, "weights"),
        ({"op": "resize", "width": 160, "height": 120, "antialias": 1}, "unknown key"),
        ({"op": {"nested": 1}}, "op"),
    ],
)
def test_preprocessing_steps_are_bounded(step: dict[str, Any], needle: str) -> None:
    with pytest.raises(BundleError) as info:
        validate_steps([step])
    assert "\n" not in str(info.value) and needle in str(info.value), str(info.value)


def test_too_many_steps_and_a_bounded_resize_in_a_bundle(good: Path) -> None:
    with pytest.raises(BundleError, match="more than"):
        validate_steps([{"op": "color", "to": "gray"}] * 100)
    rewrite(good, preprocessing=[{"op": "resize", "width": 100000, "height": 100000}])
    refused(good, "preprocessing[0]", "1024")
    # the largest allowed resize costs a few MB, not GB
    pre = Preprocessor([{"op": "resize", "width": MAX_RESIZE_PX, "height": MAX_RESIZE_PX}])
    assert pre(np.zeros((8, 8), np.uint8)).shape == (1, MAX_RESIZE_PX, MAX_RESIZE_PX)


# --- item 2: golden.npz bombs ----------------------------------------------------------------


def write_golden(folder: Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> None:
    (folder / "golden.npz").unlink()
    save = np.savez_compressed if compressed else np.savez
    with (folder / "golden.npz").open("wb") as f:
        save(f, **arrays)  # type: ignore[arg-type]
    rewrite(folder)


def test_golden_decompression_bomb_is_refused_from_headers(
    good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 zero frames: 23 MB decompressed from ~25 KB, against a 4 MB bound."""
    k = 300
    write_golden(
        good,
        {
            "inputs": np.zeros((k, 1, 1, 120, 160), np.float32),
            "outputs": np.zeros((k, 1, 5), np.float32),
        },
    )
    assert (good / "golden.npz").stat().st_size < 200_000
    monkeypatch.setattr(bmod, "MAX_GOLDEN_BYTES", 4 * 2**20)
    tracemalloc.start()
    try:
        refused(good, "golden.npz", "decompresses to more than 4 MB")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # nothing near the array was materialised


def test_golden_frame_count_bound(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = dict(np.load(good / "golden.npz"))
    reps = {k: np.concatenate([v] * 8) for k, v in g.items()}  # 16 samples
    write_golden(good, reps)
    monkeypatch.setattr(bmod, "MAX_GOLDEN_SAMPLES", 8)
    refused(good, "16 samples", "more than the 8")


def test_golden_header_claiming_a_huge_array_is_refused(good: Path) -> None:
    """A .npy header says 10^9 frames; the member holds a few bytes."""
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 1, 1, 120, 160)}
    )
    buf.write(b"\0" * 64)
    outs = io.BytesIO()
    np.save(outs, np.zeros((10**9 // 10**9, 1, 5), np.float32))
    (good / "golden.npz").unlink()
    with zipfile.ZipFile(good / "golden.npz", "w") as zf:
        zf.writestr("inputs.npy", buf.getvalue())
        zf.writestr("outputs.npy", outs.getvalue())
    rewrite(good)
    refused(good, "golden.npz", "does not match its size")


def test_golden_empty_set_is_one_line_everywhere(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 5: K = 0 golden samples."""
    write_golden(
        good,
        {
            "inputs": np.zeros((0, 1, 1, 120, 160), np.float32),
            "outputs": np.zeros((0, 1, 5), np.float32),
        },
    )
    refused(good, "no samples")
    cli_refuses(
        ["drive", str(good), "--source", "sim:oval", "--max-steps", "1"], capsys, "no samples"
    )
    cli_refuses(["evaluate", str(good), "--track", "oval"], capsys, "no samples")
    assert selftest_main([str(good)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no samples" in err[0]


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"inputs": np.zeros((2, 1, 1, 120, 160), np.float64)}, "float32"),
        ({"inputs": np.zeros((2, 1, 1, 120, 160), ">f4")}, "float32"),
        ({"frames": np.zeros((2, 120, 160), np.float32)}, "'frames' must be uint8"),
        ({"frames": np.zeros((3, 120, 160), np.uint8)}, "K = 2"),
        ({"outputs": np.zeros((3, 1, 5), np.float32)}, "different numbers"),
        ({"extra": np.zeros(3)}, "4 members"),
    ],
)
def test_golden_wrong_dtypes_and_shapes(
    good: Path, arrays: dict[str, np.ndarray], needle: str
) -> None:
    g = dict(np.load(good / "golden.npz"))
    g.update(arrays)
    write_golden(good, g, compressed=False)
    refused(good, "golden.npz", needle)


def test_golden_that_is_not_a_zip_or_claims_many_entries(good: Path) -> None:
    g = dict(np.load(good / "golden.npz"))
    g["extra"] = g.pop("frames")
    write_golden(good, g)
    refused(good, "unexpected member 'extra.npy'")
    (good / "golden.npz").write_bytes(b"PK\x03\x04 not really a zip")
    rewrite(good)
    refused(good, "golden.npz")
    # an end record that claims 65535 entries (ZipFile would build every one)
    eocd = b"PK\x05\x06" + b"\0" * 4 + (65535).to_bytes(2, "little") * 2 + b"\0" * 10
    (good / "golden.npz").write_bytes(eocd)
    rewrite(good)
    refused(good, "golden.npz", "65535 members")
    pickled = io.BytesIO()
    np.savez(pickled, inputs=np.array([{"a": 1}], dtype=object))
    (good / "golden.npz").write_bytes(pickled.getvalue())
    rewrite(good)
    refused(good, "not a plain numeric array")


# --- ONNX graphs that do not fit -------------------------------------------------------------


def _onnx(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_onnx_with_an_unexpected_input_name_or_shape(good: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    for name, shape in (("image", [1, 1, 120, 160]), ("obs", ["batch", 1, 120, 160])):
        (good / "policy.onnx").write_bytes(
            _onnx(
                [
                    helper.make_node("ReduceMean", [name], ["m"], keepdims=0),
                    helper.make_node("Mul", ["m", "z"], ["action"]),
                ],
                [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
                [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 5])],
                [numpy_helper.from_array(np.zeros((1, 5), np.float32), "z")],
            )
        )
        rewrite(good)
        refused(good, "policy.onnx", "do not match")


def test_onnx_that_fails_at_run_time_is_one_line(good: Path) -> None:
    """The graph loads (I/O as declared) but its Reshape cannot run on the real input."""
    from onnx import TensorProto, helper, numpy_helper

    (good / "policy.onnx").write_bytes(
        _onnx(
            [helper.make_node("Reshape", ["obs", "shape"], ["action"])],
            [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 1, 120, 160])],
            [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 5])],
            [numpy_helper.from_array(np.array([1, 5], np.int64), "shape")],
        )
    )
    rewrite(good)
    with load_bundle(good) as b, pytest.raises(BundleError) as info:
        b.self_test()
    assert "\n" not in str(info.value) and "failed on golden input 0" in str(info.value)


def test_garbage_onnx(good: Path) -> None:
    (good / "policy.onnx").write_bytes(b"\x08\x07" + os.urandom(200))
    rewrite(good)
    refused(good, "policy.onnx")


# --- archives --------------------------------------------------------------------------------


def test_truncated_and_corrupt_archives(good: Path, tmp_path: Path) -> None:
    packed = pack_bundle(good, tmp_path / "entry.tar.gz")
    data = packed.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.tar.gz"
        bad.write_bytes(data[:cut])
        refused(bad, f"cut{cut}.tar.gz")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (tmp_path / "flip.tar.gz").write_bytes(bytes(flipped))
    refused(tmp_path / "flip.tar.gz", "flip.tar.gz")
    (tmp_path / "plain.tar.gz").write_bytes(b"not gzip at all")
    refused(tmp_path / "plain.tar.gz", "not a readable .tar.gz")
    assert not list(tmp_path.glob("racer-bundle-*"))


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return path


def test_archive_links_and_paths(tmp_path: Path) -> None:
    link = tarfile.TarInfo("b/metadata.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    refused(_tar(tmp_path / "sym.tar.gz", [(link, None)]), "link or special file")
    hard = tarfile.TarInfo("b/metadata.json")
    hard.type, hard.linkname = tarfile.LNKTYPE, "b/x"
    refused(_tar(tmp_path / "hard.tar.gz", [(hard, None)]), "link or special file")
    evil = tarfile.TarInfo("../../escape.txt")
    evil.size = 2
    refused(_tar(tmp_path / "dots.tar.gz", [(evil, b"hi")]), "unsafe member path")
    weird = tarfile.TarInfo("b/\udcff\n.json")
    weird.size = 2
    msg = refused(_tar(tmp_path / "weird.tar.gz", [(weird, b"hi")]), "weird.tar.gz")
    msg.encode("utf-8")  # printable on any terminal: no lone surrogates
    assert not (tmp_path.parent / "escape.txt").exists()


def test_archive_header_bomb_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An 8 MB PAX header (compresses to ~8 KB): refused by the header bound before it is read,
    and, with that bound lifted, by the bound on the whole decompressed stream (1 MB + 1 MB)."""
    info = tarfile.TarInfo("b/metadata.json")
    info.size = 2
    info.pax_headers = {"comment": "x" * (8 * 2**20)}
    path = _tar(tmp_path / "pax.tar.gz", [(info, b"{}")])
    assert path.stat().st_size < 100_000
    refused(path, "pax.tar.gz: a 8388", "extended tar header")
    monkeypatch.setattr(bmod, "MAX_TAR_HEADER_BYTES", 2**30)
    monkeypatch.setattr(bmod, "MAX_BUNDLE_BYTES", 2**20)
    monkeypatch.setattr(bmod, "_TAR_SLACK_BYTES", 2**20)
    refused(path, "unpacks to more than 1 MB")


def test_symlinked_file_in_a_folder_bundle(good: Path) -> None:
    (good / "golden.npz").unlink()
    (good / "golden.npz").symlink_to("/etc/hostname")
    refused(good, "links are not allowed")


# --- /tmp/racer-bundle-* leftovers -----------------------------------------------------------


def test_archive_temp_folder_removed_on_success_and_failure(
    good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    packed = pack_bundle(good, tmp_path / "entry.tar.gz")
    with load_bundle(packed) as b:
        assert b.root.is_relative_to(scratch) and f"racer-bundle-{os.getpid()}-" in str(b.root)
    assert not list(scratch.iterdir())
    (good / "golden.npz").write_bytes(b"junk")  # checksum mismatch after unpacking
    refused(pack_bundle(good, tmp_path / "bad.tar.gz"), "checksum")
    assert not list(scratch.iterdir())


def test_stale_temp_folders_are_cleaned(tmp_path: Path) -> None:
    now = time.time()
    old = now - bmod.STALE_TEMP_S - 60
    dead = tmp_path / "racer-bundle-999999999-abc123"  # no such process
    live = tmp_path / f"racer-bundle-{os.getpid()}-abc123"
    legacy = tmp_path / "racer-bundle-k2j4h5g6"  # older racer: no pid in the name
    recent = tmp_path / "racer-bundle-999999998-new"
    other = tmp_path / "racer-bundles-keep"
    for d in (dead, live, legacy, recent, other):
        (d / "inner").mkdir(parents=True)
        (d / "inner" / "f").write_text("x")
    for d in (dead, live, legacy, other):
        os.utime(d, (old, old))
    removed = clean_stale_temp(tmp_path, now=now)
    assert sorted(removed) == sorted([dead, legacy])
    assert live.exists() and recent.exists() and other.exists()


def test_a_killed_load_leaves_a_folder_the_next_load_removes(good: Path, tmp_path: Path) -> None:
    packed = pack_bundle(good, tmp_path / "entry.tar.gz")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = (
        "import os, signal, sys\n"
        "from racer.car.bundle import load_bundle\n"
        "bundle = load_bundle(sys.argv[1])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.run([sys.executable, "-c", script, str(packed)], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    (left,) = scratch.glob("racer-bundle-*")
    old = time.time() - bmod.STALE_TEMP_S - 1
    os.utime(left, (old, old))
    assert clean_stale_temp(scratch) == [left]


def test_gzip_stream_is_read_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member whose data is a long run of zeros: bounded by the member-size check."""
    monkeypatch.setattr(bmod, "MAX_BUNDLE_BYTES", 2**20)
    info = tarfile.TarInfo("b/policy.onnx")
    info.size = 4 * 2**20
    path = tmp_path / "zeros.tar.gz"
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    refused(path, "unpacks to more than 1 MB")


def test_archive_that_is_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "entry.tar.gz"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")


# --- the same inputs on every command that takes a bundle ------------------------------------


@pytest.mark.parametrize("kind", ["truncated", "nan", "fifo"])
def test_drive_evaluate_and_selftest_refuse_in_one_line(
    good: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "truncated":
        data = pack_bundle(good, tmp_path / "full.tar.gz").read_bytes()
        target = tmp_path / "entry.tar.gz"
        target.write_bytes(data[: len(data) // 3])
    elif kind == "nan":
        text = (good / "metadata.json").read_text()
        (good / "metadata.json").write_text(text.replace('"control_hz": 15', '"control_hz": NaN'))
        target = good
    else:
        target = tmp_path / "entry.tar.gz"
        os.mkfifo(target)
    cli_refuses(["drive", str(target), "--source", "sim:oval", "--max-steps", "1"], capsys)
    cli_refuses(["evaluate", str(target), "--track", "oval"], capsys)
    assert selftest_main([str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("racer: error: "), err


class _FailingEngine:
    """Answers the golden inputs as recorded, then fails like an engine that runs out of memory."""

    name = "onnxruntime"

    def __init__(self, good: Path) -> None:
        g = np.load(good / "golden.npz")
        self.outputs = list(g["outputs"])
        self.input_name, self.output_name = "obs", "action"
        self.input_shape, self.output_shape = (1, 1, 120, 160), (1, 5)

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.outputs:
            return self.outputs.pop(0)
        raise RuntimeError(
            "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Loop "
            "node. Name:'' Status Message: x.cc:1 f() Failed to allocate memory\nmore\nlines"
        )


def test_model_failing_while_driving_or_evaluating_is_one_line(good: Path) -> None:
    from racer.car.actuators import parse_actuator
    from racer.car.runtime import Driver
    from racer.car.sources import ArraySource
    from racer.evaluate.policies import BundlePolicy

    with load_bundle(good) as b:
        source = ArraySource([np.zeros((120, 160), np.uint8)] * 3)
        driver = Driver(b, _FailingEngine(good), source, parse_actuator("null"), realtime=False)
        with pytest.raises(BundleError, match=r"^the model failed on a frame .*Loop: Failed to"):
            driver.run()
        policy = BundlePolicy(b)
        policy.backend = _FailingEngine(good)  # type: ignore[assignment]
        policy.backend.outputs = []  # type: ignore[attr-defined]
        with pytest.raises(BundleError, match="failed during the evaluation .*Loop"):
            policy.act(np.zeros((1, 120, 160), np.uint8))
