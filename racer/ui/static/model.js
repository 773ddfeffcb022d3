// Model page: watch training live (chase camera, curves, trajectories), stop / resume / train
// more, evaluate with a race format, export and download, submit to the leaderboard.
"use strict";

const NAME = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const BASE = `/api/models/${enc(NAME)}`;
const page = { model: null, metrics: [], evals: [], geometry: null, live: false, stream: null };

function setTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll("[data-panel]")) p.classList.toggle("hidden", p.dataset.panel !== name);
}

function drawCharts() {
  const box = clear(document.getElementById("charts"));
  const pts = (rows, key) => rows.map((r) => [Number(r.steps), Number(r[key])]).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  box.appendChild(lineChart("Reward (mean episode return)", [{ label: "training", points: pts(page.metrics, "mean_return") }]));
  box.appendChild(lineChart("Progress (%)", [
    { label: "training", points: pts(page.metrics, "mean_progress") },
    { label: "evaluation", points: pts(page.evals, "mean_progress") }], { yMin: 0 }));
  const laps = page.evals.filter((r) => r.mean_lap_time_s !== "");
  box.appendChild(lineChart("Lap time (s), evaluation", [{ label: "mean lap", points: pts(laps, "mean_lap_time_s") }],
    { empty: "no complete lap yet" }));
  box.dataset.rows = String(page.metrics.length);
}

async function drawMap() {
  if (!page.model || !page.model.track) return;
  try {
    if (!page.geometry) page.geometry = await api(`/api/track?track=${enc(page.model.track)}`);
    const t = await api(`${BASE}/trajectories`);
    const lines = t.latest.map((e) => ({ points: e.points, label: `episode ${e.episode}: ${e.status}, ${e.progress}%` }))
      .concat(t.best.map((p, i) => ({ points: p, cls: "best", label: `best evaluation lap ${i + 1}` })));
    const box = clear(document.getElementById("map"));
    box.appendChild(trackSvg(page.geometry, lines));
    const bound = page.geometry.bound_s ? ` · lap-time bound ${page.geometry.bound_s.toFixed(2)} s` : "";
    box.appendChild(el("p", { class: "muted", text: `${page.geometry.name}: ${page.geometry.length_m.toFixed(1)} m${bound}` }));
  } catch (e) { /* the map is an extra: keep the last one */ }
}

function setStatus(s) {
  const m = page.model;
  Object.assign(m, s);
  clear(document.getElementById("status")).appendChild(badge(m.status));
  document.getElementById("steps").textContent = `${fmtInt(m.steps)} / ${fmtInt(m.budget)} steps` +
    (m.best_average_s ? ` · best avg ${fmtLap(m.best_average_s)} (${fmtGap(m.gap)} over the bound)` : "");
  const training = m.status === "training" || m.status === "stopping";
  document.getElementById("stop").classList.toggle("hidden", !training);
  document.getElementById("stop").textContent = m.status === "stopping" ? "Stop now (SIGTERM)" : "Stop training";
  document.getElementById("resume").classList.toggle("hidden", training || m.status !== "stopped");
  document.getElementById("more-box").classList.toggle("hidden", training);
  document.getElementById("quick-eval").classList.toggle("hidden", training || !m.has_model);
  if (m.error) showError(document, "form", m.error);
}

function summary() {
  const m = page.model;
  const dl = clear(document.getElementById("summary"));
  const space = m.action_space || {};
  const actions = space.action_space_type === "discrete"
    ? `${space.action_space.length} discrete actions`
    : `continuous: steering ${space.action_space.steering_angle.low}..${space.action_space.steering_angle.high}°, speed ${space.action_space.speed.low}..${space.action_space.speed.high} m/s`;
  const rows = [["Track", (m.tracks || []).join(", ")], ["Sensor", m.observation], ["Algorithm", m.algorithm],
    ["Actions", actions], ["Reward", m.reward], ["Best 3-lap average", `${fmtLap(m.best_average_s)} ${m.best_from ? `(${m.best_from})` : ""}`],
    ["Lap-time bound", fmtLap(m.bound_s)], ["Gap to the bound", fmtGap(m.gap)], ["Folder", m.name]];
  for (const [k, v] of rows) { dl.appendChild(el("dt", { text: k })); dl.appendChild(el("dd", { text: v || "–" })); }
  document.getElementById("config").textContent = m.config || "";
  document.getElementById("reward").textContent = m.reward_code || `built-in reward: ${m.reward}`;
  const thumb = document.getElementById("thumb");
  if (m.has_thumbnail) { thumb.src = `${BASE}/thumbnail.png?s=${m.steps}`; thumb.classList.remove("hidden"); }
}

