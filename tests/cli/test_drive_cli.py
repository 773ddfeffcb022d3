"""`racer drive` (sim closed loop, tampered bundles) and `racer deploy` (ssh/scp faked in PATH)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from export_testlib import exported_bundle  # noqa: E402
from testlib.cli import run_cli as _racer


@pytest.fixture(scope="module")
def camera_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return exported_bundle(tmp_path_factory, "camera")


@pytest.mark.parametrize("archive", [False, True])
def test_drive_sim_prints_json_lines_and_report(
    camera_bundle: Path, archive: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = camera_bundle.with_name(camera_bundle.name + ".tar.gz") if archive else camera_bundle
    report = tmp_path / "report.json"
    code, out, err = _racer(
        [
            "drive",
            str(bundle),
            "--source",
            "sim:oval",
            "--max-steps",
            "30",
            "--actuator",
            "stdout",
            "--report-json",
            str(report),
        ],
        capsys,
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 31  # 30 commands and the final stop
    assert set(lines[0]) == {"t", "steering", "throttle", "steering_deg", "speed_mps"}
    assert lines[-1]["throttle"] == 0.0 and lines[-1]["steering"] == 0.0
    assert all(-1.0 <= c["steering"] <= 1.0 and c["speed_mps"] > 0 for c in lines[:-1])
    assert "self-test onnxruntime" in err and "drive: 30 steps" in err
    assert "p50" in err and "p99" in err and "sim oval:" in err and "progress" in err
    data = json.loads(report.read_text())
    assert data["drive"]["steps"] == 30
    assert sum(e["steps"] for e in data["sim"]["episodes"]) == 30


def test_drive_sim_openvino_one_episode(
    camera_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _racer(
        [
            "drive",
            str(camera_bundle),
            "--source",
            "sim:oval",
            "--actuator",
            "null",
            "--backend",
            "openvino",
            "--episode-steps",
            "20",
        ],
        capsys,
    )
    assert code == 0, err
    assert "self-test openvino" in out and "stopped by source end" in out
    assert "1 episode(s)" in out


def test_drive_images_source_same_path_as_golden(
    camera_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Recorded simulator frames saved as files drive to the golden outputs' actions."""
    import numpy as np

    from racer.car.bundle import load_bundle

    with load_bundle(camera_bundle) as b:
        golden, actions = b.golden(), b.metadata["action_space"]
    frames = tmp_path / "frames"
    frames.mkdir()
    for k, frame in enumerate(golden["frames"]):
        np.save(frames / f"{k:03d}.npy", frame)
    calib = tmp_path / "calibration.json"
    calib.write_text(json.dumps({"max_speed_mps": 4.0, "throttle_limit": 0.5}))
    code, out, err = _racer(
        [
            "drive",
            str(camera_bundle),
            "--source",
            f"images:{frames}",
            "--no-realtime",
            "--calibration",
            str(calib),
            "--throttle-curve",
            "deepracer",
        ],
        capsys,
    )
    assert code == 0, err
    sent = [json.loads(line) for line in out.splitlines()][:-1]
    assert len(sent) == len(golden["frames"])
    for cmd, expected in zip(sent, golden["outputs"], strict=True):
        want = actions[int(np.argmax(expected))]
        assert (cmd["steering_deg"], cmd["speed_mps"]) == (want["steering_angle"], want["speed"])
        x = want["speed"] / 4.0
        assert cmd["throttle"] == pytest.approx(0.5 * min(1.0, -1.2 * x * x + 2.2 * x), abs=1e-6)


def test_tampered_bundle_is_refused_and_nothing_driven(
    camera_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = Path(shutil.copytree(camera_bundle, tmp_path / "b"))
    onnx_path = bundle / "policy.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[-10] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    code, out, err = _racer(
        ["drive", str(bundle), "--source", "sim:oval", "--max-steps", "5"], capsys
    )
    assert code == 2 and out == ""
    assert err.startswith("racer: error: policy.onnx: checksum mismatch") and err.count("\n") == 1


