// The overview: one card per printer (and the fleet's printers of other gateways).

import { optional } from "./api.js";
import { disposeButtons, emergencyButton, emergencyStop } from "./emergency.js";
import { PromptBox } from "./prompt.js";
import { PrinterStatus } from "./status.js";
import { fmtTemp, h, setText } from "./ui.js";

class PrinterCard {
  constructor(frame, app) {
    const name = frame.name;
    this.id = frame.id;
    this.status = new PrinterStatus(frame);
    this.prompt = new PromptBox(frame.id, name, app);
    this.conflict = h("p", { class: "error-text conflict" });
    const title = h("h2", {}, h("a", { href: `#/printer/${encodeURIComponent(frame.id)}`, "aria-label": `Open ${name}` }, name));
    const s = this.status;
    this.el = h("article", { class: "card", "aria-label": name, "data-printer": frame.id },
      h("header", { class: "card-head" }, title, s.state), s.link, s.facts,
      s.chart.svg, s.job.el, s.error, this.conflict, this.prompt.el,
      app.can("CONTROL") ? emergencyButton(frame.id, name) : null);
  }

  update(frame) {
    this.status.update(frame, this.el);
  }

  /** The fleet says another gateway claims this printer id too (it is refused here then). */
  setConflict(conflict) {
    setText(this.conflict, conflict ? `Printer id ${this.id} is also claimed by another gateway` : "");
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
    for (const printer of fleet.printers.filter((p) => p.local)) {
      const card = this.cards.get(printer.id);
      if (card) card.setConflict(!!printer.conflict);
    }
    this.remote = fleet.printers.filter((p) => !p.local);
    this.fleetSection.hidden = this.remote.length === 0;
    const focused = document.activeElement && this.fleetGrid.contains(document.activeElement)
      ? document.activeElement.getAttribute("aria-label") : null;
    disposeButtons(this.fleetGrid);
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
