// Create page: track, race type, sensors, action space, algorithm, reward; checked by racer on the server.
"use strict";

const SENSORS = [
  ["camera", "Front camera", "DeepRacer's 120x160 gray camera; exports to a car"],
  ["stereo", "Stereo cameras", "two cameras, depth from disparity; exports to a car"],
  ["lidar", "Lidar", "64 beams over ±150°, 2 m range"],
  ["state", "Simulator state", "speed, heading, offset, look-ahead: trains fastest, simulator only"],
  ["state_lidar", "Simulator state + lidar", "the state and the 64 lidar beams: races with objects, simulator only"],
];
const RACES = [
  ["time-trial", "Time trial", "the car alone: the fastest lap"],
  ["object-avoidance", "Object avoidance", "boxes on the track, in the lanes"],
  ["head-to-head", "Head-to-bot", "bot cars on the track to overtake"],
];
const HYPER = [
  ["hyperparameters.learning_rate", "Learning rate", 0.0003, "0.0001"],
  ["hyperparameters.batch_size", "Batch size", 256, "1"],
  ["hyperparameters.n_epochs", "Epochs", 5, "1"],
  ["hyperparameters.n_steps", "Steps per rollout (per env)", 1024, "1"],
  ["hyperparameters.ent_coef", "Entropy", 0.005, "0.001"],
  ["hyperparameters.gamma", "Discount factor", 0.99, "0.001"],
  ["evaluation.every_steps", "Evaluate every (steps)", 10240, "1"],
  ["evaluation.episodes", "Evaluation laps", 3, "1"],
  ["checkpoint.every_steps", "Checkpoint every (steps)", 10240, "1"],
  ["pretrain.frames", "Warm start: imitated frames (0 = none)", 0, "1"],
];
const DEFAULT_ACTIONS = [
  [-30, 1], [-15, 1], [0, 1], [15, 1], [30, 1], [-15, 2], [0, 2], [15, 2],
];

const state = { track: "oval", sensor: "state", race: "time-trial", kind: "discrete", reward: "code", editor: null };

function choice(container, options, current, onpick) {
  clear(container);
  for (const [value, title, note] of options) {
    const input = el("input", { type: "radio", name: container.id, value, class: "hidden" });
    const label = el("label", { class: value === current ? "selected" : "", "data-value": value },
      input, title, note ? el("small", { text: note }) : null);
    label.addEventListener("click", () => {
      for (const l of container.querySelectorAll("label")) l.classList.remove("selected");
      label.classList.add("selected");
      onpick(value);
    });
    container.appendChild(label);
  }
}

async function selectTrack(name) {
  state.track = name;
  for (const card of document.querySelectorAll(".track-card")) {
    card.classList.toggle("selected", card.dataset.track === name);
  }
  const info = document.getElementById("track-info");
  info.textContent = `selected: ${name}`;
  try {
    const t = await api(`/api/track?track=${enc(name)}`);
    if (state.track !== name) return;
    info.textContent = `selected: ${name} · ${t.length_m.toFixed(1)} m, ${t.width_m.toFixed(2)} m wide` +
      (t.bound_s ? ` · lap-time bound ${t.bound_s.toFixed(2)} s` : "");
  } catch (e) {
    showError(document, "env.tracks", e.message);
  }
}

async function importTrack() {
  clearErrors(document.getElementById("tracks").parentNode);
  try {
    const out = await post("/api/tracks/import", { path: document.getElementById("import-path").value.trim() });
    clear(document.getElementById("tracks"));
    state.track = out.name;
    await loadTracks();
  } catch (e) {
    showError(document, "import", e.message);
  }
}

async function loadTracks() {
  const grid = document.getElementById("tracks");
  const tracks = await api("/api/tracks");
  for (const t of tracks) {
    const card = el("div", { class: "track-card", "data-track": t.name, tabindex: "0", role: "button" },
      el("img", { src: `/api/track/map.png?track=${enc(t.name)}`, alt: `map of ${t.name}`, loading: "lazy" }),
      el("div", { class: "name", text: t.name }),
      el("div", { class: "muted", text: t.source === "user" ? "imported" : "built-in" }));
    card.addEventListener("click", () => selectTrack(t.name));
    card.addEventListener("keydown", (ev) => { if (ev.key === "Enter") selectTrack(t.name); });
    grid.appendChild(card);
  }
  selectTrack(state.track);
}

function actionRow(steer, speed) {
  const tr = el("tr", {},
    el("td", { class: "idx" }),
    el("td", {}, el("input", { type: "number", step: "1", value: steer, class: "steer" })),
    el("td", {}, el("input", { type: "number", step: "0.1", value: speed, class: "speed" })),
    el("td", {}, el("button", { type: "button", text: "✕", title: "remove",
      onclick: () => { tr.remove(); renumber(); drawFan(); } })));
  for (const input of tr.querySelectorAll("input")) input.addEventListener("input", drawFan);
  return tr;
}

