"""The console's JSON API: every action (create, start, stop, resume, evaluate, export, submit)
on tiny budgets, with the CLI's own one-line messages for bad input."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import CLI_RUN, LiveServer, stop_jobs, tiny_form, wait_job
from fastapi.testclient import TestClient
from testlib.cli import run_cli

BROKEN_REWARD = "def reward_function(params):\n    x = params['speed']\n    return x +\n"
FAILING_REWARD = (
    "def reward_function(params):\n"
    "    if params['is_offtrack']:\n"
    "        return 1 / 0\n"
    "    return 1.0\n"
)


def test_models_list_shows_a_cli_run(run_client: TestClient) -> None:
    models = run_client.get("/api/models").json()
    assert [m["name"] for m in models] == [CLI_RUN]
    m = models[0]
    assert m["status"] == "done" and m["steps"] == 256 and m["budget"] == 256
    assert m["track"] == "oval" and m["observation"] == "state" and m["has_model"]
    assert m["bound_s"] is not None and 3.0 < m["bound_s"] < 10.0  # oval: ~4.96 s
    thumb = run_client.get(f"/api/models/{CLI_RUN}/thumbnail.png")
    assert thumb.status_code == 200 and thumb.content[:8] == b"\x89PNG\r\n\x1a\n"
    detail = run_client.get(f"/api/models/{CLI_RUN}").json()
    assert [r["steps"] for r in detail["metrics"]] == ["64", "128", "192", "256"]
    assert detail["jobs"] == [] and "[budget]" in detail["config"]


def test_create_refuses_with_the_cli_messages(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same rule and the same line as `racer train AGENT --steps 0`
    code, _, err = run_cli(["train", "agents/quickstart", "--steps", "0"], capsys)
    assert code == 2
    r = client.post("/api/models", json=tiny_form("m1", steps=0))
    assert r.status_code == 400
    assert r.json()["field"] == "budget.steps"
    assert "racer: error: " + r.json()["message"] == err.strip()

    r = client.post("/api/models", json=tiny_form("m1", reward={"code": BROKEN_REWARD}))
    body = r.json()
    assert r.status_code == 400 and body["field"] == "reward" and body["line"] == 3
    assert body["message"].startswith("reward.py:3: syntax error") and "\n" not in body["message"]

    form = tiny_form("m1")
    form["env"]["tracks"] = ["no-such-track"]
    body = client.post("/api/models", json=form).json()
    assert body["field"] == "env.tracks" and "no-such-track" in body["message"]

    form = tiny_form("m1", hyperparameters={"gamma": 2})
    body = client.post("/api/models", json=form).json()
    assert body == {
        "field": "hyperparameters.gamma",
        "message": "m1: hyperparameters.gamma must be in (0, 1], got 2",
        "line": None,
    }
    bad_space = {
        "action_space_type": "discrete",
        "action_space": [{"steering_angle": 50, "speed": 1}],
    }
    body = client.post("/api/models", json=tiny_form("m1", action_space=bad_space)).json()
    assert body["field"] == "action_space" and "steering_angle 50.0" in body["message"]

    body = client.post("/api/models", json=tiny_form("../escape")).json()
    assert body["field"] == "name" and "not valid" in body["message"]
    assert client.get("/api/models").json() == []  # nothing was written


def test_create_writes_the_recipe_racer_train_reads(client: TestClient, workspace: Path) -> None:
    code = "def reward_function(params):\n    return float(params['progress'])\n"
    r = client.post("/api/models", json=tiny_form("m2", reward={"code": code}))
    assert r.status_code == 200, r.text
    recipe = workspace / ".racer-ui" / "recipes" / "m2"
    assert (recipe / "reward.py").read_text() == code
    assert 'reward = "reward.py"' in (recipe / "agent.toml").read_text()
    from racer.train.config import load_agent

    cfg = load_agent(recipe)
    assert cfg.budget.steps == 256 and cfg.env.observation == "state"
    assert client.get("/api/models").json() == [{"name": "m2", "status": "created", "steps": 0}]
    again = client.post("/api/models", json=tiny_form("m2"))
    assert again.status_code == 400 and "exists already" in again.json()["message"]


def test_create_with_a_race_type_and_randomisation(client: TestClient, workspace: Path) -> None:
    """The Create form's race type and sim-to-real switch become [race] and [randomize]."""
    from racer.train.config import load_agent

    env = {"tracks": ["oval"], "observation": "state_lidar", "max_steps": 100}
    race = {"format": "object-avoidance", "boxes": 2, "box_placement": "alternating"}
    form = tiny_form("boxes", env=env, race=race, randomize={"enabled": True})
    r = client.post("/api/models", json=form)
    assert r.status_code == 200, r.text
    cfg = load_agent(workspace / ".racer-ui" / "recipes" / "boxes")
    assert cfg.env.observation == "state_lidar" and cfg.randomize.enabled
    assert (cfg.race.format, cfg.race.boxes, cfg.race.box_placement) == (
        "object-avoidance",
        2,
        "alternating",
    )
    bots = {"format": "head-to-head", "bots": 2, "bot_line": "racing", "bot_lane_change_s": 3}
    body = client.post("/api/models", json=tiny_form("bots", race=bots)).json()
    assert body["field"] == "race.bot_lane_change_s"  # shown next to the race type
    assert "must be 0 for bots on the racing line" in body["message"]
    body = client.post("/api/models", json=tiny_form("bots", race={"format": "drag"})).json()
    assert body["field"] == "race.format" and "'drag' is not valid" in body["message"]


