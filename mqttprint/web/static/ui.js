// Small DOM and formatting helpers shared by the overview and the printer page.

/** Create an element: h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setText(el, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function fmtTemp(reading) {
  if (!reading || reading.actual === null || reading.actual === undefined) return "–";
  const target = reading.target ? ` / ${Math.round(reading.target)}` : "";
  return `${reading.actual.toFixed(1)}${target} °C`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  if (minutes) return `${minutes} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

export function fmtClock(unixSeconds) {
  if (!unixSeconds) return "–";
  return new Date(unixSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function fmtPosition(position) {
  if (!position) return "–";
  const axis = (name) => (typeof position[name] === "number" ? position[name].toFixed(2) : "?");
  return `X ${axis("x")}  Y ${axis("y")}  Z ${axis("z")}`;
}

/** The state class a card or badge gets: ok, busy, paused, error, offline. */
export function stateClass(frame) {
  const flags = (frame && frame.state && frame.state.flags) || {};
  if (flags.error || flags.closedOrError && frame.state.error) return "error";
  if (flags.paused || flags.pausing) return "paused";
  if (flags.printing || flags.cancelling) return "busy";
  if (flags.operational) return "ok";
  return "offline";
}

const SVG = "http://www.w3.org/2000/svg";
const CHART_COLORS = { tool0: "#d9480f", tool1: "#e67700", bed: "#1971c2", chamber: "#2f9e44" };

/** A tiny temperature chart (inline SVG, no library): the last `span` seconds of samples. */
export class TempChart {
  constructor(label, span = 600) {
    this.span = span;
    this.samples = [];
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("viewBox", "0 0 300 80");
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", label);
    this.svg.classList.add("chart");
  }

  /** samples: [{time, tool0: {actual, target}, bed: {...}}] oldest first. */
  load(samples) {
    this.samples = samples.slice(-600);
    this.draw();
  }

  add(time, temperature) {
    if (!temperature || !time) return;
    const last = this.samples[this.samples.length - 1];
    if (last && last.time >= time) return;
    this.samples.push({ time, ...temperature });
    if (this.samples.length > 600) this.samples.shift();
    this.draw();
  }

  draw() {
    const end = this.samples.length ? this.samples[this.samples.length - 1].time : 0;
    const first = this.samples.length ? this.samples[0].time : 0;
    // Up to `span` seconds; a short history fills the chart instead of a sliver at its right edge.
    const span = Math.min(this.span, Math.max(60, end - first));
    const recent = this.samples.filter((s) => s.time >= end - span);
    let max = 50;
    for (const s of recent) {
      for (const [key, value] of Object.entries(s)) {
        if (key !== "time" && value) max = Math.max(max, value.actual || 0, value.target || 0);
      }
    }
    max = Math.ceil((max + 10) / 50) * 50;
    const x = (t) => (300 * (t - (end - span))) / span;
    const y = (v) => 80 - (78 * v) / max;
    const lines = [];
    const line = (points, value, color, dashed) => {
      const path = document.createElementNS(SVG, "polyline");
      path.setAttribute("points", points.map((s) => `${x(s.time).toFixed(1)},${y(value(s)).toFixed(1)}`).join(" "));
      path.setAttribute("stroke", color);
      path.setAttribute("fill", "none");
      path.setAttribute("stroke-width", dashed ? "1" : "1.5");
      if (dashed) path.setAttribute("stroke-dasharray", "4 3");
      path.setAttribute("vector-effect", "non-scaling-stroke");
      lines.push(path);
    };
    for (const key of Object.keys(CHART_COLORS)) {
      const points = recent.filter((s) => s[key] && typeof s[key].actual === "number");
      if (points.length < 2) continue;
      if (points.some((s) => s[key].target)) line(points, (s) => s[key].target || 0, CHART_COLORS[key], true);
      line(points, (s) => s[key].actual, CHART_COLORS[key], false);
    }
    this.svg.replaceChildren(...lines);
  }
}
