// racer ui: shared helpers. Every piece of text goes into the page through textContent or
// attributes (never innerHTML), so a run name, a reward or a racer's name cannot become markup.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number"
      ? document.createTextNode(String(child)) : child);
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.appendChild(child);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.field = (body && body.field) || "form";
    this.line = body && body.line;
  }
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  if (opts.json !== undefined) {
    opts.method = opts.method || "POST";
    opts.headers["content-type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  const response = await fetch(path, opts);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { message: text.trim() }; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function post(path, json) { return api(path, { json: json || {} }); }

function enc(name) { return encodeURIComponent(name); }

function fmtLap(s) { return s === null || s === undefined ? "–" : `${Number(s).toFixed(3)} s`; }

function fmtGap(gap) {
  if (gap === null || gap === undefined) return "–";
  return `+${(gap * 100).toFixed(1)}%`;
}

function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

function badge(status) {
  return el("span", { class: `badge badge-${status || "unknown"}`, text: status || "?" });
}

function header(active) {
  const links = [["/", "Models"], ["/create", "Create model"], ["/leaderboard", "Leaderboard"]];
  return el("header", { class: "top" },
    el("a", { class: "brand", href: "/" }, el("span", { class: "logo", text: "◆" }), "racer console"),
    el("nav", {}, links.map(([href, label]) =>
      el("a", { href, class: href === active ? "active" : "" , text: label }))));
}

function mountHeader(active) {
  document.body.insertBefore(header(active), document.body.firstChild);
}

// Form errors: each field has <div class="error" data-for="FIELD">; the CLI's message goes there.
function clearErrors(root) {
  for (const node of (root || document).querySelectorAll(".error")) {
    node.textContent = "";
    node.classList.remove("shown");
  }
}

function showError(root, field, message, fallback) {
  const scope = root || document;
  const find = (name) => scope.querySelector(`.error[data-for="${CSS.escape(name)}"]`);
  const node = find(field) || find(field.split(".")[0]) || (fallback && find(fallback)) || find("form");
  if (!node) { alert(message); return null; }
  node.textContent = message;
  node.classList.add("shown");
  const folded = node.closest("details");
  if (folded) folded.open = true;  // a hyperparameter's message must not hide in a closed section
  node.scrollIntoView({ block: "center", behavior: "smooth" });
  return node;
}

// ---------------------------------------------------------------- charts (SVG line charts)
function lineChart(title, series, opts) {
  const W = 460, H = 220, L = 52, R = 24, T = 26, B = 34;
  const o = opts || {};
  const pts = series.flatMap((s) => s.points);
  const box = el("div", { class: "chart" });
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img",
    "aria-label": title });
  root.appendChild(svg("text", { x: L, y: 16, class: "chart-title", text: title }));
  if (!pts.length) {
    root.appendChild(svg("text", { x: W / 2, y: H / 2, class: "chart-empty",
      "text-anchor": "middle", text: o.empty || "no data yet" }));
    box.appendChild(root);
    return box;
  }
  let x0 = Math.min(0, ...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
  if (o.yMin !== undefined) y0 = Math.min(y0, o.yMin);
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 = y0 + 1; y0 = y0 - 1; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), class: "grid" }));
    root.appendChild(svg("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end", class: "tick",
      text: Math.abs(y) >= 1000 ? y.toExponential(1) : y.toPrecision(3) }));
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    root.appendChild(svg("text", { x: sx(x), y: H - B + 16, "text-anchor": "middle", class: "tick",
      text: fmtInt(Math.round(x)) }));
  }
  root.appendChild(svg("text", { x: W - R, y: H - 4, "text-anchor": "end", class: "tick",
    text: o.xLabel || "steps" }));
  series.forEach((s, k) => {
    if (!s.points.length) return;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join("");
    root.appendChild(svg("path", { d, class: `series series-${k}`, fill: "none" }));
    if (s.points.length < 40) {
      for (const p of s.points) {
        root.appendChild(svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, class: `dot series-${k}` }));
      }
    }
    root.appendChild(svg("text", { x: W - 8 - 90 * (series.length - 1 - k), y: 16, "text-anchor": "end",
      class: `legend series-${k}`, text: `● ${s.label}` }));
  });
  box.appendChild(root);
  box.dataset.points = String(pts.length);
  return box;
}

