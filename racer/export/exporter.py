"""``racer export``: a run folder in, a verified deploy bundle (folder + ``.tar.gz``) out.

Steps, each checked before the next:

1. load the run's model (:mod:`racer.export.policy`); refuse a ``state`` policy;
2. record observations from the simulator with the trained policy driving
   (:mod:`racer.export.record`);
3. export the :class:`~racer.export.policy.PolicyGraph` to ``policy.onnx`` (one file), convert it
   to OpenVINO IR, optionally quantise it to INT8 (:mod:`racer.export.convert`);
4. measure parity with the trained policy on every engine and refuse the export when it fails;
   measure single-frame latency (:mod:`racer.export.parity`);
5. write ``golden.npz``, ``model_metadata.json`` and ``metadata.json`` (checksums last), load
   the result with the car's own :func:`racer.car.bundle.load_bundle` and self-test it;
6. pack the ``.tar.gz`` and move the folder into place;
7. with ``deepracer``: the same policy as the model a stock AWS DeepRacer car loads
   (:mod:`racer.export.deepracer`: refused up front when the car cannot run it, its parity
   checked through OpenVINO's TensorFlow front end with the bundle's, written last).

Everything is written in a temporary folder beside the output and renamed at the end, so a failed
export leaves no half-written bundle (and an older bundle at the same place stays intact).
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from racer.car.backends import Backend, OnnxRuntimeBackend, OpenVinoBackend
from racer.car.bundle import (
    GOLDEN,
    METADATA,
    MODEL_METADATA,
    OPENVINO_INT8_XML,
    OPENVINO_XML,
    POLICY_ONNX,
    SelfTestReport,
    load_bundle,
    pack_bundle,
    write_metadata,
)
from racer.car.preprocess import camera_steps
from racer.contract.bundle import SCHEMA_VERSION, action_entries, io_entries
from racer.contract.car import CONTROL_HZ, LIDAR_MAX_RANGE_M
from racer.export import convert, parity
from racer.export import deepracer as dr
from racer.export.errors import ExportError
from racer.export.policy import (
    PolicyGraph,
    TrainedPolicy,
    load_trained_policy,
    reference_actions,
    reference_outputs,
)
from racer.export.record import MIN_SAMPLES, record_observations, run_track
from racer.train.io import clean_stale_temps, is_disk_full, mark_owner

GOLDEN_SAMPLES = 16  # recorded inputs with expected outputs shipped for the car's self-test
DEFAULT_EXPORT_ROOT = Path("export")  # `racer export RUN` writes export/<run-name>/
LIBRARIES = ("racer", "numpy", "torch", "stable-baselines3", "onnx", "onnxruntime", "openvino")


@dataclass
class ExportResult:
    """What an export wrote and measured.

    Attributes:
        bundle_dir: the bundle folder.
        archive: the same bundle packed as ``.tar.gz``.
        metadata: the bundle's ``metadata.json``.
        parity: per-engine parity figures.
        latency: per-engine single-frame latency, ms.
        self_tests: the car runtime's golden self-test on each engine.
        samples: recorded observations the parity rests on.
        wall_s: time the export took, seconds.
        deepracer: the DeepRacer car's archive and its parity (``deepracer=True``), else None.
    """

    bundle_dir: Path
    archive: Path
    metadata: dict[str, Any]
    parity: list[parity.EngineParity]
    latency: dict[str, dict[str, float]]
    self_tests: list[SelfTestReport] = field(default_factory=list)
    samples: int = 0
    wall_s: float = 0.0
    deepracer: dr.DeepRacerExport | None = None

    def summary(self) -> str:
        """A few lines for humans."""
        lines = [p.summary() for p in self.parity]
        for name, lat in self.latency.items():
            lines.append(
                f"latency {name:<14} p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms "
                "(1 thread, batch 1)"
            )
        lines.extend(t.summary() for t in self.self_tests)
        lines.append(f"bundle  {self.bundle_dir}")
        lines.append(f"archive {self.archive}")
        if self.deepracer is not None:
            lines.append(self.deepracer.summary())
        return "\n".join(lines)


def git_commit(where: Path | None = None) -> str:
    """The git commit of the racer source tree, or ``"unknown"`` outside a repository."""
    folder = where or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if commit else "unknown"


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the libraries an export depends on."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in LIBRARIES + extra:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def preprocessing_steps(trained: TrainedPolicy) -> list[dict[str, Any]]:
    """The car-side steps that turn a sensor frame into the observation the simulator produced.

    Camera and stereo: :func:`racer.car.preprocess.camera_steps`, the very steps ``RaceEnv``
    makes its observation with (BT.601 gray, an area resize; identities on a simulator frame).
    Lidar ranges are clipped to the simulated range.
    """
    if trained.observation == "lidar":
        return [{"op": "clip", "low": 0.0, "high": float(LIDAR_MAX_RANGE_M)}]
    _, height, width = trained.obs_shape
    return camera_steps(width, height)


def deepracer_model_metadata(trained: TrainedPolicy) -> dict[str, Any]:
    """``model_metadata.json``: the run's own, else rebuilt from its config (the action space
    always the policy's; the same file the DeepRacer car archive holds)."""
    return dr.deepracer_metadata(trained)