function jobsTable(jobs) {
  const box = clear(document.getElementById("jobs"));
  if (!jobs.length) { box.appendChild(el("p", { class: "muted", text: "No jobs started from the console (trained with the CLI)." })); return; }
  for (const j of jobs) {
    const details = el("details", {}, el("summary", {}, badge(j.state), ` ${j.kind} · ${new Date(j.started * 1000).toLocaleString()} · `,
      el("code", { text: j.command })), el("pre", { class: "log", text: "…" }));
    details.addEventListener("toggle", async () => {
      if (!details.open) return;
      const full = await api(`/api/jobs/${enc(j.id)}`);
      details.querySelector("pre").textContent = full.log || "(empty log)";
    });
    if (j.error) details.appendChild(el("div", { class: "error shown", text: j.error }));
    box.appendChild(details);
  }
}

function trialsTable(results) {
  const rows = results.trials.map((t) => el("tr", {},
    el("td", { text: String(t.trial + 1) }), el("td", { text: t.episode_status }),
    el("td", { class: "num", text: `${t.completion_percentage.toFixed(1)}%` }),
    el("td", { text: t.lap_times_s.map((x) => x.toFixed(3)).join(", ") || "–" }),
    el("td", { class: "num", text: fmtLap(t.average_lap_s) }),
    el("td", { class: "num", text: String(t.off_track_count) }), el("td", { class: "num", text: String(t.crash_count) }),
    el("td", { class: "num", text: `${t.penalty_s} s` })));
  return el("table", {}, el("thead", {}, el("tr", {}, ["trial", "status", "completion", "laps (s)", "average", "off-track", "crashes", "penalty"]
    .map((h) => el("th", { text: h })))), el("tbody", {}, rows));
}

function evaluations(list, jobs) {
  const box = clear(document.getElementById("evaluations"));
  const running = jobs.filter((j) => j.kind === "evaluate" && (j.state === "running" || j.state === "stopping"));
  for (const j of running) box.appendChild(el("p", {}, badge("running"), ` evaluation ${j.extra.evaluation || ""} running…`));
  for (const j of jobs.filter((x) => x.kind === "evaluate" && x.state === "failed").slice(0, 1)) {
    box.appendChild(el("div", { class: "error shown", text: `evaluation failed: ${j.error}` }));
  }
  for (const ev of list) {
    const r = ev.results;
    const part = el("div", { class: "panel evaluation", "data-id": ev.id });
    if (!r) { part.appendChild(el("p", { class: "muted", text: `${ev.id}: no results yet` })); box.appendChild(part); continue; }
    const s = r.summary;
    part.appendChild(el("h3", { text: `${ev.id} · ${r.race.race} on ${r.track} · ${r.race.trials} trial(s) × ${r.race.laps} lap(s)` }));
    part.appendChild(el("p", {}, `complete trials ${s.complete_trials}/${s.trials} · best average ${fmtLap(s.best_average_lap_s)} · best lap ${fmtLap(s.best_lap_s)} · bound ${fmtLap(s.bound_s)}`,
      s.lap_ratio ? ` · ${fmtGap(s.lap_ratio - 1)} over the bound` : ""));
    part.appendChild(trialsTable(r));
    const files = ev.files;
    const media = el("div", { class: "row" });
    const video = files.find((f) => f.startsWith("best_lap."));
    if (video && video.endsWith(".mp4")) media.appendChild(el("video", { class: "lap", controls: true, preload: "none",
      src: `${BASE}/files/ui-evaluations/${enc(ev.id)}/${enc(video)}` }));
    else if (video) media.appendChild(el("img", { class: "plot", alt: "best lap", src: `${BASE}/files/ui-evaluations/${enc(ev.id)}/${enc(video)}` }));
    if (files.includes("trajectories.png")) media.appendChild(el("img", { class: "plot", alt: "trajectories", loading: "lazy",
      src: `${BASE}/files/ui-evaluations/${enc(ev.id)}/trajectories.png` }));
    part.appendChild(media);
    box.appendChild(part);
  }
  if (!list.length && !running.length) box.appendChild(el("p", { class: "muted", text: "No evaluations yet." }));
}

function downloads(exports, jobs) {
  const ul = clear(document.getElementById("downloads"));
  for (const j of jobs.filter((x) => x.kind === "export").slice(0, 1)) {
    if (j.state === "running") ul.appendChild(el("li", {}, badge("running"), " exporting…"));
    if (j.state === "failed") ul.appendChild(el("li", { class: "error shown", text: `export failed: ${j.error}` }));
  }
  for (const [kind, path] of Object.entries(exports || {})) {
    if (path) ul.appendChild(el("li", {}, el("a", { href: `/api/files?path=${enc(path)}`, text: `Download ${kind === "bundle" ? "bundle" : "DeepRacer car archive"} (${path})` })));
  }
}

function reportFiles(files, jobs) {
  const box = clear(document.getElementById("report-files"));
  const job = jobs.find((j) => j.kind === "report");
  if (job && job.state === "running") box.appendChild(el("p", {}, badge("running"), " writing the report…"));
  if (job && job.state === "failed") box.appendChild(el("div", { class: "error shown", text: `report failed: ${job.error}` }));
  for (const f of files) {
    const src = `${BASE}/files/report/${enc(f)}`;
    if (f.endsWith(".png") || f.endsWith(".gif")) box.appendChild(el("img", { class: "plot grow", alt: f, title: f, loading: "lazy", src }));
    else if (f.endsWith(".mp4")) box.appendChild(el("video", { class: "lap", controls: true, preload: "none", src }));
  }
}

