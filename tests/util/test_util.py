"""racer.util: atomic writes keep the old file on failure and leave no temporaries; PNGs decode
back to their pixels; gray conversion clips and rounds."""

from __future__ import annotations

import errno
import json
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from racer.errors import RacerError
from racer.util import (
    DiskFullError,
    atomic_link,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    to_gray,
    write_png,
)
from racer.util.files import temp_pattern
from racer.util.images import encode_png


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.txt"  # the folder is created
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert _leftovers(path.parent) == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # mkstemp's private mode by default
    atomic_write_bytes(path, b"\x00\x01", mode=0o644)
    assert path.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_write_keeps_the_old_file_when_the_writer_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    atomic_write_json(path, {"b": 1, "a": 2})
    before = path.read_bytes()
    assert before == b'{\n  "a": 2,\n  "b": 1\n}\n'
    seen: list[Path] = []

    def broken(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text("half a fi")
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError, match="writer died"):
        atomic_write(path, broken)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert temp_pattern("a.json").fullmatch(seen[0].name), seen[0].name
    assert seen[0].parent == tmp_path  # beside the target: the rename stays on one file system


def test_atomic_write_json_can_keep_key_order(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    atomic_write_json(path, {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads(path.read_text())) == ["b", "a"]


def test_full_disk_is_one_line_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def full(tmp: Path) -> None:
        tmp.write_bytes(b"ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError) as err:
        atomic_write(path, full)
    assert isinstance(err.value, RacerError)
    assert str(err.value) == f"{path}: no space left on device"
    assert path.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_atomic_link(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.write_bytes(b"payload")
    dest.write_bytes(b"old")
    atomic_link(src, dest)
    assert dest.read_bytes() == b"payload" and _leftovers(tmp_path) == []


def _decode_png(data: bytes) -> tuple[int, np.ndarray]:
    """(colour type, pixels) of a filter-0, 8-bit PNG, by hand with zlib (checks every CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header, kinds = 8, b"", None, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        kinds.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and header is not None
    width, height, depth, color, compression, filt, interlace = header
    assert (depth, compression, filt, interlace) == (8, 0, 0, 0)
    samples = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * samples)
    assert (rows[:, 0] == 0).all()  # filter type none
    pixels = rows[:, 1:].reshape(height, width, samples)
    return color, pixels[..., 0] if samples == 1 else pixels


@pytest.mark.parametrize(
    ("shape", "color"), [((5, 7), 0), ((5, 7, 2), 4), ((5, 7, 3), 2), ((5, 7, 4), 6)]
)
def test_write_png_decodes_back(tmp_path: Path, shape: tuple[int, ...], color: int) -> None:
    img = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "a.png"
    write_png(path, img)
    got_color, pixels = _decode_png(path.read_bytes())
    assert got_color == color and np.array_equal(pixels, img)
    fast = encode_png(img, compress_level=1)  # another zlib level, the same pixels
    assert np.array_equal(_decode_png(fast)[1], img)


def test_write_png_decodes_with_the_car_reader(tmp_path: Path) -> None:
    from racer.car.sources import read_png

    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    write_png(tmp_path / "a.png", img[::-1])  # a non-contiguous view
    assert np.array_equal(read_png(tmp_path / "a.png"), img[::-1])


def test_write_png_refuses_other_shapes(tmp_path: Path) -> None:
    for shape in [(4,), (2, 3, 5), (1, 2, 3, 3)]:
        with pytest.raises(ValueError, match="cannot write"):
            write_png(tmp_path / "x.png", np.zeros(shape, np.uint8))


def test_to_gray_weights_rounding_and_clipping() -> None:
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]])
    assert to_gray(rgb.astype(np.uint8)).tolist() == [76, 150, 29, 255, 0]
    assert to_gray(np.array([[10, 20, 30, 99]], np.uint8)).tolist() == [18]  # alpha ignored
    out_of_range = np.array([[400.0, 400.0, 400.0], [-20.0, -5.0, -1.0]])
    gray = to_gray(out_of_range)
    assert gray.dtype == np.uint8 and gray.tolist() == [255, 0]  # clipped, not wrapped
    assert to_gray(np.array([300.0, 300.0, 300.0]), weights=(0.5, 0.5, 0.5)).tolist() == 255
    one = to_gray(np.array([150, 160, 140]))  # one colour: a 0-d result
    assert one.shape == () and int(one) == 155
    with pytest.raises(ValueError, match="last axis"):
        to_gray(np.zeros((4, 5), np.uint8))
