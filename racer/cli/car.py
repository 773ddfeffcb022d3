"""`racer car-wheel`: build ``racer-car``, the car's own light distribution, as a wheel.

``pip install racer`` brings the whole trainer (PyTorch, PyBullet, Gymnasium, stable-baselines3);
a Raspberry-Pi-class car needs only the onboard runtime. ``racer-car`` is that runtime, built from
this installation's own sources: :mod:`racer.car`, :mod:`racer.contract`, :mod:`racer.util` and
racer's bottom modules (``__init__``, ``errors``, ``_registration``), which import only numpy and
ONNX Runtime or OpenVINO (``tests/test_architecture.py`` holds them to that) and are kept
Python 3.9 compatible (``tests/car/test_py39_compat.py``).

The wheel is written here directly (a zip archive with a ``.dist-info`` folder: PEP 427 / 491,
metadata version 2.1) rather than by setuptools, because:

* it then builds anywhere racer runs, offline, from an editable or a regular installation, with
  no build backend in the environment (Python 3.12+ virtual environments have no setuptools) and
  no build folder or staging copy in the source tree;
* the file list is exactly :data:`PACKAGES` and :data:`TOP_FILES`, nothing discovered;
* it is reproducible: the same sources give the same bytes (fixed timestamps and modes);
* metadata 2.1 is read by the old pips of car distributions (Debian 11's pip 20.3).

``racer deploy`` builds it, copies it to the car and installs it there before the self-test.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

import racer
from racer.errors import ConfigError
from racer.util.files import atomic_write_bytes

#: The distribution's name (``pip install racer-car``; ``racer_car`` in file names).
DIST_NAME = "racer-car"
SUMMARY = "racer's onboard runtime: drive a car with a racer deploy bundle (numpy + ONNX Runtime)"
REQUIRES_PYTHON = ">=3.9"  # Raspberry-Pi-class cars run Python 3.9-3.12
#: Runtime dependencies: the same bounds as racer's own (numpy 1.26 and ONNX Runtime 1.18/1.19
#: still have Python 3.9 wheels, for x86-64 and aarch64).
DEPENDENCIES = ("numpy>=1.26,<3", "onnxruntime>=1.18,<2")
#: Optional dependencies, by extra: ``pip install 'racer-car[camera,pca9685]'``.
EXTRAS: Mapping[str, tuple[str, ...]] = {
    "openvino": ("openvino>=2024.4,<2027",),
    "camera": ("opencv-python-headless>=4.8,<5",),
    "pca9685": ("adafruit-circuitpython-pca9685>=3.4,<4",),
}
#: Console scripts: name -> ``module:function``.
SCRIPTS: Mapping[str, str] = {"racer-car": "racer.car.cli:main"}
#: The packages in the wheel: every ``.py`` file directly in their folder (none has sub-packages).
PACKAGES = ("racer.car", "racer.contract", "racer.util")
#: racer's top-level files in the wheel (``import racer`` and what it imports; the typing marker).
TOP_FILES = ("__init__.py", "_registration.py", "errors.py", "py.typed")
#: Zip entries' timestamp: the earliest a zip can hold, so a build is reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def wheel_name(version: str = racer.__version__) -> str:
    """The wheel's file name, e.g. ``racer_car-0.1.0-py3-none-any.whl``."""
    return f"{_dist_stem()}-{version}-py3-none-any.whl"


def _dist_stem() -> str:
    return re.sub(r"[-_.]+", "_", DIST_NAME).lower()


def source_files(root: Path | None = None) -> dict[str, Path]:
    """The wheel's files: archive name (``racer/car/bundle.py``) -> source file.

    Args:
        root: the ``racer`` package folder (default: the one this module was imported from).

    Raises:
        ConfigError: a file of the list is missing (a broken installation).
    """
    root = Path(racer.__file__).resolve().parent if root is None else root
    files: dict[str, Path] = {}
    for name in TOP_FILES:
        if not (root / name).is_file():
            raise ConfigError(f"{root / name} is missing; reinstall racer")
        files[f"racer/{name}"] = root / name
    for package in PACKAGES:
        folder = root.joinpath(*package.split(".")[1:])
        if not (folder / "__init__.py").is_file():
            raise ConfigError(f"{folder} is not a package; reinstall racer")
        for path in sorted(folder.glob("*.py")):
            files[f"{package.replace('.', '/')}/{path.name}"] = path
    return files


def _metadata(version: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {DIST_NAME}",
        f"Version: {version}",
        f"Summary: {SUMMARY}",
        "License: Apache-2.0",
        f"Requires-Python: {REQUIRES_PYTHON}",
        *(f"Requires-Dist: {dep}" for dep in DEPENDENCIES),
    ]
    for extra, deps in EXTRAS.items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel_bytes(root: Path | None = None, version: str = racer.__version__) -> bytes:
    """The ``racer-car`` wheel, built in memory from the sources (see the module docstring)."""
    info = f"{_dist_stem()}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [
        (name, path.read_bytes()) for name, path in source_files(root).items()
    ]
    scripts = "".join(f"{name} = {target}\n" for name, target in SCRIPTS.items())
    entries += [
        (f"{info}/METADATA", _metadata(version).encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: racer car-wheel\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        ),
        (f"{info}/entry_points.txt", f"[console_scripts]\n{scripts}".encode()),
        (f"{info}/top_level.txt", b"racer\n"),
    ]
    record = [_record_line(name, data) for name, data in entries] + [f"{info}/RECORD,,"]
    entries.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            entry.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return buf.getvalue()


def build_car_wheel(out_dir: str | Path) -> Path:
    """Write the ``racer-car`` wheel into ``out_dir`` (created when missing), atomically.

    Returns:
        The wheel's path.
    """
    path = Path(out_dir) / wheel_name()
    atomic_write_bytes(path, wheel_bytes(), mode=0o644)
    return path


def car_wheel(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the wheel into.")],
) -> None:
    """Build the car's runtime wheel (racer-car: numpy + ONNX Runtime, Python >= 3.9).

    The onboard runtime alone, from this installation's sources, for a car that cannot (or need
    not) install the whole trainer; `racer deploy` builds and installs it by itself.

    Examples:

    ```
    racer car-wheel dist/
    ```
    """
    path = build_car_wheel(out_dir)
    with zipfile.ZipFile(path) as zf:
        n_files = sum(1 for name in zf.namelist() if ".dist-info/" not in name)
    typer.echo(f"{path} ({path.stat().st_size / 1024:.1f} KiB, {n_files} files)")
    typer.echo(f"install it on a car with: python3 -m pip install {path.name}")