// ---------------------------------------------------------------- track maps (SVG)
function trackSvg(geometry, lines, opts) {
  const o = opts || {};
  const [xa, ya, xb, yb] = geometry.bbox;
  const m = 0.3;
  const w = xb - xa + 2 * m, h = yb - ya + 2 * m;
  const root = svg("svg", { viewBox: `${xa - m} ${-(yb + m)} ${w} ${h}`, class: "track-svg",
    role: "img", "aria-label": `map of ${geometry.name}` });
  const p = (pts) => pts.map((q, i) => `${i ? "L" : "M"}${q[0]},${-q[1]}`).join("");
  const left = geometry.left, right = geometry.right.slice().reverse();
  const road = geometry.closed
    ? `${p(geometry.left)}Z${p(geometry.right)}Z` : `${p(left)}${p(right).replace("M", "L")}Z`;
  root.appendChild(svg("path", { d: road, class: "road", "fill-rule": "evenodd" }));
  root.appendChild(svg("path", { d: p(geometry.left) + (geometry.closed ? "Z" : ""), class: "border" }));
  root.appendChild(svg("path", { d: p(geometry.right) + (geometry.closed ? "Z" : ""), class: "border" }));
  root.appendChild(svg("path", { d: p(geometry.center) + (geometry.closed ? "Z" : ""), class: "centre" }));
  const start = geometry.center[0];
  root.appendChild(svg("circle", { cx: start[0], cy: -start[1], r: 0.12, class: "start" }));
  (lines || []).forEach((line) => {
    if (line.points.length < 2) return;
    root.appendChild(svg("path", { d: p(line.points), class: `drive ${line.cls || ""}`, fill: "none" },
      svg("title", { text: line.label || "" })));
  });
  if (o.caption) root.appendChild(svg("title", { text: o.caption }));
  return root;
}

// ---------------------------------------------------------------- action space picture (SVG)
function actionFan(actions, kind, ranges) {
  const W = 260, H = 150, cx = W / 2, cy = H - 12, maxR = H - 30;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "fan", role: "img",
    "aria-label": "steering and speed of each action" });
  const speeds = kind === "continuous" && ranges ? [ranges.speed[1]] : actions.map((a) => Number(a.speed));
  const maxSpeed = Math.min(4, Math.max(1, Math.ceil(Math.max(0, ...speeds.filter(Number.isFinite)))));
  const ray = (deg, speed) => {
    const a = ((90 + deg) * Math.PI) / 180;
    const r = (speed / maxSpeed) * maxR;
    return [cx + r * Math.cos(a), cy - r * Math.sin(a)];
  };
  for (let s = 1; s <= maxSpeed; s++) {
    const r = (s / maxSpeed) * maxR;
    root.appendChild(svg("path", { d: `M${cx - r},${cy} A${r},${r} 0 0 1 ${cx + r},${cy}`, class: "fan-ring" }));
    root.appendChild(svg("text", { x: cx + r - 2, y: cy + 10, class: "fan-label", text: `${s} m/s` }));
  }
  if (kind === "continuous" && ranges) {
    const { steer, speed } = ranges;
    const pts = [];
    for (let d = steer[0]; d <= steer[1] + 1e-9; d += (steer[1] - steer[0]) / 16 || 1) pts.push(ray(-d, speed[1]));
    for (let d = steer[1]; d >= steer[0] - 1e-9; d -= (steer[1] - steer[0]) / 16 || 1) pts.push(ray(-d, speed[0]));
    root.appendChild(svg("path", { d: pts.map((q, i) => `${i ? "L" : "M"}${q[0]},${q[1]}`).join("") + "Z",
      class: "fan-area" }));
  } else {
    actions.forEach((a, i) => {
      const [x, y] = ray(-Number(a.steering_angle), Number(a.speed));
      root.appendChild(svg("line", { x1: cx, y1: cy, x2: x, y2: y, class: "fan-ray" }));
      root.appendChild(svg("circle", { cx: x, cy: y, r: 4, class: "fan-dot" },
        svg("title", { text: `action ${i}: ${a.steering_angle}°, ${a.speed} m/s` })));
      root.appendChild(svg("text", { x, y: y - 6, "text-anchor": "middle", class: "fan-index", text: String(i) }));
    });
  }
  root.appendChild(svg("circle", { cx, cy, r: 5, class: "fan-car" }));
  return root;
}

// ---------------------------------------------------------------- code editor with line numbers
function codeEditor(textarea) {
  const wrap = el("div", { class: "editor" });
  const gutter = el("pre", { class: "gutter", "aria-hidden": "true" });
  textarea.parentNode.insertBefore(wrap, textarea);
  wrap.appendChild(gutter);
  wrap.appendChild(textarea);
  textarea.spellcheck = false;
  let bad = null;
  const render = () => {
    const n = textarea.value.split("\n").length;
    clear(gutter);
    for (let i = 1; i <= n; i++) {
      gutter.appendChild(el("span", { class: i === bad ? "ln bad" : "ln", text: String(i) }));
      gutter.appendChild(document.createTextNode("\n"));
    }
    gutter.scrollTop = textarea.scrollTop;
  };
  textarea.addEventListener("input", () => { bad = null; render(); });
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
  textarea.addEventListener("keydown", (ev) => {
    if (ev.key === "Tab") {  // four spaces, as Python wants
      ev.preventDefault();
      const s = textarea.selectionStart;
      textarea.setRangeText("    ", s, textarea.selectionEnd, "end");
      render();
    }
  });
  render();
  return {
    markLine(line) {
      bad = line || null;
      render();
      if (bad) {
        const lh = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
        textarea.scrollTop = Math.max(0, (bad - 3) * lh);
      }
    },
    badLine() { return bad; },
  };
}

function eventStream(path, handlers) {
  const source = new EventSource(path);
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  }
  return source;
}
