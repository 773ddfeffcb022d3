"""Fixtures of the console's tests: workspaces, a run trained by the CLI, the app, a browser.

The browser is Debian's headless Chromium driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4), so no
WebSocket library is needed; tests that need it skip cleanly when Chromium is not installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from testlib.cli import run_cli

from racer.ui.app import create_app

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TINY_RECIPE = """
[agent]
name = "tiny"
[env]
tracks = ["oval"]
observation = "state"
reward = "progress"
max_steps = 100
[algorithm]
net_arch = [16]
[hyperparameters]
n_steps = 64
batch_size = 64
n_epochs = 1
[budget]
steps = 256
envs = 1
seed = 0
device = "cpu"
[evaluation]
every_steps = 128
episodes = 1
[checkpoint]
every_steps = 128
keep = 1
"""
CLI_RUN = "cli-run"


def tiny_form(name: str, steps: int = 256, **over: Any) -> dict[str, Any]:
    """A Create form with tiny budgets (stable-baselines3's test habit)."""
    form: dict[str, Any] = {
        "name": name,
        "env": {"tracks": ["oval"], "observation": "state", "max_steps": 100},
        "algorithm": {"name": "ppo", "net_arch": [16]},
        "hyperparameters": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        "budget": {"steps": steps, "envs": 1, "seed": 0, "device": "cpu"},
        "evaluation": {"every_steps": 128, "episodes": 1},
        "checkpoint": {"every_steps": 128, "keep": 1},
        "reward": {"name": "progress"},
    }
    form.update(over)
    return form


@pytest.fixture(scope="session")
def cli_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained by ``racer train`` (the CLI, in this process), once per session."""
    root = tmp_path_factory.mktemp("cli-run")
    recipe = root / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    out = root / CLI_RUN
    capsys = _NullCapture()
    code, _, err = run_cli(["train", str(recipe), "--out", str(out), "--no-progress"], capsys)  # type: ignore[arg-type]
    assert code == 0, err
    return out


class _NullCapture:
    """Stands in for capsys where output is not checked (session fixtures cannot use it)."""

    def readouterr(self) -> tuple[str, str]:
        return "", ""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def ws_with_run(workspace: Path, cli_run_dir: Path) -> Path:
    """A workspace holding a copy of the CLI-trained run as ``runs/cli-run``."""
    shutil.copytree(cli_run_dir, workspace / "runs" / CLI_RUN)
    return workspace


@pytest.fixture
def client(workspace: Path) -> Iterator[TestClient]:
    with TestClient(create_app(workspace), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def run_client(ws_with_run: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ws_with_run), base_url="http://127.0.0.1") as c:
        yield c


def wait_job(client: TestClient, job_id: str, timeout_s: float = 180.0) -> dict[str, Any]:
    """Poll a job until it is no longer running; the job with its log."""
    t_end = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] not in ("running", "stopping"):
            return job
        if time.monotonic() > t_end:
            raise AssertionError(f"job {job_id} still {job['state']}: {job['log'][-2000:]}")
        time.sleep(0.3)


def stop_jobs(client: TestClient) -> None:
    """Stop every job still running (a test must not leave trainers behind)."""
    for job in client.get("/api/jobs").json():
        if job["state"] in ("running", "stopping"):
            for _ in range(2):
                client.post(f"/api/models/{job['run']}/stop", json={})
                try:
                    wait_job(client, job["id"], timeout_s=60)
                    break
                except AssertionError:
                    continue


# ---------------------------------------------------------------------- a live server


class LiveServer:
    """The app on uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, workspace: Path, token: str | None = None) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(workspace, token)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        t_end = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > t_end:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(ws_with_run: Path) -> Iterator[LiveServer]:
    server = LiveServer(ws_with_run)
    yield server
    server.close()


# ---------------------------------------------------------------------- the browser


#: DevTools' answers to an evaluation that raced a navigation (the page is being replaced).
_NAVIGATING = (
    "Inspected target navigated or closed",
    "Execution context was destroyed",
    "Cannot find context with specified id",
)


class Browser:
    """Headless Chromium over the DevTools protocol on a pipe: navigate, evaluate, wait."""

    def __init__(self, path: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # above 9, so that the redirections to 3 and 4 cannot overwrite them (bash: dash reads one digit)
        for name in ("to_browser_r", "from_browser_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_browser_r":
                to_browser_r = high
            else:
                from_browser_w = high
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            "about:blank",
        ]
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", script, path, *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.call("Page.enable", session=True)

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise AssertionError("the browser closed its pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        while True:
            reply = self._receive()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def goto(self, url: str) -> None:
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait("document.readyState === 'complete'")

    def js(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout_s: float = 60.0) -> Any:
        t_end = time.monotonic() + timeout_s
        while True:
            try:
                value = self.js(
                    f"(() => {{ try {{ const v = ({expression});"
                    " return v !== null && typeof v === 'object' ? true : v; }"
                    " catch (e) { return null; } })()"
                )
            except AssertionError as exc:
                # the page is navigating (a click that follows a link): its old document is
                # gone and the new one not there yet; ask again, as for a false value
                if not any(m in str(exc) for m in _NAVIGATING):
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > t_end:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.2)

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    path = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if path is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")
    b = Browser(path, tmp_path / "profile")
    yield b
    b.close()
