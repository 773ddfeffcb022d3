"""The leaderboard page in a real browser: headless Chromium renders the tables and the map.

Skipped when no Chromium is installed (Debian: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from test_leaderboard import make_entry

from racer.evaluate import leaderboard as lb
from racer.evaluate.html import write_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_page_renders_in_chromium(tmp_path: Path) -> None:
    browser = _browser()
    db = tmp_path / "lb.db"
    lb.record(db, make_entry("ann", 19.0, off=1))
    lb.record(db, make_entry("bob <i>", 21.0))
    lb.record(db, make_entry("cid", None, completion=55.0))
    page = write_html(db, tmp_path / "index.html")

    dom = _run(browser, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<tr") == 4  # header + three racers
    assert "ann" in html and "bob &lt;i&gt;" in html and "cid" in html
    assert "<svg" in html and "<i>" not in html

    shot = tmp_path / "shot.png"
    res = _run(
        browser,
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1200,900",
        page.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 20_000  # a page, not a blank canvas
    assert _png_size(shot) == (1200, 900)