function trackOptions(select, tracks, current) {
  clear(select);
  for (const t of tracks) select.appendChild(el("option", { value: t.name, text: t.name, selected: t.name === current }));
}

async function load() {
  const m = await api(BASE);
  page.model = m;
  page.metrics = m.metrics;
  page.evals = m.evaluation_rows;
  document.getElementById("title").textContent = m.name;
  document.title = `${m.name} · racer console`;
  setStatus({});
  summary();
  jobsTable(m.jobs);
  evaluations(m.evaluations, m.jobs);
  downloads(m.exports, m.jobs);
  reportFiles(m.report, m.jobs);
  drawCharts();
  return m;
}

function follow() {
  if (page.stream) page.stream.close();
  page.stream = eventStream(`${BASE}/events`, {
    metrics: (rows) => { page.metrics = page.metrics.concat(rows.filter((r) => !page.metrics.some((x) => x.steps === r.steps))); drawCharts(); drawMap(); },
    eval: (rows) => { page.evals = page.evals.concat(rows.filter((r) => !page.evals.some((x) => x.steps === r.steps))); drawCharts(); },
    status: (s) => {
      const was = page.model.status;
      setStatus(s);
      if (was !== s.status) load();
    },
  });
}

function toggleLive(on) {
  const img = document.getElementById("live");
  page.live = on === undefined ? !page.live : on;
  img.classList.toggle("hidden", !page.live);
  img.src = page.live ? `${BASE}/live.mjpeg?t=${Date.now()}` : "";
  if (!page.live) img.removeAttribute("src");
  document.getElementById("live-toggle").textContent = page.live ? "Stop live view" : "Start live view";
}

async function act(path, body, errorField) {
  clearErrors(document);
  try {
    const out = await post(`${BASE}/${path}`, body || {});
    await load();
    return out;
  } catch (e) {
    showError(document, e.field && e.field !== "form" ? e.field : errorField || "form", e.message, errorField);
    return null;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  mountHeader("");
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => setTab(b.dataset.tab));
  document.getElementById("stop").addEventListener("click", () => act("stop"));
  document.getElementById("resume").addEventListener("click", () => act("resume"));
  document.getElementById("more").addEventListener("click", () => {
    const extra = Number(document.getElementById("more-steps").value);
    act("resume", { steps: Number.isFinite(extra) ? page.model.budget + extra : document.getElementById("more-steps").value }, "steps");
  });
  document.getElementById("live-toggle").addEventListener("click", () => toggleLive());
  document.getElementById("report").addEventListener("click", () => act("report"));
  document.getElementById("quick-eval").addEventListener("click", () => {
    setTab("evaluate");
    document.getElementById("evaluate").click();
  });
  document.getElementById("evaluate").addEventListener("click", () => act("evaluate", {
    track: document.getElementById("ev-track").value, race: document.getElementById("ev-race").value,
    trials: document.getElementById("ev-trials").value, laps: document.getElementById("ev-laps").value,
    time_limit: document.getElementById("ev-time").value, offtrack_penalty: document.getElementById("ev-penalty").value,
    video: document.getElementById("ev-video").value === "1" }, "evaluate"));
  document.getElementById("export").addEventListener("click", () => act("export", {
    model: document.getElementById("ex-model").value, deepracer: document.getElementById("ex-deepracer").checked }, "model"));
  document.getElementById("submit").addEventListener("click", async () => {
    clearErrors(document);
    try {
      await post("/api/leaderboard/submit", { model: NAME, name: document.getElementById("sb-name").value,
        track: document.getElementById("sb-track").value, race: document.getElementById("sb-race").value });
      location.href = "/leaderboard";
    } catch (e) { showError(document, e.field === "form" ? "submit" : e.field, e.message, "submit"); }
  });
  try {
    let m = null;
    for (let tries = 0; m === null; tries++) {  // a model just started: its folder comes first
      try { m = await load(); } catch (e) {
        if (tries > 60 || e.status !== 400) throw e;
        document.getElementById("steps").textContent = "starting…";
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    const tracks = await api("/api/tracks");
    const list = tracks.some((t) => t.name === m.track) ? tracks : [{ name: m.track }].concat(tracks);
    trackOptions(document.getElementById("ev-track"), list, m.track);
    trackOptions(document.getElementById("sb-track"), list, m.track);
    drawMap();
    follow();
    if (m.status === "training" && m.has_model) toggleLive(true);
    setInterval(() => { if (page.model && ["training", "stopping"].includes(page.model.status)) drawMap(); }, 5000);
    setInterval(() => {
      const busy = (page.model.jobs || []).some((j) => j.kind !== "train" && j.state === "running");
      if (busy) load();
    }, 4000);
  } catch (e) {
    showError(document, "form", e.message);
  }
  document.body.dataset.ready = "1";
});
