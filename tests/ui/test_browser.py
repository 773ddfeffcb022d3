"""The console's pages in a real browser (headless Chromium over the DevTools protocol).

Skipped when no Chromium is installed (Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import CLI_RUN, Browser, LiveServer, tiny_form

BROKEN_REWARD = "def reward_function(params):\n    x = params['speed']\n    return x +\n"


def test_models_list_shows_a_run_trained_by_the_cli(
    live_server: LiveServer, browser: Browser
) -> None:
    browser.goto(live_server.url + "/")
    browser.wait(f"document.querySelector('tr[data-name=\"{CLI_RUN}\"]')")
    row = browser.js(
        f"""(() => {{ const r = document.querySelector('tr[data-name="{CLI_RUN}"]');
        return [...r.querySelectorAll('td')].map((td) => td.textContent.trim()); }})()"""
    )
    assert row[1] == CLI_RUN and row[2] == "done"
    assert "256 / 256 steps" in row[3] and row[4] == "oval" and row[5] == "state · ppo"
    assert "bound 4.9" in row[7]  # no complete lap yet: no gap, the bound shown
    # the best-lap thumbnail loaded (a PNG drawn by racer.track.plot)
    assert browser.wait(
        "(() => { const i = document.querySelector('img.thumb'); "
        "return i && i.complete && i.naturalWidth > 100; })()"
    )
    browser.js("document.querySelector('a.model-link').click()")
    browser.wait(f"location.pathname === '/models/{CLI_RUN}'")
    browser.wait("document.body.dataset.ready === '1'")
    assert browser.js("document.getElementById('title').textContent") == CLI_RUN
    assert browser.wait("document.getElementById('charts').dataset.rows === '4'")
    assert browser.wait("document.querySelectorAll('#map svg path.drive').length >= 1")


def test_create_form_rejects_a_broken_reward_inline(
    live_server: LiveServer, browser: Browser
) -> None:
    browser.goto(live_server.url + "/create")
    browser.wait("document.body.dataset.ready === '1'")
    browser.wait("document.querySelectorAll('.track-card').length > 0")
    browser.js(
        f"""(() => {{ const t = document.getElementById('reward-code');
        t.value = {json.dumps(BROKEN_REWARD)}; t.dispatchEvent(new Event('input')); }})()"""
    )
    browser.js("document.getElementById('create-start').click()")
    message = browser.wait(
        "document.querySelector('.error.shown[data-for=\"reward\"]')?.textContent"
    )
    assert message.startswith("reward.py:3: syntax error in reward file")
    assert browser.js("document.querySelector('.gutter .ln.bad')?.textContent") == "3"
    assert browser.js("location.pathname") == "/create"  # nothing created
    # the Check button runs racer rewards check: a runtime failure names its line too
    failing = "def reward_function(params):\n    return 1.0 / 0 if params['is_offtrack'] else 1.0\n"
    browser.js(
        f"""(() => {{ const t = document.getElementById('reward-code');
        t.value = {json.dumps(failing)}; t.dispatchEvent(new Event('input')); }})()"""
    )
    browser.js("document.getElementById('check-reward').click()")
    message = browser.wait(
        "document.querySelector('.error.shown[data-for=\"reward\"]')?.textContent"
    )
    assert "failed call(s)" in message and "ZeroDivisionError" in message
    assert browser.js("document.querySelector('.gutter .ln.bad')?.textContent") == "2"
    assert browser.js("document.querySelectorAll('.check-report tbody tr').length") == 6
    # a bad number gets the CLI's message next to its field
    browser.js(
        "document.getElementById('budget.steps').value = '0';"
        "document.getElementById('create-start').click()"
    )
    message = browser.wait(
        "document.querySelector('.error.shown[data-for=\"budget\"]')?.textContent"
    )
    assert message == "--steps must be > 0 (budget.steps), got 0"
    # a hyperparameter's message opens its folded section
    browser.js(
        "document.getElementById('budget.steps').value = '1000';"
        "document.getElementById('hyperparameters.gamma').value = '1.5';"
        "document.getElementById('create-start').click()"
    )
    message = browser.wait(
        "document.querySelector('.error.shown[data-for=\"hyperparameters\"]')?.textContent"
    )
    assert message.endswith("hyperparameters.gamma must be in (0, 1], got 1.5")
    assert browser.js("document.querySelector('details').open") is True


def test_create_form_race_type_and_randomisation(
    live_server: LiveServer, browser: Browser, ws_with_run: Path
) -> None:
    """Object avoidance, state + lidar and sim-to-real picked in the page reach agent.toml."""
    browser.goto(live_server.url + "/create")
    browser.wait("document.body.dataset.ready === '1'")
    browser.wait("document.querySelectorAll('.track-card').length > 0")
    assert browser.js("document.getElementById('race-boxes').offsetParent") is None  # hidden
    browser.js(
        "document.querySelector('#race-kind label[data-value=\"object-avoidance\"]').click()"
    )
    assert browser.wait("document.getElementById('race-boxes').offsetParent !== null")
    assert browser.js("document.getElementById('race-bots').offsetParent") is None
    browser.js(
        "document.getElementById('race.boxes').value = '2';"
        "document.getElementById('race.box_placement').value = 'alternating';"
        "document.querySelector('#sensors label[data-value=\"state_lidar\"]').click();"
        "document.getElementById('randomize.enabled').checked = true;"
        "document.getElementById('name').value = 'boxes-ui';"
        "document.getElementById('reward-code').value = "
        "'def reward_function(params):\\n    return 1.0\\n';"
        "document.getElementById('create-only').click()"
    )
    browser.wait("location.pathname === '/'")
    from racer.train.config import load_agent

    cfg = load_agent(ws_with_run / ".racer-ui" / "recipes" / "boxes-ui")
    assert (cfg.race.format, cfg.race.boxes, cfg.race.box_placement) == (
        "object-avoidance",
        2,
        "alternating",
    )
    assert cfg.env.observation == "state_lidar" and cfg.randomize.enabled


def test_form_values_are_shown_as_text(live_server: LiveServer, browser: Browser) -> None:
    browser.goto(live_server.url + "/create")
    browser.wait("document.body.dataset.ready === '1'")
    payload = '<img id="injected" src="x" onerror="document.title=1">'
    browser.js(
        f"document.getElementById('name').value = {json.dumps(payload)};"
        "document.getElementById('create-start').click()"
    )
    message = browser.wait("document.querySelector('.error.shown[data-for=\"name\"]')?.textContent")
    assert payload in message  # shown as text...
    time.sleep(0.5)
    assert browser.js("document.getElementById('injected')") is None  # ...never as markup
    assert browser.js("document.title") == "Create model · racer console"


@pytest.mark.slow
def test_a_live_curve_updates_while_a_tiny_training_runs(
    live_server: LiveServer, browser: Browser
) -> None:
    from fastapi.testclient import TestClient

    with TestClient(live_server.app, base_url="http://127.0.0.1") as api:
        r = api.post("/api/models", json={**tiny_form("live", steps=1_000_000), "start": True})
        assert r.status_code == 200, r.text
        try:
            browser.goto(live_server.url + "/models/live")
            browser.wait("document.body.dataset.ready === '1'")
            first = int(
                browser.wait("Number(document.getElementById('charts').dataset.rows) || 0", 120)
            )
            later = int(
                browser.wait(
                    f"(() => {{ const n = Number(document.getElementById('charts').dataset.rows);"
                    f" return n > {first} + 2 ? n : 0; }})()",
                    120,
                )
            )
            assert later > first  # rows arrived over the event stream while training ran
            assert browser.js("document.getElementById('status').textContent") == "training"
            # the live view: the chase camera streams frames of the newest saved model
            browser.wait("document.querySelector('#charts svg path.series-0') !== null")
            browser.js("document.getElementById('live-toggle').click()")
            assert browser.wait(
                "(() => { const i = document.getElementById('live');"
                " return i.naturalWidth === 320; })()",
                60,
            )
            browser.js("document.getElementById('stop').click()")
            assert browser.wait("document.getElementById('status').textContent === 'stopped'", 120)
        finally:
            for job in api.get("/api/jobs").json():
                if job["state"] == "running":
                    api.post("/api/models/live/stop", json={})
