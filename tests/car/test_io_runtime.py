"""Sources, actuators, the drive loop, and the runtime's import isolation."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from racer.car.actuators import Command, Pca9685Actuator, StdoutActuator, parse_actuator
from racer.car.runtime import Driver
from racer.car.sources import ArraySource, CallableSource, parse_source, read_png, write_png
from racer.errors import BundleError, ConfigError

REPO = Path(__file__).resolve().parents[2]


def _frames_dir(tmp_path: Path, n: int = 6) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        if i % 2:
            write_png(d / f"{i:03d}.png", frame)
        else:
            np.save(d / f"{i:03d}.npy", frame)
    return d


def test_png_round_trip_all_filters(tmp_path: Path) -> None:
    import struct
    import zlib

    img = np.random.default_rng(2).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    assert np.array_equal(read_png(tmp_path / "a.png"), img)
    # Hand-encode with filters 1-4 (Sub, Up, Average, Paeth) and decode.
    raw = img.reshape(5, -1).astype(np.int32)
    rows = []
    for y in range(5):
        ft = y % 5
        prev = raw[y - 1] if y else np.zeros(12, np.int32)
        left = np.concatenate([np.zeros(3, np.int32), raw[y, :-3]])
        upleft = np.concatenate([np.zeros(3, np.int32), prev[:-3]])
        if ft == 0:
            pred = np.zeros(12, np.int32)
        elif ft == 1:
            pred = left
        elif ft == 2:
            pred = prev
        elif ft == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        rows.append(bytes([ft]) + ((raw[y] - pred) & 0xFF).astype(np.uint8).tobytes())

    def chunk(k: bytes, b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 5, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    (tmp_path / "f.png").write_bytes(png)
    assert np.array_equal(read_png(tmp_path / "f.png"), img)


def test_images_source(tmp_path: Path) -> None:
    src = parse_source(f"images:{_frames_dir(tmp_path, 4)}")
    frames = [src.read() for _ in range(5)]
    assert all(f.shape == (240, 320, 3) for f in frames[:4]) and frames[4] is None


@pytest.mark.parametrize(
    "spec", ["images", "images:/nonexistent", "camera:x", "nope:1", "sim:oval"]
)
def test_bad_source_specs(spec: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_source(spec)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "spec", ["udp:host", "udp::80", "udp:h:99999", "pca9685:1", "serial", "stdout:x"]
)
def test_bad_actuator_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_actuator(spec)


def test_stdout_actuator_json_lines() -> None:
    buf = io.StringIO()
    act = StdoutActuator(buf)
    act.send(Command(0.5, 0.25, -0.5, 7.5, 1.0))
    act.send(Command.stop(1.0))
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert lines[0] == {
        "t": 0.5,
        "steering": 0.25,
        "throttle": -0.5,
        "steering_deg": 7.5,
        "speed_mps": 1.0,
    }
    assert lines[1]["throttle"] == 0.0


def test_udp_actuator() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        act = parse_actuator(f"udp:127.0.0.1:{server.getsockname()[1]}")
        act.send(Command(1.0, -0.1, 0.3, -3.0, 1.2))
        act.close()
        msg = json.loads(server.recv(4096))
    assert msg["steering"] == -0.1 and msg["speed_mps"] == 1.2


def test_pca9685_duty_cycles() -> None:
    class Ch:
        duty_cycle = 0

    class FakePca:
        channels = [Ch() for _ in range(16)]

    pca = FakePca()
    act = Pca9685Actuator(steering_channel=3, throttle_channel=4, pca=pca)
    act.send(Command(0, 1.0, 0.0, 30.0, 0.0))
    assert pca.channels[3].duty_cycle == round(2000 / 20000 * 0xFFFF)
    assert pca.channels[4].duty_cycle == round(1500 / 20000 * 0xFFFF)


def test_driver_end_to_end(discrete_bundle: Path, tmp_path: Path) -> None:
    buf = io.StringIO()
    drv = Driver(
        discrete_bundle,
        "openvino",
        parse_source(f"images:{_frames_dir(tmp_path)}"),
        StdoutActuator(buf),
        realtime=False,
    )
    report = drv.run()
    assert report.steps == 6 and report.stopped_by == "source_end"
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert len(lines) == 7 and lines[-1]["throttle"] == 0.0  # six commands, then stop
    text = report.summary()
    assert "p50" in text and "p99" in text and "self-test openvino" in text
    assert all(-1 <= x["steering"] <= 1 and 0 <= x["throttle"] <= 1 for x in lines)


def test_driver_closed_loop_max_steps_and_interrupt(continuous_bundle: Path) -> None:
    applied: list[tuple[float, ...]] = []
    frame = np.zeros((120, 160), np.uint8)
    src = CallableSource(lambda: frame, apply=lambda *a: applied.append(a))
    report = Driver(
        continuous_bundle, "onnxruntime", src, parse_actuator("null"), max_steps=5, realtime=False
    ).run()
    assert report.steps == 5 and report.stopped_by == "max_steps" and len(applied) == 5

    def boom() -> np.ndarray:
        if len(applied) >= 7:
            raise KeyboardInterrupt
        return frame

    report = Driver(
        continuous_bundle,
        "onnxruntime",
        CallableSource(boom, lambda *a: applied.append(a)),
        parse_actuator("null"),
        realtime=False,
    ).run()
    assert report.stopped_by == "interrupted" and report.steps == 2


def test_driver_realtime_pacing(continuous_bundle: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    src = ArraySource([np.zeros((120, 160), np.uint8)] * 4)
    report = Driver(
        continuous_bundle,
        "onnxruntime",
        src,
        parse_actuator("null"),
        clock=lambda: now[0],
        sleep=sleep,
        control_hz=10,
    ).run()
    assert report.steps == 4 and slept == pytest.approx([0.1] * 4)
    assert report.duration_s == pytest.approx(0.4) and report.loop_hz == pytest.approx(10)


def test_driver_refuses_bad_bundle(discrete_bundle: Path) -> None:
    (discrete_bundle / "policy.onnx").write_bytes(b"junk")
    with pytest.raises(BundleError, match="policy.onnx: checksum"):
        Driver(discrete_bundle, "onnxruntime", ArraySource([]), parse_actuator("null"))


def test_runtime_imports_no_training_stack(discrete_bundle: Path, tmp_path: Path) -> None:
    frames = _frames_dir(tmp_path, 3)
    code = textwrap.dedent(
        f"""
        import sys
        BLOCKED = {{"torch", "stable_baselines3", "pybullet", "gymnasium", "cv2", "onnx",
                    "matplotlib", "typer", "pydantic"}}
        ALLOWED_RACER = {{"racer", "racer.errors", "racer._registration"}}

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                if top in BLOCKED:
                    raise ImportError(f"blocked import of {{name}}")
                ours = name in ALLOWED_RACER or name.startswith(("racer.car", "racer.contract", "racer.util"))
                if top == "racer" and not ours:
                    raise ImportError(f"blocked import of {{name}}")
                return None

        sys.meta_path.insert(0, Blocker())
        import racer.car, racer.car.runtime
        from racer.car import Driver, parse_actuator, parse_source
        for backend in ("onnxruntime", "openvino"):
            report = Driver({str(discrete_bundle)!r}, backend, parse_source("images:{frames}"),
                            parse_actuator("null"), realtime=False).run()
            assert report.steps == 3, report
        print(report.summary())
        bad = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not bad, bad
        print("ISOLATED-OK")
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ISOLATED-OK" in res.stdout


def test_driver_releases_source_and_actuator_when_self_test_fails(continuous_bundle: Path) -> None:
    from racer.car.bundle import load_bundle, write_metadata

    g = dict(np.load(continuous_bundle / "golden.npz"))
    g["outputs"] = g["outputs"] + np.float32(1.0)  # the engine no longer gives the recorded answer
    np.savez(continuous_bundle / "golden.npz", **g)
    meta = json.loads((continuous_bundle / "metadata.json").read_text())
    write_metadata(continuous_bundle, meta)  # checksums match: only the self-test can catch it
    closed: list[str] = []

    class Recorder:
        def send(self, command: Command) -> None:
            raise AssertionError("nothing may be driven")

        def close(self) -> None:
            closed.append("actuator")

    source = CallableSource(
        lambda: np.zeros((120, 160), np.uint8), close=lambda: closed.append("source")
    )
    drv = Driver(load_bundle(continuous_bundle), "onnxruntime", source, Recorder(), realtime=False)
    with pytest.raises(BundleError):
        drv.run()
    assert sorted(closed) == ["actuator", "source"]