def build_metadata(
    trained: TrainedPolicy,
    input_shape: tuple[int, ...],
    n_outputs: int,
    parities: list[parity.EngineParity],
    latencies: dict[str, dict[str, float]],
    int8: bool,
) -> dict[str, Any]:
    """``metadata.json`` without ``files`` (see :mod:`racer.car.bundle` for the contract)."""
    by_engine = {p.engine: p.to_dict() for p in parities}
    return {
        "schema_version": SCHEMA_VERSION,
        "provenance": {
            "racer_version": library_versions().get("racer", "unknown"),
            "git_commit": git_commit(),
            "libraries": library_versions(("nncf",) if int8 else ()),
            "run_id": trained.run_dir.resolve().name,
            "run_dir": str(trained.run_dir.resolve()),
            "model": trained.model_path.name,
            "algorithm": trained.algorithm,
            "track": run_track(trained),
            "observation_normalization": trained.obs_norm is not None,
            "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        **io_entries(
            trained.observation,
            input_shape,
            n_outputs,
            input_name=convert.INPUT_NAME,
            output_name=convert.OUTPUT_NAME,
        ),
        "preprocessing": preprocessing_steps(trained),
        **action_entries(trained.action_spec),
        "control_hz": CONTROL_HZ,
        "parity": {
            "reference": "stable-baselines3 policy, torch, deterministic",
            "samples": parities[0].samples if parities else 0,
            "observations": "recorded in the simulator with the trained policy driving",
            "engines": by_engine,
        },
        "latency": {
            "unit": "ms",
            "threads": 1,
            "batch": 1,
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "engines": latencies,
        },
    }


def default_output(run_dir: Path) -> Path:
    """``export/<run-name>`` in the current folder."""
    return DEFAULT_EXPORT_ROOT / run_dir.resolve().name


