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

``metadata.json`` (schema version :data:`SCHEMA_VERSION`)::

    {"schema_version": 1,
     "provenance": {"racer_version", "git_commit", "libraries": {name: version}, "run_id",
                    "created_utc"},
     "observation": "camera" | "stereo" | "lidar",
     "inputs":  [{"name": "obs", "shape": [1, C, 120, 160], "dtype": "float32",
                  "range": "raw 0-255 frames"}],          # lidar: [1, 64], metres
     "outputs": [{"name": "action", "shape": [1, K], "dtype": "float32"}],
     "preprocessing": [steps in order; see racer.car.preprocess],
     "action_space": {"type": "discrete", "actions": [{"steering_angle": deg, "speed": mps}, ...]}
                   | {"type": "continuous", "steering_angle": {"low", "high"},
                      "speed": {"low", "high"}},
     "action_output": "probabilities" (discrete: softmax over the actions, pick the argmax)
                    | "normalized" (continuous: [-1, 1] per (steering, speed),
                                    physical = low + (a + 1) / 2 * (high - low)),
     "control_hz": 15,
     "parity": {...}, "latency": {...},       # figures measured at export, free-form
     "files": {"policy.onnx": "<sha256 hex>", ...}}   # every file but metadata.json itself

Checks made by :func:`load_bundle`, each failure one ``BundleError`` line naming the file: size
bounds; valid JSON and schema version; the fields above; every listed file present with its
sha256, no unlisted file; the required files listed; ``policy.onnx``'s input/output names and
shapes (read by ONNX Runtime, or OpenVINO when ONNX Runtime is absent) equal to the metadata;
``golden.npz`` shapes and dtypes. :meth:`Bundle.self_test` then runs the golden inputs.

Writers (``racer.export``) call :func:`write_metadata` last, after every other file is in place;
it fills ``files`` with :func:`compute_checksums` and writes atomically. :func:`pack_bundle` makes
the ``.tar.gz``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
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
from racer.errors import BundleError, MissingDependencyError