def test_mismatched_golden_is_refused(
    camera_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Golden outputs that the model does not reproduce (checksums re-signed): self-test fails."""
    import numpy as np

    from racer.car.bundle import write_metadata

    bundle = Path(shutil.copytree(camera_bundle, tmp_path / "b"))
    with np.load(bundle / "golden.npz") as z:
        golden = {k: z[k] for k in z.files}
    golden["outputs"] = golden["outputs"][:, :, ::-1].copy()
    np.savez(bundle / "golden.npz", **golden)
    write_metadata(bundle, json.loads((bundle / "metadata.json").read_text()))
    code, out, err = _racer(["drive", str(bundle), "--source", "sim:oval"], capsys)
    assert code == 2 and out == ""
    assert "self-test on onnxruntime failed" in err and err.count("\n") == 1


def test_drive_bad_source(camera_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _racer(["drive", str(camera_bundle), "--source", "webcam"], capsys)
    assert code == 2 and "bad source" in err


# --- deploy, with ssh and scp faked at the process boundary ----------------------------------

FAKE_SSH = """#!/bin/sh
# fake ssh: log argv, then run the remote command here (last argument), as a shell would.
printf 'ssh' >> "$FAKE_LOG"; for a in "$@"; do printf ' [%s]' "$a" >> "$FAKE_LOG"; done
echo >> "$FAKE_LOG"
if [ -n "$FAKE_SSH_FAIL" ]; then
  echo "ssh: connect to host car port 22: Connection refused" >&2; exit 255
fi
for last; do :; done
exec sh -c "$last"
"""
FAKE_SCP = """#!/bin/sh
# fake scp: log argv, then copy SRC to the path after HOST: (the last two arguments).
printf 'scp' >> "$FAKE_LOG"; for a in "$@"; do printf ' [%s]' "$a" >> "$FAKE_LOG"; done
echo >> "$FAKE_LOG"
n=$#; i=0
for a in "$@"; do
  i=$((i+1)); [ $i -eq $((n-1)) ] && src="$a"; [ $i -eq $n ] && dst="$a"
done
cp "$src" "${dst#*:}"
"""


@pytest.fixture
def fake_transport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("scp", FAKE_SCP)):
        p = bin_dir / name
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "transport.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    return log


@pytest.mark.parametrize("archive", [True, False])
def test_deploy_copies_unpacks_and_self_tests(
    camera_bundle: Path,
    archive: bool,
    fake_transport: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = camera_bundle.with_name(camera_bundle.name + ".tar.gz") if archive else camera_bundle
    remote = tmp_path / "car home" / "bundles"
    code, out, err = _racer(
        [
            "deploy",
            str(bundle),
            f"deepracer@car:{remote}",
            "--ssh-opts",
            "-o BatchMode=yes",
            "--python",
            sys.executable,
            "--no-install-runtime",
        ],
        capsys,
    )
    assert code == 0, err
    calls = fake_transport.read_text().splitlines()
    assert len(calls) == 3
    assert calls[0].startswith("ssh [-o] [BatchMode=yes] [deepracer@car] [mkdir -p ")
    assert calls[1].startswith("scp [-o] [BatchMode=yes] [")
    assert calls[1].endswith(f"[deepracer@car:{remote}/bundle-camera.tar.gz]")
    assert "tar xzf bundle-camera.tar.gz" in calls[2] and "-m racer.car.selftest" in calls[2]
    assert (remote / "bundle-camera.tar.gz").is_file()
    assert (remote / "bundle-camera" / "metadata.json").is_file()
    assert "checksums ok" in out and "self-test onnxruntime" in out and "self-test openvino" in out
    assert f"deployed bundle-camera to deepracer@car:{remote}" in out


def test_deploy_ssh_failure_is_one_line(
    camera_bundle: Path,
    fake_transport: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_SSH_FAIL", "1")
    code, out, err = _racer(["deploy", str(camera_bundle), "car:bundles"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "racer: error: ssh car failed (exit 255): ssh: connect to host car port 22: "
        "Connection refused"
    )
    assert err.count("racer: error:") == 1


def test_deploy_remote_selftest_failure(
    camera_bundle: Path, fake_transport: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The car has no racer installed: the remote self-test's error comes back as one line."""
    remote = tmp_path / "remote"
    code, _, err = _racer(
        [
            "deploy",
            str(camera_bundle),
            f"car:{remote}",
            "--python",
            "/nonexistent/python3",
            "--no-install-runtime",
        ],
        capsys,
    )
    assert code == 2 and "remote self-test on car failed" in err


#: a car's python: logs its arguments; pip exits with FAKE_PIP_EXIT (0: "installed", nothing
#: changes), anything else runs in the test's interpreter (a virtual environment: no --user).
FAKE_PYTHON = """#!/bin/sh
printf 'python' >> "$FAKE_PY_LOG"; for a in "$@"; do printf ' [%s]' "$a" >> "$FAKE_PY_LOG"; done
echo >> "$FAKE_PY_LOG"
if [ "$1 $2" = "-m pip" ]; then
  [ "${FAKE_PIP_EXIT:-0}" = 0 ] && exit 0
  echo "error: externally-managed-environment" >&2; exit "$FAKE_PIP_EXIT"
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "car-bin" / "python3"
    path.parent.mkdir()
    path.write_text(FAKE_PYTHON)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_PY_LOG", str(tmp_path / "python.log"))
    monkeypatch.setenv("REAL_PYTHON", sys.executable)
    return path


def test_deploy_installs_the_runtime_wheel_before_the_self_test(
    camera_bundle: Path,
    fake_transport: Path,
    fake_python: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import zipfile

    from racer.cli.car import wheel_name

    remote = tmp_path / "car" / "bundles"
    code, out, err = _racer(
        ["deploy", str(camera_bundle), f"car:{remote}", "--python", str(fake_python)], capsys
    )
    assert code == 0, err
    wheel = wheel_name()
    calls = fake_transport.read_text().splitlines()
    assert len(calls) == 5
    assert calls[2].startswith("scp [") and calls[2].endswith(f"[car:{remote}/{wheel}]")
    assert "-m pip install" in calls[3] and "--force-reinstall" in calls[3]
    assert "-m racer.car.selftest" in calls[4]
    with zipfile.ZipFile(remote / wheel) as zf:
        assert "racer/car/runtime.py" in zf.namelist()
    pips = [ln for ln in (tmp_path / "python.log").read_text().splitlines() if "[-m] [pip]" in ln]
    assert len(pips) == 2 and all(f"[{wheel}]" in ln and "--user" not in ln for ln in pips)
    assert "--no-deps" not in pips[0] and "[--no-deps] [--force-reinstall]" in pips[1]
    assert "self-test onnxruntime" in out and f"installing {wheel} on car" in err


def test_deploy_runtime_install_failure_is_one_line(
    camera_bundle: Path,
    fake_transport: Path,
    fake_python: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_PIP_EXIT", "1")
    code, _, err = _racer(
        ["deploy", str(camera_bundle), f"car:{tmp_path / 'r'}", "--python", str(fake_python)],
        capsys,
    )
    assert code == 2 and err.count("racer: error:") == 1
    line = err.splitlines()[-1]
    assert line.startswith("racer: error: installing racer-car on car failed (exit 1): error: ")
    assert "--no-install-runtime" in line
    assert "selftest" not in fake_transport.read_text()  # nothing self-tested after a failure


def test_deploy_bad_target(camera_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _racer(["deploy", str(camera_bundle), "car-without-dir"], capsys)
    assert code == 2 and "use HOST:DIR" in err


# --- DeepRacer model archives ----------------------------------------------------------------


@pytest.fixture(scope="module")
def deepracer_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("openvino")
    pytest.importorskip("tensorboard")
    from testlib.deepracer_models import build_archive

    return build_archive(tmp_path_factory.mktemp("drive-dr") / "dr_model.tar.gz")


def test_drive_sim_with_a_deepracer_archive(
    deepracer_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code, out, err = _racer(
        [
            "drive",
            str(deepracer_archive),
            "--source",
            "sim:oval",
            "--max-steps",
            "20",
            "--report-json",
            str(report),
        ],
        capsys,
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 21  # 20 commands and the final stop
    from testlib.deepracer_models import DISCRETE_ACTIONS

    pairs = {(a["steering_angle"], a["speed"]) for a in DISCRETE_ACTIONS}
    assert all((c["steering_deg"], c["speed_mps"]) in pairs for c in lines[:-1])
    assert "check openvino: DeepRacer model" in err and "drive: 20 steps" in err
    data = json.loads(report.read_text())
    assert data["drive"]["backend"] == "openvino" and data["drive"]["steps"] == 20


def test_drive_deepracer_archive_on_onnxruntime_is_one_line(
    deepracer_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _racer(
        ["drive", str(deepracer_archive), "--source", "sim:oval", "--backend", "onnxruntime"],
        capsys,
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "runs on OpenVINO only; use --backend openvino" in err
