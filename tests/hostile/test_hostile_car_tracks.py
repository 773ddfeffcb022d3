"""Hostile inputs for the car's calibration, track files and the CLI's file arguments (#12).

Items 6 (calibration values), 11 (track sizes and the self-intersection check) and 14
(unsupported image suffixes, unbalanced ``--ssh-opts`` quotes), and the same classes of input on
every command that takes a track or a file: folders, FIFOs, devices, symlink loops, empty files,
odd bytes in names. Each input is built here, small; bombs are headers that claim far more than
they hold. Every refusal is one line on stderr and exit status 2 from the CLI.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from testlib.cli import assert_refused as refused
from testlib.cli import run_cli as racer

from racer.car.actions import MAX_CALIBRATION_BYTES, Calibration
from racer.car.actuators import Command, Pca9685Actuator, parse_actuator
from racer.errors import ConfigError, TrackError
from racer.track import Track, load_track, validate_track
from racer.track import validation as tv
from racer.track.loading import MAX_CONTROL_POINTS, MAX_TOML_BYTES

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def racer_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty RACER_HOME."""
    home = tmp_path / "racer_home"
    monkeypatch.setenv("RACER_HOME", str(home))
    return home


def ring_rows(n: int = 60, r: float = 3.0, w: float = 0.9) -> np.ndarray:
    """DeepRacer rows of a circle, the first row repeated at the end as DeepRacer does."""
    theta = 2 * np.pi * np.arange(n + 1) / n
    ring = np.stack((np.cos(theta), np.sin(theta)), axis=1)
    return np.hstack((ring * r, ring * (r - w / 2), ring * (r + w / 2)))


def npy_header(path: Path, shape: tuple[int, ...], descr: str = "<f8", body: bytes = b"") -> Path:
    """A ``.npy`` file whose header claims ``shape``/``descr``, followed by ``body`` only."""
    with path.open("wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": descr, "fortran_order": False, "shape": shape}
        )
        fh.write(body)
    return path


# ---------------------------------------------------------------------------- item 6: calibration

BAD_CALIBRATIONS = [
    ({"max_speed_mps": math.nan}, "max_speed_mps", "(0, 4] m/s"),
    ({"max_speed_mps": math.inf}, "max_speed_mps", "(0, 4] m/s"),
    ({"max_speed_mps": -math.inf}, "max_speed_mps", "(0, 4] m/s"),
    ({"max_speed_mps": 0}, "max_speed_mps", "(0, 4] m/s"),
    ({"max_speed_mps": 400}, "max_speed_mps", "(0, 4] m/s"),
    ({"max_speed_mps": "4"}, "max_speed_mps", "got '4'"),
    ({"max_speed_mps": None}, "max_speed_mps", "got None"),
    ({"max_speed_mps": True}, "max_speed_mps", "got True"),
    ({"max_speed_mps": [1]}, "max_speed_mps", "finite number"),
    ({"max_steering_deg": 45}, "max_steering_deg", "(0, 30] deg"),
    ({"max_steering_deg": math.nan}, "max_steering_deg", "(0, 30] deg"),
    ({"steering": {"min": -1e9}}, "steering.min", "[500, 2500] us"),
    ({"steering": {"max": 1e9}}, "steering.max", "[500, 2500] us"),
    ({"throttle": {"min": -1e9, "max": 1e9}}, "throttle.min", "[500, 2500] us"),
    ({"throttle": {"mid": math.inf}}, "throttle.mid", "[500, 2500] us"),
    ({"throttle": {"mid": "1500"}}, "throttle.mid", "finite number"),
    ({"throttle": {"min": 1600}}, "min < mid < max", ""),
    ({"steering": {"min": 1500, "mid": 1500}}, "min < mid < max", ""),
    ({"steering": {"polarity": 0}}, "steering.polarity", "1 or -1"),
    ({"steering": {"polarity": "-1"}}, "steering.polarity", "1 or -1"),
    ({"steering": {"polarity": math.nan}}, "steering.polarity", "1 or -1"),
    ({"throttle_limit": 1.5}, "throttle_limit", "[0, 1]"),
    ({"throttle_limit": -0.1}, "throttle_limit", "[0, 1]"),
    ({"throttle_curve": "exponential"}, "throttle_curve", "linear, deepracer"),
    ({"throttle_curve": 1}, "throttle_curve", "linear, deepracer"),
    ({"max_sped_mps": 1.0}, "unknown key 'max_sped_mps'", "did you mean max_speed_mps"),
    ({"steering": {"polarty": 1}}, "unknown key 'steering.polarty'", "steering.polarity"),
    ({"steering": [1000, 1500, 2000]}, "steering must be an object", ""),
]