function renumber() {
  document.querySelectorAll("#actions tr").forEach((tr, i) => { tr.querySelector(".idx").textContent = String(i); });
}

function setActions(list) {
  const body = clear(document.getElementById("actions"));
  for (const [s, v] of list) body.appendChild(actionRow(s, v));
  renumber();
  drawFan();
}

function num(id) {
  const node = document.getElementById(id);
  const text = node.value.trim();
  if (text === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : text;  // the server names a bad value in its message
}

function actionSpace() {
  if (state.kind === "continuous") {
    return { action_space_type: "continuous", action_space: {
      steering_angle: { low: num("steer-low"), high: num("steer-high") },
      speed: { low: num("speed-low"), high: num("speed-high") } } };
  }
  const actions = [...document.querySelectorAll("#actions tr")].map((tr) => ({
    steering_angle: Number(tr.querySelector(".steer").value),
    speed: Number(tr.querySelector(".speed").value) }));
  return { action_space_type: "discrete", action_space: actions };
}

function drawFan() {
  const space = actionSpace();
  const box = clear(document.getElementById("fan"));
  if (space.action_space_type === "continuous") {
    const a = space.action_space;
    box.appendChild(actionFan([], "continuous", { steer: [Number(a.steering_angle.low), Number(a.steering_angle.high)],
      speed: [Number(a.speed.low), Number(a.speed.high)] }));
  } else {
    box.appendChild(actionFan(space.action_space, "discrete"));
  }
}

function gridActions() {
  const levels = Math.max(1, Math.min(15, Number(document.getElementById("grid-steer").value) || 5));
  const speeds = Math.max(1, Math.min(6, Number(document.getElementById("grid-speeds").value) || 2));
  const top = Math.max(0.1, Math.min(4, Number(document.getElementById("grid-max").value) || 2));
  const list = [];
  for (let j = 1; j <= speeds; j++) {
    for (let i = 0; i < levels; i++) {
      const steer = levels === 1 ? 0 : -30 + (60 * i) / (levels - 1);
      list.push([Math.round(steer * 10) / 10, Math.round((top * j / speeds) * 100) / 100]);
    }
  }
  setActions(list);
}

function formData() {
  const data = {
    name: document.getElementById("name").value.trim(),
    description: document.getElementById("description").value,
    env: { tracks: [state.track], observation: state.sensor },
    action_space: actionSpace(),
    algorithm: { name: document.getElementById("algorithm").value },
    budget: { steps: num("budget.steps"), envs: num("budget.envs"), seed: num("budget.seed") },
    hyperparameters: {}, evaluation: {}, checkpoint: {}, pretrain: {},
  };
  if (state.race !== "time-trial") {
    const keys = state.race === "object-avoidance" ? ["boxes", "box_placement"]
      : ["bots", "bot_speed_mps", "bot_lane_change_s", "bot_line"];
    data.race = { format: state.race };
    for (const key of keys) {
      const input = document.getElementById(`race.${key}`);
      data.race[key] = input.type === "number" ? num(`race.${key}`) : input.value;
    }
  }
  if (document.getElementById("randomize.enabled").checked) data.randomize = { enabled: true };
  const layers = document.getElementById("algorithm.net_arch").value.trim();
  if (layers) {
    const sizes = layers.split(/[\s,]+/).filter(Boolean).map(Number);
    data.algorithm.net_arch = sizes.every(Number.isInteger) ? sizes : layers;
  }
  for (const [id] of HYPER) {
    const [section, key] = id.split(".");
    const value = num(id);
    if (value !== null) data[section][key] = value;
  }
  data.reward = state.reward === "code"
    ? { code: document.getElementById("reward-code").value }
    : { name: document.getElementById("reward-builtin").value };
  return data;
}

function showRewardError(e) {
  const node = showError(document, "reward", e.message);
  if (e.line && state.editor) state.editor.markLine(e.line);
  return node;
}

function checkTable(report) {
  const rows = report.situations.map((s) => el("tr", {},
    el("td", { text: s.name }), el("td", { class: "num", text: String(s.calls) }),
    el("td", { class: "num", text: s.min === null ? "–" : String(s.min) }),
    el("td", { class: "num", text: s.mean === null ? "–" : String(s.mean) }),
    el("td", { class: "num", text: s.max === null ? "–" : String(s.max) }),
    el("td", { class: "num", text: String(s.failed) }), el("td", { class: "muted", text: s.description })));
  return el("table", { class: "check-report" },
    el("thead", {}, el("tr", {}, ["situation", "poses", "min", "mean", "max", "failed", "what"].map((h) => el("th", { text: h })))),
    el("tbody", {}, rows));
}

async function checkReward() {
  clearErrors(document.getElementById("reward-code-box").parentNode);
  const out = clear(document.getElementById("check-result"));
  const button = document.getElementById("check-reward");
  button.disabled = true;
  out.appendChild(el("p", { class: "muted", text: "checking…" }));
  try {
    const report = await post("/api/rewards/check", { code: document.getElementById("reward-code").value, track: state.track });
    clear(out);
    if (report.ok) out.appendChild(el("p", { class: "ok-note", id: "reward-ok", text: `ok: no failures on ${report.track}` }));
    else {
      const first = report.first_failures[0];
      showRewardError({ message: `${report.failures} failed call(s); first: ${first.message}`, line: first.line });
    }
    out.appendChild(checkTable(report));
    out.appendChild(el("p", { class: "muted", text: `params read: ${report.keys_read.join(", ") || "(none)"}` }));
    for (const note of report.notes) out.appendChild(el("p", { class: "muted", text: `note: ${note}` }));
    return report.ok;
  } catch (e) {
    clear(out);
    showRewardError(e);
    return false;
  } finally {
    button.disabled = false;
  }
}

async function submit(start) {
  clearErrors(document);
  if (state.editor) state.editor.markLine(null);
  const data = formData();
  data.start = start;
  for (const b of document.querySelectorAll("#create-start, #create-only")) b.disabled = true;
  try {
    const result = await post("/api/models", data);
    location.href = start ? `/models/${enc(result.name)}` : "/";
  } catch (e) {
    if (e.field === "reward") showRewardError(e);
    else showError(document, e.field, e.message);
  } finally {
    for (const b of document.querySelectorAll("#create-start, #create-only")) b.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  mountHeader("/create");
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:T]/g, "");
  document.getElementById("name").value = `model-${stamp}`;
  choice(document.getElementById("race-kind"), RACES, state.race, (v) => {
    state.race = v;
    document.getElementById("race-boxes").classList.toggle("hidden", v !== "object-avoidance");
    document.getElementById("race-bots").classList.toggle("hidden", v !== "head-to-head");
    document.getElementById("race-note").classList.toggle("hidden", v === "time-trial");
  });
  choice(document.getElementById("sensors"), SENSORS, state.sensor, (v) => { state.sensor = v; });
  choice(document.getElementById("action-kind"), [["discrete", "Discrete", "a list of steering/speed pairs"],
    ["continuous", "Continuous", "any steering and speed within ranges"]], state.kind, (v) => {
    state.kind = v;
    document.getElementById("discrete-box").classList.toggle("hidden", v !== "discrete");
    document.getElementById("continuous-box").classList.toggle("hidden", v !== "continuous");
    drawFan();
  });
  choice(document.getElementById("reward-kind"), [["code", "Write my own", "in the editor below"],
    ["builtin", "Built-in", "one of racer's rewards"]], state.reward, (v) => {
    state.reward = v;
    document.getElementById("reward-code-box").classList.toggle("hidden", v !== "code");
    document.getElementById("reward-builtin-box").classList.toggle("hidden", v !== "builtin");
  });
  const hyper = document.getElementById("hyper");
  for (const [id, label, value, step] of HYPER) {
    hyper.appendChild(el("label", { class: "field" }, label, el("input", { id, type: "number", value, step })));
  }
  setActions(DEFAULT_ACTIONS);
  for (const id of ["steer-low", "steer-high", "speed-low", "speed-high"]) {
    document.getElementById(id).addEventListener("input", drawFan);
  }
  document.getElementById("add-action").addEventListener("click", () => {
    document.getElementById("actions").appendChild(actionRow(0, 1)); renumber(); drawFan();
  });
  document.getElementById("grid-actions").addEventListener("click", gridActions);
  document.getElementById("use-random").addEventListener("click", () => {
    const seed = document.getElementById("random-seed").value.trim() || "0";
    selectTrack(`random:${seed}`);
  });
  document.getElementById("check-reward").addEventListener("click", checkReward);
  document.getElementById("import-track").addEventListener("click", importTrack);
  document.getElementById("create-form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(true); });
  document.getElementById("create-only").addEventListener("click", () => submit(false));
  const rewards = await api("/api/rewards");
  const code = document.getElementById("reward-code");
  code.value = rewards.template;
  state.editor = codeEditor(code);
  const select = document.getElementById("reward-builtin");
  for (const r of rewards.builtin) select.appendChild(el("option", { value: r.name, text: r.name }));
  const doc = () => {
    const r = rewards.builtin.find((x) => x.name === select.value);
    document.getElementById("reward-doc").textContent = r ? r.doc : "";
  };
  select.addEventListener("change", doc);
  doc();
  await loadTracks();
  document.body.dataset.ready = "1";
});
