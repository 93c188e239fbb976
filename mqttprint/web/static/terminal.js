// The terminal: send G-code and see that command's own reply lines (the gateway pairs replies
// with commands), plus, when switched on, the live stream of every line sent and received.

import { api } from "./api.js";
import { h } from "./ui.js";

const MAX_LINES = 500;

export class Terminal {
  constructor(page) {
    this.page = page;
    const name = page.name;
    this.output = h("pre", { class: "terminal", role: "log", "aria-live": "polite", "aria-label": `Terminal output ${name}`, tabindex: "0" });
    this.input = h("input", { type: "text", autocomplete: "off", spellcheck: "false", placeholder: "M114",
      "aria-label": `G-code command for ${name}` });
    this.liveToggle = h("input", { type: "checkbox", onchange: () => this.setLive(this.liveToggle.checked) });
    const form = h("form", { class: "terminal-form", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      this.input, h("button", { type: "submit", "aria-label": `Send command to ${name}` }, "Send"));
    this.el = h("div", {}, this.output, form, page.app.liveTerminal
      ? h("label", { class: "live-toggle" }, this.liveToggle, " Show every line sent and received")
      : h("p", { class: "hint" }, "Every line sent and received can be shown here when the gateway records them (mqtt.terminal: true)."));
    this.history = [];
  }

  dispose() {
    this.setLive(false);
  }

  setLive(on) {
    this.page.app.stream.setTerminal(on ? this.page.id : null);
  }

  append(text, kind) {
    this.output.append(h("span", { class: `term-${kind}` }, `${text}\n`));
    while (this.output.childNodes.length > MAX_LINES) this.output.firstChild.remove();
    this.output.scrollTop = this.output.scrollHeight;
  }

  /** The stream (re)started with (or without) this printer's terminal lines. */
  liveAttached(on) {
    this.output.dataset.live = on ? "on" : "off";
  }

  live(lines) {
    for (const line of lines) this.append(`${line.dir === "send" ? "SEND" : "RECV"} ${line.text}`, "live");
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    const commands = text.split("\n").map((c) => c.trim()).filter(Boolean);
    for (const command of commands) this.append(`> ${command}`, "cmd");
    try {
      const result = await api(`${this.page.base}/printer/command`,
        { method: "POST", body: { commands, reply: true, timeout: 30 } });
      for (const reply of (result && result.replies) || []) {
        for (const line of reply.lines) this.append(line, "reply");
        if (!reply.ok) this.append(`! ${reply.command}: ${reply.error || "failed"}`, "error");
      }
    } catch (err) {
      this.append(`! ${err.message}`, "error");
    }
  }
}