@pytest.mark.parametrize(("data", "key", "allowed"), BAD_CALIBRATIONS)
def test_calibration_values_refused(data: dict, key: str, allowed: str, tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(data))  # json writes NaN / Infinity literals, as a user might
    with pytest.raises(ConfigError) as info:
        Calibration.load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert key in message and allowed in message


def test_calibration_nan_max_speed_refused_by_drive_before_any_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's input: NaN max speed gave full throttle. Now nothing is even opened."""
    cal = tmp_path / "cal.json"
    cal.write_text('{"max_speed_mps": NaN, "steering": {"min": -1e9, "max": 1e9}}')
    args = ["drive", str(tmp_path / "no-bundle"), "--source", "images:x", "--actuator", "null"]
    refused([*args, "--calibration", str(cal)], capsys, "steering.min", "[500, 2500] us")
    cal.write_text('{"max_speed_mps": NaN}')
    refused([*args, "--calibration", str(cal)], capsys, "max_speed_mps", "(0, 4] m/s")


def _file_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Calibration paths that are not a readable JSON file, and a word each message holds."""
    cases: dict[str, tuple[Path, str]] = {}
    cases["missing"] = (tmp_path / "missing.json", "not found")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    cases["directory"] = (folder, "is a directory")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    cases["fifo"] = (fifo, "not a regular file")
    cases["device"] = (Path("/dev/zero"), "not a regular file")
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    cases["symlink loop"] = (loop, "cannot read")
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"throttle_curve": "liné"}'.encode("latin-1"))
    cases["not utf-8"] = (latin, "not UTF-8")
    text = tmp_path / "text.json"
    text.write_text("max_speed_mps = 2.0\n")
    cases["not json"] = (text, "not valid JSON")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "not valid JSON")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 30_000 + "]" * 30_000)
    cases["deeply nested"] = (deep, "not valid JSON")
    big = tmp_path / "big.json"
    with big.open("wb") as fh:  # sparse: nothing is written to disk
        fh.truncate(MAX_CALIBRATION_BYTES + 1)
    cases["oversized"] = (big, "at most 64 KiB")
    arr = tmp_path / "list.json"
    arr.write_text("[1, 2]")
    cases["not an object"] = (arr, "expected a JSON object")
    odd = tmp_path / os.fsdecode(b"odd\n\xff.json")
    odd.write_text("{}}")
    cases["odd bytes in the name"] = (odd, "not valid JSON")
    return cases


@pytest.mark.timeout(20)
def test_calibration_files_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for what, (path, needle) in _file_cases(tmp_path).items():
        with pytest.raises(ConfigError) as info:
            Calibration.load(path)
        assert needle in str(info.value) and "\n" not in str(info.value), what
        args = ["drive", "no-bundle", "--source", "images:x", "--calibration", str(path)]
        refused(args, capsys, needle)


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_calibration_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text("{}")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        Calibration.load(path)


def test_calibration_nan_commands_are_neutral_and_mutations_rechecked() -> None:
    cal = Calibration()
    assert cal.commands(math.nan, math.nan) == (0.0, 0.0)
    assert cal.pwm(math.nan, math.nan) == (1500.0, 1500.0)
    assert Calibration.from_dict({"steering": {"polarity": -1.0}}).steering.polarity == -1
    cal.max_speed_mps = math.nan  # changed after loading: the PWM driver checks again

    class Board:
        channels = [type("Ch", (), {"duty_cycle": 0})() for _ in range(16)]

    with pytest.raises(ConfigError, match="max_speed_mps"):
        Pca9685Actuator(cal, pca=Board())
    with pytest.raises(ConfigError, match="frequency"):
        Pca9685Actuator(Calibration(), frequency_hz=math.nan, pca=Board())
    act = Pca9685Actuator(Calibration(), pca=Board())
    act.send(Command(0.0, math.nan, math.nan, 0.0, 0.0))  # NaN commands: neutral pulses
    assert Board.channels[0].duty_cycle == Board.channels[1].duty_cycle == act.duty_cycle(1500)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("udp:" + "a" * 100 + ":9", "cannot resolve"),  # idna: label too long
        ("udp:\udcff:9", "cannot resolve"),  # a surrogate from odd bytes in argv
        ("udp:" + "b." * 130 + ":9", "longer than 253"),
        ("udp:" + "x" * 100_000 + ":9", "too long"),
        ("udp:host:" + "9" * 200, "port in 1-65535"),
        ("udp:host:" + "9" * 5000, "too long"),
        ("pca9685:0:16", "two different 0-15"),
    ],
)
def test_actuator_specs_refused(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_actuator(spec)
    assert needle in str(info.value) and len(str(info.value)) < 400


# ---------------------------------------------------------------------------- item 14: deploy


def test_deploy_unbalanced_ssh_opts_quote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        ["deploy", str(tmp_path / "b"), "car:bundles", "--ssh-opts", '-o "x'],
        capsys,
        "--ssh-opts",
        "No closing quotation",
    )
    refused(["deploy", str(tmp_path / "b"), "car:bundles", "--ssh-opts", "-i key\\"], capsys)
    refused(["deploy", "--", str(tmp_path / "b"), "-oProxyCommand=x:dir"], capsys, "cannot start")


# ---------------------------------------------------------------------------- item 11: tracks


def test_npy_header_claiming_1e12_rows_is_refused_before_allocating(tmp_path: Path) -> None:
    path = npy_header(tmp_path / "bomb.npy", (10**12, 6), body=b"\0" * 96)
    t0 = time.perf_counter()
    with pytest.raises(TrackError, match=r"1000000000000 rows; a track has at most 100000"):
        load_track(path)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    ("shape", "descr", "body", "needle"),
    [
        ((2_000_000, 6), "<f8", b"", "at most 100000"),  # the red team's 24 GB run
        ((100, 6), "|O", b"", "objects are refused"),
        ((100, 6), [("x", "<f8")], b"", "objects are refused"),
        ((100, 6), "<i8", b"", "float array"),
        ((100, 6), "<c16", b"", "float array"),
        ((100, 6), "|S8", b"", "float array"),
        ((100, 5), "<f8", b"", "shape (N, 6)"),
        ((10, 6, 6), "<f8", b"", "shape (N, 6)"),
        ((), "<f8", b"", "shape (N, 6)"),
        ((1000, 6), "<f8", b"\0" * 480, "truncated"),
    ],
)
def test_npy_headers_refused(
    tmp_path: Path, shape: tuple[int, ...], descr: object, body: bytes, needle: str
) -> None:
    path = tmp_path / "bad.npy"
    with path.open("wb") as fh:
        header = {"descr": descr, "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(body)
    with pytest.raises(TrackError) as info:
        load_track(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_npy_not_numpy_at_all(tmp_path: Path) -> None:
    import pickle
    import zipfile

    cases = {
        "pickle.npy": pickle.dumps({"a": 1}),
        "empty.npy": b"",
        "zip.npy": b"",
        "v3.npy": b"\x93NUMPY\x03\x00" + b"\x10\x00\x00\x00" + b"{}" + b" " * 13 + b"\n",
        "badhdr.npy": b"\x93NUMPY\x01\x00" + b"\x10\x00" + b"{'descr': os}  \n",
        "hugehdr.npy": b"\x93NUMPY\x02\x00" + b"\xff\xff\xff\x00" + b"{" * 64,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
    with zipfile.ZipFile(tmp_path / "zip.npy", "w") as zf:
        zf.writestr("arr_0.npy", b"x")
    for name in cases:
        with pytest.raises(TrackError) as info:
            load_track(tmp_path / name)
        message = str(info.value)
        assert "cannot read it as a NumPy .npy file" in message and "\n" not in message, name


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda r: r.__setitem__((5, 0), 1e300), "beyond 1000 m"),
        (lambda r: r.__setitem__((5, 4), 1e5), "beyond 1000 m"),  # a 100 km wide road
        (lambda r: r.__setitem__((5, slice(4, 6)), r[5, 2:4] * 3.0), "within 0.2-5 m"),
        (lambda r: r.__setitem__((5, 3), np.nan), "NaN or infinite"),
    ],
)
def test_npy_values_refused(tmp_path: Path, change, needle: str) -> None:
    rows = ring_rows()
    change(rows)
    path = tmp_path / "bad.npy"
    np.save(path, rows)
    with pytest.raises(TrackError, match=needle):
        load_track(path)


def write_toml(path: Path, points: list, *, width: float = 1.0, extra: str = "") -> Path:
    pts = ", ".join(f"[{x!r}, {y!r}]" for x, y in points)
    path.write_text(f'name = "t"\nwidth_m = {width!r}\npoints = [{pts}]\n{extra}')
    return path


SQUARE = [[0.0, 0.0], [6.0, 0.0], [6.0, 6.0], [0.0, 6.0]]
SPIRAL_5700_M = [
    [0, 0],
    [900, 0],
    [900, 900],
    [0, 900],
    [0, 100],
    [800, 100],
    [800, 800],
    [100, 800],
]


@pytest.mark.parametrize(
    ("points", "width", "extra", "needle"),
    [
        ([[1e300, 0.0], *SQUARE[1:]], 1.0, "", "beyond 1000 m"),
        (SQUARE, 1e5, "", "within 0.2-5 m"),  # 100 km wide
        (SQUARE, 0.01, "", "within 0.2-5 m"),
        (SQUARE, 1.0, "widths_m = [1.0, 1e5, 1.0, 1.0]\n", "widths_m[1]"),
        (SQUARE, 1.0, "widths_m = [1.0, nan, 1.0, 1.0]\n", "widths_m"),
        (SQUARE, 1.0, "widths_m = 5\n", "widths_m"),
        (SPIRAL_5700_M, 1.0, "closed = false\nspacing_m = 0.05\n", "114000 waypoints"),
        ([[math.inf, 0.0], *SQUARE[1:]], 1.0, "", "NaN or infinite"),
    ],
)
def test_toml_values_refused(
    tmp_path: Path, points: list, width: float, extra: str, needle: str
) -> None:
    path = write_toml(tmp_path / "bad.track.toml", points, width=width, extra=extra)
    with pytest.raises(TrackError) as info:
        load_track(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_toml_too_many_points_and_bombs(tmp_path: Path) -> None:
    n = MAX_CONTROL_POINTS + 1
    theta = 2 * np.pi * np.arange(n) / n
    many = write_toml(
        tmp_path / "many.track.toml", np.c_[50 * np.cos(theta), 50 * np.sin(theta)].tolist()
    )
    with pytest.raises(TrackError, match=f"{n} control points; a .track.toml has at most"):
        load_track(many)
    deep = tmp_path / "deep.track.toml"
    deep.write_text("width_m = 1\npoints = " + "[" * 20_000 + "]" * 20_000 + "\n")
    with pytest.raises(TrackError, match="not valid TOML"):
        load_track(deep)
    big = tmp_path / "big.track.toml"
    with big.open("wb") as fh:
        fh.truncate(MAX_TOML_BYTES + 1)
    with pytest.raises(TrackError, match="bytes, more than"):
        load_track(big)
    latin = tmp_path / "latin.track.toml"
    latin.write_bytes('name = "ovalé"\n'.encode("latin-1"))
    with pytest.raises(TrackError, match="not UTF-8"):
        load_track(latin)
    for bad_name in ('"a\\nb"', '"' + "x" * 100 + '"', '""'):
        path = write_toml(tmp_path / "n.track.toml", SQUARE, extra="")
        path.write_text(path.read_text().replace('name = "t"', f"name = {bad_name}"))
        with pytest.raises(TrackError, match="printable string"):
            load_track(path)


def test_track_size_bounds_in_validation() -> None:
    n = tv.MAX_WAYPOINTS + 1
    theta = 2 * np.pi * np.arange(n) / n
    ring = np.c_[np.cos(theta), np.sin(theta)]
    with pytest.raises(TrackError, match="waypoints; a track has at most"):
        validate_track(Track(ring * 900, ring * 899.5, ring * 900.5, closed=True))
    square = np.array(SQUARE) * 1000.0
    with pytest.raises(TrackError, match="more than 1000 m from the origin"):
        validate_track(Track(square, square * 0.99, square * 1.01, closed=True))


# ------------------------------------------------- the self-intersection check: bounded, not O(n^2)


def ellipse(n: int) -> np.ndarray:
    theta = 2 * np.pi * np.arange(n) / n
    return np.c_[400 * np.cos(theta), 250 * np.sin(theta)]


def test_crossing_check_on_200k_points_is_fast() -> None:
    c = ellipse(200_000)
    t0 = time.perf_counter()
    assert tv._first_crossing(c, c, closed_p=True, closed_q=True, same=True) is None
    eight = np.c_[400 * np.sin(np.linspace(0, 2 * np.pi, 200_000, endpoint=False)), c[:, 1] * 0]
    eight[:, 1] = 200 * np.sin(2 * np.linspace(0, 2 * np.pi, 200_000, endpoint=False))
    hit = tv._first_crossing(eight, eight, closed_p=True, closed_q=True, same=True)
    assert hit is not None and np.all(np.abs(eight[list(hit)]) < 0.1)  # at the crossing
    assert time.perf_counter() - t0 < 6.0  # the quadratic check: 2 * 10^10 pairs, minutes


def test_crossing_check_refuses_bunched_lines_quickly() -> None:
    """100,000 long parallel segments in one strip: 5 * 10^9 pairs, refused in a few ms."""
    z = np.zeros((100_000, 2))
    z[:, 1] = np.arange(100_000) * 1e-3
    z[1::2, 0] = 100.0
    t0 = time.perf_counter()
    with pytest.raises(tv.TrackTooDenseError, match="pairs of segments lie close together"):
        tv._first_crossing(z, z, closed_p=False, closed_q=False, same=True)
    assert time.perf_counter() - t0 < 2.0


def test_grid_crossing_check_agrees_with_brute_force() -> None:
    rng = np.random.default_rng(12)
    for _ in range(150):
        n, m = (int(k) for k in rng.integers(5, 70, size=2))
        same, closed_p = bool(rng.integers(2)), bool(rng.integers(2))
        closed_q = closed_p if same else bool(rng.integers(2))
        steps = rng.normal(size=(n, 2))
        steps[rng.random(n) < 0.1] *= 60  # a few long segments take the other path
        p = np.cumsum(steps, axis=0)
        q = p if same else np.cumsum(rng.normal(size=(m, 2)), axis=0)
        kw = {"closed_p": closed_p, "closed_q": closed_q, "same": same}
        assert tv._first_crossing_grid(p, q, **kw) == tv._first_crossing_brute(p, q, **kw)


def test_largest_allowed_npy_track_validates_quickly(tmp_path: Path) -> None:
    """A 100,000-waypoint loop (the bound) loads and validates in about a second."""
    n = tv.MAX_WAYPOINTS
    theta = 2 * np.pi * np.arange(n + 1) / n
    ring = np.c_[np.cos(theta), np.sin(theta)]
    path = tmp_path / "big.npy"
    np.save(path, np.hstack((ring * 900, ring * 899.5, ring * 900.5)))
    t0 = time.perf_counter()
    track = load_track(path)
    assert track.n_waypoints == n and time.perf_counter() - t0 < 6.0


# ---------------------------------------------------------------------------- the CLI, every file


def hostile_track_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Track paths that must be refused in one line, and a word each message holds."""
    base = tmp_path / "in"
    base.mkdir()
    cases: dict[str, tuple[Path, str]] = {}
    cases["bomb header"] = (npy_header(base / "bomb.npy", (10**12, 6)), "at most 100000")
    folder = base / "folder.npy"
    folder.mkdir()
    cases["directory"] = (folder, "is a directory")
    fifo = base / "fifo.track.toml"
    os.mkfifo(fifo)
    cases["fifo"] = (fifo, "not a regular file")
    dev = base / "zero.npy"
    dev.symlink_to("/dev/zero")
    cases["device"] = (dev, "not a regular file")
    loop = base / "loop.npy"
    loop.symlink_to(loop)
    cases["symlink loop"] = (loop, "cannot open")
    dangling = base / "dangling.npy"
    dangling.symlink_to(base / "nowhere.npy")
    cases["broken link"] = (dangling, "broken symbolic link")
    empty = base / "empty.npy"
    empty.write_bytes(b"")
    cases["empty npy"] = (empty, "cannot read it")
    empty_toml = base / "empty.track.toml"
    empty_toml.write_bytes(b"")
    cases["empty toml"] = (empty_toml, "missing key")
    odd = base / os.fsdecode(b"odd\n\xff.npy")
    np.save(odd, np.zeros((10, 4)))
    cases["odd bytes"] = (odd, "(N, 6)")
    return cases


