// Emergency stop: one click, no confirmation, and the button's status line says when the printer
// confirmed it (the gateway wrote M112, then the printer's state turned to Error).

import { api, printerBase } from "./api.js";
import { h, setText } from "./ui.js";

/** Per printer: {phase: "sending" | "sent" | "written" | "stopped" | "failed", at, text}. */
const stops = new Map();
const listeners = new Set();

function changed(printerId) {
  for (const listener of listeners) listener(printerId);
}

export function stopStatus(printerId) {
  return stops.get(printerId) || null;
}

function clock() {
  return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Send M112 to a local printer (path: its REST prefix) or a remote one (fleet path). */
export async function emergencyStop(printerId, fleetPath = null) {
  stops.set(printerId, { phase: "sending", at: Date.now(), text: "Sending emergency stop…" });
  changed(printerId);
  try {
    if (fleetPath) await api(`${fleetPath}/emergency`, { method: "POST", body: { command: "M112" } });
    else await api(`${printerBase(printerId)}/printer/command`, { method: "POST", body: { command: "M112" } });
    const current = stops.get(printerId);
    if (current && current.phase === "sending") {
      stops.set(printerId, { ...current, phase: "sent", text: `M112 sent at ${clock()}, waiting for the printer…` });
    }
  } catch (err) {
    stops.set(printerId, { phase: "failed", at: Date.now(), text: `Emergency stop failed: ${err.message}` });
  }
  changed(printerId);
}

/** A printer-event from the stream: EmergencySent means the gateway wrote it to the port. */
export function emergencyEvent(payload) {
  if (payload.type !== "EmergencySent" || payload.command !== "M112") return;
  const current = stops.get(payload.printer) || { at: Date.now() };
  if (current.phase === "stopped") return;
  stops.set(payload.printer, { ...current, phase: "written", text: `M112 written to the printer at ${clock()}` });
  changed(payload.printer);
}

/** A state frame: once the printer is in Error after a stop we sent, the stop is confirmed. */
export function emergencyFrame(frame) {
  const current = stops.get(frame.id);
  if (!current) return;
  const flags = frame.state.flags || {};
  if (flags.error && current.phase !== "stopped" && current.phase !== "failed") {
    stops.set(frame.id, { ...current, phase: "stopped",
      text: `Stopped: the printer confirmed the emergency stop (${frame.state.error || frame.state.text})` });
    changed(frame.id);
  } else if (flags.operational && current.phase === "stopped") {
    stops.delete(frame.id); // reconnected: the stop is history
    changed(frame.id);
  }
}

/** Stop the status updates of every emergency button under `root` (before it is thrown away). */
export function disposeButtons(root) {
  for (const wrap of root.querySelectorAll(".estop-wrap")) if (wrap.dispose) wrap.dispose();
}

/** The big red button plus its live status line, for one printer. */
export function emergencyButton(printerId, name, fleetPath = null) {
  const status = h("p", { class: "estop-status", role: "status", "aria-live": "polite" });
  const button = h("button", {
    type: "button", class: "estop", "aria-label": `Emergency stop ${name}`,
    "aria-describedby": `estop-status-${printerId}`,
    onclick: () => emergencyStop(printerId, fleetPath),
  }, "Emergency stop");
  status.id = `estop-status-${printerId}`;
  const wrap = h("div", { class: "estop-wrap" }, button, status);
  const render = (id) => {
    if (id !== printerId) return;
    const stop = stops.get(printerId);
    setText(status, stop ? stop.text : "");
    wrap.dataset.phase = stop ? stop.phase : "";
  };
  listeners.add(render);
  render(printerId);
  wrap.dispose = () => listeners.delete(render);
  return wrap;
}
