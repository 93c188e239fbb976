// Talking to the gateway: the API key, REST calls and the live-update stream.
//
// The key travels only in the X-Api-Key header (never in a cookie or URL), so another site
// cannot make the browser send a request with it: there is nothing to forge (no CSRF).

const KEY_STORE = "mqttprint.apikey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function savedKey() {
  return sessionStorage.getItem(KEY_STORE) || localStorage.getItem(KEY_STORE) || "";
}

export function saveKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_STORE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORE);
  localStorage.removeItem(KEY_STORE);
}

/** The URL prefix of one printer's REST API. */
export function printerBase(printerId) {
  return `/printer/${encodeURIComponent(printerId)}/api`;
}

/**
 * One REST call. `body`: an object (sent as JSON) or FormData. Resolves to the parsed JSON,
 * the text, or null (204); rejects with ApiError carrying the server's `error` text.
 */
export async function api(path, { method = "GET", body, key = savedKey(), signal, quiet404 = false } = {}) {
  const headers = { "X-Api-Key": key };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The gateway is not reachable");
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const message = data && data.error ? data.error : `${response.status} ${response.statusText}`;
    if (!(quiet404 && response.status === 404)) console.info(`${method} ${path}: ${message}`);
    throw new ApiError(response.status, message);
  }
  return response.status === 204 ? null : data;
}

/** Like api(), but an endpoint that does not exist (yet) resolves to null. */
export async function optional(path, options = {}) {
  try {
    return await api(path, { ...options, quiet404: true });
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    throw err;
  }
}

/** An image behind the API key, as an object URL (an <img src> cannot send the header). */
export async function imageUrl(path) {
  const response = await fetch(path, { headers: { "X-Api-Key": savedKey() } });
  if (!response.ok) return null;
  return URL.createObjectURL(await response.blob());
}

/**
 * The live stream (Server-Sent Events read with fetch(), so the key goes in a header). Calls
 * handlers.message(event, data) per message and handlers.status("live" | "reconnecting" |
 * "polling"). Reconnects by itself (gateway restart) with a growing delay; when every stream slot
 * is taken (503) it polls /web/api/state once a second for a while, then tries again.
 */
export class LiveStream {
  constructor(handlers) {
    this.handlers = handlers;
    this.terminal = null;
    this.controller = null;
    this.stopped = false;
    this.delay = 500;
    this.generation = 0;
  }

  start(terminal = null) {
    this.terminal = terminal;
    this.stopped = false;
    this.restart();
  }

  setTerminal(terminal) {
    if (terminal !== this.terminal) this.start(terminal);
  }

  stop() {
    this.stopped = true;
    this.generation += 1;
    if (this.controller) this.controller.abort();
  }

  restart() {
    this.generation += 1;
    if (this.controller) this.controller.abort();
    this.run(this.generation);
  }

  async run(generation) {
    while (!this.stopped && generation === this.generation) {
      const controller = new AbortController();
      this.controller = controller;
      let status = 0;
      try {
        const query = this.terminal ? `?terminal=${encodeURIComponent(this.terminal)}` : "";
        const response = await fetch(`/web/api/events${query}`, {
          headers: { "X-Api-Key": savedKey(), Accept: "text/event-stream" }, signal: controller.signal, cache: "no-store",
        });
        status = response.status;
        if (response.ok) {
          this.delay = 500;
          this.handlers.status("live");
          await this.read(response.body, generation);
        }
      } catch (err) {
        if (err.name === "AbortError") return;
      }
      if (this.stopped || generation !== this.generation) return;
      if (status === 401 || status === 403) {
        this.handlers.status("unauthorized");
        return;
      }
      if (status === 503) {
        await this.poll(generation, 30);
      } else {
        this.handlers.status("reconnecting");
        await sleep(this.delay);
        this.delay = Math.min(this.delay * 2, 5000);
      }
    }
  }

  async read(body, generation) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    while (generation === this.generation) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) this.handlers.message(event, JSON.parse(data.join("\n")));
      }
    }
  }

  async poll(generation, rounds) {
    this.handlers.status("polling");
    for (let i = 0; i < rounds && !this.stopped && generation === this.generation; i += 1) {
      try {
        const state = await api("/web/api/state");
        for (const frame of state.printers) this.handlers.message("printer", frame);
      } catch (err) {
        if (err.status === 403) return;
      }
      await sleep(1000);
    }
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