HOSTILE_TRACK_CASES = [
    "bomb header",
    "directory",
    "fifo",
    "device",
    "symlink loop",
    "broken link",
    "empty npy",
    "empty toml",
    "odd bytes",
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("what", HOSTILE_TRACK_CASES)
def test_every_tracks_command_refuses_hostile_paths(
    what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, needle = hostile_track_paths(tmp_path)[what]
    out = tmp_path / "out"
    for args in (
        ["tracks", "show", str(path), "--out", str(out / "t.png")],
        ["tracks", "line", str(path)],
        ["tracks", "export", str(path), "--out", str(out / "t.npy")],
        ["tracks", "import", str(path), "--name", "x"],
    ):
        line = refused(args, capsys, needle)
        assert "\\udcff" in line or what != "odd bytes", line  # escaped, never raw bytes
    assert not out.exists()  # nothing written


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_unreadable_track_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ring.npy"
    np.save(path, ring_rows())
    path.chmod(0)
    refused(["tracks", "show", str(path), "--out", str(tmp_path / "x.png")], capsys, "cannot")


def test_tracks_list_survives_a_hostile_library(
    racer_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = racer_home / "tracks"
    lib.mkdir(parents=True)
    npy_header(lib / "bomb.npy", (10**12, 6))
    np.save(lib / "goodring.npy", ring_rows())
    np.save(lib / "[red]markup.npy", ring_rows())
    os.mkfifo(lib / "fifo.npy")
    (lib / "loop.npy").symlink_to(lib / "loop.npy")
    code, out, err = racer(["tracks", "list"], capsys)
    assert code == 0, err
    assert "goodring" in out and "oval" in out and "[red]markup" in out
    bomb_line = next(line for line in out.splitlines() if "bomb" in line)
    assert "invalid" in bomb_line


@pytest.mark.parametrize("command", ["show", "line"])
def test_unsupported_image_suffix_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.xyz"
    refused(["tracks", command, "oval", "--out", str(out)], capsys, "'.xyz'", ".png, .svg, .pdf")
    refused(["tracks", command, "oval", "--out", str(tmp_path / "noext")], capsys, "no suffix")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    refused(["tracks", command, "oval", "--out", str(folder)], capsys, "is a directory")
    assert not out.exists()


def test_line_csv_and_export_to_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    refused(["tracks", "line", "oval", "--csv", str(folder)], capsys, "is a directory")
    npy_dir = tmp_path / "dir.npy"
    npy_dir.mkdir()
    refused(["tracks", "export", "oval", "--out", str(npy_dir)], capsys, "cannot write")
    refused(["tracks", "line", "oval", "--margin", "nan"], capsys, "margin")
    refused(["tracks", "line", "oval", "--method", "fastest"], capsys, "min-time")


def test_track_name_that_is_huge_or_holds_nul(capsys: pytest.CaptureFixture[str]) -> None:
    refused(["tracks", "show", "x" * 100_000], capsys, "too long")
    with pytest.raises(TrackError, match="NUL"):
        load_track("ov\x00al")