SCHEMA_VERSION = 1
METADATA = "metadata.json"
POLICY_ONNX = "policy.onnx"
OPENVINO_XML = "openvino/policy.xml"
OPENVINO_BIN = "openvino/policy.bin"
OPENVINO_INT8_XML = "openvino_int8/policy.xml"
OPENVINO_INT8_BIN = "openvino_int8/policy.bin"
MODEL_METADATA = "model_metadata.json"
GOLDEN = "golden.npz"
REQUIRED_FILES = (POLICY_ONNX, OPENVINO_XML, OPENVINO_BIN, MODEL_METADATA, GOLDEN)
OBSERVATIONS = ("camera", "stereo", "lidar")
MAX_BUNDLE_BYTES = 200 * 1024 * 1024  # whole bundle, unpacked; a camera policy is a few MB
MAX_METADATA_BYTES = 1024 * 1024  # metadata.json
MAX_FILES = 64  # files in a bundle (and members in its archive)
FP32_ATOL = 1e-4  # golden self-test tolerance for fp32 backends (ORT, OpenVINO f32)
INT8_ATOL = 5e-2  # golden self-test tolerance for the INT8 IR
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1024 * 1024


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
    fd, tmp = tempfile.mkstemp(prefix=".metadata.", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, root / METADATA)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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
    if version != SCHEMA_VERSION:
        hint = (
            "upgrade racer on the car"
            if isinstance(version, int) and version > 1
            else ("re-export the bundle with this racer version")
        )
        raise BundleError(
            f"metadata.json: schema_version {version!r} is not supported "
            f"(this runtime reads {SCHEMA_VERSION}); {hint}"
        )
    for key in ("provenance", "observation", "inputs", "outputs", "preprocessing"):
        if key not in meta:
            raise BundleError(f"metadata.json: missing key {key!r}")
    for key in ("action_space", "action_output", "control_hz", "files"):
        if key not in meta:
            raise BundleError(f"metadata.json: missing key {key!r}")
    if not isinstance(meta["provenance"], dict):
        raise BundleError("metadata.json: 'provenance' must be an object")
    if meta["observation"] not in OBSERVATIONS:
        raise BundleError(f"metadata.json: 'observation' must be one of {OBSERVATIONS}")
    for key in ("inputs", "outputs"):
        specs = meta[key]
        if not isinstance(specs, list) or len(specs) != 1:
            raise BundleError(f"metadata.json: {key!r} must list exactly one tensor")
        spec = specs[0]
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise BundleError(f"metadata.json: {key}[0].name must be a string")
        if spec.get("dtype") != "float32":
            raise BundleError(f"metadata.json: {key}[0].dtype must be 'float32'")
        _shape(spec, f"{key}[0]")
    in_shape = tuple(meta["inputs"][0]["shape"])
    out_shape = tuple(meta["outputs"][0]["shape"])
    if in_shape[0] != 1 or out_shape[0] != 1:
        raise BundleError("metadata.json: inputs and outputs must have batch size 1")
    validate_steps(meta["preprocessing"])
    decoder = ActionDecoder(meta["action_space"], meta["action_output"])
    if out_shape != (1, decoder.n_outputs):
        raise BundleError(
            f"metadata.json: outputs[0].shape {list(out_shape)} does not match the action space "
            f"(expected [1, {decoder.n_outputs}])"
        )
    hz = meta["control_hz"]
    if not isinstance(hz, int | float) or isinstance(hz, bool) or not 0 < hz <= 1000:
        raise BundleError("metadata.json: control_hz must be a number in (0, 1000]")
    files = meta["files"]
    if not isinstance(files, dict):
        raise BundleError("metadata.json: 'files' must map file names to sha256")
    for name, digest in files.items():
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or name in ("", METADATA) or "\\" in name:
            raise BundleError(f"metadata.json: bad file name {name!r} in 'files'")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise BundleError(f"metadata.json: 'files'[{name!r}] is not a sha256 hex digest")
    for name in REQUIRED_FILES:
        if name not in files:
            raise BundleError(f"metadata.json: required file {name} is not listed in 'files'")


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
        return ActionDecoder(self.metadata["action_space"], self.metadata["action_output"])

    def golden(self) -> dict[str, np.ndarray]:
        """The golden arrays (``inputs``, ``outputs``, optional ``frames``)."""
        with np.load(self.root / GOLDEN, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

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
        for k in range(inputs.shape[0]):
            t0 = time.perf_counter()
            got[k] = be.run(inputs[k]).reshape(expected.shape[1:])
            times.append(time.perf_counter() - t0)
        diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
        where = f"{GOLDEN} self-test on {be.name}"
        if not np.isfinite(diff) or diff > tol:
            raise BundleError(
                f"{where} failed: max |diff| {diff:.3g} > {tol:g}; the bundle or the engine "
                "is not the one that was exported (re-copy the bundle, check library versions)"
            )
        agreement: float | None = None
        if self.metadata["action_space"]["type"] == "discrete":
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
                    obs = pre(frame).astype(np.float32).reshape(inputs.shape[1:])
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
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for p in _walk(root):
            rel = p.relative_to(root).as_posix()
            info = tar.gettarinfo(str(p), arcname=f"{root.name}/{rel}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with p.open("rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, out)
    return out


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract regular files and folders only, refusing anything that could escape ``dest``."""
    total = 0
    count = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar:
                count += 1
                if count > MAX_FILES * 2:
                    raise BundleError(f"{archive.name}: more than {MAX_FILES} members")
                p = PurePosixPath(m.name)
                if p.is_absolute() or ".." in p.parts or "\\" in m.name or not m.name.strip("/."):
                    raise BundleError(f"{archive.name}: unsafe member path {m.name!r}")
                if m.isdir():
                    (dest / p).mkdir(parents=True, exist_ok=True)
                    continue
                if not m.isfile():
                    raise BundleError(
                        f"{archive.name}: member {m.name!r} is a link or special file"
                    )
                total += m.size
                if total > MAX_BUNDLE_BYTES:
                    raise BundleError(
                        f"{archive.name}: unpacks to more than {MAX_BUNDLE_BYTES // 2**20} MB"
                    )
                target = dest / p
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is None:  # pragma: no cover - isfile() members always have data
                    raise BundleError(f"{archive.name}: cannot read member {m.name!r}")
                with src, target.open("xb") as f:
                    while block := src.read(_CHUNK):
                        f.write(block)
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation) as exc:
        if isinstance(exc, FileExistsError):
            raise BundleError(f"{archive.name}: duplicate member {exc.filename}") from None
        raise BundleError(f"{archive.name}: not a readable .tar.gz ({exc})") from None


def _bundle_root(folder: Path, label: str) -> Path:
    """The folder holding metadata.json: ``folder`` itself or its single sub-folder."""
    if (folder / METADATA).is_file():
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / METADATA).is_file():
        return entries[0]
    raise BundleError(f"{label}: no {METADATA} found; is this a racer bundle?")


def _verify(root: Path, label: str) -> dict[str, Any]:
    files = _walk(root)
    if len(files) > MAX_FILES:
        raise BundleError(f"{label}: {len(files)} files, more than the {MAX_FILES} allowed")
    total = sum(p.stat().st_size for p in files)
    if total > MAX_BUNDLE_BYTES:
        raise BundleError(f"{label}: {total} bytes, over the {MAX_BUNDLE_BYTES // 2**20} MB bound")
    meta_path = root / METADATA
    if meta_path.stat().st_size > MAX_METADATA_BYTES:
        raise BundleError(f"{METADATA}: larger than {MAX_METADATA_BYTES // 1024} KB")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{METADATA}: not valid JSON ({exc})") from None
    validate_metadata(meta)

    listed: dict[str, str] = meta["files"]
    actual = compute_checksums(root)
    for name in listed:
        if name not in actual:
            raise BundleError(f"{name}: listed in {METADATA} but missing from the bundle")
    for name in actual:
        if name not in listed:
            raise BundleError(f"{name}: not listed in {METADATA}; remove it or re-export")
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
                f"{POLICY_ONNX}: {kind}s {[(n, list(s)) for n, s in got_n]} do not match "
                f"{METADATA} {[(n, list(s)) for n, s in want]}"
            )

    # golden.npz: plain arrays of the right shapes.
    try:
        with np.load(root / GOLDEN, allow_pickle=False) as z:
            arrays = {k: (z[k].shape, z[k].dtype) for k in z.files}
    except Exception as exc:  # numpy raises ValueError/OSError/BadZipFile
        raise BundleError(f"{GOLDEN}: unreadable ({exc})") from None
    for key, shape in (
        ("inputs", meta["inputs"][0]["shape"]),
        ("outputs", meta["outputs"][0]["shape"]),
    ):
        if key not in arrays:
            raise BundleError(f"{GOLDEN}: missing array {key!r}")
        s, dt = arrays[key]
        if dt != np.float32 or len(s) < 1 or tuple(s[1:]) != tuple(shape):
            raise BundleError(
                f"{GOLDEN}: {key!r} must be float32 (K, {', '.join(map(str, shape))}), got {dt} {s}"
            )
    if arrays["inputs"][0][0] != arrays["outputs"][0][0]:
        raise BundleError(f"{GOLDEN}: 'inputs' and 'outputs' hold different numbers of samples")
    return meta


def load_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle folder or ``.tar.gz``.

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
        if src.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{src.name}: larger than {MAX_BUNDLE_BYTES // 2**20} MB")
        tmp = tempfile.TemporaryDirectory(prefix="racer-bundle-")
        try:
            _safe_extract(src, Path(tmp.name))
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
