"""The console's defences: paths stay inside the workspace, a shared server needs its token, a
page from another site cannot drive it, user text never becomes markup."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import CLI_RUN
from fastapi.testclient import TestClient

from racer.ui.app import STATIC, create_app


def test_paths_outside_the_workspace_are_refused(
    run_client: TestClient, ws_with_run: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    inside = ws_with_run / "export" / "ok.txt"
    inside.parent.mkdir()
    inside.write_text("fine")
    assert run_client.get("/api/files", params={"path": "export/ok.txt"}).text == "fine"
    for path in (str(secret), "../secret.txt", "export/../../secret.txt", "/etc/passwd"):
        r = run_client.get("/api/files", params={"path": path})
        assert r.status_code == 403, path
        assert "outside the workspace" in r.json()["message"]
    os.symlink(secret, ws_with_run / "export" / "link.txt")  # a link out is refused too
    assert run_client.get("/api/files", params={"path": "export/link.txt"}).status_code == 403
    # a run's files: only inside that run folder
    r = run_client.get(f"/api/models/{CLI_RUN}/files/..%2F..%2F..%2Fsecret.txt")
    assert r.status_code in (403, 404) and "not for the browser" not in r.text
    r = run_client.get(f"/api/models/{CLI_RUN}/files/config.toml")
    assert r.status_code == 200 and "[budget]" in r.text
    os.symlink(secret, ws_with_run / "runs" / CLI_RUN / "out.txt")
    assert run_client.get(f"/api/models/{CLI_RUN}/files/out.txt").status_code == 403
    # a track given as a path
    r = run_client.get("/api/track", params={"track": str(tmp_path / "t.npy")})
    assert r.status_code == 403
    # run names are one folder name
    for name in ("..", ".hidden", "a b"):
        assert run_client.get(f"/api/models/{name}").status_code in (400, 403, 404), name


def test_a_shared_server_refuses_requests_without_the_token(ws_with_run: Path) -> None:
    token = "tok-" + "x" * 20
    app = create_app(ws_with_run, token)
    with TestClient(app, base_url="http://192.168.1.20:8000") as c:
        for url in ("/", "/api/models", f"/api/models/{CLI_RUN}", "/static/common.js"):
            r = c.get(url)
            assert r.status_code == 403 and "token" in r.text, url
        assert c.get("/api/models", params={"token": "wrong"}).status_code == 403
        assert c.get("/api/models", headers={"x-racer-token": "wrong"}).status_code == 403
        r = c.post("/api/models", json={"name": "x"})
        assert r.status_code == 403
        # the printed URL: the token sets a cookie and leaves the address bar
        r = c.get("/", params={"token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/api/models").status_code == 200  # the cookie now
    with TestClient(app, base_url="http://192.168.1.20:8000") as other:
        assert other.get("/api/models", headers={"x-racer-token": token}).status_code == 200


def test_a_local_server_answers_only_local_host_names(workspace: Path) -> None:
    app = create_app(workspace)
    for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/api/models").status_code == 200, base
    # a DNS-rebinding page reaches 127.0.0.1 under its own name: refused
    with TestClient(app, base_url="http://attacker.example:8000") as c:
        r = c.get("/api/models")
        assert r.status_code == 403 and "127.0.0.1" in r.text


def test_state_changing_requests_must_be_same_origin_json(client: TestClient) -> None:
    form = '{"name": "m"}'
    r = client.post("/api/models", content=form, headers={"content-type": "text/plain"})
    assert r.status_code == 403  # what a cross-site <form> or a no-preflight fetch can send
    r = client.post("/api/models", json={"name": "m"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post(
        "/api/models", json={"name": "bad name"}, headers={"origin": "http://127.0.0.1"}
    )
    assert r.status_code == 400  # same origin: reaches the form check


def test_pages_carry_a_strict_policy_and_never_use_inner_html(client: TestClient) -> None:
    r = client.get("/create")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "innerHTML" not in text.replace("(never innerHTML)", ""), path.name
        assert "outerHTML" not in text and "insertAdjacentHTML" not in text, path.name
        assert "document.write" not in text, path.name
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name  # no inline script
            assert " style=" not in text and "<style" not in text, path.name
            assert "http://" not in text and "https://" not in text, path.name  # no CDN
        if path.suffix in (".js", ".css"):
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name


@pytest.mark.parametrize("field", ["name", "description"])
def test_form_fields_come_back_as_data_not_markup(client: TestClient, field: str) -> None:
    payload = '<img src=x onerror="alert(1)">'
    form = {"name": "ok-name", "description": "", "reward": {"name": "progress"}}
    form[field] = payload
    r = client.post("/api/models", json=form)
    if field == "name":  # refused, the value echoed inside JSON only
        assert r.status_code == 400 and r.headers["content-type"] == "application/json"
        assert payload in r.json()["message"]
    else:  # accepted: the description is stored as TOML text, served as JSON
        assert r.status_code == 200
        models = client.get("/api/models")
        assert models.headers["content-type"] == "application/json"
