"""The import rules of docs/architecture.md hold: each stage imports only what it may.

Both lists are allow-lists: a new dependency, of racer's own or a third-party package, fails here
until the architecture doc and this table say it may. The standard library is always allowed.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

RACER = Path(__file__).resolve().parents[1] / "racer"

#: stage -> the racer modules it may import: a whole stage ("track") or one module of it
#: ("car.preprocess"). racer.errors and the stage's own modules are always allowed.
ALLOWED: dict[str, set[str]] = {
    "util": set(),
    "contract": set(),
    "track": {"contract", "util"},
    "sim": {"track", "contract", "util"},
    "rewards": {"track", "contract", "util"},
    # the env runs camera frames through the car's own Preprocessor: one preprocessing path
    "env": {"track", "sim", "rewards", "contract", "util", "car.preprocess", "_registration"},
    "train": {"env", "track", "sim", "rewards", "contract", "util"},
    "export": {"train", "env", "car", "track", "sim", "rewards", "contract", "util"},
    # evaluate reads run folders (racer.train.run_folder), never the training loop
    "evaluate": {"train.run_folder", "env", "car", "track", "sim", "rewards", "contract", "util"},
    "car": {"contract", "util"},
    # Ray's sweeps and leaderboard runs: trainings, evaluations and rows as the local paths make them
    "distributed": {"train", "evaluate", "env", "track", "rewards", "contract", "util", "sim"},
    "cli": {
        "track",
        "sim",
        "rewards",
        "env",
        "train",
        "export",
        "evaluate",
        "car",
        "contract",
        "util",
        "distributed",
        "ui",
    },
    # the console, the top layer beside cli: it parses a form's options with the CLI's own
    # parser (racer.cli.main) so that bad input gets the CLI's one-line message
    "ui": {
        "cli",
        "track",
        "sim",
        "rewards",
        "env",
        "train",
        "export",
        "evaluate",
        "car",
        "contract",
        "util",
    },
}
#: stage -> the third-party packages it may import (top-level names)
THIRD_PARTY: dict[str, set[str]] = {
    "util": {"numpy"},
    "contract": {"numpy"},
    "track": {"numpy", "scipy", "matplotlib"},
    # Pillow, imageio-ffmpeg and tqdm: the best-lap video (racer.sim.video, imported lazily)
    "sim": {"numpy", "pybullet", "pybullet_utils", "PIL", "imageio_ffmpeg", "tqdm"},
    "rewards": {"numpy"},
    "env": {"numpy", "gymnasium"},
    "train": {"numpy", "gymnasium", "stable_baselines3", "torch", "matplotlib", "tqdm"},
    # tensorboard: its TensorFlow protobuf classes write the DeepRacer car's frozen graph
    "export": {"numpy", "torch", "onnx", "onnxruntime", "openvino", "nncf", "tensorboard"},
    "evaluate": {"numpy", "matplotlib", "rich", "tqdm"},
    # the onboard runtime: inference engines, an optional OpenCV camera, the PCA9685 servo board
    "car": {"numpy", "onnxruntime", "openvino", "cv2", "adafruit_pca9685", "board", "busio"},
    # ray: imported only inside racer.distributed, only when --ray or `racer sweep` is used
    "distributed": {"ray", "numpy", "matplotlib", "rich", "tqdm"},
    "cli": {"numpy", "typer", "click", "rich", "uvicorn"},
    # `racer ui`: FastAPI on Starlette, served by uvicorn; Pillow encodes the live view's JPEGs
    "ui": {"numpy", "fastapi", "starlette", "uvicorn", "typer", "PIL"},
}
#: racer's top-level modules (not stages): the standard library and these only
TOP_LEVEL: dict[str, set[str]] = {
    "__init__.py": {"_registration"},
    "_registration.py": set(),
    "errors.py": set(),
}


def _imports(source: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _violations(source: str, where: str, own: str, allowed: set[str], third: set[str]) -> list[str]:
    """What ``source`` (the module at ``where``, in stage ``own``) imports that it may not."""
    bad = []
    for mod in sorted(_imports(source)):
        parts = mod.split(".")
        if parts[0] == "racer":
            if len(parts) == 1 or parts[1] in ("errors", own):
                continue
            if not (parts[1] in allowed or ".".join(parts[1:3]) in allowed):
                bad.append(f"{where} imports {mod}")
        elif parts[0] not in sys.stdlib_module_names and parts[0] not in third:
            bad.append(f"{where} imports third-party {parts[0]}")
    return bad


def test_every_stage_is_listed() -> None:
    stages = {p.name for p in RACER.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stages == set(ALLOWED) == set(THIRD_PARTY)
    assert {p.name for p in RACER.glob("*.py")} == set(TOP_LEVEL)


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_imports_only_what_it_may(stage: str) -> None:
    bad = []
    for path in sorted((RACER / stage).rglob("*.py")):
        where = str(path.relative_to(RACER))
        bad += _violations(path.read_text(), where, stage, ALLOWED[stage], THIRD_PARTY[stage])
    assert not bad, bad


@pytest.mark.parametrize("name", sorted(TOP_LEVEL))
def test_top_level_modules_stay_at_the_bottom(name: str) -> None:
    source = (RACER / name).read_text()
    assert not _violations(source, name, name.removesuffix(".py"), TOP_LEVEL[name], set())


def test_the_checker_catches_a_forbidden_import() -> None:
    """A car module importing the simulator or torch is reported; its allowed imports are not."""
    source = (
        "import torch\nimport numpy\nfrom racer.sim import World\nfrom racer.contract import car\n"
    )
    bad = _violations(source, "car/x.py", "car", ALLOWED["car"], THIRD_PARTY["car"])
    assert bad == ["car/x.py imports racer.sim", "car/x.py imports third-party torch"]
    env_ok = "from racer.car.preprocess import Preprocessor\nfrom racer.car.bundle import load\n"
    bad = _violations(env_ok, "env/x.py", "env", ALLOWED["env"], THIRD_PARTY["env"])
    assert bad == ["env/x.py imports racer.car.bundle"]
