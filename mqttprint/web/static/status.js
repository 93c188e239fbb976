// What the overview card and the printer page both show of a printer: state badge, link,
// temperatures with their chart, position, error text and the job summary.

import { imageUrl, optional, printerBase } from "./api.js";
import { TempChart, fmtClock, fmtDuration, fmtPosition, fmtTemp, h, setText, stateClass } from "./ui.js";

/** The job lines a card and the printer page share: file, progress bar, layer, times, thumbnail. */
export class JobSummary {
  constructor(printerId, name) {
    this.printerId = printerId;
    this.file = h("span", { class: "job-file" });
    this.bar = h("progress", { max: "100", value: "0", "aria-label": `Job progress ${name}` });
    this.percent = h("span", { class: "job-percent" });
    this.details = h("span", { class: "job-details" });
    this.thumb = h("img", { class: "thumb", alt: `Thumbnail of the job on ${name}`, hidden: true });
    this.jobFile = null;
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
    } else if (typeof job.estimatedPrintTime === "number") {
      parts.push(`Estimate ${fmtDuration(job.estimatedPrintTime)}`);
    }
    if (progress.eta) parts.push(`ETA ${fmtClock(progress.eta)}`);
    setText(this.details, parts.join(" · "));
    if (job.file && job.file.name !== this.jobFile) {
      this.jobFile = job.file.name || null;
      this.showThumbnail(job.file);
    }
  }

  /** The job file's thumbnail: from the job document when it names one, else from the file's entry. */
  async showThumbnail(file) {
    const name = file.name;
    this.thumb.hidden = true;
    if (!name) return;
    let path = file.thumbnail || null;
    if (!path && file.origin === "local") {
      // The list (not the file's own URL): a file deleted since its print would be a 404.
      const list = await optional(`${printerBase(this.printerId)}/files/local`).catch(() => null);
      const entry = list && (list.files || []).find((f) => f.name === name);
      path = entry && entry.thumbnail;
    }
    const url = path ? await imageUrl(resolveUrl(this.printerId, path)).catch(() => null) : null;
    if (url && this.jobFile === name) {
      this.thumb.src = url;
      this.thumb.hidden = false;
    }
  }
}

/** A URL the API gave relative to a printer's root (OctoPrint style, e.g. a thumbnail's
 * `plugin/prusaslicerthumbnails/thumbnail/x.png`), made absolute for fetch(). */
export function resolveUrl(printerId, url) {
  if (/^(\/|https?:)/.test(url)) return url;
  return `/printer/${encodeURIComponent(printerId)}/${url}`;
}

export class PrinterStatus {
  constructor(frame) {
    const name = frame.name;
    this.state = h("span", { class: "badge" });
    this.link = h("span", { class: "link-state" });
    this.tool = h("span", { class: "temp" });
    this.bed = h("span", { class: "temp" });
    this.position = h("span", { class: "position" });
    this.error = h("p", { class: "error-text" });
    this.chart = new TempChart(`Temperature chart ${name}`);
    this.job = new JobSummary(frame.id, name);
    this.facts = h("dl", { class: "facts" },
      h("dt", {}, "Hotend"), h("dd", {}, this.tool),
      h("dt", {}, "Bed"), h("dd", {}, this.bed),
      h("dt", {}, "Position"), h("dd", {}, this.position));
    optional(`${printerBase(frame.id)}/printer?history=true&limit=300`).then((data) => {
      if (data && data.temperature && data.temperature.history) this.chart.load(data.temperature.history);
    }).catch(() => {});
  }

  /** Show `frame`; `root` gets data-state (ok, busy, paused, error, offline) for its colours. */
  update(frame, root) {
    const kind = stateClass(frame);
    root.dataset.state = kind;
    setText(this.state, frame.state.text);
    setText(this.link, `${kind === "offline" ? "Offline" : "Online"} · ${frame.port || "no port open"}${frame.firmware ? ` · ${frame.firmware}` : ""}`);
    setText(this.tool, fmtTemp(frame.temperature.tool0));
    setText(this.bed, fmtTemp(frame.temperature.bed));
    setText(this.position, fmtPosition(frame.position));
    setText(this.error, frame.state.error || "");
    if (frame.temperatureTime) this.chart.add(Math.floor(frame.temperatureTime), frame.temperature);
    this.job.update(frame);
  }
}
