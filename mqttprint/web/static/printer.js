// One printer's page: status, job control, jog/home, temperatures, fan, files, terminal,
// connection, firmware prompt, system commands and the webcam.

import { api, imageUrl, optional, printerBase } from "./api.js";
import { emergencyButton } from "./emergency.js";
import { FileList } from "./files.js";
import { PromptBox } from "./prompt.js";
import { PrinterStatus } from "./status.js";
import { Terminal } from "./terminal.js";
import { h, setText } from "./ui.js";

function section(title, ...children) {
  const id = `sec-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

export class PrinterPage {
  constructor(app, frame) {
    this.app = app;
    this.id = frame.id;
    this.name = frame.name;
    this.base = printerBase(frame.id);
    const name = frame.name;
    this.message = h("p", { class: "message", role: "status", "aria-live": "polite" });
    this.status = new PrinterStatus(frame);
    this.prompt = new PromptBox(frame.id, name, app);
    this.files = new FileList(this);
    this.terminal = new Terminal(this);
    this.camera = h("div", { class: "camera", hidden: true });

    const canControl = app.can("CONTROL");
    const head = h("header", { class: "printer-head" },
      h("a", { href: "#/", class: "back" }, "← All printers"),
      h("h1", {}, name), this.status.state, this.status.link,
      canControl ? emergencyButton(frame.id, name) : null);
    const s = this.status;
    const status = section("Status", s.facts, s.chart.svg, s.error, this.prompt.el, this.camera);
    this.jobButtons = app.can("PRINT") ? h("div", { class: "buttons" },
      this.button("Pause", `Pause job on ${name}`, () => this.jobCommand("pause", "pause")),
      this.button("Resume", `Resume job on ${name}`, () => this.jobCommand("pause", "resume")),
      this.button("Cancel", `Cancel job on ${name}`, () => this.jobCommand("cancel"))) : null;
    const job = section("Job", s.job.el, this.jobButtons);
    this.el = h("div", { class: "printer-page", "data-printer": frame.id }, head, this.message,
      h("div", { class: "panels" }, status, job,
        canControl ? this.controlSection() : null,
        app.can("CONNECTION") ? this.connectionSection() : null,
        section("Files", this.files.el),
        canControl ? section("Terminal", this.terminal.el) : null,
        app.can("SYSTEM") ? this.systemSection() : null));
    this.loadWebcam();
  }

  dispose() {
    this.terminal.dispose();
    clearInterval(this.cameraTimer);
  }

  button(text, label, action, extra = {}) {
    return h("button", { type: "button", "aria-label": label, onclick: () => action(), ...extra }, text);
  }

  /** Run a request; say what happened in the page's status line. */
  async run(what, request) {
    try {
      const result = await request();
      setText(this.message, `${what}: done`);
      return result;
    } catch (err) {
      setText(this.message, `${what} failed: ${err.message}`);
      return undefined;
    }
  }

  jobCommand(command, action) {
    const body = action ? { command, action } : { command };
    const label = action || command;
    return this.run(`${label[0].toUpperCase()}${label.slice(1)} job`, () => api(`${this.base}/job`, { method: "POST", body }));
  }

  controlSection() {
    const name = this.name;
    const step = h("select", { "aria-label": `Jog distance on ${name}` },
      ...["0.1", "1", "10", "50"].map((v) => h("option", { value: v, selected: v === "10" }, `${v} mm`)));
    const jog = (axis, sign) => this.button(`${axis}${sign > 0 ? "+" : "−"}`, `Jog ${axis} ${sign > 0 ? "plus" : "minus"} on ${name}`,
      () => this.run(`Jog ${axis}`, () => api(`${this.base}/printer/printhead`, {
        method: "POST", body: { command: "jog", [axis.toLowerCase()]: sign * Number(step.value) } })));
    const home = (axes, label) => this.button(label, `${label} on ${name}`,
      () => this.run(label, () => api(`${this.base}/printer/printhead`, { method: "POST", body: { command: "home", axes } })));
    const toolTarget = h("input", { type: "number", min: "0", max: "300", step: "1", value: "200", "aria-label": `Hotend target °C on ${name}` });
    const bedTarget = h("input", { type: "number", min: "0", max: "120", step: "1", value: "60", "aria-label": `Bed target °C on ${name}` });
    const fan = h("input", { type: "range", min: "0", max: "100", step: "5", value: "100", "aria-label": `Fan speed percent on ${name}` });
    const setTool = (value) => this.run("Hotend target", () => api(`${this.base}/printer/tool`, {
      method: "POST", body: { command: "target", targets: { tool0: value } } }));
    const setBed = (value) => this.run("Bed target", () => api(`${this.base}/printer/bed`, {
      method: "POST", body: { command: "target", target: value } }));
    const setFan = (percent) => this.run("Fan", () => api(`${this.base}/printer/command`, {
      method: "POST", body: { command: percent > 0 ? `M106 S${Math.round((percent * 255) / 100)}` : "M107" } }));
    return section("Control",
      h("div", { class: "jog" }, step, jog("X", -1), jog("X", 1), jog("Y", -1), jog("Y", 1), jog("Z", -1), jog("Z", 1)),
      h("div", { class: "buttons" }, home(["x", "y", "z"], "Home all"), home(["x", "y"], "Home XY"), home(["z"], "Home Z")),
      h("div", { class: "setting" }, h("span", {}, "Hotend"), toolTarget,
        this.button("Set", `Set hotend target on ${name}`, () => setTool(Number(toolTarget.value))),
        this.button("Off", `Hotend off on ${name}`, () => setTool(0))),
      h("div", { class: "setting" }, h("span", {}, "Bed"), bedTarget,
        this.button("Set", `Set bed target on ${name}`, () => setBed(Number(bedTarget.value))),
        this.button("Off", `Bed off on ${name}`, () => setBed(0))),
      h("div", { class: "setting" }, h("span", {}, "Fan"), fan,
        this.button("Set", `Set fan speed on ${name}`, () => setFan(Number(fan.value))),
        this.button("Off", `Fan off on ${name}`, () => setFan(0))));
  }

  connectionSection() {
    const connect = (command) => this.run(command === "connect" ? "Connect" : "Disconnect",
      () => api(`${this.base}/connection`, { method: "POST", body: { command } }));
    return section("Connection", h("div", { class: "buttons" },
      this.button("Connect", `Connect ${this.name}`, () => connect("connect")),
      this.button("Disconnect", `Disconnect ${this.name}`, () => connect("disconnect"))));
  }

  systemSection() {
    const list = h("div", { class: "buttons system" }, h("span", {}, "Loading…"));
    api(`${this.base}/system/commands`).then((data) => {
      const commands = [...(data.core || []), ...(data.custom || [])].filter((c) => c.action && c.action !== "divider");
      list.replaceChildren(...(commands.length ? commands.map((c) => this.button(c.name || c.action, `System command ${c.name || c.action}`,
        () => this.system(c))) : [h("span", {}, "No system commands configured")]));
    }).catch((err) => list.replaceChildren(h("span", {}, `System commands unavailable: ${err.message}`)));
    return section("System", list);
  }

  async system(command) {
    if (command.confirm && !(await this.app.confirm(command.confirm, command.name || command.action))) return;
    await this.run(command.name || command.action, () => api(command.resource
      ? new URL(command.resource, location.href).pathname : `${this.base}/system/commands/${command.source}/${command.action}`, { method: "POST" }));
  }

  async loadWebcam() {
    if (!this.app.can("WEBCAM")) return;
    const settings = await optional(`${this.base}/settings`).catch(() => null);
    const cam = settings && settings.webcam;
    if (!cam || !cam.webcamEnabled) return;
    const img = h("img", { alt: `Webcam of ${this.name}`, class: "webcam" });
    const transforms = [];
    if (cam.flipH) transforms.push("scaleX(-1)");
    if (cam.flipV) transforms.push("scaleY(-1)");
    if (cam.rotate90) transforms.push("rotate(-90deg)");
    img.style.transform = transforms.join(" ");
    if (cam.streamUrl) {
      img.src = cam.streamUrl; // MJPEG straight from the camera
    } else if (cam.snapshotUrl && this.app.endpoints.webcamSnapshot) {
      // Snapshots through the gateway's proxy (behind the key), refreshed every few seconds.
      const refresh = async () => {
        const url = await imageUrl(`${this.base}/printer/webcam/snapshot`).catch(() => null);
        if (url) {
          if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
          img.src = url;
        }
      };
      refresh();
      this.cameraTimer = setInterval(refresh, 5000);
    } else {
      return;
    }
    this.camera.replaceChildren(img);
    this.camera.hidden = false;
  }

  update(frame) {
    if (frame.id !== this.id) return;
    this.status.update(frame, this.el);
    const flags = frame.state.flags || {};
    if (this.jobButtons) {
      const [pause, resume, cancel] = this.jobButtons.children;
      pause.disabled = !(flags.printing && !flags.paused);
      resume.disabled = !flags.paused;
      cancel.disabled = !(flags.printing || flags.paused);
    }
    this.files.stateChanged(frame);
  }

  event(payload) {
    if (payload.printer !== this.id) return;
    this.prompt.event(payload);
    if (/^Job|Print/.test(payload.type)) this.files.refresh();
  }

  streamHello(hello) {
    this.terminal.liveAttached(hello.terminal === this.id);
  }

  terminalLines(payload) {
    if (payload.printer === this.id) this.terminal.live(payload.lines);
  }
}

