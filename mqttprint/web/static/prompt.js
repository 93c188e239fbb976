// A firmware prompt (M876 host prompt, filament change, ...): its text and one button per
// choice. Shown on the card and the printer page while open; needs GET/POST /api/printer/prompt.

import { api, optional, printerBase } from "./api.js";
import { h, setText } from "./ui.js";

/** Events after which the prompt may have opened or closed. */
const PROMPT_EVENTS = /Prompt|HostAction|FilamentChange|FilamentRunout|PausedByFirmware|StateChanged/;

export class PromptBox {
  constructor(printerId, name, app) {
    this.printerId = printerId;
    this.name = name;
    this.app = app;
    this.text = h("p", { class: "prompt-text" });
    this.buttons = h("div", { class: "prompt-buttons" });
    this.note = h("p", { class: "prompt-note", role: "status" });
    this.el = h("section", { class: "prompt", role: "alert", "aria-label": `Printer prompt ${name}`, hidden: true },
      h("strong", {}, "The printer asks:"), this.text, this.buttons, this.note);
    this.refresh();
  }

  event(payload) {
    if (PROMPT_EVENTS.test(payload.type)) this.refresh();
  }

  async refresh() {
    if (!this.app.endpoints.prompt) return;
    const prompt = await optional(`${printerBase(this.printerId)}/printer/prompt`).catch(() => null);
    this.show(prompt && prompt.open ? prompt : null);
  }

  show(prompt) {
    this.el.hidden = !prompt;
    if (!prompt) return;
    setText(this.text, prompt.text || "");
    const canAnswer = this.app.can("CONTROL");
    this.buttons.replaceChildren(...(prompt.buttons || []).map((label, index) => h("button", {
      type: "button", disabled: !canAnswer, "aria-label": `Answer ${label} on ${this.name}`,
      onclick: () => this.answer(index),
    }, label)));
  }

  async answer(choice) {
    try {
      await api(`${printerBase(this.printerId)}/printer/prompt`, { method: "POST", body: { choice } });
      setText(this.note, "Answer sent");
      this.refresh();
    } catch (err) {
      setText(this.note, `Could not answer: ${err.message}`);
    }
  }
}