def export_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    which: str = "best",
    int8: bool = False,
    samples: int = 256,
    log: Callable[[str], None] | None = None,
    deepracer: bool = False,
    deepracer_out: str | Path | None = None,
) -> ExportResult:
    """Export a run to a deploy bundle (see the module docstring).

    Args:
        run_dir: the run folder.
        out: the bundle folder (default ``export/<run-name>``); the archive is ``<out>.tar.gz``.
        which: ``"best"`` or ``"final"`` model.
        int8: also write the INT8 OpenVINO IR (needs NNCF).
        samples: recorded observations for the parity check (at least 200).
        log: receives progress lines (None: silent).
        deepracer: also write the model a stock AWS DeepRacer car loads (``NAME.tar.gz``).
        deepracer_out: that archive's path (default ``<out's parent>/deepracer/<run-name>.tar.gz``).

    Returns:
        What was written and measured.

    Raises:
        ExportError: the run cannot be exported (or, with ``deepracer``, the car cannot
            run it); ParityError (a subclass): parity failed.
        MissingDependencyError: ``int8`` without NNCF.
    """
    t0 = time.perf_counter()
    say = log or (lambda _msg: None)
    if samples < MIN_SAMPLES:
        raise ExportError(f"parity needs at least {MIN_SAMPLES} observations, got {samples}")
    if int8 and not convert.nncf_available():
        convert._import_nncf()  # raises MissingDependencyError with the install command
    run = Path(run_dir)
    trained = load_trained_policy(run, which)
    dest = Path(out) if out is not None else default_output(run)
    archive = dest.with_name(dest.name + ".tar.gz")
    car_archive: Path | None = None
    if deepracer:
        dr.check_car_compatible(trained)  # refuse before minutes of recording
        car_archive = (
            Path(deepracer_out) if deepracer_out is not None else dr.default_archive(dest, run)
        )
        dr.check_archive_path(car_archive)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"{dest.parent}: cannot create the folder ({exc.strerror or exc})"
        ) from None
    clean_stale_exports(dest)
    torch.set_num_threads(1)

    say(f"recording {samples} observations on {run_track(trained)!r} ({trained.observation})")
    observations = record_observations(trained, samples)
    inputs = observations.astype(np.float32)
    expected = reference_outputs(trained, observations)
    if trained.discrete:
        actions = reference_actions(trained, observations).reshape(-1)
        if not np.array_equal(np.argmax(expected, axis=1), actions):
            raise ExportError("internal: the policy's probabilities disagree with its predict()")

    work: Path | None = None
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
        mark_owner(work)  # a later export leaves a live one alone (see clean_stale_exports)
        stage = work / dest.name
        stage.mkdir()
        input_shape = (1, *trained.obs_shape)
        graph = PolicyGraph(trained)
        say("exporting policy.onnx and the OpenVINO IR")
        convert.export_onnx(graph, torch.as_tensor(inputs[:1]), stage / POLICY_ONNX)
        convert.convert_openvino(stage / POLICY_ONNX, stage / OPENVINO_XML)
        engines: dict[str, Backend] = {
            "onnxruntime": OnnxRuntimeBackend(stage / POLICY_ONNX, threads=1),
            "openvino": OpenVinoBackend(stage / OPENVINO_XML, threads=1, precision="f32"),
        }
        if int8:
            say("quantising to INT8 (NNCF), calibrated on simulator frames")
            calibration = record_observations(trained, samples, phase=0.5, seed=10_000)
            convert.quantize_int8(
                stage / OPENVINO_XML,
                [x[None].astype(np.float32) for x in calibration],
                stage / OPENVINO_INT8_XML,
                convolutions_only=trained.observation != "lidar",
            )
            int8_engine = OpenVinoBackend(stage / OPENVINO_INT8_XML, threads=1)
            int8_engine.name = "openvino_int8"
            engines["openvino_int8"] = int8_engine

        outputs: dict[str, np.ndarray] = {}
        parities: list[parity.EngineParity] = []
        with torch.no_grad():
            eager = graph(torch.as_tensor(inputs)).numpy()
        parities.append(
            parity.compare("torch_module", expected, eager, trained.discrete, parity.FP32_TOLERANCE)
        )
        for name, engine in engines.items():
            outputs[name] = parity.run_engine(engine, inputs)
            is_int8 = name == "openvino_int8"
            parities.append(
                parity.compare(
                    name,
                    expected,
                    outputs[name],
                    trained.discrete,
                    parity.INT8_TOLERANCE if is_int8 else parity.FP32_TOLERANCE,
                    parity.INT8_MIN_AGREEMENT if is_int8 else 1.0,
                )
            )
        if not all(p.passed for p in parities):
            for p in parities:
                say(p.summary())
        parity.require(parities)

        car: dr.DeepRacerExport | None = None
        if car_archive is not None:
            say("writing the DeepRacer car's frozen graph; parity through OpenVINO (FP32, FP16)")
            car = _deepracer_graph(trained, observations, car_archive)
            if not all(p.passed for p in car.parity):
                for p in car.parity:
                    say(p.summary())
            parity.require(car.parity)

        latencies = {name: parity.latency(engine, inputs[0]) for name, engine in engines.items()}

        # golden.npz: evenly spaced recorded inputs and the exported model's (ORT) outputs.
        pick = np.linspace(0, len(inputs) - 1, GOLDEN_SAMPLES).round().astype(int)
        golden: dict[str, np.ndarray] = {
            "inputs": inputs[pick].reshape(len(pick), *input_shape),
            "outputs": outputs["onnxruntime"][pick].reshape(len(pick), 1, -1),
        }
        if trained.observation != "lidar":
            frames = observations[pick].astype(np.uint8)
            golden["frames"] = frames[:, 0] if trained.observation == "camera" else frames
        np.savez(stage / GOLDEN, **golden)  # type: ignore[arg-type]
        (stage / MODEL_METADATA).write_text(
            json.dumps(deepracer_model_metadata(trained), indent=2) + "\n", encoding="utf-8"
        )
        n_outputs = int(expected.shape[1])
        meta = build_metadata(trained, input_shape, n_outputs, parities, latencies, int8)
        meta = write_metadata(stage, meta)

        # The car's own loader and self-test, on every engine, before anything is published.
        say("verifying the bundle with the car runtime (checksums, golden self-test)")
        bundle = load_bundle(stage)
        tests = [bundle.self_test(name) for name in engines]
        del engines

        tmp_archive = work / archive.name
        pack_bundle(stage, tmp_archive)
        _publish(stage, dest, work)
        tmp_archive.replace(archive)
        if car is not None:
            t_car = time.perf_counter()
            dr.write_deepracer_archive(trained, car.archive, car.graph)
            car.wall_s += time.perf_counter() - t_car
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise ExportError(
            f"{dest.parent}: no space left on device while writing the bundle {dest.name}; "
            f"nothing was published ({dest} and {archive.name} are unchanged); free some space "
            "and export again"
        ) from None
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return ExportResult(
        bundle_dir=dest,
        archive=archive,
        metadata=json.loads((dest / METADATA).read_text(encoding="utf-8")),
        parity=parities,
        latency=latencies,
        self_tests=tests,
        samples=len(inputs),
        wall_s=time.perf_counter() - t0,
        deepracer=car,
    )


