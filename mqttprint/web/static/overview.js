// The overview: one card per printer (and the fleet's printers of other gateways).

import { imageUrl, optional, printerBase } from "./api.js";
import { emergencyButton, emergencyStop } from "./emergency.js";
import { PromptBox } from "./prompt.js";
import { TempChart, fmtClock, fmtDuration, fmtPosition, fmtTemp, h, setText, stateClass } from "./ui.js";

/** The job lines a card and the printer page share: file, progress bar, layer, times, thumbnail. */
export class JobSummary {
  constructor(name) {
    this.file = h("span", { class: "job-file" });
    this.bar = h("progress", { max: "100", value: "0", "aria-label": `Job progress ${name}` });
    this.percent = h("span", { class: "job-percent" });
    this.details = h("span", { class: "job-details" });
    this.thumb = h("img", { class: "thumb", alt: `Thumbnail of the job on ${name}`, hidden: true });
    this.thumbPath = null;
    this.el = h("div", { class: "job" }, this.thumb,
      h("div", { class: "job-text" }, h("div", {}, this.file), h("div", { class: "job-bar" }, this.bar, this.percent), this.details));
  }

  update(frame) {
    const job = frame.job || {};
    const progress = frame.progress || {};
    const file = (job.file && (job.file.display || job.file.name)) || null;
    setText(this.file, file ? file : "No job");
    const completion = typeof progress.completion === "number" ? progress.completion : null;
    this.bar.value = completion === null ? 0 : completion;
    setText(this.percent, completion === null ? "" : `${completion.toFixed(1)} %`);
    const parts = [];
    if (progress.layer !== undefined && progress.layer !== null) {
      parts.push(`Layer ${progress.layer}${progress.layers ? ` / ${progress.layers}` : ""}`);
    }
    if (typeof progress.z === "number") parts.push(`Z ${progress.z.toFixed(2)}`);
    if (typeof progress.printTime === "number") parts.push(`Elapsed ${fmtDuration(progress.printTime)}`);
    if (typeof progress.printTimeLeft === "number") {
      const origin = progress.printTimeLeftOrigin ? ` (${progress.printTimeLeftOrigin})` : "";
      parts.push(`Left ${fmtDuration(progress.printTimeLeft)}${origin}`);
    }
    if (progress.eta) parts.push(`ETA ${fmtClock(progress.eta)}`);
    setText(this.details, parts.join(" · "));
    this.showThumbnail(file ? (job.file.thumbnail || job.thumbnail || null) : null);
  }

  async showThumbnail(path) {
    if (path === this.thumbPath) return;
    this.thumbPath = path;
    if (!path) {
      this.thumb.hidden = true;
      return;
    }
    const url = await imageUrl(path).catch(() => null);
    if (url && this.thumbPath === path) {
      this.thumb.src = url;
      this.thumb.hidden = false;
    }
  }
}

class PrinterCard {
  constructor(frame, app) {
    const name = frame.name;
    this.id = frame.id;
    this.state = h("span", { class: "badge" });
    this.link = h("span", { class: "link-state" });
    this.tool = h("span", { class: "temp" });
    this.bed = h("span", { class: "temp" });
    this.position = h("span", { class: "position" });
    this.error = h("p", { class: "error-text" });
    this.chart = new TempChart(`Temperature chart ${name}`);
    this.job = new JobSummary(name);
    this.prompt = new PromptBox(frame.id, name, app);
    const title = h("h2", {}, h("a", { href: `#/printer/${encodeURIComponent(frame.id)}`, "aria-label": `Open ${name}` }, name));
    this.el = h("article", { class: "card", "aria-label": name, "data-printer": frame.id },
      h("header", { class: "card-head" }, title, this.state),
      this.link,
      h("dl", { class: "facts" },
        h("dt", {}, "Hotend"), h("dd", {}, this.tool),
        h("dt", {}, "Bed"), h("dd", {}, this.bed),
        h("dt", {}, "Position"), h("dd", {}, this.position)),
      this.chart.svg, this.job.el, this.error, this.prompt.el,
      app.can("CONTROL") ? emergencyButton(frame.id, name) : null);
    optional(`${printerBase(frame.id)}/printer?history=true&limit=300`).then((data) => {
      if (data && data.temperature && data.temperature.history) this.chart.load(data.temperature.history);
    }).catch(() => {});
  }

