"""The console's web app: JSON APIs over the workspace, and the static pages.

:func:`create_app` builds the FastAPI app; ``racer ui`` serves it with uvicorn. Long actions
(train, resume, evaluate, export, submit) start racer's own commands as detached jobs
(:mod:`racer.ui.jobs`); short checks (the form, the reward) run racer's own code in the server's
thread pool; nothing heavy runs on the event loop (plain ``def`` endpoints run in the pool).

Security: with a token (any host but 127.0.0.1) every request must carry it (``?token=`` once,
then a cookie), else 403; without one the server answers only requests addressed to a local
host name (a DNS-rebinding page is refused). State-changing requests must be JSON from the same
origin. Every path from a request is resolved and refused unless inside the workspace. The
pages build their DOM with ``textContent`` (no ``innerHTML``) under a strict CSP.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from racer.errors import ConfigError, RacerError
from racer.train.run_folder import RunFolder
from racer.ui import recipes, runs
from racer.ui.jobs import JobStore
from racer.ui.workspace import PathRefused, Workspace, check_name

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_COOKIE = "racer_token"
TOKEN_HEADER = "x-racer-token"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PAGES = {
    "/": "index.html",
    "/create": "create.html",
    "/leaderboard": "leaderboard.html",
}
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'self'"
)
#: the leaderboard's own page (racer.evaluate.html) styles itself inline
CSP_INLINE_STYLE = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
SSE_POLL_S = 1.0  # how often an event stream looks at the files
SSE_MAX_S = 3600.0  # an event stream ends after this long (EventSource reconnects by itself)
DEFAULT_REWARD = '''def reward_function(params):
    """Stay near the centre line, go fast, finish the lap."""
    if params["is_offtrack"] or not params["all_wheels_on_track"]:
        return 1e-3
    half_width = 0.5 * params["track_width"]
    offset = min(1.0, params["distance_from_center"] / half_width)
    reward = 0.5 * (1.0 - offset**2) + params["speed"] / 2.0
    if params["progress"] >= 100.0:
        reward += 50.0
    return float(reward)
'''
_plot_lock = threading.Lock()  # matplotlib's pyplot state is not thread-safe


def create_app(
    workspace: Path,
    token: str | None = None,
    *,
    runs_dir: Path | None = None,
    allowed_hosts: frozenset[str] = LOCAL_HOSTS,
) -> FastAPI:
    """The console's app over ``workspace``.

    Args:
        workspace: the folder it serves (runs/, export/, leaderboard.db, .racer-ui/).
        token: required on every request when given (serving beyond 127.0.0.1).
        runs_dir: the run folders' parent (default ``workspace/runs``).
        allowed_hosts: Host header names answered without a token.
    """
    ws = Workspace.at(workspace, runs_dir)
    jobs = JobStore(ws.jobs, ws.root)
    app = FastAPI(title="racer ui", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.workspace = ws
    app.state.jobs = jobs

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        refusal = _refusal(request, token, allowed_hosts)
        if refusal is not None:
            return Response(refusal, status_code=403, media_type="text/plain")
        if token is not None and request.query_params.get("token") and request.method == "GET":
            # the URL printed at start: set the cookie, then drop the token from the address bar
            if not request.url.path.startswith("/api/"):
                response: Response = Response(
                    status_code=303, headers={"location": request.url.path}
                )
            else:
                response = await call_next(request)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        else:
            response = await call_next(request)
        response.headers.setdefault("content-security-policy", CSP)
        response.headers["x-content-type-options"] = "nosniff"
        response.headers["referrer-policy"] = "no-referrer"
        response.headers.setdefault("cache-control", "no-store")
        return response

    @app.exception_handler(recipes.FieldError)
    async def field_error(_request: Request, exc: recipes.FieldError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=400)

    @app.exception_handler(PathRefused)
    async def refused(_request: Request, exc: PathRefused) -> JSONResponse:
        return JSONResponse({"field": "path", "message": str(exc)}, status_code=403)

    @app.exception_handler(RacerError)
    async def racer_error(_request: Request, exc: RacerError) -> JSONResponse:
        return JSONResponse({"field": "form", "message": str(exc)}, status_code=400)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ------------------------------------------------------------------ pages
    for route, page in PAGES.items():
        app.add_api_route(route, _page(page), methods=["GET"], include_in_schema=False)

    @app.get("/models/{name}", include_in_schema=False)
    def model_page(name: str) -> Response:
        ws.run_dir(name)  # a bad name is refused here, before the page loads
        return FileResponse(STATIC / "model.html", media_type="text/html")

    # ------------------------------------------------------------------ tracks and rewards
    @app.get("/api/info")
    def info() -> dict[str, Any]:
        from racer import __version__

        return {
            "version": __version__,
            "workspace": str(ws.root),
            "runs": str(ws.runs),
            "exports": str(ws.exports),
            "leaderboard": str(ws.db),
        }

    @app.get("/api/tracks")
    def tracks() -> list[dict[str, Any]]:
        from racer.track.loading import list_tracks

        return [{"name": t.name, "source": t.source} for t in list_tracks()]

    @app.post("/api/tracks/import")
    def import_track(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        from racer.track import import_track as add_track

        path = ws.inside(str(body.get("path") or ""))
        name = body.get("name") or None
        try:
            written = add_track(path, name=str(name) if name else None)
        except RacerError as exc:
            raise recipes.FieldError("import", str(exc)) from None
        stem = written.name.removesuffix(".track.toml").removesuffix(".npy")
        return {"name": stem, "path": str(written)}

    @app.get("/api/track")
    def track_info(track: str) -> dict[str, Any]:
        name = _track_arg(ws, track)
        geometry = runs.track_geometry(name)
        return {**geometry, "bound_s": runs.track_bound_s(name)}

    @app.get("/api/track/map.png")
    def track_map(track: str) -> Response:
        name = _track_arg(ws, track)
        key = hashlib.sha256(name.encode()).hexdigest()[:24]
        path = ws.cache / "tracks" / f"{key}.png"
        if not path.is_file():
            from racer.track import load_track
            from racer.track.plot import plot_track

            loaded = load_track(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with _plot_lock:
                plot_track(loaded, path)
        return FileResponse(path, media_type="image/png", headers={"cache-control": "max-age=600"})

    @app.get("/api/rewards")
    def rewards() -> dict[str, Any]:
        from racer.rewards import describe_rewards

        return {
            "builtin": [{"name": r.name, "doc": r.doc} for r in describe_rewards()],
            "template": DEFAULT_REWARD,
        }

    @app.post("/api/rewards/check")
    def check_reward(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        track = body.get("track")
        name = _track_arg(ws, track) if isinstance(track, str) and track else None
        return recipes.check_reward_code(ws, str(body.get("code", "")), name)

    # ------------------------------------------------------------------ models
    @app.get("/api/models")
    def models() -> list[dict[str, Any]]:
        out = [runs.summary(ws, jobs, name) for name in runs.list_runs(ws)]
        started = {m["name"] for m in out}
        for folder in sorted(ws.recipes.glob("*")) if ws.recipes.is_dir() else []:
            if folder.name not in started and (folder / recipes.RECIPE_FILE).is_file():
                status = "training" if jobs.active(folder.name) is not None else "created"
                out.append({"name": folder.name, "status": status, "steps": 0})
        return out

    @app.post("/api/models")
    def create_model(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        cfg, code = recipes.build_recipe(ws, body)
        folder = recipes.write_recipe(ws, cfg, code)
        result: dict[str, Any] = {"name": cfg.name, "recipe": str(folder)}
        if body.get("start"):
            result["job"] = _start_training(ws, jobs, cfg.name).to_dict()
        return result

    @app.post("/api/models/{name}/start")
    def start_model(name: str) -> dict[str, Any]:
        return {"job": _start_training(ws, jobs, name).to_dict()}

    @app.get("/api/models/{name}")
    def model(name: str) -> dict[str, Any]:
        run = _open_run(ws, name)
        out = runs.summary(ws, jobs, name)
        metrics, _ = runs.read_csv_rows(run.metrics_csv_path)
        evals, _ = runs.read_csv_rows(run.eval_csv_path)
        out["metrics"] = metrics
        out["evaluation_rows"] = evals
        out["evaluations"] = runs.list_evaluations(run.path)
        out["config"] = run.config_path.read_text(encoding="utf-8")
        out["reward_code"] = (
            run.reward_path.read_text(encoding="utf-8", errors="replace")
            if run.reward_path.is_file()
            else None
        )
        out["exports"] = _exports(ws, name)
        out["jobs"] = [j.to_dict() for j in jobs.for_run(name)]
        out["report"] = (
            sorted(p.name for p in run.report_dir.glob("*")) if run.report_dir.is_dir() else []
        )
        return out

    @app.post("/api/models/{name}/stop")
    def stop_model(name: str) -> dict[str, Any]:
        _open_run(ws, name)
        job = jobs.active(name, "train")
        if job is None:
            raise ConfigError(f"{name} is not training")
        return {"job": jobs.stop(job).to_dict()}

    @app.post("/api/models/{name}/resume")
    def resume_model(name: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        run = _open_run(ws, name)
        if jobs.active(name) is not None:
            raise ConfigError(f"{name} is busy (a job of it is running): wait or stop it")
        args = ["train", "--resume", str(run.path), "--no-progress"]
        steps = body.get("steps")
        if steps is not None:
            from racer.train.config import check_option

            try:
                check_option("--steps", "budget.steps", steps)
            except ConfigError as exc:
                raise recipes.FieldError("steps", str(exc)) from None
            args += ["--steps", str(steps)]
        _cli_check(args, {"steps": "steps"})
        return {"job": jobs.start("train", args, run=name).to_dict()}

    @app.post("/api/models/{name}/evaluate")
    def evaluate_model(name: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        run = _open_run(ws, name)
        if not (run.final_model_path.is_file() or run.best_model_path.is_file()):
            raise ConfigError(f"{run.path}: no best_model.zip or final_model.zip; train it first")
        stamp = time.strftime(runs.STAMP)
        out_dir = run.path / runs.EVALUATIONS / stamp
        args = ["evaluate", str(run.path), *_race_args(ws, body, evaluate=True)]
        args += ["--out", str(out_dir)]
        if not body.get("video", True):
            args.append("--no-video")
        _cli_check(args, {})
        job = jobs.start("evaluate", args, run=name, evaluation=stamp)
        return {"job": job.to_dict(), "evaluation": stamp}

    @app.post("/api/models/{name}/export")
    def export_model(name: str, body: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        run = _open_run(ws, name)
        which = body.get("model", "best")
        args = ["export", str(run.path), "--out", str(ws.exports / name), "--model", str(which)]
        if body.get("deepracer"):
            args.append("--deepracer")
        samples = body.get("samples")
        if samples is not None:
            args += ["--samples", str(samples)]
        _cli_check(args, {"model": "model", "samples": "samples"})
        from racer.contract.observations import CAR_OBSERVATIONS

        if run.config().env.observation not in CAR_OBSERVATIONS:
            from racer.export.policy import load_trained_policy

            try:  # the exporter's own refusal (a state policy), before a job starts
                load_trained_policy(run.path, str(which))
            except RacerError as exc:
                raise recipes.FieldError("model", str(exc)) from None
        job = jobs.start("export", args, run=name)
        return {"job": job.to_dict(), "exports": _exports(ws, name)}

    @app.post("/api/models/{name}/report")
    def report_model(name: str) -> dict[str, Any]:
        run = _open_run(ws, name)
        args = ["report", str(run.path)]
        _cli_check(args, {})
        return {"job": jobs.start("report", args, run=name).to_dict()}

    @app.get("/api/models/{name}/trajectories")
    def trajectories(name: str) -> dict[str, Any]:
        run = _open_run(ws, name)
        best = [
            [[round(float(x), 3), round(float(y), 3)] for x, y, *_ in lap]
            for lap in runs.best_laps(run)
        ]
        return {
            "track": runs.run_track(run.config()),
            "latest": runs.latest_episodes(run),
            "best": best,
        }

    @app.get("/api/models/{name}/thumbnail.png")
    def thumbnail(name: str) -> Response:
        run = _open_run(ws, name)
        path = run.best_trajectories_path
        if not path.is_file():
            return Response(status_code=404)
        cached = ws.cache / "thumbs" / f"{name}-{path.stat().st_mtime_ns}.png"
        if not cached.is_file():
            from racer.track import load_track
            from racer.track.plot import plot_track

            cfg = run.config()
            track = load_track(runs.run_track(cfg))
            laps = runs.best_laps(run)
            cached.parent.mkdir(parents=True, exist_ok=True)
            for old in cached.parent.glob(f"{name}-*.png"):
                old.unlink(missing_ok=True)
            with _plot_lock:
                plot_track(track, cached, trajectories=laps or None, title=f"{name}: best laps")
        return FileResponse(cached, media_type="image/png")

    @app.get("/api/models/{name}/live.jpg")
    def live_frame(name: str, steps: int = 1) -> Response:
        from racer.ui.live import LiveDriver

        run = _open_run(ws, name)
        driver = LiveDriver(run.path)
        try:
            data = b""
            for _ in range(max(1, min(steps, 300))):
                data = driver.jpeg()
        finally:
            driver.close()
        return Response(data, media_type="image/jpeg")

    @app.get("/api/models/{name}/live.mjpeg")
    async def live_stream(name: str, request: Request) -> Response:
        from racer.ui.live import BOUNDARY, mjpeg

        run = await run_in_threadpool(_open_run, ws, name)
        return StreamingResponse(
            mjpeg(run.path, request.is_disconnected),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        )

    @app.get("/api/models/{name}/events")
    async def events(name: str, request: Request, once: bool = False) -> Response:
        run = await run_in_threadpool(_open_run, ws, name)
        return StreamingResponse(
            _run_events(ws, jobs, name, run, request, once),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    @app.get("/api/models/{name}/files/{path:path}")
    def run_file(name: str, path: str) -> Response:
        run = _open_run(ws, name)
        target = (run.path / path).resolve()
        if not target.is_relative_to(run.path.resolve()):
            raise PathRefused(f"{path}: outside the run folder {run.path}")
        ws.inside(target)
        if not target.is_file():
            return Response(status_code=404)
        return FileResponse(target)

    @app.get("/api/files")
    def workspace_file(path: str) -> Response:
        target = ws.inside(path)
        if not target.is_file():
            return Response(status_code=404)
        return FileResponse(target, filename=target.name)

    # ------------------------------------------------------------------ jobs
    @app.get("/api/jobs")
    def all_jobs() -> list[dict[str, Any]]:
        return [j.to_dict() for j in jobs.all()]

    @app.get("/api/jobs/{job_id}")
    def one_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise ConfigError(f"no job {job_id!r}")
        return {**job.to_dict(), "log": jobs.log_tail(job.id)}

    # ------------------------------------------------------------------ leaderboard
    @app.get("/api/leaderboard")
    def leaderboard() -> list[dict[str, Any]]:
        return _boards(ws)

    @app.get("/api/leaderboard/brackets")
    def leaderboard_brackets() -> list[dict[str, Any]]:
        from racer.evaluate.leaderboard.bracket import load_brackets

        return load_brackets(ws.db)

    @app.get("/api/leaderboard/page", include_in_schema=False)
    def leaderboard_page() -> Response:
        from racer.evaluate.html import render_html
        from racer.evaluate.leaderboard.bracket import brackets_path

        if not ws.db.is_file() and not brackets_path(ws.db).is_file():
            return Response("no submissions yet", media_type="text/plain")
        return Response(
            render_html(ws.db, title="racer leaderboard"),
            media_type="text/html",
            headers={"content-security-policy": CSP_INLINE_STYLE},
        )

    @app.get("/api/leaderboard/events")
    async def leaderboard_events(request: Request, once: bool = False) -> Response:
        return StreamingResponse(_board_events(ws, request, once), media_type="text/event-stream")

    @app.post("/api/leaderboard/submit")
    def submit(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        from racer.evaluate.leaderboard import validate_name

        source = str(body.get("model", ""))
        run_name: str | None = None
        if source.startswith("expert:"):
            bundle = source
        else:
            run_name = source
            _open_run(ws, source)
            archive = ws.exports / f"{source}.tar.gz"
            if not archive.is_file():
                raise recipes.FieldError(
                    "model", f"{source}: no exported bundle ({archive}); export it first"
                )
            bundle = str(archive)
        racer_name = body.get("name")
        try:
            validate_name(str(racer_name or ""))
        except RacerError as exc:
            raise recipes.FieldError("name", str(exc)) from None
        args = ["leaderboard", "submit", bundle, "--name", str(racer_name), "--db", str(ws.db)]
        args += _race_args(ws, body, evaluate=False)
        _cli_check(args, {})
        job = jobs.start("submit", args, run=run_name)
        return {"job": job.to_dict()}

    return app


# ---------------------------------------------------------------------- helpers


def _page(name: str) -> Any:
    def serve() -> Response:
        return FileResponse(STATIC / name, media_type="text/html")

    return serve


def _refusal(request: Request, token: str | None, allowed_hosts: frozenset[str]) -> str | None:
    """Why a request is refused (403), or None."""
    if token is not None:
        given = (
            request.query_params.get("token")
            or request.cookies.get(TOKEN_COOKIE)
            or request.headers.get(TOKEN_HEADER)
            or ""
        )
        if not hmac.compare_digest(given.encode(), token.encode()):
            return "forbidden: open the URL racer ui printed (it carries the token)\n"
    else:
        host = _host_name(request.headers.get("host") or "")
        if host not in allowed_hosts:
            return "forbidden: this server answers only 127.0.0.1 (start it with --host to share)\n"
    if request.method not in ("GET", "HEAD"):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "forbidden: state-changing requests must be JSON\n"
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            return "forbidden: cross-origin request\n"
    return None


def _host_name(header: str) -> str:
    """The name of a Host header, without its port (``[::1]:8000`` -> ``[::1]``)."""
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _track_arg(ws: Workspace, track: Any) -> str:
    """A track argument from a request: a name, ``random:SEED``, or a path inside the workspace."""
    from racer.track import load_track

    if not isinstance(track, str) or not track:
        raise recipes.FieldError("track", "choose a track")
    if "/" in track or "\\" in track or track.endswith((".npy", ".toml")):
        track = str(ws.inside(track))
    try:
        load_track(track)
    except RacerError as exc:
        raise recipes.FieldError("track", str(exc)) from None
    return track


def _open_run(ws: Workspace, name: str) -> RunFolder:
    try:
        return RunFolder.open(ws.run_dir(name))
    except PathRefused:
        raise
    except ConfigError as exc:
        raise recipes.FieldError("model", str(exc)) from None


def _start_training(ws: Workspace, jobs: JobStore, name: str) -> Any:
    folder = ws.recipe_dir(name)
    if not (folder / recipes.RECIPE_FILE).is_file():
        raise ConfigError(f"no model {name!r} to start: create it first")
    run = ws.run_dir(name)
    if run.exists() and any(run.iterdir()):
        raise ConfigError(f"{name} has started already: resume it instead")
    if jobs.active(name) is not None:
        raise ConfigError(f"{name} is training already")
    args = ["train", str(folder), "--out", str(run), "--no-progress"]
    return jobs.start("train", args, run=name)


def _race_args(ws: Workspace, body: dict[str, Any], evaluate: bool) -> list[str]:
    """The race options of an evaluation or a submission (the CLI's option names)."""
    args: list[str] = []
    track = body.get("track")
    if track is not None or not evaluate:
        args += ["--track", _track_arg(ws, track)]
    options = {
        "race": "--race",
        "trials": "--trials",
        "laps": "--laps",
        "offtrack_penalty": "--offtrack-penalty",
        "crash_penalty": "--crash-penalty",
        "reset_limit": "--reset-limit",
        "time_limit": "--time-limit",
        "seed": "--seed",
        "boxes": "--boxes",
        "bots": "--bots",
        "bot_speed": "--bot-speed",
    }
    if not evaluate:
        options.pop("trials")
        options.pop("laps")
    for key, flag in options.items():
        value = body.get(key)
        if value is not None and value != "":
            args += [flag, str(value)]
    return args


def _cli_check(args: list[str], fields: dict[str, str]) -> None:
    """Parse ``racer ARGS`` with the CLI's own parser (nothing runs): its message on bad input.

    Raises:
        FieldError: the CLI's one-line message, on the field of the option it names.
    """
    import typer

    from racer.cli.main import app as cli_app

    cmd: Any = typer.main.get_command(cli_app)
    parent: Any = None
    rest = list(args)
    try:
        while True:
            if hasattr(cmd, "get_command") and rest:  # a group: descend to the sub-command
                parent = cmd.make_context(cmd.name or "racer", rest[:1], parent=parent)
                sub = cmd.get_command(parent, rest[0])
                if sub is None:
                    return
                cmd, rest = sub, rest[1:]
                continue
            cmd.make_context(cmd.name or "", rest, parent=parent)
            return
    except Exception as exc:  # click's usage errors (typer vendors click: no import of its own)
        if not hasattr(exc, "format_message"):
            raise
        param = getattr(exc, "param", None)
        name = getattr(param, "name", None) or "form"
        raise recipes.FieldError(fields.get(name, name), exc.format_message()) from None


def _exports(ws: Workspace, name: str) -> dict[str, str | None]:
    """The run's exported files (workspace-relative paths), None where missing."""
    candidates = {
        "bundle": ws.exports / f"{name}.tar.gz",
        "deepracer": ws.exports / "deepracer" / f"{name}.tar.gz",
    }
    return {
        key: str(path.relative_to(ws.root)) if path.is_file() else None
        for key, path in candidates.items()
    }


def _boards(ws: Workspace) -> list[dict[str, Any]]:
    from racer.evaluate.leaderboard import standings_rows, track_boards

    if not ws.db.is_file():
        return []
    return [
        {
            "track": b.label,
            "race": b.race,
            "bound_s": None if b.bound_s is None else round(b.bound_s, 4),
            "standings": standings_rows(b.standings, b.bound_s),
        }
        for b in track_boards(ws.db)
    ]


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _run_events(
    ws: Workspace, jobs: JobStore, name: str, run: RunFolder, request: Request, once: bool
) -> AsyncIterator[bytes]:
    """A run's live events: new ``metrics.csv`` / ``eval.csv`` rows and status changes."""
    offsets = {"metrics": 0, "eval": 0}
    paths = {"metrics": run.metrics_csv_path, "eval": run.eval_csv_path}
    last_status: Any = None
    t_end = time.monotonic() + SSE_MAX_S
    while time.monotonic() < t_end:
        for kind, path in paths.items():
            rows, offsets[kind] = await run_in_threadpool(runs.read_csv_rows, path, offsets[kind])
            if rows:
                yield _sse(kind, rows)
        summary = await run_in_threadpool(runs.summary, ws, jobs, name)
        status = {
            k: summary.get(k)
            for k in ("status", "steps", "budget", "best_average_s", "gap", "error")
        }
        if status != last_status:
            last_status = status
            yield _sse("status", status)
        if once or await request.is_disconnected():
            return
        await asyncio.sleep(SSE_POLL_S)


async def _board_events(ws: Workspace, request: Request, once: bool) -> AsyncIterator[bytes]:
    """The leaderboard's boards, sent again whenever the file (or its brackets) changes."""
    from racer.evaluate.leaderboard.bracket import brackets_path

    last: Any = None
    t_end = time.monotonic() + SSE_MAX_S
    while time.monotonic() < t_end:
        stamp: tuple[int, ...] | None = None
        for path in (ws.db, ws.db.with_name(ws.db.name + "-wal"), brackets_path(ws.db)):
            if path.exists():
                st = path.stat()
                stamp = (stamp or ()) + (st.st_mtime_ns, st.st_size)
        if stamp != last:
            last = stamp
            yield _sse("boards", await run_in_threadpool(_boards, ws))
        if once or await request.is_disconnected():
            return
        await asyncio.sleep(SSE_POLL_S)


__all__ = ["create_app", "check_name"]
