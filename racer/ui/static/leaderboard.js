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

function render(boards) {
  const box = clear(document.getElementById("boards"));
  if (!boards.length) box.appendChild(el("div", { class: "panel empty-state" }, el("h2", { text: "No submissions yet" }),
    el("p", { text: "Export a model and submit it from its page, or submit a reference driver below." })));
  for (const b of boards) box.appendChild(boardTable(b));
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.getElementById("page").src = `/api/leaderboard/page?t=${Date.now()}`;
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
