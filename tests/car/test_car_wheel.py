"""The racer-car wheel: what it holds, and that it drives a bundle in a fresh environment alone.

The fresh environment is a ``python -m venv --without-pip`` with the wheel installed by this
environment's pip (``pip --python``, ``--no-deps --no-index``: offline). Its dependencies are not
downloaded: the distributions pip would install for it (numpy, ONNX Runtime and what they require,
read from their metadata here) are linked in from this environment's site-packages, file by file
of their RECORD's top-level entries, so the new environment sees exactly those and nothing else of
the trainer's stack. ``pip check`` then proves the set complete for racer-car's metadata.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from testlib.cli import run_cli

import racer
from racer.car.actuators import StdoutActuator
from racer.car.runtime import Driver
from racer.car.sources import ArraySource
from racer.cli.car import DEPENDENCIES, build_car_wheel, source_files, wheel_bytes, wheel_name

#: must never reach the car: the trainer's stack and the desktop CLI's
FORBIDDEN = ("torch", "pybullet", "gymnasium", "stable_baselines3", "matplotlib", "typer")
INFO = f"racer_car-{racer.__version__}.dist-info"


def _metadata_lines(wheel: zipfile.ZipFile, key: str) -> list[str]:
    text = wheel.read(f"{INFO}/METADATA").decode()
    return [ln.split(": ", 1)[1] for ln in text.splitlines() if ln.startswith(f"{key}: ")]


def test_wheel_holds_the_runtime_only(tmp_path: Path) -> None:
    path = build_car_wheel(tmp_path)
    assert path.name == wheel_name() == f"racer_car-{racer.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        code = {n for n in names if not n.startswith(INFO)}
        assert code == set(source_files())
        assert {n.split("/")[1] for n in code if n.count("/") == 2} == {"car", "contract", "util"}
        assert {n for n in code if n.count("/") == 1} == {
            "racer/__init__.py",
            "racer/_registration.py",
            "racer/errors.py",
            "racer/py.typed",
        }
        assert _metadata_lines(zf, "Requires-Python") == [">=3.9"]
        base = [r for r in _metadata_lines(zf, "Requires-Dist") if "extra ==" not in r]
        assert sorted(Requirement(r).name for r in base) == ["numpy", "onnxruntime"]
        assert _metadata_lines(zf, "Provides-Extra") == ["openvino", "camera", "pca9685"]
        scripts = zf.read(f"{INFO}/entry_points.txt").decode()
        assert "racer-car = racer.car.cli:main" in scripts
        # RECORD: every other file with its sha256 and size
        record = zf.read(f"{INFO}/RECORD").decode().splitlines()
        assert {ln.split(",")[0] for ln in record} == names
        for ln in record:
            name, digest, size = ln.split(",")
            if name.endswith("RECORD"):
                continue
            data = zf.read(name)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={want}", len(data))
    assert path.read_bytes() == wheel_bytes()  # reproducible


def test_car_wheel_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["car-wheel", str(tmp_path / "dist")], capsys)
    assert code == 0, err
    path = tmp_path / "dist" / wheel_name()
    assert path.is_file()
    assert out.splitlines()[0].startswith(f"{path} (") and "KiB" in out


def _distributions(requirements: tuple[str, ...]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions pip would install for ``requirements``: their closure."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if canonicalize_name(req.name) in found:
            continue
        dist = importlib.metadata.distribution(req.name)
        assert dist.version in req.specifier, f"{req} is not satisfied here ({dist.version})"
        found[canonicalize_name(req.name)] = dist
        todo += dist.requires or []
    return found


def _link_distributions(dists: dict[str, importlib.metadata.Distribution], site: Path) -> None:
    for dist in dists.values():
        origin = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            if (origin / top).exists() and not (site / top).exists():
                (site / top).symlink_to(origin / top)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, f"{cmd}: {res.stdout}\n{res.stderr}"
    return res


def _tree_bytes(*paths: Path) -> int:
    total = 0
    for p in paths:
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        total += sum(f.stat().st_size for f in files)
    return total


CHECK = """
import importlib.util, json, sys
import racer, racer.car, racer.car.cli
loaded = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
print(json.dumps({
    "racer": racer.__file__,
    "importable": [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None],
    "racer.cli": importlib.util.find_spec("racer.cli") is not None,
    "loaded": loaded,
}))
"""


def test_fresh_environment_drives_a_bundle(discrete_bundle: Path, tmp_path: Path) -> None:
    wheel = build_car_wheel(tmp_path / "dist")
    venv = tmp_path / "car-venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    py = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(py), "--disable-pip-version-check"]
    _run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)
    site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
        ).stdout.strip()
    )
    added = [site / "racer", site / INFO, venv / "bin" / "racer-car"]
    installed_bytes = _tree_bytes(*added)
    dists = _distributions(DEPENDENCIES)
    _link_distributions(dists, site)

    # What is there: racer-car and its dependencies' closure, nothing of the trainer.
    listed = json.loads(_run([*pip, "list", "--format=json"], tmp_path).stdout)
    names = {canonicalize_name(d["name"]) for d in listed}
    assert names == {"racer-car", *dists}, names
    assert not names & {canonicalize_name(m) for m in FORBIDDEN}
    _run([*pip, "check"], tmp_path)
    found = json.loads(_run([str(py), "-I", "-c", CHECK, *FORBIDDEN], tmp_path).stdout)
    assert Path(found["racer"]).is_relative_to(site)  # the wheel's racer, not this tree's
    assert found["importable"] == [] and not found["racer.cli"]
    assert set(found["loaded"]) <= {"__main__", "racer", "numpy"}, found["loaded"]  # lazy engines

    # Drive the bundle from recorded frames (its golden camera frames) with the console script.
    with np.load(discrete_bundle / "golden.npz") as golden:
        frames = golden["frames"]
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for i, frame in enumerate(frames):
        np.save(frames_dir / f"{i:03d}.npy", frame)
    car = str(venv / "bin" / "racer-car")
    assert _run([car, "--version"], tmp_path).stdout.strip() == f"racer-car {racer.__version__}"
    test = _run([car, "selftest", str(discrete_bundle)], tmp_path)
    assert "checksums ok" in test.stdout and "self-test onnxruntime" in test.stdout
    assert "openvino" not in test.stdout  # not installed there
    report = tmp_path / "report.json"
    cmd = [car, "drive", str(discrete_bundle), "--source", f"images:{frames_dir}", "--no-realtime"]
    res = _run([*cmd, "--report-json", str(report)], tmp_path)
    drive = json.loads(report.read_text())["drive"]
    assert drive["steps"] == len(frames) and drive["stopped_by"] == "source_end"
    assert drive["self_test"]["passed"] and drive["backend"] == "onnxruntime"
    assert "self-test onnxruntime" in res.stderr  # the report stays off the commands' stream

    # The same commands as this environment's runtime gives on the same frames.
    buf = io.StringIO()
    Driver(
        discrete_bundle, "onnxruntime", ArraySource(frames), StdoutActuator(buf), realtime=False
    ).run()

    def commands(text: str) -> list[dict[str, float]]:
        return [{k: v for k, v in json.loads(ln).items() if k != "t"} for ln in text.splitlines()]

    assert commands(res.stdout) == commands(buf.getvalue())
    assert len(commands(res.stdout)) == len(frames) + 1  # the frames' commands, then stop

    # A user mistake is one line and status 2.
    bad = subprocess.run(
        [car, "drive", str(discrete_bundle), "--source", "sim:oval"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("racer-car: error: source 'sim:oval'")
    print(
        f"\nracer-car wheel: {wheel.stat().st_size} bytes; installed: {installed_bytes} bytes "
        f"in {', '.join(p.name for p in added)}"
    )
