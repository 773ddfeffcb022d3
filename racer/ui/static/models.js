// Models page: every run with its status, steps, best average lap and gap to the bound.
"use strict";

function thumbnail(m) {
  if (!m.has_thumbnail) return el("div", { class: "thumb empty", text: "no lap yet" });
  return el("img", { class: "thumb", alt: `best laps of ${m.name}`, loading: "lazy",
    src: `/api/models/${enc(m.name)}/thumbnail.png?s=${m.steps || 0}` });
}

function progressCell(m) {
  if (!m.budget) return el("td", { class: "muted", text: m.status === "created" ? "not started" : "–" });
  const frac = Math.max(0, Math.min(1, (m.steps || 0) / m.budget));
  const bar = el("div", { class: "progress" }, el("div"));
  bar.firstChild.style.width = `${(frac * 100).toFixed(1)}%`;
  return el("td", {}, bar, el("div", { class: "muted", text: `${fmtInt(m.steps)} / ${fmtInt(m.budget)} steps` }));
}

function row(m) {
  const link = el("a", { href: `/models/${enc(m.name)}`, class: "model-link", text: m.name });
  const gap = m.gap === null || m.gap === undefined ? "–" : fmtGap(m.gap);
  const bound = m.bound_s ? ` (bound ${fmtLap(m.bound_s)})` : "";
  const open = m.status === "created"
    ? el("button", { class: "primary", text: "Start training", onclick: async (ev) => {
        ev.target.disabled = true;
        try { await post(`/api/models/${enc(m.name)}/start`); location.href = `/models/${enc(m.name)}`; }
        catch (e) { showError(document, "form", e.message); ev.target.disabled = false; }
      } })
    : el("a", { class: "button", href: `/models/${enc(m.name)}`, text: m.status === "training" ? "Watch" : "Open" });
  return el("tr", { "data-name": m.name },
    el("td", {}, thumbnail(m)),
    el("td", {}, link, m.error ? el("div", { class: "muted", text: m.error }) : null),
    el("td", {}, badge(m.status)),
    progressCell(m),
    el("td", { text: m.track || "–" }),
    el("td", { text: m.observation ? `${m.observation} · ${m.algorithm || ""}` : "–" }),
    el("td", { class: "num", text: fmtLap(m.best_average_s), title: m.best_from || "" }),
    el("td", { class: "num", text: gap + bound }),
    el("td", {}, open));
}

async function refresh() {
  try {
    const models = await api("/api/models");
    document.getElementById("loading").classList.add("hidden");
    const body = clear(document.getElementById("models-body"));
    for (const m of models) body.appendChild(row(m));
    document.getElementById("models").classList.toggle("hidden", models.length === 0);
    document.getElementById("empty").classList.toggle("hidden", models.length > 0);
    const busy = models.some((m) => m.status === "training" || m.status === "stopping");
    setTimeout(refresh, busy ? 3000 : 10000);
  } catch (e) {
    showError(document, "form", e.message);
    setTimeout(refresh, 10000);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  mountHeader("/");
  refresh();
  const info = await api("/api/info");
  document.getElementById("workspace").textContent =
    `Workspace ${info.workspace} · runs in ${info.runs} · racer ${info.version}`;
});
