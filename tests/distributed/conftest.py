"""Fixtures of the Ray tests: one local Ray session per module (starting one costs seconds)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Ray's socket paths (``<temp>/session_<date>_<pid>/sockets/plasma_store``) must fit in 107
#: bytes: a longer pytest folder gets a short one of /tmp instead
MAX_TEMP_CHARS = 40


def ray_temp_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder for Ray's session files: under pytest's temporary folder when short enough."""
    path = factory.mktemp("ray")
    if len(str(path)) > MAX_TEMP_CHARS:
        path = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    return path


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A private single-node Ray on 2 CPUs bound to 127.0.0.1, shut down after the module."""
    from racer.distributed.cluster import connect

    temp = ray_temp_dir(tmp_path_factory)
    ray = connect("local", num_cpus=2, temp_dir=str(temp))
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
