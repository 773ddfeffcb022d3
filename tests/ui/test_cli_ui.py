"""`racer ui`: serves 127.0.0.1 without a token; any other host prints one and requires it."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI_RUN
from fastapi.testclient import TestClient
from testlib.cli import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `racer ui` hands to uvicorn (nothing is served)."""
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, **kwargs: Any) -> None:
        seen.update(app=app, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return seen


def test_default_is_local_without_a_token(
    served: dict[str, Any],
    tmp_path: Path,
    cli_run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(cli_run_dir, tmp_path / "experiments" / CLI_RUN)
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    code, out, err = run_cli(
        ["ui", "--no-browser", "--runs", "experiments", "--port", str(port)], capsys
    )
    assert code == 0, err
    assert served["host"] == "127.0.0.1" and served["port"] == port
    assert f"http://localhost:{port}/" in out and "token" not in out
    with TestClient(served["app"], base_url=f"http://127.0.0.1:{port}") as c:
        assert [m["name"] for m in c.get("/api/models").json()] == [CLI_RUN]


def test_another_host_requires_the_printed_token(
    served: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    code, out, err = run_cli(
        ["ui", "--no-browser", "--host", "0.0.0.0", "--port", str(port)], capsys
    )
    assert code == 0, err
    assert served["host"] == "0.0.0.0" and served["port"] == port
    token = re.search(r"\?token=([A-Za-z0-9_-]{20,})", out)
    assert token is not None, out
    with TestClient(served["app"], base_url=f"http://10.0.0.5:{port}") as c:
        assert c.get("/api/models").status_code == 403
        assert c.get("/api/models", headers={"x-racer-token": token.group(1)}).status_code == 200


def test_bad_options_are_one_line(
    served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["ui", "--no-browser", "--port", "0"], capsys)
    assert code == 2 and err.startswith("racer: error: ") and err.count("\n") == 1
    code, _, err = run_cli(["ui", "--no-browser", "--host", "bad host"], capsys)
    assert code == 2 and "--host 'bad host' is not a valid address" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli(["ui", "--no-browser", "--port", str(port)], capsys)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1
    assert served == {}
