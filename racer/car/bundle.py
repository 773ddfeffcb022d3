"""The deploy bundle: its contract, checksums, reading, verifying and self-testing.

A bundle is a folder (or the same folder packed as ``<name>.tar.gz``) holding::

    policy.onnx               one file, no external data; input raw 0-255 frames as float32
                              NCHW (lidar: metres), output normalised actions; /255 scaling,
                              observation normalisation and action clipping are in the graph
    openvino/policy.xml/.bin  the same model as OpenVINO IR, fp32 weights
    openvino_int8/policy.xml/.bin   optional INT8 variant
    metadata.json             the contract below
    model_metadata.json       DeepRacer's format, for DeepRacer tools
    golden.npz                "inputs" (K, *input_shape) float32 and "outputs" (K, *output_shape)
                              float32, the expected outputs; optional "frames" (K, H, W[, 3])
                              uint8 raw frames whose preprocessing must give "inputs" exactly

``metadata.json`` (schema version :data:`SCHEMA_VERSION`; :mod:`racer.contract.bundle` describes
the entries)::

    {"schema_version": 2,
     "provenance": {"racer_version", "git_commit", "libraries": {name: version}, "run_id",
                    "created_utc"},
     "observation": "camera" | "stereo" | "lidar",
     "inputs":  [{"name": "obs", "shape": [1, C, 120, 160], "dtype": "float32",
                  "range": "raw 0-255 frames"}],          # lidar: [1, 64], metres
     "outputs": [{"name": "action", "shape": [1, K], "dtype": "float32"}],
     "preprocessing": [steps in order; see racer.car.preprocess],
     "action_space_type": "discrete" | "continuous",     # DeepRacer's model_metadata.json form
     "action_space": [{"steering_angle": deg, "speed": mps}, ...]          (discrete)
                   | {"steering_angle": {"low", "high"}, "speed": {"low", "high"}}  (continuous),
     "action_output": "probabilities" (discrete: softmax over the actions, pick the argmax)
                    | "normalized" (continuous: [-1, 1] per (steering, speed),
                                    physical = low + (a + 1) / 2 * (high - low)),
     "control_hz": 15,
     "parity": {...}, "latency": {...},       # figures measured at export, free-form
     "files": {"policy.onnx": "<sha256 hex>", ...}}   # every file but metadata.json itself

Schema version 1 (still read) wrote the action space as ``"action_space": {"type": "discrete",
"actions": [...]}`` or ``{"type": "continuous", "steering_angle": ..., "speed": ...}``, without
``action_space_type``; :func:`racer.contract.bundle.metadata_action_space` reads either.

Checks made by :func:`load_bundle`, each failure one ``BundleError`` line naming the file: size
bounds (bundle, files, archive members and the decompressed stream); valid UTF-8 JSON without
NaN/Infinity and the schema version; the fields above, each bounded (tensor shapes, names,
preprocessing steps: :func:`racer.car.preprocess.validate_steps`); ``control_hz`` equal to the
car's :data:`CONTROL_HZ`; every action within the car's limits (steering +-30 deg, speed
0.1-4 m/s, finite); every listed file present with its sha256, no unlisted file; the required
files listed; ``policy.onnx``'s input/output names and shapes (read by ONNX Runtime, or OpenVINO
when ONNX Runtime is absent) equal to the metadata; the action space equal to the checksummed
``model_metadata.json``'s (so the evaluated actions cannot differ from the file DeepRacer's tools
read); ``golden.npz`` read from its headers only (:func:`inspect_golden`: at most
:data:`MAX_GOLDEN_BYTES` decompressed, 1-:data:`MAX_GOLDEN_SAMPLES` samples, the right shapes
and dtypes) before any array is loaded. :meth:`Bundle.self_test` then runs the golden inputs.

A submitter controls every file of a bundle and can recompute every checksum: the checksums
catch corruption and edits made after export, the bounds and limits above catch the rest.
Untrusted bundles are also run in a child process with time and memory limits
(:mod:`racer.evaluate.sandbox`).

Writers (``racer.export``) call :func:`write_metadata` last, after every other file is in place;
it fills ``files`` with :func:`compute_checksums` and writes atomically. :func:`pack_bundle` makes
the ``.tar.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import struct
import tarfile
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from racer.car.actions import ActionDecoder
from racer.car.backends import (
    BACKENDS,
    DEFAULT_THREADS,
    Backend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    onnx_io,
)
from racer.car.preprocess import Preprocessor, validate_steps
from racer.contract.bundle import (
    BUNDLE_OBSERVATIONS,
    LEGACY_SCHEMA_VERSION,
    SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    action_output,
)
from racer.contract.car import CONTROL_HZ
from racer.errors import BundleError, MissingDependencyError
from racer.util.files import atomic_write, atomic_write_json

METADATA = "metadata.json"
POLICY_ONNX = "policy.onnx"
OPENVINO_XML = "openvino/policy.xml"
OPENVINO_BIN = "openvino/policy.bin"
OPENVINO_INT8_XML = "openvino_int8/policy.xml"
OPENVINO_INT8_BIN = "openvino_int8/policy.bin"
MODEL_METADATA = "model_metadata.json"
GOLDEN = "golden.npz"
REQUIRED_FILES = (POLICY_ONNX, OPENVINO_XML, OPENVINO_BIN, MODEL_METADATA, GOLDEN)
OBSERVATIONS = BUNDLE_OBSERVATIONS  # what a bundle's model may read: a real car's sensors
MAX_BUNDLE_BYTES = 200 * 1024 * 1024  # whole bundle, unpacked; a camera policy is a few MB
MAX_METADATA_BYTES = 1024 * 1024  # metadata.json
MAX_FILES = 64  # files in a bundle (and members in its archive)
MAX_INPUT_ELEMENTS = 4 * 1024 * 1024  # model input values: 16 stacked stereo RGB frames are 1.8M
MAX_NAME_CHARS = 256  # tensor names in metadata.json
MAX_GOLDEN_BYTES = 64 * 1024 * 1024  # golden.npz, decompressed; racer writes ~2 MB (16 frames)
MAX_GOLDEN_SAMPLES = 256  # golden samples; racer writes 16 (racer.export GOLDEN_SAMPLES)
GOLDEN_ARRAYS = ("inputs", "outputs", "frames")  # the only arrays golden.npz may hold
MAX_FRAME_PX = 4096  # a golden raw frame's side: a 4K camera; racer records 120x160
STALE_TEMP_S = 300.0  # an unpacked-archive folder this old whose process is gone is removed
TEMP_PREFIX = "racer-bundle-"  # unpacked archives: racer-bundle-<pid>-<random>
_TEMP_NAME = re.compile(r"^racer-bundle-(?:(\d+)-)?[A-Za-z0-9_]+$")
_ZIP_TAIL_BYTES = 22 + 65535  # end-of-central-directory record plus the longest comment
_TAR_SLACK_BYTES = 4 * 1024 * 1024  # tar headers and padding read beyond the files' own bytes
MAX_TAR_HEADER_BYTES = 64 * 1024  # one PAX / GNU long-name header; racer writes ~100 bytes
_LONG_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
FP32_ATOL = 1e-4  # golden self-test tolerance for fp32 backends (ORT, OpenVINO f32)
INT8_ATOL = 5e-2  # golden self-test tolerance for the INT8 IR
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(text: str, limit: int = 80) -> str:
    """A file or member name for a message: as it is when short and printable, else its repr."""
    return text if len(text) <= limit and text.isprintable() else _short(text, limit)


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's first non-empty line, cut to ``limit`` characters."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_engine_error(exc: BaseException) -> str:
    """An inference engine's error in a few words: the failing node and its status message.

    ONNX Runtime's messages run to several lines with source locations; this keeps
    ``<Op>: <status>`` (for example ``ConstantOfShape: Failed to allocate memory ...``).
    """
    text = str(exc)
    node = re.search(r"while running (\w+) node", text)
    if "Status Message:" in text:
        text = text.split("Status Message:", 1)[1]
        text = re.sub(r"^\s*\S+\.(?:cc|cpp|h):\d+\s+(?:.*?\)\s+)?", "", text)
    short = _first_line(ValueError(text))
    return f"{node.group(1)}: {short}" if node else short


def run_model(backend: Backend, x: np.ndarray, what: str) -> np.ndarray:
    """``backend.run(x)``; an engine's failure becomes one :class:`BundleError` line.

    Args:
        backend: the inference engine.
        x: the model's input.
        what: what was being done, first in the message (``"the model failed on ..."``).

    Raises:
        BundleError: ``"<what> (<Op>: <status>)"``; a MemoryError passes through unchanged.
    """
    try:
        return backend.run(x)
    except MemoryError:
        raise
    except Exception as exc:  # the engines raise their own types
        raise BundleError(f"{what} ({describe_engine_error(exc)})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, label: str, max_bytes: int | None = None) -> Any:
    """Parse a bundle's JSON file: bounded in size, UTF-8, no NaN/Infinity, bounded nesting.

    Args:
        path: the file.
        label: its name in messages.
        max_bytes: the size bound (default :data:`MAX_METADATA_BYTES`).

    Returns:
        The parsed value.

    Raises:
        BundleError: one line saying what is wrong.
    """
    max_bytes = MAX_METADATA_BYTES if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size > max_bytes:
        raise BundleError(f"{label}: {size} bytes, larger than the {max_bytes // 1024} KB bound")
    try:
        return json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BundleError(f"{label}: not UTF-8 text; re-export the bundle") from None
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{label}: not valid JSON ({_first_line(exc)})") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _walk(folder: Path) -> list[Path]:
    """Every regular file under ``folder``; links and special files are refused."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in list(dirnames) + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                raise BundleError(f"{rel}: links are not allowed in a bundle")
            if name in filenames and not p.is_file():
                raise BundleError(f"{rel}: not a regular file")
        out.extend(Path(dirpath) / n for n in filenames)
    return sorted(out)


