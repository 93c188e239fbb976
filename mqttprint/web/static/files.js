// The printer page's file list: upload (file input or drag and drop), metadata and thumbnails,
// print and delete.

import { api, imageUrl } from "./api.js";
import { resolveUrl } from "./status.js";
import { fmtBytes, fmtDuration, h, setText } from "./ui.js";

function filamentText(analysis) {
  const filament = analysis && analysis.filament;
  if (!filament) return "";
  const metres = Object.values(filament).reduce((sum, tool) => sum + ((tool && tool.length) || 0), 0) / 1000;
  return metres ? `${metres.toFixed(2)} m filament` : "";
}

export class FileList {
  constructor(page) {
    this.page = page;
    const app = page.app;
    const name = page.name;
    this.canPrint = app.can("PRINT") || app.can("FILES_SELECT");
    this.canDelete = app.can("FILES_DELETE");
    this.status = h("p", { class: "upload-status", role: "status", "aria-live": "polite" });
    this.list = h("ul", { class: "files", "aria-label": `Files on ${name}` });
    this.busy = false;
    let upload = null;
    if (app.can("FILES_UPLOAD")) {
      const input = h("input", { type: "file", accept: ".gcode,.gco,.g,.bgcode", multiple: true,
        "aria-label": `Upload G-code to ${name}`, onchange: () => this.upload([...input.files]).then(() => { input.value = ""; }) });
      upload = h("div", { class: "dropzone" },
        h("label", {}, "Upload G-code: ", input), h("span", { class: "hint" }, " or drop files here"));
      upload.addEventListener("dragover", (e) => { e.preventDefault(); upload.classList.add("over"); });
      upload.addEventListener("dragleave", () => upload.classList.remove("over"));
      upload.addEventListener("drop", (e) => {
        e.preventDefault();
        upload.classList.remove("over");
        this.upload([...e.dataTransfer.files]);
      });
    }
    this.el = h("div", {}, upload, this.status, this.list);
    this.refresh();
  }

  async upload(files) {
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      setText(this.status, `Uploading ${file.name}…`);
      try {
        await api(`${this.page.base}/files/local`, { method: "POST", body: form });
        setText(this.status, `Uploaded ${file.name}`);
      } catch (err) {
        setText(this.status, `Upload of ${file.name} failed: ${err.message}`);
      }
    }
    await this.refresh();
  }

  stateChanged(frame) {
    const printing = !!(frame.state.flags.printing || frame.state.flags.paused);
    if (printing !== this.busy) {
      this.busy = printing;
      for (const button of this.list.querySelectorAll("button.print")) button.disabled = printing;
    }
  }

  async refresh() {
    let data;
    try {
      data = await api(`${this.page.base}/files`);
    } catch (err) {
      setText(this.status, `File list unavailable: ${err.message}`);
      return;
    }
    const files = (data.files || []).filter((f) => f.type !== "folder");
    const focused = document.activeElement && this.list.contains(document.activeElement)
      ? document.activeElement.getAttribute("aria-label") : null;
    this.list.replaceChildren(...(files.length ? files.map((f) => this.row(f)) : [h("li", { class: "empty" }, "No files yet")]));
    if (focused) {
      const again = [...this.list.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === focused);
      if (again) again.focus();
    }
  }

  row(file) {
    const analysis = file.gcodeAnalysis || {};
    const facts = [fmtBytes(file.size)];
    if (file.date) facts.push(new Date(file.date * 1000).toLocaleString());
    if (analysis.estimatedPrintTime) facts.push(`about ${fmtDuration(analysis.estimatedPrintTime)}`);
    const filament = filamentText(analysis);
    if (filament) facts.push(filament);
    const thumb = h("img", { class: "thumb", alt: `Thumbnail of ${file.display || file.name}`, hidden: true });
    if (typeof file.thumbnail === "string") {
      imageUrl(resolveUrl(this.page.id, file.thumbnail)).then((url) => {
        if (url) { thumb.src = url; thumb.hidden = false; }
      }).catch(() => {});
    }
    const path = file.path || file.name;
    const start = () => this.page.run(`Print ${path}`, () => api(`${this.page.base}/files/local/${encodeURI(path)}`,
      { method: "POST", body: { command: "select", print: true } }));
    const remove = async () => {
      if (!(await this.page.app.confirm(`Delete ${path}?`, "Delete"))) return;
      await this.page.run(`Delete ${path}`, () => api(`${this.page.base}/files/local/${encodeURI(path)}`, { method: "DELETE" }));
      this.refresh();
    };
    return h("li", { class: "file" }, thumb,
      h("div", { class: "file-text" }, h("strong", {}, file.display || file.name), h("span", { class: "facts-line" }, facts.join(" · "))),
      h("div", { class: "buttons" },
        this.canPrint ? h("button", { type: "button", class: "print", disabled: this.busy, "aria-label": `Print ${path}`, onclick: start }, "Print") : null,
        this.canDelete ? h("button", { type: "button", "aria-label": `Delete ${path}`, onclick: remove }, "Delete") : null));
  }
}