def test_start_trains_in_a_detached_job_and_stop_saves_a_checkpoint(
    client: TestClient, workspace: Path
) -> None:
    form = tiny_form("long", steps=1_000_000)
    assert client.post("/api/models", json=form).status_code == 200
    job = client.post("/api/models/long/start", json={}).json()["job"]
    assert job["state"] == "running" and job["command"].startswith("racer train ")
    try:
        run = workspace / "runs" / "long"
        t_end = time.monotonic() + 120
        while not (run / "checkpoints" / "latest.json").is_file():
            assert time.monotonic() < t_end, client.get(f"/api/jobs/{job['id']}").json()["log"]
            time.sleep(0.3)
        assert client.get("/api/models/long").json()["status"] == "training"
        stopped = client.post("/api/models/long/stop", json={}).json()["job"]
        assert stopped["state"] == "stopping"
        done = wait_job(client, job["id"])
        assert done["state"] == "stopped" and done["rc"] == 130, done["log"]
        assert "interrupted: checkpoint saved" in done["log"]
        summary = client.get("/api/models/long").json()
        assert summary["status"] == "stopped" and 0 < summary["steps"] < 1_000_000
        assert (run / "final_model.zip").is_file()
    finally:
        stop_jobs(client)
    again = client.post("/api/models/long/stop", json={})
    assert again.status_code == 400 and again.json()["message"] == "long is not training"


def test_resume_trains_more_from_the_checkpoint(run_client: TestClient, ws_with_run: Path) -> None:
    r = run_client.post(f"/api/models/{CLI_RUN}/resume", json={"steps": 0})
    assert r.status_code == 400 and r.json()["field"] == "steps"
    assert r.json()["message"] == "--steps must be > 0 (budget.steps), got 0"
    job = run_client.post(f"/api/models/{CLI_RUN}/resume", json={"steps": 512}).json()["job"]
    assert job["command"].endswith(
        f"--resume {ws_with_run / 'runs' / CLI_RUN} --no-progress --steps 512"
    )
    done = wait_job(run_client, job["id"])
    assert done["state"] == "done", done["log"]
    summary = run_client.get(f"/api/models/{CLI_RUN}").json()
    assert summary["steps"] == 512 and summary["status"] == "done"
    steps = [int(r["steps"]) for r in summary["metrics"]]
    assert steps == sorted(set(steps)) and steps[-1] == 512  # continued, no duplicate rows