def compute_checksums(folder: str | Path) -> dict[str, str]:
    """sha256 of every file in a bundle folder except ``metadata.json``.

    Args:
        folder: the bundle folder.

    Returns:
        ``{relative posix path: sha256 hex}``, sorted by path.
    """
    root = Path(folder)
    sums: dict[str, str] = {}
    for p in _walk(root):
        rel = p.relative_to(root).as_posix()
        if rel != METADATA:
            sums[rel] = _sha256(p)
    return dict(sorted(sums.items()))


def write_metadata(folder: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Fill in ``schema_version`` and ``files`` and write ``metadata.json`` atomically.

    Call it last, when every other file of the bundle is in place.

    Args:
        folder: the bundle folder.
        meta: the metadata without (or with stale) ``files``.

    Returns:
        The metadata as written.
    """
    root = Path(folder)
    out = dict(meta)
    out.setdefault("schema_version", SCHEMA_VERSION)
    out["files"] = compute_checksums(root)
    validate_metadata(out)
    atomic_write_json(root / METADATA, out, sort_keys=False)
    return out


def _shape(spec: Any, where: str) -> tuple[int, ...]:
    shape = spec.get("shape") if isinstance(spec, dict) else None
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise BundleError(f"metadata.json: {where}.shape must be a list of positive ints")
    return tuple(shape)


def validate_metadata(meta: Any) -> None:
    """Check the structure of ``metadata.json`` (not the files); raise a one-line BundleError.

    Args:
        meta: the parsed metadata.
    """
    if not isinstance(meta, dict):
        raise BundleError("metadata.json: expected a JSON object")
    version = meta.get("schema_version")
    if isinstance(version, bool) or version not in SCHEMA_VERSIONS:
        hint = (
            "upgrade racer on the car"
            if isinstance(version, int) and version > SCHEMA_VERSION
            else ("re-export the bundle with this racer version")
        )
        raise BundleError(
            f"metadata.json: schema_version {version!r} is not supported "
            f"(this runtime reads {' and '.join(map(str, SCHEMA_VERSIONS))}); {hint}"
        )
    for key in ("provenance", "observation", "inputs", "outputs", "preprocessing"):
        if key not in meta:
            raise BundleError(f"metadata.json: missing key {key!r}")
    for key in ("action_space", "action_output", "control_hz", "files"):
        if key not in meta:
            raise BundleError(f"metadata.json: missing key {key!r}")
    if version != LEGACY_SCHEMA_VERSION and "action_space_type" not in meta:
        raise BundleError("metadata.json: missing key 'action_space_type'")
    if not isinstance(meta["provenance"], dict):
        raise BundleError("metadata.json: 'provenance' must be an object")
    if meta["observation"] not in OBSERVATIONS:
        raise BundleError(f"metadata.json: 'observation' must be one of {OBSERVATIONS}")
    for key in ("inputs", "outputs"):
        specs = meta[key]
        if not isinstance(specs, list) or len(specs) != 1:
            raise BundleError(f"metadata.json: {key!r} must list exactly one tensor")
        spec = specs[0]
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            raise BundleError(
                f"metadata.json: {key}[0].name must be a string of 1-{MAX_NAME_CHARS} characters"
            )
        if spec.get("dtype") != "float32":
            raise BundleError(f"metadata.json: {key}[0].dtype must be 'float32'")
        shape = _shape(spec, f"{key}[0]")
        if len(shape) > 5 or math.prod(shape) > MAX_INPUT_ELEMENTS:
            raise BundleError(
                f"metadata.json: {key}[0].shape {_short(list(shape))} is too large (at most 5 "
                f"axes and {MAX_INPUT_ELEMENTS} values)"
            )
    in_shape = tuple(meta["inputs"][0]["shape"])
    out_shape = tuple(meta["outputs"][0]["shape"])
    if in_shape[0] != 1 or out_shape[0] != 1:
        raise BundleError("metadata.json: inputs and outputs must have batch size 1")
    validate_steps(meta["preprocessing"])
    decoder = ActionDecoder.from_metadata(meta)
    if out_shape != (1, decoder.n_outputs):
        raise BundleError(
            f"metadata.json: outputs[0].shape {list(out_shape)} does not match the action space "
            f"(expected [1, {decoder.n_outputs}])"
        )
    hz = meta["control_hz"]
    if not isinstance(hz, (int, float)) or isinstance(hz, bool) or hz != CONTROL_HZ:
        raise BundleError(
            f"metadata.json: control_hz {_short(hz)} is not the car's {CONTROL_HZ} Hz control "
            "rate; re-export the bundle with racer"
        )
    files = meta["files"]
    if not isinstance(files, dict):
        raise BundleError("metadata.json: 'files' must map file names to sha256")
    if len(files) > MAX_FILES:
        raise BundleError(f"metadata.json: 'files' lists more than {MAX_FILES} files")
    for name, digest in files.items():
        p = PurePosixPath(name)
        if (
            p.is_absolute()
            or ".." in p.parts
            or name in ("", METADATA)
            or "\\" in name
            or len(name) > MAX_NAME_CHARS
        ):
            raise BundleError(f"metadata.json: bad file name {_name(name)} in 'files'")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise BundleError(f"metadata.json: 'files'[{_name(name)}] is not a sha256 hex digest")
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"metadata.json: required file {name} is not listed in 'files'")


def _zip_entry_count(path: Path) -> tuple[int, int]:
    """The entry count and central-directory size a zip file's end record claims.

    Read from the end-of-central-directory record (and its zip64 form) before
    :class:`zipfile.ZipFile` parses the directory, so a file claiming millions of entries is
    refused without building them.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - _ZIP_TAIL_BYTES))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise BundleError(f"{GOLDEN}: not a .npz (zip) file; re-export the bundle")
        count, cd_size = struct.unpack("<HI", tail[at + 10 : at + 16])
        loc = at - 20
        if loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":  # zip64: read the zip64 record
            (offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
            if offset > size - 56:
                raise BundleError(f"{GOLDEN}: corrupt zip64 directory; re-export the bundle")
            f.seek(offset)
            rec = f.read(56)
            if rec[:4] != b"PK\x06\x06":
                raise BundleError(f"{GOLDEN}: corrupt zip64 directory; re-export the bundle")
            count, cd_size = struct.unpack("<QQ", rec[32:48])
    return int(count), int(cd_size)


def inspect_golden(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shapes and dtypes of ``golden.npz``'s arrays, read from headers only, with every bound.

    Nothing is decompressed but each ``.npy`` member's header: the zip directory's entry count,
    each member's declared decompressed size (which :mod:`zipfile` enforces while reading) and
    the ``.npy`` header's shape and dtype are checked against :data:`MAX_GOLDEN_BYTES` and
    :data:`MAX_GOLDEN_SAMPLES` before any array is materialised.

    Args:
        path: the ``golden.npz`` file.

    Returns:
        ``{array name: (shape, dtype)}``.

    Raises:
        BundleError: one line saying what is wrong.
    """
    count, cd_size = _zip_entry_count(path)
    if count > len(GOLDEN_ARRAYS) or cd_size > 64 * 1024:
        raise BundleError(
            f"{GOLDEN}: {count} members; a golden file holds only {', '.join(GOLDEN_ARRAYS)}"
        )
    out: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > len(GOLDEN_ARRAYS):
                raise BundleError(f"{GOLDEN}: more than {len(GOLDEN_ARRAYS)} members")
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else ""
                if key not in GOLDEN_ARRAYS or key in out:
                    raise BundleError(
                        f"{GOLDEN}: unexpected member {_short(info.filename)}; it may hold only "
                        f"{', '.join(GOLDEN_ARRAYS)}"
                    )
                total += info.file_size
                if total > MAX_GOLDEN_BYTES:
                    raise BundleError(
                        f"{GOLDEN}: decompresses to more than {MAX_GOLDEN_BYTES // 2**20} MB; "
                        f"a golden set holds at most {MAX_GOLDEN_SAMPLES} samples"
                    )
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise BundleError(f"{GOLDEN}: {key}: unsupported .npy version {version}")
                    header = f.tell()
                if dtype.hasobject or not all(isinstance(d, int) and d >= 0 for d in shape):
                    raise BundleError(f"{GOLDEN}: {key!r} is not a plain numeric array")
                if header + math.prod(shape) * dtype.itemsize != info.file_size:
                    raise BundleError(
                        f"{GOLDEN}: {key!r}: its header's shape {_short(list(shape))} does not "
                        "match its size; re-export the bundle"
                    )
                out[key] = (tuple(shape), dtype)
    except BundleError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, RuntimeError) as exc:
        raise BundleError(f"{GOLDEN}: unreadable ({_first_line(exc)})") from None
    return out


def _check_golden(
    arrays: dict[str, tuple[tuple[int, ...], np.dtype[Any]]], meta: dict[str, Any]
) -> int:
    """Check golden arrays' shapes and dtypes against the metadata; return the sample count."""
    for key, shape in (
        ("inputs", meta["inputs"][0]["shape"]),
        ("outputs", meta["outputs"][0]["shape"]),
    ):
        if key not in arrays:
            raise BundleError(f"{GOLDEN}: missing array {key!r}")
        s, dt = arrays[key]
        if dt != np.float32 or len(s) < 1 or tuple(s[1:]) != tuple(shape):
            raise BundleError(
                f"{GOLDEN}: {key!r} must be float32 (K, {', '.join(map(str, shape))}), "
                f"got {dt} {_short(list(s))}"
            )
    k = arrays["inputs"][0][0]
    if arrays["outputs"][0][0] != k:
        raise BundleError(f"{GOLDEN}: 'inputs' and 'outputs' hold different numbers of samples")
    if k == 0:
        raise BundleError(
            f"{GOLDEN}: holds no samples, so the bundle cannot be self-tested; re-export it"
        )
    if k > MAX_GOLDEN_SAMPLES:
        raise BundleError(f"{GOLDEN}: {k} samples, more than the {MAX_GOLDEN_SAMPLES} allowed")
    if "frames" in arrays:
        s, dt = arrays["frames"]
        if dt != np.uint8 or not 3 <= len(s) <= 5 or s[0] != k or max(s[1:]) > MAX_FRAME_PX:
            raise BundleError(
                f"{GOLDEN}: 'frames' must be uint8 (K, H, W[, C]) with K = {k} samples and sides "
                f"up to {MAX_FRAME_PX} px, got "
                f"{dt} {_short(list(s))}"
            )
    return int(k)


@dataclass
class SelfTestReport:
    """What the golden self-test found.

    Attributes:
        backend: the engine's name.
        samples: golden inputs run.
        max_abs_diff: largest difference from the expected outputs.
        tolerance: the bound applied to ``max_abs_diff``.
        argmax_agreement: fraction of samples with the same best action (discrete), else None.
        preprocess_checked: whether golden raw frames were preprocessed and matched exactly.
        latency_ms_p50: median single-input inference time during the test, ms.
        passed: always True when returned (a failure raises).
    """

    backend: str
    samples: int
    max_abs_diff: float
    tolerance: float
    argmax_agreement: float | None
    preprocess_checked: bool
    latency_ms_p50: float
    passed: bool = True

    def summary(self) -> str:
        """One line for humans."""
        agree = "" if self.argmax_agreement is None else f", argmax {self.argmax_agreement:.0%}"
        pre = ", preprocessing ok" if self.preprocess_checked else ""
        return (
            f"self-test {self.backend}: {self.samples} golden inputs, max |diff| "
            f"{self.max_abs_diff:.2e} <= {self.tolerance:.0e}{agree}{pre}, "
            f"{self.latency_ms_p50:.2f} ms/inference"
        )


@dataclass
class Bundle:
    """A verified bundle (from :func:`load_bundle`).

    Attributes:
        root: the folder holding the files (a temporary folder for a ``.tar.gz``).
        metadata: the parsed ``metadata.json``.
        source: the path it was loaded from.
    """

    root: Path
    metadata: dict[str, Any]
    source: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    # --- the contract, typed -------------------------------------------------------------
    @property
    def observation(self) -> str:
        """``"camera"``, ``"stereo"`` or ``"lidar"``."""
        return str(self.metadata["observation"])

    @property
    def input_name(self) -> str:
        """The model's input tensor name."""
        return str(self.metadata["inputs"][0]["name"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input shape, batch axis first."""
        return tuple(self.metadata["inputs"][0]["shape"])

    @property
    def output_name(self) -> str:
        """The model's output tensor name."""
        return str(self.metadata["outputs"][0]["name"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The model's output shape, batch axis first."""
        return tuple(self.metadata["outputs"][0]["shape"])

    @property
    def control_hz(self) -> float:
        """The control rate the policy was trained at, Hz."""
        return float(self.metadata["control_hz"])

    @property
    def has_int8(self) -> bool:
        """Whether the bundle carries the INT8 OpenVINO IR."""
        return OPENVINO_INT8_XML in self.metadata["files"]

    def preprocessor(self) -> Preprocessor:
        """A fresh :class:`Preprocessor` for this bundle's steps and input shape."""
        return Preprocessor(self.metadata["preprocessing"], self.input_shape[1:])

    def decoder(self) -> ActionDecoder:
        """The :class:`ActionDecoder` for this bundle's action space."""
        return ActionDecoder.from_metadata(self.metadata)

    def golden(self) -> dict[str, np.ndarray]:
        """The golden arrays (``inputs``, ``outputs``, optional ``frames``), bounds checked."""
        _check_golden(inspect_golden(self.root / GOLDEN), self.metadata)
        try:
            with np.load(self.root / GOLDEN, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise BundleError(f"{GOLDEN}: unreadable ({_first_line(exc)})") from None

    # --- engines -------------------------------------------------------------------------
    def backend(self, name: str = "onnxruntime", threads: int = DEFAULT_THREADS) -> Backend:
        """Open an inference engine on this bundle's model and check its I/O shapes.

        Args:
            name: ``"onnxruntime"``, ``"openvino"`` or ``"openvino_int8"``.
            threads: CPU threads for inference.

        Returns:
            The backend.
        """
        if name == "onnxruntime":
            be: Backend = OnnxRuntimeBackend(self.root / POLICY_ONNX, threads=threads)
        elif name == "openvino":
            be = OpenVinoBackend(self.root / OPENVINO_XML, threads=threads)
        elif name == "openvino_int8":
            if not self.has_int8:
                raise BundleError(f"{self.source}: this bundle has no INT8 model; use 'openvino'")
            be = OpenVinoBackend(self.root / OPENVINO_INT8_XML, threads=threads)
            be.name = "openvino_int8"
        else:
            raise BundleError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
        if be.input_shape != self.input_shape or be.output_shape != self.output_shape:
            raise BundleError(
                f"{name} model I/O {list(be.input_shape)} -> {list(be.output_shape)} does not "
                f"match metadata.json {list(self.input_shape)} -> {list(self.output_shape)}"
            )
        return be

    def self_test(self, backend: Backend | str = "onnxruntime") -> SelfTestReport:
        """Run the golden inputs and compare with the expected outputs.

        fp32 engines must agree within :data:`FP32_ATOL` and (discrete) pick the same action on
        every input; the INT8 engine within :data:`INT8_ATOL`, with the same action wherever the
        expected best action leads the runner-up by more than that tolerance.

        Args:
            backend: an engine, or its name.

        Returns:
            The report.

        Raises:
            BundleError: when the outputs differ (wrong engine build, corrupt copy, wrong bundle).
        """
        be = self.backend(backend) if isinstance(backend, str) else backend
        g = self.golden()
        inputs, expected = g["inputs"], g["outputs"]
        int8 = be.name == "openvino_int8"
        tol = INT8_ATOL if int8 else FP32_ATOL
        got = np.empty_like(expected)
        times = []
        where = f"{GOLDEN} self-test on {be.name}"
        for k in range(inputs.shape[0]):
            t0 = time.perf_counter()
            out = run_model(be, inputs[k], f"{where}: the model failed on golden input {k}")
            got[k] = out.reshape(expected.shape[1:])
            times.append(time.perf_counter() - t0)
        diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
        if not np.isfinite(diff) or diff > tol:
            raise BundleError(
                f"{where} failed: max |diff| {diff:.3g} > {tol:g}; the bundle or the engine "
                "is not the one that was exported (re-copy the bundle, check library versions)"
            )
        agreement: float | None = None
        if self.decoder().kind == "discrete":
            e2, g2 = expected.reshape(len(expected), -1), got.reshape(len(got), -1)
            same = np.argmax(e2, axis=1) == np.argmax(g2, axis=1)
            agreement = float(same.mean()) if len(same) else 1.0
            if int8 and e2.shape[1] > 1:
                top2 = np.sort(e2, axis=1)[:, -2:]
                same |= (top2[:, 1] - top2[:, 0]) <= tol
            if not same.all():
                raise BundleError(
                    f"{where} failed: best action differs on {int((~same).sum())} golden input(s)"
                )
        checked = False
        if "frames" in g and len(g["frames"]):
            pre = self.preprocessor()
            if pre.stack_frames == 1:
                for k, frame in enumerate(g["frames"]):
                    try:
                        obs = pre(frame).astype(np.float32).reshape(inputs.shape[1:])
                    except ValueError as exc:
                        raise BundleError(
                            f"{GOLDEN} self-test: golden frame {k} {list(frame.shape)} cannot be "
                            f"preprocessed ({_first_line(exc)})"
                        ) from None
                    if not np.array_equal(obs, inputs[k]):
                        raise BundleError(
                            f"{GOLDEN} self-test: preprocessing golden frame {k} does not give "
                            "the recorded input; the runtime's preprocessing differs from export"
                        )
                checked = True
        return SelfTestReport(
            backend=be.name,
            samples=int(inputs.shape[0]),
            max_abs_diff=diff,
            tolerance=tol,
            argmax_agreement=agreement,
            preprocess_checked=checked,
            latency_ms_p50=float(np.median(times) * 1e3) if times else 0.0,
        )

    def close(self) -> None:
        """Remove the temporary folder of an unpacked ``.tar.gz`` (no-op for a folder)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` names a packed bundle (``.tar.gz`` / ``.tgz``)."""
    name = str(path).lower()
    return name.endswith(".tar.gz") or name.endswith(".tgz")


def pack_bundle(folder: str | Path, archive: str | Path | None = None) -> Path:
    """Pack a bundle folder as ``<name>.tar.gz`` (members under ``<name>/``).

    Args:
        folder: the bundle folder (already complete, with ``metadata.json``).
        archive: the output path; defaults to ``<folder>.tar.gz`` beside the folder.

    Returns:
        The archive's path.
    """
    root = Path(folder)
    out = Path(archive) if archive is not None else root.with_name(root.name + ".tar.gz")
    files = _walk(root)

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for p in files:
                rel = p.relative_to(root).as_posix()
                info = tar.gettarinfo(str(p), arcname=f"{root.name}/{rel}")
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o644
                with p.open("rb") as f:
                    tar.addfile(info, f)

    atomic_write(out, write, mode=0o644)  # an archive to copy to the car: readable
    return out


class _BoundedReader(io.RawIOBase):
    """A read-only stream that refuses to deliver more than ``limit`` bytes in all.

    Wraps the decompressed archive so that nothing in it (tar headers, long PAX records,
    members) can make the reader hold more than the bound, whatever the gzip ratio.
    """

    def __init__(self, inner: Any, limit: int, label: str) -> None:
        super().__init__()
        self._inner = inner
        self._left = limit
        self._label = label

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = len(buffer)
        if n > self._left:
            n = self._left
            if n <= 0:
                raise BundleError(
                    f"{self._label}: unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MB"
                )
        data = self._inner.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses an extended (PAX / GNU long-name) header over the bound.

    tarfile reads such a header's whole body into memory before the member it describes; a
    gzip-compressed header of hundreds of MB is a few hundred KB on disk.
    """

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _LONG_HEADERS and self.size > MAX_TAR_HEADER_BYTES:
            raise BundleError(
                f"a {self.size}-byte extended tar header, over the {MAX_TAR_HEADER_BYTES // 1024} "
                "KB bound; pack the bundle with racer"
            )
        return super()._proc_member(tarfile)  # type: ignore[misc]


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract regular files and folders only, refusing anything that could escape ``dest``.

    The archive is read as a stream through :class:`_BoundedReader`: the decompressed bytes are
    bounded (the files' bound plus room for headers) before tarfile sees them.
    """
    total = 0
    count = 0
    label = archive.name
    try:
        with gzip.open(archive, "rb") as gz:
            raw = io.BufferedReader(
                _BoundedReader(gz, MAX_BUNDLE_BYTES + _TAR_SLACK_BYTES, label), _CHUNK
            )
            with tarfile.open(fileobj=raw, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                for m in tar:
                    count += 1
                    if count > MAX_FILES * 2:
                        raise BundleError(f"{label}: more than {MAX_FILES} members")
                    p = PurePosixPath(m.name)
                    if m.isdir() and m.name in (".", "./"):  # `tar -C dir .` writes the root
                        continue
                    if (
                        p.is_absolute()
                        or ".." in p.parts
                        or "\\" in m.name
                        or not m.name.strip("/.")
                        or len(m.name) > 4 * MAX_NAME_CHARS
                    ):
                        raise BundleError(f"{label}: unsafe member path {_short(m.name)}")
                    if m.isdir():
                        (dest / p).mkdir(parents=True, exist_ok=True)
                        continue
                    if not m.isfile():
                        raise BundleError(
                            f"{label}: member {_short(m.name)} is a link or special file"
                        )
                    total += m.size
                    if total > MAX_BUNDLE_BYTES:
                        raise BundleError(
                            f"{label}: unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MB"
                        )
                    target = dest / p
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(m)
                    if src is None:  # pragma: no cover - isfile() members always have data
                        raise BundleError(f"{label}: cannot read member {_short(m.name)}")
                    with src, target.open("xb") as f:
                        while block := src.read(_CHUNK):
                            f.write(block)
    except BundleError as exc:
        text = str(exc)
        raise BundleError(text if text.startswith(label) else f"{label}: {text}") from None
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation, zlib.error) as exc:
        if isinstance(exc, FileExistsError):
            name = Path(str(exc.filename)).name
            raise BundleError(f"{label}: duplicate member {_short(name)}") from None
        raise BundleError(f"{label}: not a readable .tar.gz ({_first_line(exc)})") from None


def _bundle_root(folder: Path, label: str) -> Path:
    """The folder holding metadata.json: ``folder`` itself or its single sub-folder."""
    if (folder / METADATA).is_file():
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / METADATA).is_file():
        return entries[0]
    raise BundleError(f"{label}: no {METADATA} found; is this a racer bundle?")


def _deepracer_space(data: Any) -> ActionDecoder:
    """The action space of ``model_metadata.json`` (DeepRacer's form), decoded and checked."""
    if not isinstance(data, dict):
        raise BundleError(f"{MODEL_METADATA}: expected a JSON object")
    space = data.get("action_space")
    kind = data.get("action_space_type") or (
        "continuous" if isinstance(space, dict) else "discrete"
    )
    if not (kind == "discrete" and isinstance(space, list)) and not (
        kind == "continuous" and isinstance(space, dict)
    ):
        raise BundleError(
            f"{MODEL_METADATA}: 'action_space' / 'action_space_type' are missing or malformed"
        )
    try:
        return ActionDecoder(
            {"action_space_type": kind, "action_space": space}, action_output(kind)
        )
    except BundleError as exc:
        raise BundleError(str(exc).replace(f"{METADATA}:", f"{MODEL_METADATA}:", 1)) from None


def _check_model_metadata(root: Path, meta: dict[str, Any]) -> None:
    """``metadata.json``'s action space must equal the checksummed ``model_metadata.json``'s.

    The two files describe the same policy (racer writes both from the run's action space);
    the evaluator and the car read ``metadata.json``, DeepRacer's tools ``model_metadata.json``.
    A bundle where they disagree was edited after export and is refused.
    """
    ours = ActionDecoder.from_metadata(meta)
    theirs = _deepracer_space(read_json(root / MODEL_METADATA, MODEL_METADATA))
    if ours.kind != theirs.kind:
        detail = f"{ours.kind} vs {theirs.kind}"
    elif ours.kind == "discrete" and ours.actions != theirs.actions:
        if len(ours.actions) != len(theirs.actions):
            detail = f"{len(ours.actions)} vs {len(theirs.actions)} actions"
        else:
            i = next(k for k in range(len(ours.actions)) if ours.actions[k] != theirs.actions[k])
            detail = f"action {i}: {ours.actions[i]} vs {theirs.actions[i]} (deg, m/s)"
    elif ours.kind == "continuous" and (ours.steering, ours.speed) != (
        theirs.steering,
        theirs.speed,
    ):
        detail = (
            f"steering {ours.steering} vs {theirs.steering} deg, speed {ours.speed} vs "
            f"{theirs.speed} m/s"
        )
    else:
        return
    raise BundleError(
        f"{METADATA}: its action space differs from the checksummed {MODEL_METADATA} ({detail}); "
        "the bundle was edited after export: re-export it"
    )


def _verify(root: Path, label: str) -> dict[str, Any]:
    files = _walk(root)
    if len(files) > MAX_FILES:
        raise BundleError(f"{label}: {len(files)} files, more than the {MAX_FILES} allowed")
    total = sum(p.stat().st_size for p in files)
    if total > MAX_BUNDLE_BYTES:
        raise BundleError(f"{label}: {total} bytes, over the {MAX_BUNDLE_BYTES // 2**20} MB bound")
    meta = read_json(root / METADATA, METADATA)
    validate_metadata(meta)

    listed: dict[str, str] = meta["files"]
    actual = compute_checksums(root)
    for name in listed:
        if name not in actual:
            raise BundleError(f"{_name(name)}: listed in {METADATA} but missing from the bundle")
    for name in actual:
        if name not in listed:
            raise BundleError(f"{_name(name)}: not listed in {METADATA}; remove it or re-export")
    for name, digest in listed.items():
        if actual[name] != digest:
            raise BundleError(
                f"{name}: checksum mismatch (modified or corrupt); re-copy the bundle"
            )

    # The ONNX graph's I/O must be what the metadata says.
    try:
        ins, outs = onnx_io(root / POLICY_ONNX)
    except MissingDependencyError:
        be = OpenVinoBackend(root / POLICY_ONNX)  # OpenVINO reads ONNX too
        ins, outs = [(be.input_name, be.input_shape)], [(be.output_name, be.output_shape)]
    for kind, got, spec in (("input", ins, meta["inputs"]), ("output", outs, meta["outputs"])):
        want = [(spec[0]["name"], tuple(spec[0]["shape"]))]
        got_n = [(n, tuple(s)) for n, s in got]
        if got_n != want:
            raise BundleError(
                f"{POLICY_ONNX}: {kind}s {_short([(n, list(s)) for n, s in got_n])} do not "
                f"match {METADATA} {_short([(n, list(s)) for n, s in want])}"
            )

    # The action space and physical values: the same as the checksummed DeepRacer file's.
    _check_model_metadata(root, meta)

    # golden.npz: plain arrays of the right shapes, bounded, read from headers only.
    _check_golden(inspect_golden(root / GOLDEN), meta)
    return meta


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process (or a nonsense pid): leave it alone
    return True


def clean_stale_temp(folder: str | Path | None = None, now: float | None = None) -> list[Path]:
    """Remove unpacked-archive folders a killed process left behind.

    A folder is removed when its name is ``racer-bundle-<pid>-<random>`` (or the older
    ``racer-bundle-<random>``), it belongs to this user, it is older than
    :data:`STALE_TEMP_S` and the process named in it is no longer running. Folders of live
    processes are never touched. Errors are ignored (another process may be cleaning too).

    Args:
        folder: where to look; default the system temporary folder.
        now: the current time (tests).

    Returns:
        The folders removed.
    """
    base = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    now = time.time() if now is None else now
    removed: list[Path] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or (uid is not None and st.st_uid != uid):
                continue
            if now - st.st_mtime < STALE_TEMP_S:
                continue
            if match.group(1) is not None and _pid_alive(int(match.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def unpack_archive(src: Path) -> tempfile.TemporaryDirectory[str]:
    """Unpack an archive (a regular file within the size bound) with the bounded extractor into
    a fresh ``racer-bundle-<pid>-*`` temporary folder; the caller owns (and cleans up) it.

    Raises:
        BundleError: not a regular file, too large, or a member the extractor refuses.
    """
    if not src.is_file():  # a FIFO or a device would block or never end
        raise BundleError(f"{_name(src.name)}: not a regular file")
    if src.stat().st_size > MAX_BUNDLE_BYTES:
        raise BundleError(f"{_name(src.name)}: larger than {MAX_BUNDLE_BYTES // 2**20} MB")
    clean_stale_temp()
    tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
    try:
        _safe_extract(src, Path(tmp.name))
    except BaseException:
        tmp.cleanup()
        raise
    return tmp


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle folder or ``.tar.gz``.

    An archive is unpacked into ``racer-bundle-<pid>-*`` in the temporary folder, removed by
    :meth:`Bundle.close` (also on any error, at exit and on garbage collection); such folders
    that a killed process left behind are removed by the next load (:func:`clean_stale_temp`).

    Args:
        path: the folder, or the packed ``.tar.gz`` / ``.tgz``.

    Returns:
        The verified bundle. For an archive it lives in a temporary folder until
        :meth:`Bundle.close` (or garbage collection).

    Raises:
        BundleError: one line naming the file that is wrong.
    """
    src = Path(path)
    if not src.exists():
        raise BundleError(f"bundle {src} not found; export one with 'racer export'")
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if src.is_dir():
        root = _bundle_root(src, str(src))
    elif is_archive(src):
        tmp = unpack_archive(src)
        try:
            root = _bundle_root(Path(tmp.name), src.name)
        except BaseException:
            tmp.cleanup()
            raise
    else:
        raise BundleError(f"{src}: a bundle is a folder or a .tar.gz")
    try:
        meta = _verify(root, src.name)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    return Bundle(root=root, metadata=meta, source=src, _tmp=tmp)
