"""The leaderboard's static page: one self-contained HTML file, no scripts, no external files.

Per board (track geometry and race format: :class:`racer.evaluate.leaderboard.Board`) it shows a
table of the standings and a map of the track drawn as inline SVG from the track's borders and
centre line, with each racer's best lap line in the colour of the racer's swatch in the table. The
map comes from the geometry stored with the submissions, so a track from a file that is gone is
still drawn; rows of older files without geometry use the installed track of their name, and a
name installed nowhere gets a note instead of a map. Boards whose tracks share a name carry a
short hash of the geometry in their title. Each board names the track's lap-time bound (the
fastest lap the simulated car can drive) and each row shows the racer's average of 3 laps as a
multiple of it (``vs bound``); a note under the table marks the built-in drivers' reference rows
(``expert:...``). Head-to-head brackets saved beside the leaderboard file
(:mod:`racer.evaluate.leaderboard.bracket`) follow, drawn as rounds of matches left to right,
each match's winner in bold with both cars' figures. Every text from the database or a bracket
is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from racer.errors import RacerError
from racer.evaluate.leaderboard import (
    REFERENCE_NOTE,
    Board,
    format_lap,
    format_ratio,
    is_expert,
    standings_rows,
    track_boards,
)
from racer.track import Track
from racer.util.files import atomic_write_text

SVG_WIDTH_PX = 560  # map width on the page
SVG_MARGIN_M = 0.4  # floor around the road in the map, m
MAX_LINES = 10  # best-lap lines drawn per map (the top of the board)
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#469990",
    "#9a6324",
)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px;
       color: #1d1d1f; background: #fafafa; }
h1 { font-size: 26px; margin: 0 0 4px 0; }
h2 { font-size: 20px; margin: 28px 0 8px 0; }
.meta { color: #666; font-size: 13px; margin-bottom: 16px; }
.board { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start;
         background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 16px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f0f0f3; font-weight: 600; }
td.name, th.name, td.model, th.model { text-align: left; }
tr.incomplete td { color: #888; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          margin-right: 6px; vertical-align: middle; }
svg { background: #c9c9c9; border-radius: 6px; }
.note { color: #666; font-size: 13px; }
.bound { color: #444; font-size: 14px; margin: 0 0 8px 0; }
.bracket { display: flex; gap: 28px; align-items: stretch; background: #fff;
           border: 1px solid #ddd; border-radius: 8px; padding: 16px; overflow-x: auto; }
.round { display: flex; flex-direction: column; justify-content: space-around; gap: 12px;
         min-width: 210px; }
.round h3 { font-size: 14px; margin: 0 0 4px 0; color: #444; }
.match { border: 1px solid #ccc; border-radius: 6px; font-size: 13px; background: #fdfdfd; }
.match .car { display: flex; justify-content: space-between; gap: 10px; padding: 4px 8px; }
.match .car + .car { border-top: 1px solid #e5e5e5; }
.match .won { font-weight: 700; background: #eef7ee; }
.match .fig { color: #666; font-variant-numeric: tabular-nums; }
.champion { align-self: center; font-size: 16px; font-weight: 700; }
"""


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _path_d(points: np.ndarray, tx: Any, closed: bool) -> str:
    """An SVG path through ``points`` (NaN rows start a new sub-path)."""
    parts: list[str] = []
    pen_up = True
    for x, y in np.asarray(points, dtype=np.float64):
        if not (np.isfinite(x) and np.isfinite(y)):
            pen_up = True
            continue
        px, py = tx(x, y)
        parts.append(f"{'M' if pen_up else 'L'}{px:.1f},{py:.1f}")
        pen_up = False
    if closed and parts:
        parts.append("Z")
    return " ".join(parts)