def _deepracer_graph(
    trained: TrainedPolicy, observations: np.ndarray, archive: Path
) -> dr.DeepRacerExport:
    """The car's graph of the policy and its parity on the recorded observations."""
    t0 = time.perf_counter()
    graph = dr.policy_graph(trained)
    figures = dr.check_parity(trained, graph, observations)
    return dr.DeepRacerExport(
        archive=archive,
        pb_bytes=len(graph.graph),
        graph=graph,
        parity=figures,
        wall_s=time.perf_counter() - t0,
    )


def clean_stale_exports(dest: Path) -> list[Path]:
    """Remove what killed exports to ``dest`` left beside it (``.NAME.XXXXXXXX.tmp`` folders).

    Only racer's exact temporary name for ``dest``, only this user's, only when untouched for a
    few minutes and its recorded owner process is gone. A killed export that had already moved
    the previous bundle aside (``_publish``) gets it moved back first.

    Returns:
        The removed temporaries.
    """

    def salvage(entry: Path) -> bool:
        old = entry / (dest.name + ".old")
        if old.is_dir() and not dest.exists() and not dest.is_symlink():
            try:
                old.rename(dest)
            except OSError:
                return True  # keep the temporary: it still holds the only copy
        return False

    return clean_stale_temps(dest.parent, dest.name, keep=salvage)


def _publish(stage: Path, dest: Path, work: Path) -> None:
    """Move the finished bundle folder to ``dest``, replacing an older bundle there."""
    if dest.exists() or dest.is_symlink():
        if dest.is_file() or dest.is_symlink():
            raise ExportError(f"{dest} exists and is not a folder; choose another --out")
        if any(dest.iterdir()) and not (dest / METADATA).is_file():
            raise ExportError(
                f"{dest} exists and is not a racer bundle; choose another --out or remove it"
            )
        old = work / (dest.name + ".old")
        dest.rename(old)
        try:
            stage.rename(dest)
        except BaseException:
            with contextlib.suppress(OSError):
                old.rename(dest)
            raise
    else:
        stage.rename(dest)
