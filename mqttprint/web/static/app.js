// The dashboard's entry point: login, the live stream, and the two views (overview, printer page)
// chosen by the URL's fragment: #/ and #/printer/<id>.

import { LiveStream, api, forgetKey, saveKey, savedKey } from "./api.js";
import { disposeButtons, emergencyEvent, emergencyFrame } from "./emergency.js";
import { Overview } from "./overview.js";
import { PrinterPage } from "./printer.js";
import { h, setText } from "./ui.js";

const STATUS_TEXT = {
  live: "Live", reconnecting: "Reconnecting…", polling: "Live updates busy, refreshing every second",
  unauthorized: "Not allowed to watch: log in again",
};

class App {
  constructor() {
    this.main = document.getElementById("main");
    this.liveStatus = document.getElementById("live-status");
    this.userLabel = document.getElementById("user");
    this.logoutButton = document.getElementById("logout");
    this.dialog = document.getElementById("confirm");
    this.permissions = new Set();
    this.endpoints = {};
    this.frames = new Map();
    this.view = null;
    this.stream = new LiveStream({
      message: (event, data) => this.message(event, data),
      status: (status) => this.setLive(status),
    });
    this.logoutButton.addEventListener("click", () => this.logout());
    window.addEventListener("hashchange", () => this.route());
  }

  can(permission) {
    return this.permissions.has("ADMIN") || this.permissions.has(permission);
  }

  async start() {
    const key = savedKey();
    if (key && await this.login(key).catch(() => false)) return;
    this.showLogin();
  }

  /** Check the key, load the state, start the stream. Resolves false for a wrong key. */
  async login(key) {
    const user = await api("/api/currentuser", { key });
    if (!user || !user.name) return false;
    this.user = user;
    this.permissions = new Set(user.permissions || []);
    const state = await api("/web/api/state", { key });
    this.endpoints = state.endpoints || {};
    this.liveTerminal = !!state.liveTerminal;
    for (const frame of state.printers) this.frames.set(frame.id, frame);
    const role = this.can("ADMIN") ? "admin" : this.can("CONTROL") ? "user" : "read only";
    setText(this.userLabel, `${user.name} (${role})`);
    this.logoutButton.hidden = false;
    document.body.classList.toggle("read-only", !this.can("CONTROL"));
    this.stream.start();
    this.route();
    return true;
  }

  showLogin(message = "") {
    const input = h("input", { type: "password", id: "apikey", name: "apikey", autocomplete: "current-password", required: true });
    const remember = h("input", { type: "checkbox", id: "remember" });
    const error = h("p", { class: "login-error", role: "alert" }, message);
    const submit = h("button", { type: "submit" }, "Log in");
    const form = h("form", { class: "login", "aria-labelledby": "login-title" },
      h("h1", { id: "login-title" }, "Log in"),
      h("p", {}, "Enter an API key of this gateway (from rest.api_keys in config.yaml, or an approved app key)."),
      h("label", { for: "apikey" }, "API key"), input,
      h("label", { class: "check" }, remember, " Remember on this device"),
      submit, error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      setText(error, "");
      try {
        const key = input.value.trim();
        saveKey(key, remember.checked);
        if (!(await this.login(key))) {
          forgetKey();
          setText(error, "Login failed: this API key is not valid.");
          input.select();
        }
      } catch (err) {
        forgetKey();
        setText(error, `Login failed: ${err.message}`);
      } finally {
        submit.disabled = false;
      }
    });
    this.setView(null, form);
    input.focus();
  }

  logout() {
    forgetKey();
    this.stream.stop();
    this.frames.clear();
    this.permissions = new Set();
    this.logoutButton.hidden = true;
    setText(this.userLabel, "");
    setText(this.liveStatus, "");
    this.showLogin();
  }

  setLive(status) {
    setText(this.liveStatus, STATUS_TEXT[status] || status);
    this.liveStatus.dataset.status = status;
  }

  setView(view, el) {
    if (this.view && this.view.dispose) this.view.dispose();
    disposeButtons(this.main);
    this.view = view;
    this.main.replaceChildren(el);
  }

  route() {
    if (!this.user) return;
    const match = /^#\/printer\/(.+)$/.exec(location.hash);
    const frame = match ? this.frames.get(decodeURIComponent(match[1])) : null;
    const view = frame ? new PrinterPage(this, frame) : new Overview(this);
    this.setView(view, view.el);
    document.title = frame ? `${frame.name} · mqttprint` : "Printers · mqttprint";
    for (const current of this.frames.values()) view.update(current);
    const heading = this.main.querySelector("h1");
    if (heading && match) {
      heading.tabIndex = -1;
      heading.focus();
    }
  }

  message(event, data) {
    if (event === "printer") {
      this.frames.set(data.id, data);
      emergencyFrame(data);
      if (this.view) this.view.update(data);
    } else if (event === "printer-event") {
      emergencyEvent(data);
      if (this.view && this.view.event) this.view.event(data);
    } else if (event === "hello") {
      if (this.view && this.view.streamHello) this.view.streamHello(data);
    } else if (event === "terminal") {
      if (this.view && this.view.terminalLines) this.view.terminalLines(data);
    }
  }

  /** An in-page confirmation (a <dialog>), resolving true when confirmed. */
  confirm(text, action) {
    const dialog = this.dialog;
    setText(dialog.querySelector("#confirm-text"), text);
    setText(dialog.querySelector("#confirm-ok"), action);
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    });
  }
}

new App().start();
