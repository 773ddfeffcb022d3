"""`racer ui`: the local console (a FastAPI app served by uvicorn)."""

from __future__ import annotations

import secrets
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from racer.errors import ConfigError

LOCALHOST = "127.0.0.1"
LOOPBACK = (LOCALHOST, "localhost", "::1")  # only this machine reaches them: no token


def ui(
    port: Annotated[int, typer.Option(help="Port to serve on.", min=1, max=65535)] = 8000,
    runs: Annotated[
        Path | None, typer.Option(help="Folder of the run folders (default `./runs`).")
    ] = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Anything but this machine's loopback (127.0.0.1, "
            "localhost, ::1), for example 0.0.0.0 to share on your network, requires the token "
            "printed at start."
        ),
    ] = LOCALHOST,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the console in a web browser.")
    ] = True,
) -> None:
    """Open the console: create, train, watch, evaluate, export and race models in a browser.

    Serves the folder you start it in: `runs/` (or `--runs`), `export/`, `leaderboard.db`, and
    the tracks racer knows. Training started from the console runs `racer train` in a process
    of its own, which goes on when the browser or the console is closed. Only this machine can
    reach it unless `--host` says otherwise; then every request needs the printed token.

    Examples:

    ```
    racer ui
    racer ui --port 8080 --runs experiments/
    racer ui --host 0.0.0.0 --no-browser
    ```
    """
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - a dependency of racer
        from racer.errors import MissingDependencyError

        raise MissingDependencyError(
            "racer ui needs uvicorn: pip install uvicorn fastapi"
        ) from None
    from racer.ui.app import create_app

    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"--host {host!r} is not a valid address")
    _check_port(host, port)
    token = None if host in LOOPBACK else secrets.token_urlsafe(24)
    app = create_app(Path.cwd(), token, runs_dir=runs)
    shown = "localhost" if host in (*LOOPBACK, "0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" if token is None else f"http://{shown}:{port}/?token={token}"
    typer.echo(f"racer ui: serving {Path.cwd()} at {url}")
    if token is not None:
        typer.echo("every request needs the token: share the URL above only with people you trust")
    typer.echo("press Ctrl-C to stop the console (training started from it goes on)")
    if browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Refuse in one line a port already taken or an address that is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): "
                "choose another --port, or --host"
            ) from None