def test_evaluate_runs_racer_evaluate(
    run_client: TestClient, ws_with_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = run_client.post(f"/api/models/{CLI_RUN}/evaluate", json={"trials": 0})
    assert bad.status_code == 400 and bad.json()["field"] == "trials"
    code, _, err = run_cli(["evaluate", "expert:centerline", "--trials", "0"], capsys)
    assert code == 2 and "racer: error: " + bad.json()["message"] == err.strip()
    r = run_client.post(
        f"/api/models/{CLI_RUN}/evaluate",
        json={"track": "oval", "trials": 1, "laps": 1, "time_limit": 3, "video": False},
    )
    assert r.status_code == 200, r.text
    done = wait_job(run_client, r.json()["job"]["id"])
    assert done["state"] == "done", done["log"]
    evaluations = run_client.get(f"/api/models/{CLI_RUN}").json()["evaluations"]
    assert [e["id"] for e in evaluations] == [r.json()["evaluation"]]
    results = evaluations[0]["results"]
    assert results["track"] == "oval" and len(results["trials"]) == 1
    assert "trajectories.png" in evaluations[0]["files"]
    png = run_client.get(
        f"/api/models/{CLI_RUN}/files/ui-evaluations/{evaluations[0]['id']}/trajectories.png"
    )
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_export_refuses_a_state_run_with_the_exporter_message(run_client: TestClient) -> None:
    r = run_client.post(f"/api/models/{CLI_RUN}/export", json={"model": "best"})
    assert r.status_code == 400 and r.json()["field"] == "model"
    assert "cannot run on a car" in r.json()["message"]
    r = run_client.post(f"/api/models/{CLI_RUN}/export", json={"model": "newest"})
    assert r.status_code == 400 and "'--model'" in r.json()["message"]
    assert run_client.get("/api/jobs").json() == []


def test_submit_needs_an_export_and_records_a_reference_driver(
    run_client: TestClient, ws_with_run: Path
) -> None:
    r = run_client.post(
        "/api/leaderboard/submit", json={"model": CLI_RUN, "name": "ann", "track": "oval"}
    )
    assert r.status_code == 400 and r.json()["field"] == "model"
    assert "export it first" in r.json()["message"]
    r = run_client.post(
        "/api/leaderboard/submit", json={"model": "expert:centerline", "name": "", "track": "oval"}
    )
    assert r.status_code == 400 and r.json()["field"] == "name"
    assert run_client.get("/api/leaderboard").json() == []
    r = run_client.post(
        "/api/leaderboard/submit",
        json={"model": "expert:centerline", "name": "ref <b>", "track": "oval"},
    )
    done = wait_job(run_client, r.json()["job"]["id"])
    assert done["state"] == "done", done["log"]
    assert "recorded #1: ref <b> on oval" in done["log"]
    boards = run_client.get("/api/leaderboard").json()
    assert boards[0]["track"] == "oval" and boards[0]["standings"][0]["name"] == "ref <b>"
    events = run_client.get("/api/leaderboard/events?once=1").text
    assert events.startswith("event: boards\ndata: ") and "ref <b>" in events
    page = run_client.get("/api/leaderboard/page").text
    assert "ref &lt;b&gt;" in page and "ref <b>" not in page


def test_reward_check_reports_the_failing_line(client: TestClient) -> None:
    ok = client.post(
        "/api/rewards/check",
        json={
            "code": "def reward_function(params):\n    return 1.0 + params['speed']\n",
            "track": "oval",
        },
    ).json()
    assert ok["ok"] and ok["keys_read"] == ["speed"] and len(ok["situations"]) == 6
    bad = client.post("/api/rewards/check", json={"code": FAILING_REWARD, "track": "oval"}).json()
    assert not bad["ok"] and bad["line"] == 3
    first = bad["first_failures"][0]
    assert first["situation"] == "off_track" and "ZeroDivisionError" in first["message"]
    assert "(reward.py:3)" in first["message"]
    broken = client.post("/api/rewards/check", json={"code": BROKEN_REWARD})
    assert broken.status_code == 400 and broken.json()["line"] == 3


def test_events_stream_rows_and_status(run_client: TestClient) -> None:
    text = run_client.get(f"/api/models/{CLI_RUN}/events?once=1").text
    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    kinds = [head.removeprefix("event: ") for head, _ in events]
    assert kinds == ["metrics", "eval", "status"]
    data = {
        k: json.loads(body.removeprefix("data: "))
        for k, (_, body) in zip(kinds, events, strict=True)
    }
    assert [r["steps"] for r in data["metrics"]] == ["64", "128", "192", "256"]
    assert data["status"]["status"] == "done" and data["status"]["steps"] == 256


def test_live_view_drives_the_saved_model(run_client: TestClient) -> None:
    frame = run_client.get(f"/api/models/{CLI_RUN}/live.jpg?steps=3")
    assert frame.status_code == 200 and frame.content[:3] == b"\xff\xd8\xff"  # JPEG
    traj = run_client.get(f"/api/models/{CLI_RUN}/trajectories").json()
    assert traj["track"] == "oval" and traj["latest"] and len(traj["best"]) == 1
    assert all(len(e["points"]) > 1 for e in traj["latest"])


def test_tracks_maps_and_bounds(client: TestClient) -> None:
    names = [t["name"] for t in client.get("/api/tracks").json()]
    assert "oval" in names
    png = client.get("/api/track/map.png?track=oval")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    info = client.get("/api/track?track=random:7").json()
    assert info["closed"] and info["length_m"] > 0 and len(info["center"]) > 10
    bad = client.get("/api/track?track=nowhere")
    assert bad.status_code == 400 and bad.json()["field"] == "track"


def test_a_broken_run_folder_is_listed_not_fatal(workspace: Path, cli_run_dir: Path) -> None:
    shutil.copytree(cli_run_dir, workspace / "runs" / "broken")
    (workspace / "runs" / "broken" / "config.toml").write_text("[budget]\nsteps = 'x'\n")
    from racer.ui.app import create_app

    with TestClient(create_app(workspace), base_url="http://127.0.0.1") as c:
        models = c.get("/api/models").json()
    assert models[0]["status"] == "broken" and "budget.steps" in models[0]["error"]


def test_the_live_stream_sends_frames_and_frees_its_slot(live_server: LiveServer) -> None:
    import httpx

    from racer.ui.live import MAX_STREAMS

    url = f"{live_server.url}/api/models/{CLI_RUN}/live.mjpeg"
    for _ in range(MAX_STREAMS + 1):  # more streams than slots, one after the other
        with httpx.stream("GET", url, timeout=60) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
            data = b""
            for chunk in r.iter_bytes():
                data += chunk
                if data.count(b"--racerframe") >= 3:
                    break
        assert b"Content-Type: image/jpeg" in data and b"\xff\xd8\xff" in data
        t_end = time.monotonic() + 30  # the server notices the client left at its next frame
        while time.monotonic() < t_end:
            from racer.ui import live

            if live._streams._value == MAX_STREAMS:  # type: ignore[attr-defined]
                break
            time.sleep(0.1)
        assert live._streams._value == MAX_STREAMS  # type: ignore[attr-defined]


@pytest.mark.slow
def test_camera_model_from_create_to_export_download_and_leaderboard(
    client: TestClient, workspace: Path
) -> None:
    """The whole console loop on a tiny camera model: create and train, export (bundle and
    DeepRacer archive), download, submit to the leaderboard."""
    form = tiny_form("cam", steps=128, start=True)
    form["env"]["observation"] = "camera"
    form["algorithm"]["network"] = "shallow_cnn"
    r = client.post("/api/models", json=form)
    assert r.status_code == 200, r.text
    done = wait_job(client, r.json()["job"]["id"], timeout_s=600)
    assert done["state"] == "done", done["log"]
    r = client.post(
        "/api/models/cam/export", json={"model": "final", "deepracer": True, "samples": 200}
    )
    assert r.status_code == 200, r.text
    done = wait_job(client, r.json()["job"]["id"], timeout_s=600)
    assert done["state"] == "done", done["log"]
    exports = client.get("/api/models/cam").json()["exports"]
    assert exports == {"bundle": "export/cam.tar.gz", "deepracer": "export/deepracer/cam.tar.gz"}
    archive = client.get("/api/files", params={"path": exports["bundle"]})
    assert archive.status_code == 200 and archive.content[:2] == b"\x1f\x8b"  # gzip
    assert archive.content == (workspace / "export" / "cam.tar.gz").read_bytes()
    assert 'filename="cam.tar.gz"' in archive.headers["content-disposition"]
    r = client.post(
        "/api/leaderboard/submit",
        json={"model": "cam", "name": "camille", "track": "oval", "reset_limit": 0},
    )
    assert r.status_code == 200, r.text
    done = wait_job(client, r.json()["job"]["id"], timeout_s=600)
    assert done["state"] == "done", done["log"]
    rows = client.get("/api/leaderboard").json()[0]["standings"]
    assert [(row["name"], row["model"]) for row in rows] == [("camille", "cam")]


def test_report_runs_racer_report(run_client: TestClient) -> None:
    job = run_client.post(f"/api/models/{CLI_RUN}/report", json={}).json()["job"]
    assert job["command"].startswith("racer report ")
    done = wait_job(run_client, job["id"])
    assert done["state"] == "done", done["log"]
    files = run_client.get(f"/api/models/{CLI_RUN}").json()["report"]
    assert "learning_curves.png" in files or any(f.endswith(".png") for f in files)
    png = next(f for f in files if f.endswith(".png"))
    r = run_client.get(f"/api/models/{CLI_RUN}/files/report/{png}")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_import_a_deepracer_track_from_the_workspace(
    client: TestClient, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from racer.track import load_track
    from racer.track.loading import save_npy

    monkeypatch.setenv("RACER_HOME", str(tmp_path / "home"))
    save_npy(load_track("oval"), workspace / "my_oval.npy")
    save_npy(load_track("oval"), tmp_path / "outside.npy")
    r = client.post("/api/tracks/import", json={"path": str(tmp_path / "outside.npy")})
    assert r.status_code == 403
    r = client.post("/api/tracks/import", json={"path": "my_oval.npy"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "my_oval"
    tracks = {t["name"]: t["source"] for t in client.get("/api/tracks").json()}
    assert tracks["my_oval"] == "user"
    again = client.post("/api/tracks/import", json={"path": "my_oval.npy"})
    assert again.status_code == 400 and again.json()["field"] == "import"
    form = tiny_form("on-import")
    form["env"]["tracks"] = ["my_oval"]
    assert client.post("/api/models", json=form).status_code == 200