def track_svg(track: Track, lines: Sequence[tuple[str, np.ndarray]]) -> str:
    """An inline SVG map of a track with driven lines.

    Args:
        track: the track.
        lines: ``(colour, (M, 2) points)`` to draw over the road.

    Returns:
        The ``<svg>`` element.
    """
    pts = np.vstack((track.left, track.right))
    lo = pts.min(axis=0) - SVG_MARGIN_M
    hi = pts.max(axis=0) + SVG_MARGIN_M
    span = hi - lo
    scale = SVG_WIDTH_PX / float(span[0])
    height = float(span[1]) * scale

    def tx(x: float, y: float) -> tuple[float, float]:
        return (x - lo[0]) * scale, (hi[1] - y) * scale

    closed = bool(track.closed)
    if closed:
        road = _path_d(track.left, tx, True) + " " + _path_d(track.right, tx, True)
    else:
        outline = np.vstack((track.left, track.right[::-1]))
        road = _path_d(outline, tx, True)
    border_w = max(1.0, 0.05 * scale)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH_PX}" height="{height:.0f}" '
        f'viewBox="0 0 {SVG_WIDTH_PX} {height:.0f}" role="img" '
        f'aria-label="map of {html.escape(track.name)}">',
        f'<path d="{road}" fill="#2b2b2b" fill-rule="evenodd" stroke="none"/>',
        f'<path d="{_path_d(track.left, tx, closed)}" fill="none" stroke="#ffffff" '
        f'stroke-width="{border_w:.1f}"/>',
        f'<path d="{_path_d(track.right, tx, closed)}" fill="none" stroke="#ffffff" '
        f'stroke-width="{border_w:.1f}"/>',
        f'<path d="{_path_d(track.center, tx, closed)}" fill="none" stroke="#f2c200" '
        f'stroke-width="{max(1.0, 0.02 * scale):.1f}" stroke-dasharray="6 6"/>',
    ]
    # The start line: across the road at waypoint 0.
    sx0, sy0 = tx(*track.left[0])
    sx1, sy1 = tx(*track.right[0])
    out.append(
        f'<line x1="{sx0:.1f}" y1="{sy0:.1f}" x2="{sx1:.1f}" y2="{sy1:.1f}" stroke="#ffffff" '
        f'stroke-width="{1.5 * border_w:.1f}" stroke-dasharray="3 3"/>'
    )
    for colour, line in lines:
        d = _path_d(line, tx, False)
        if d:
            out.append(
                f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2.2" '
                'stroke-opacity="0.9" stroke-linejoin="round"/>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _line_array(points: Sequence[tuple[float | None, float | None]]) -> np.ndarray:
    return np.array(
        [(np.nan, np.nan) if p[0] is None or p[1] is None else (p[0], p[1]) for p in points],
        dtype=np.float64,
    ).reshape(-1, 2)


def _board_html(b: Board) -> str:
    rows = []
    lines: list[tuple[str, np.ndarray]] = []
    board = b.standings
    bound_s = b.bound_s
    ratios = [row["vs_bound"] for row in standings_rows(board, bound_s)]
    for i, s in enumerate(board):
        e = s.entry
        colour = PALETTE[i % len(PALETTE)]
        if i < MAX_LINES and e.best_lap_line:
            lines.append((colour, _line_array(e.best_lap_line)))
        swatch = (
            f'<span class="swatch" style="background:{colour}"></span>' if i < MAX_LINES else ""
        )
        cls = "" if e.complete else ' class="incomplete"'
        rows.append(
            f"<tr{cls}><td>{s.rank}</td>"
            f'<td class="name">{swatch}{html.escape(e.name)}</td>'
            f'<td class="model">{html.escape(e.model)}</td>'
            f"<td>{format_lap(e.average_lap_s)}</td>"
            f"<td>{format_ratio(ratios[i])}</td>"
            f"<td>{format_lap(e.best_lap_s)}</td>"
            f"<td>{e.completion_percentage:.1f}</td>"
            f"<td>{e.off_track_count}</td>"
            f"<td>{e.crash_count}</td>"
            f"<td>{e.reset_count}</td>"
            f"<td>{s.submissions}</td>"
            f"<td>{html.escape(e.submitted_utc[:16].replace('T', ' '))}</td></tr>"
        )
    table = (
        '<table><thead><tr><th>#</th><th class="name">racer</th>'
        '<th class="model">model</th><th>avg of 3 laps (s)</th>'
        '<th title="average of 3 laps over the track\'s lap-time bound">vs bound</th>'
        "<th>best lap (s)</th>"
        "<th>completion %</th><th>off-tracks</th><th>crashes</th><th>resets</th>"
        "<th>submissions</th><th>submitted (UTC)</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    if any(is_expert(s.entry.model) for s in board):
        table = f'<div>{table}<p class="note">{html.escape(REFERENCE_NOTE)}.</p></div>'
    figure = None
    if b.track is not None:
        try:
            figure = track_svg(b.track, lines)
        except (RacerError, ValueError, FloatingPointError):  # a degenerate stored geometry
            figure = None
    if figure is None:
        figure = (
            f'<p class="note">track {html.escape(b.track_name)} is not installed here and no '
            "geometry was recorded with it: no map</p>"
        )
    title = f"{html.escape(b.label)} &middot; {html.escape(b.race)}"
    hover = f' title="track sha256 {b.track_sha256}"' if b.track_sha256 else ""
    others = (
        f'<p class="note">The same track was also submitted as '
        f"{html.escape(', '.join(b.names[1:]))}.</p>"
        if len(b.names) > 1
        else ""
    )
    bound = (
        f'<p class="bound">Lap-time bound {bound_s:.3f} s: the fastest lap the simulated car '
        "can drive here (the optimal racing line at the car's limits).</p>"
        if bound_s is not None
        else '<p class="bound">Lap-time bound: not available for this track.</p>'
    )
    return (
        f"<section><h2{hover}>{title}</h2>{bound}{others}"
        f'<div class="board">{table}{figure}</div></section>'
    )


def render_html(db: str | Path, title: str = "racer leaderboard") -> str:
    """The whole page for a leaderboard database.

    Args:
        db: the SQLite file.
        title: the page title.

    Returns:
        The HTML text.
    """
    brackets = _brackets(db)
    boards = [] if brackets and not Path(db).is_file() else track_boards(db)  # a bracket alone
    sections = [_board_html(b) for b in boards]
    sections += [bracket_html(b) for b in brackets]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(sections) or '<p class="note">No submissions yet.</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<div class="meta">Ranked by DeepRacer\'s rules: average of 3 consecutive laps '
        f"(penalties included), each racer's best submission, off-tracks break ties; "
        f"incomplete runs by completion. Generated {stamp}.</div>"
        f"{body}</body></html>\n"
    )


def _brackets(db: str | Path) -> list[dict[str, Any]]:
    """The brackets saved beside ``db``; none when the file is unreadable (the page still shows)."""
    from racer.evaluate.leaderboard.bracket import load_brackets

    try:
        return load_brackets(db)
    except RacerError:
        return []


def _match_car(m: dict[str, Any], side: str, index: int) -> str:
    name = m.get(side)
    if name is None:
        return '<div class="car"><span class="note">bye</span></div>'
    cars = m.get("cars") or []
    fig = ""
    if index < len(cars):
        c = cars[index]
        if c.get("episode_status") == "lap_complete":
            fig = f"{float(c.get('elapsed_time_in_milliseconds', 0)) / 1000.0:.2f} s"
        else:
            fig = f"{float(c.get('completion_percentage', 0.0)):.1f}%"
        crashes = int(c.get("crash_count", 0))
        if crashes:
            fig += f", {crashes} crash{'es' if crashes > 1 else ''}"
    won = " won" if name == m.get("winner") else ""
    pole = ' title="on pole"' if name == m.get("pole") else ""
    return (
        f'<div class="car{won}"{pole}><span>{html.escape(str(name))}</span>'
        f'<span class="fig">{html.escape(fig)}</span></div>'
    )


def bracket_html(bracket: dict[str, Any]) -> str:
    """One saved bracket (:meth:`racer.evaluate.leaderboard.bracket.Bracket.to_dict` data) as a
    section: the rounds left to right, each match with both cars, the winner in bold."""
    rounds = bracket.get("rounds") or []
    columns = []
    for k, matches in enumerate(rounds):
        last = k == len(rounds) - 1
        label = "Final" if last else f"Round {k + 1}"
        boxes = "".join(
            f'<div class="match" data-match="{int(m.get("number", 0))}">'
            f"{_match_car(m, 'a', 0)}{_match_car(m, 'b', 1)}</div>"
            for m in matches
        )
        columns.append(f'<div class="round"><h3>{label}</h3>{boxes}</div>')
    champion = html.escape(str(bracket.get("champion", "")))
    columns.append(f'<div class="champion"><span class="note">champion</span><br>{champion}</div>')
    entrants = ", ".join(
        f"{int(e.get('seed', 0))}. {html.escape(str(e.get('name', '')))}"
        f" ({html.escape(str(e.get('seeded_by', '')))})"
        for e in bracket.get("entrants") or []
    )
    laps = int(bracket.get("laps", 1))
    return (
        f'<section class="bracket-section"><h2>{html.escape(str(bracket.get("track", "")))} '
        f"&middot; head-to-head bracket</h2>"
        f'<p class="note">{laps} lap{"s" if laps != 1 else ""} per race, seed '
        f"{int(bracket.get('seed', 0))}, run "
        f"{html.escape(str(bracket.get('created_utc', ''))[:16].replace('T', ' '))} UTC. "
        f"Seeds: {entrants}. Winner: first to drive the laps, penalties included (the car "
        "behind counts a crash and waits out its penalty), else the one that drove further.</p>"
        f'<div class="bracket">{"".join(columns)}</div></section>'
    )


def write_html(db: str | Path, out: str | Path, title: str = "racer leaderboard") -> Path:
    """Write the static page atomically.

    Args:
        db: the SQLite file.
        out: the ``.html`` file.
        title: the page title.

    Returns:
        The path written.
    """
    path = Path(out)
    atomic_write_text(path, render_html(db, title), mode=0o644)  # for a web server
    return path
