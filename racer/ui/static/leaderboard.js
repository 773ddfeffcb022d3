// Leaderboard page: the standings, pushed again whenever the leaderboard file changes.
"use strict";

function boardTable(b) {
  const head = ["#", "racer", "model", "avg of 3 laps", "vs bound", "best lap", "completion", "off-tracks", "submissions"];
  const rows = b.standings.map((r) => el("tr", {},
    el("td", { text: String(r.rank) }), el("td", { class: "racer", text: r.name }), el("td", { text: r.model }),
    el("td", { class: "num", text: fmtLap(r.average_lap_s) }),
    el("td", { class: "num", text: r.vs_bound ? `${r.vs_bound.toFixed(3)}×` : "–" }),
    el("td", { class: "num", text: fmtLap(r.best_lap_s) }),
    el("td", { class: "num", text: `${Number(r.completion_percentage).toFixed(1)}%` }),
    el("td", { class: "num", text: String(r.off_track_count) }), el("td", { class: "num", text: String(r.submissions) })));
  return el("div", { class: "panel board" },
    el("h2", { text: `${b.track} · ${b.race}` }, el("span", { class: "muted", text: b.bound_s ? ` bound ${b.bound_s.toFixed(3)} s` : "" })),
    el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { text: h })))), el("tbody", {}, rows)));
}

// A head-to-head bracket (racer leaderboard bracket) drawn in SVG: rounds left to right, each
// match a box with both cars (the winner in bold), elbow lines to the match its winner plays next.
const BOX_W = 230, BOX_H = 44, COL_GAP = 46, ROW_GAP = 16, TOP = 26;

function matchFigure(c) {
  if (!c) return "";
  const fig = c.episode_status === "lap_complete" ? `${(c.elapsed_time_in_milliseconds / 1000).toFixed(2)} s`
    : `${Number(c.completion_percentage).toFixed(1)}%`;
  return c.crash_count ? `${fig} · ${c.crash_count} crash${c.crash_count > 1 ? "es" : ""}` : fig;
}

function bracketSvg(b) {
  const rounds = b.rounds || [];
  const first = rounds.length ? rounds[0].length : 1;
  const height = TOP + first * (BOX_H + ROW_GAP);
  const width = rounds.length * (BOX_W + COL_GAP) + 160;
  const centre = (r, i) => TOP + (i + 0.5) * (height - TOP) / rounds[r].length;
  const root = svg("svg", { class: "bracket", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `bracket on ${b.track}` });
  rounds.forEach((matches, r) => {
    const x = r * (BOX_W + COL_GAP);
    root.appendChild(svg("text", { x, y: 14, class: "round-label", text: r === rounds.length - 1 ? "Final" : `Round ${r + 1}` }));
    matches.forEach((m, i) => {
      const y = centre(r, i) - BOX_H / 2;
      const g = svg("g", { class: "match", "data-match": m.number });
      g.appendChild(svg("rect", { x, y, width: BOX_W, height: BOX_H, rx: 5 }));
      g.appendChild(svg("line", { x1: x, y1: y + BOX_H / 2, x2: x + BOX_W, y2: y + BOX_H / 2, class: "split" }));
      [["a", 0], ["b", 1]].forEach(([side, k]) => {
        const name = m[side];
        const ty = y + 16 + k * (BOX_H / 2);
        const won = name && name === m.winner;
        g.appendChild(svg("text", { x: x + 8, y: ty, class: won ? "car won" : name ? "car" : "car bye",
          text: name ? (name === m.pole ? `${name} ◂` : name) : "bye" }));
        if (name && m.cars && m.cars[k]) {
          g.appendChild(svg("text", { x: x + BOX_W - 8, y: ty, class: "fig", "text-anchor": "end", text: matchFigure(m.cars[k]) }));
        }
      });
      root.appendChild(g);
      const xr = x + BOX_W, ym = centre(r, i);
      if (r + 1 < rounds.length) {
        const xn = xr + COL_GAP, yn = centre(r + 1, Math.floor(i / 2));
        root.appendChild(svg("path", { class: "wire", d: `M${xr},${ym} H${xr + COL_GAP / 2} V${yn} H${xn}` }));
      } else {
        root.appendChild(svg("path", { class: "wire", d: `M${xr},${ym} H${xr + 18}` }));
        root.appendChild(svg("text", { x: xr + 24, y: ym + 5, class: "champion", text: `★ ${b.champion}` }));
      }
    });
  });
  return root;
}

function bracketPanel(b) {
  const seeds = (b.entrants || []).map((e) => `${e.seed}. ${e.name} (${e.seeded_by})`).join(", ");
  return el("div", { class: "panel bracket-panel", "data-track": b.track },
    el("h2", { text: `${b.track} · head-to-head bracket` },
      el("span", { class: "muted", text: ` ${b.laps} lap${b.laps === 1 ? "" : "s"} per race · seed ${b.seed}` })),
    el("div", { class: "bracket-scroll" }, bracketSvg(b)),
    el("p", { class: "muted", text: `Seeds: ${seeds}. ◂ on pole. Winner: first to drive the laps, penalties included; else the one that drove further.` }));
}

async function renderBrackets() {
  const box = clear(document.getElementById("brackets"));
  for (const b of await api("/api/leaderboard/brackets")) box.appendChild(bracketPanel(b));
}

function render(boards) {
  const box = clear(document.getElementById("boards"));
  if (!boards.length) box.appendChild(el("div", { class: "panel empty-state" }, el("h2", { text: "No submissions yet" }),
    el("p", { text: "Export a model and submit it from its page, or submit a reference driver below." })));
  for (const b of boards) box.appendChild(boardTable(b));
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.getElementById("page").src = `/api/leaderboard/page?t=${Date.now()}`;
  renderBrackets().then(() => { document.getElementById("brackets").dataset.ready = "1"; });
}

document.addEventListener("DOMContentLoaded", async () => {
  mountHeader("/leaderboard");
  eventStream("/api/leaderboard/events", { boards: render });
  const tracks = await api("/api/tracks");
  const select = document.getElementById("ref-track");
  for (const t of tracks) select.appendChild(el("option", { value: t.name, text: t.name, selected: t.name === "oval" }));
  document.getElementById("ref-submit").addEventListener("click", async () => {
    clearErrors(document);
    const state = document.getElementById("ref-state");
    try {
      const out = await post("/api/leaderboard/submit", { model: document.getElementById("ref-model").value,
        name: document.getElementById("ref-name").value, track: select.value });
      state.textContent = "evaluating (3 laps)…";
      const poll = async () => {
        const job = await api(`/api/jobs/${enc(out.job.id)}`);
        if (job.state === "running") { setTimeout(poll, 2000); return; }
        state.textContent = job.state === "done" ? "recorded" : "";
        if (job.error) showError(document, "form", job.error);
      };
      poll();
    } catch (e) { showError(document, e.field, e.message); }
  });
  document.body.dataset.ready = "1";
});
