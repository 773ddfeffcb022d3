"""The console's leaderboard page draws a head-to-head bracket saved beside the leaderboard.

The bracket is a real one (three tiny bundles raced in this process); the page is checked in
headless Chromium (skipped without it) and through the API.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Browser, LiveServer
from fastapi.testclient import TestClient

from racer.evaluate.leaderboard.bracket import run_bracket, save_bracket
from racer.evaluate.races import RaceConfig
from racer.ui.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
from evaluate_testlib import build_bundle  # noqa: E402


@pytest.fixture(scope="module")
def bracket_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with no submissions and one bracket of three bundles on the oval."""
    ws = tmp_path_factory.mktemp("ws-bracket")
    bundles = ws / "bundles"
    for name, k in (("alpha", 3), ("bravo", 1), ("charlie", 2)):
        build_bundle(bundles / name, "discrete", preferred=k)
    config = RaceConfig(race="head-to-head", laps=1, time_limit_per_lap_s=8.0)
    save_bracket(ws / "leaderboard.db", run_bracket(bundles, "oval", config))
    return ws


@pytest.fixture
def server(bracket_ws: Path) -> Iterator[LiveServer]:
    s = LiveServer(bracket_ws)
    yield s
    s.close()


def test_the_api_gives_the_bracket_and_the_page_draws_it(bracket_ws: Path) -> None:
    with TestClient(create_app(bracket_ws), base_url="http://127.0.0.1") as client:
        brackets = client.get("/api/leaderboard/brackets").json()
        assert len(brackets) == 1 and brackets[0]["track"] == "oval"
        assert [len(r) for r in brackets[0]["rounds"]] == [2, 1]
        page = client.get("/api/leaderboard/page").text
        assert "head-to-head bracket" in page and page.count('class="match"') == 3


def test_leaderboard_page_shows_the_bracket(
    server: LiveServer, browser: Browser, bracket_ws: Path
) -> None:
    import json

    saved = json.loads((bracket_ws / "leaderboard.brackets.json").read_text())["brackets"][0]
    browser.goto(server.url + "/leaderboard")
    browser.wait("document.getElementById('brackets').dataset.ready === '1'")
    assert browser.js("document.querySelectorAll('#brackets svg.bracket g.match').length") == 3
    assert browser.js("document.querySelectorAll('#brackets path.wire').length") == 3
    champion = browser.js("document.querySelector('#brackets text.champion').textContent")
    assert champion.endswith(saved["champion"])
    final = saved["rounds"][1][0]
    won = browser.js(
        "[...document.querySelectorAll('#brackets g.match[data-match=\"3\"] text.won')]"
        ".map((t) => t.textContent)"
    )
    assert [w.rstrip(" ◂") for w in won] == [final["winner"]]
    bye = browser.js("document.querySelector('#brackets text.bye')?.textContent")
    assert bye == "bye"  # seed 1 (alpha) had a bye