  update(frame) {
    const kind = stateClass(frame);
    this.el.dataset.state = kind;
    setText(this.state, frame.state.text);
    const online = kind !== "offline";
    setText(this.link, `${online ? "Online" : "Offline"} · ${frame.port || "no port open"}${frame.firmware ? ` · ${frame.firmware}` : ""}`);
    setText(this.tool, fmtTemp(frame.temperature.tool0));
    setText(this.bed, fmtTemp(frame.temperature.bed));
    setText(this.position, fmtPosition(frame.position));
    setText(this.error, frame.state.error || "");
    if (frame.temperatureTime) this.chart.add(Math.floor(frame.temperatureTime), frame.temperature);
    this.job.update(frame);
  }
}

/** A printer of another gateway, from GET /api/fleet (controls go through the fleet endpoints). */
function remoteCard(printer, app) {
  const name = printer.name || printer.id;
  const status = printer.status || {};
  const temps = printer.temperature || {};
  const progress = printer.progress || {};
  const fleetPath = `/api/fleet/${encodeURIComponent(printer.gateway)}/${encodeURIComponent(printer.id)}`;
  return h("article", { class: "card remote", "aria-label": `${name} (gateway ${printer.gateway})`,
    "data-state": printer.available ? "ok" : "offline" },
  h("header", { class: "card-head" }, h("h2", {}, name), h("span", { class: "badge" }, status.state || (printer.available ? "Online" : "Offline"))),
  h("span", { class: "link-state" }, `Gateway ${printer.gateway} · ${printer.available ? "available" : "unavailable"}${printer.conflict ? " · id conflict" : ""}`),
  h("dl", { class: "facts" },
    h("dt", {}, "Hotend"), h("dd", {}, fmtTemp(temps.tool0)),
    h("dt", {}, "Bed"), h("dd", {}, fmtTemp(temps.bed)),
    h("dt", {}, "Job"), h("dd", {}, progress.file ? `${progress.file} ${typeof progress.completion === "number" ? progress.completion.toFixed(1) + " %" : ""}` : "No job")),
  app.can("CONTROL") && printer.available ? emergencyButton(`${printer.gateway}/${printer.id}`, name, fleetPath) : null);
}

export class Overview {
  constructor(app) {
    this.app = app;
    this.cards = new Map();
    this.grid = h("div", { class: "grid" });
    this.fleetGrid = h("div", { class: "grid" });
    this.fleetSection = h("section", { "aria-labelledby": "fleet-title", hidden: true },
      h("h2", { id: "fleet-title", class: "section-title" }, "Other gateways"), this.fleetGrid);
    const stopAll = app.can("CONTROL")
      ? h("button", { type: "button", class: "estop estop-all", onclick: () => this.stopAll() }, "Stop all printers")
      : null;
    this.el = h("div", { class: "overview" },
      h("div", { class: "overview-head" }, h("h1", {}, "Printers"), stopAll),
      h("section", { "aria-label": "This gateway's printers" }, this.grid), this.fleetSection);
    this.remote = [];
    if (app.endpoints.fleet) {
      this.loadFleet();
      this.fleetTimer = setInterval(() => this.loadFleet(), 5000);
    }
  }

  dispose() {
    clearInterval(this.fleetTimer);
  }

  update(frame) {
    let card = this.cards.get(frame.id);
    if (!card) {
      card = new PrinterCard(frame, this.app);
      this.cards.set(frame.id, card);
      this.grid.append(card.el);
    }
    card.update(frame);
  }

  event(payload) {
    const card = this.cards.get(payload.printer);
    if (card) card.prompt.event(payload);
  }

  async loadFleet() {
    const fleet = await optional("/api/fleet").catch(() => null);
    if (!fleet || !Array.isArray(fleet.printers)) return;
    this.remote = fleet.printers.filter((p) => !p.local);
    this.fleetSection.hidden = this.remote.length === 0;
    const focused = document.activeElement && this.fleetGrid.contains(document.activeElement)
      ? document.activeElement.getAttribute("aria-label") : null;
    this.fleetGrid.replaceChildren(...this.remote.map((p) => remoteCard(p, this.app)));
    if (focused) {
      const again = [...this.fleetGrid.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === focused);
      if (again) again.focus();
    }
  }

  stopAll() {
    const local = [...this.cards.keys()].map((id) => emergencyStop(id));
    const remote = this.remote.filter((p) => p.available).map((p) => emergencyStop(`${p.gateway}/${p.id}`,
      `/api/fleet/${encodeURIComponent(p.gateway)}/${encodeURIComponent(p.id)}`));
    return Promise.all([...local, ...remote]);
  }
}
