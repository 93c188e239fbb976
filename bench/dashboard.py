"""Dashboard benchmark in a real Chromium (Debian's chromium via Playwright) against the real
gateway (two simulated printers, a real mosquitto):

1. click on "Emergency stop Printer 1" -> M112 at the printer's simulator (the click's time is
   taken in the page, the M112's time in the simulator, both wall clock on this machine);
2. printer state change (the gateway's StateChanged to Error on the event bus) -> the new state
   painted on the page (MutationObserver, then the next animation frame);
3. REST latency (GET /api/printer and /api/job from 2 client threads) with no page open and with
   20 pages open (20 browser contexts, 20 live streams), while printer 2 streams a job: the job's
   lines/s shows whether the pages slow a print.

Writes its table into docs/benchmarks.md between the `section:dashboard` markers; with
`--screenshots` it also saves the overview and a printer page at 390 px and 1440 px under
docs/screenshots/. Usage: python bench/dashboard.py [--clicks 50] [--pages 20] [--seconds 8] [--screenshots]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import requests
from playwright.sync_api import sync_playwright
from sections import read_section, write_section
from stream import percentile

from mqttprint.protocol.events import StateChanged
from mqttprint.protocol.states import PrinterState
from tests.helpers import wait_for
from tests.helpers.broker import Broker
from tests.helpers.browser import DESKTOP, PHONE, launch
from tests.helpers.rest import ADMIN_KEY, Api, ensure_operational, start_gateway

SHOTS = ROOT / "docs" / "screenshots"
SECTION = "dashboard"
PRINTERS = [{"id": "p1", "name": "Printer 1", "port": "sim://marlin"},
            {"id": "p2", "name": "Printer 2", "port": "sim://second"}]
#: In the page: when the click happened, and when Printer 1's badge was painted as "Error".
PROBE = """() => {
  window.__clickAt = null; window.__errorAt = null;
  document.addEventListener('click', () => { window.__clickAt ??= performance.timeOrigin + performance.now(); }, true);
  new MutationObserver(() => {
    const badge = document.querySelector('[data-printer="p1"] .badge');
    if (badge && badge.textContent === 'Error' && window.__errorAt === null) {
      window.__errorAt = 0;
      requestAnimationFrame(() => { window.__errorAt = performance.timeOrigin + performance.now(); });
    }
  }).observe(document.getElementById('main'), {subtree: true, characterData: true, childList: true});
}"""


class TimedList(list):  # type: ignore[type-arg]
    """The simulator's `emergency_seen`, also noting when each entry arrived (wall clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.time())
        super().append(item)


def logged_in_page(browser: Any, base: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    context = browser.new_context(viewport=viewport)
    context.add_init_script(f"sessionStorage.setItem('mqttprint.apikey', {ADMIN_KEY!r})")
    page = context.new_page()
    page.goto(base + "/")
    page.get_by_role("article", name="Printer 1", exact=True).wait_for(timeout=30_000)
    return context, page


def click_rounds(api: Api, page: Any, rounds: int, errors_at: list[float]) -> tuple[list[float], list[float]]:
    """Click the stop `rounds` times (reconnecting in between): ms click -> M112, ms state -> painted."""
    to_printer, to_page = [], []
    for _ in range(rounds):
        ensure_operational(api, "p1")
        page.locator('[data-printer="p1"] .badge', has_text=re.compile("^Operational$")).wait_for(timeout=30_000)
        page.evaluate("() => { window.__clickAt = null; window.__errorAt = null; }")
        seen = TimedList()
        api.model("p1")._journal.emergency_seen = seen
        errors_before = len(errors_at)
        page.get_by_role("button", name="Emergency stop Printer 1").click()
        wait_for(lambda: seen.times and len(errors_at) > errors_before, timeout=10, what="M112 and Error")
        painted = wait_for(lambda: page.evaluate("window.__errorAt"), timeout=10, what="Error painted")
        clicked = page.evaluate("window.__clickAt")
        to_printer.append(seen.times[0] * 1000 - clicked)
        to_page.append(painted - errors_at[-1] * 1000)
    ensure_operational(api, "p1")
    return to_printer, to_page


def rest_load(api: Api, seconds: float, rate: float = 50.0, threads: int = 2) -> list[float]:
    """Latencies (ms) of GET /api/printer and /api/job at a fixed total `rate` per second (open
    loop, like pollers such as Home Assistant: the same load whatever the latency)."""
    latencies: list[float] = []
    lock = threading.Lock()
    interval = threads / rate
    end = time.monotonic() + seconds

    def client(offset: float) -> None:
        session = requests.Session()
        paths = ("/printer/p1/api/printer", "/printer/p2/api/job")
        due = time.monotonic() + offset
        i = 0
        while due < end:
            time.sleep(max(0.0, due - time.monotonic()))
            start = time.perf_counter()
            response = session.get(api.base + paths[i % 2], headers={"X-Api-Key": ADMIN_KEY}, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, response.text
            with lock:
                latencies.append(elapsed)
            i += 1
            due += interval
        session.close()

    workers = [threading.Thread(target=client, args=(n * interval / threads,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies


class RawStreams:
    """`count` live streams read by plain sockets: the server's side of open pages without the
    browsers' CPU (which, on this one machine, competes with the gateway for the same cores)."""

    def __init__(self, api: Api, count: int) -> None:
        host, port = api.base.removeprefix("http://").split(":")
        self.sockets = []
        self.received = 0
        self.error_seen: list[float] = []  # when each reader saw printer 1's frame turn to Error
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(f"GET /web/api/events HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {ADMIN_KEY}\r\n\r\n".encode())
            self.sockets.append(sock)
        self.threads = [threading.Thread(target=self._read, args=(sock,), daemon=True) for sock in self.sockets]
        for thread in self.threads:
            thread.start()

    def _read(self, sock: socket.socket) -> None:
        buffer = b""
        try:
            while chunk := sock.recv(65536):
                now = time.time()
                self.received += len(chunk)
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                # (blocks may start with the chunked encoding's size line, hence `in`)
                if any(b"event: printer\n" in b and b'"id": "p1"' in b and b'"text": "Error"' in b
                       for b in blocks):
                    self.error_seen.append(now)
        except OSError:
            pass

    def error_rounds(self, api: Api, rounds: int, errors_at: list[float]) -> list[float]:
        """M112 over REST `rounds` times: ms from the bus's StateChanged to each reader's frame."""
        latencies: list[float] = []
        for _ in range(rounds):
            ensure_operational(api, "p1")
            time.sleep(0.3)  # every reader has had the Operational frame
            self.error_seen.clear()
            errors_before = len(errors_at)
            api.post("/printer/p1/api/printer/command", {"command": "M112"})
            wait_for(lambda: len(errors_at) > errors_before and len(self.error_seen) >= len(self.sockets),
                     timeout=10, what="every reader saw the Error frame")
            latencies.extend((seen - errors_at[-1]) * 1000 for seen in self.error_seen)
        ensure_operational(api, "p1")
        return latencies

    def close(self) -> None:
        for sock in self.sockets:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def job_rate(api: Api, measure: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run `measure()` while printer 2 prints: its result, printer 2's lines/s meanwhile and this
    process's CPU (gateway, REST clients, socket readers; Chromium is not in it) in % of one core."""
    if api.state("p2") != "Printing":  # the job ran out during an earlier phase: print it again
        assert api.post("/printer/p2/api/files/local/bench.gcode", {"command": "select", "print": True}).status_code == 204
        api.wait_state("Printing", "p2")
    engine = api.printer("p2").link.engine  # lines_written: a plain counter (the simulator's journal is bounded)
    start_count, start, cpu = engine.lines_written, time.monotonic(), time.process_time()
    result = measure()
    elapsed = time.monotonic() - start
    return result, (engine.lines_written - start_count) / elapsed, (time.process_time() - cpu) / elapsed * 100


def stats(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} | {percentile(values, 99):.1f} | {max(values):.1f}"


def screenshots(browser: Any, api: Api) -> None:
    """A realistic moment: printer 1 heated and homed, printer 2 printing a real PrusaSlicer file."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if api.state("p2") != "Operational":
        api.post("/printer/p2/api/job", {"command": "cancel"})
        api.wait_state("Operational", "p2")
    api.call("DELETE", "/printer/p2/api/files/local/bench.gcode")
    fixtures = ROOT / "tests" / "fixtures" / "gcode"
    # The PrusaSlicer GUI export carries thumbnails (shown on the card and in the file list).
    gui = fixtures / "prusaslicer-2.5.0-gui_box20x20x10_png_trimmed.gcode"
    box = (gui if gui.exists() else fixtures / "prusaslicer-2.5.0_box20x20x10_trimmed.gcode").read_bytes()
    api.post("/printer/p1/api/printer/command", {"commands": ["M104 S210", "M140 S60", "G28", "M114"]})
    api.post("/printer/p2/api/printer/command", {"commands": ["M104 S215", "M140 S60"]})
    time.sleep(20)  # a temperature curve worth showing
    # The real file, slowed down (a dwell after each move) so it is still printing for the pictures.
    slow = re.sub(rb"^(G1 [^\n]*)$", rb"\1\nG4 P40", box, flags=re.M)
    assert api.call("POST", "/printer/p2/api/files/local", files={"file": ("box20x20x10.gcode", slow)},
                    data={"print": "true"}).status_code == 201
    wait_for(lambda: (api.get("/printer/p2/api/job").json()["progress"]["completion"] or 0) > 8, timeout=60,
             what="printer 2 a little into its job")
    for name, viewport in (("390", PHONE), ("1440", DESKTOP)):
        context, page = logged_in_page(browser, api.base, viewport)
        page.get_by_text(re.compile(r"/ 210 °C")).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / f"overview-{name}.png"), full_page=name == "390")
        page.get_by_role("link", name="Open Printer 2").click()
        page.get_by_role("heading", name="Printer 2", level=1).wait_for()
        command = page.get_by_role("textbox", name="G-code command for Printer 2")
        command.fill("M114")
        command.press("Enter")
        page.get_by_role("log").get_by_text(re.compile("X:")).first.wait_for()
        page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / f"printer-{name}.png"), full_page=True)
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--screenshots", action="store_true", help="also save the README's screenshots")
    parser.add_argument("--screenshots-only", action="store_true", help="only the screenshots, no measurements")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mqttprint-dash-bench-"))
    broker = Broker(workdir)
    broker.start()
    gateway, api = start_gateway(broker, workdir, "dashbench", PRINTERS)
    errors_at: list[float] = []
    gateway.bus.subscribe(lambda m: errors_at.append(m.wall_time) if m.printer_id == "p1" and
                          m.event.new is PrinterState.ERROR else None, (StateChanged,))
    results: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        job = "".join(f"M117 line {i}\n" for i in range(200_000)).encode()
        assert api.call("POST", "/printer/p2/api/files/local", files={"file": ("bench.gcode", job)},
                        data={"print": "true"}).status_code == 201
        with sync_playwright() as playwright:
            browser = launch(playwright)
            if args.screenshots_only:
                screenshots(browser, api)
                browser.close()
                return 0
            context, page = logged_in_page(browser, api.base, DESKTOP)
            page.evaluate(PROBE)
            results["one"] = click_rounds(api, page, args.clicks, errors_at)
            context.close()
            for rnd in range(2):
                results.setdefault("none", []).append(job_rate(api, lambda: rest_load(api, args.seconds)))
                raw = RawStreams(api, args.pages)
                wait_for(lambda: gateway.rest.services.push.open_streams >= args.pages, timeout=60,
                         what=f"{args.pages} raw streams")
                results.setdefault("raw", []).append(job_rate(api, lambda: rest_load(api, args.seconds)))
                if rnd == 0:
                    results["raw_push"] = raw.error_rounds(api, 10, errors_at)
                raw.close()
                wait_for(lambda: gateway.rest.services.push.open_streams == 0, timeout=30, what="streams closed")
                opened = [logged_in_page(browser, api.base, DESKTOP) for _ in range(args.pages)]
                wait_for(lambda: gateway.rest.services.push.open_streams >= args.pages, timeout=60,
                         what=f"{args.pages} live streams")
                results.setdefault("pages", []).append(job_rate(api, lambda: rest_load(api, args.seconds)))
                if rnd == 0:
                    opened[0][1].evaluate(PROBE)
                    results["busy"] = click_rounds(api, opened[0][1], max(10, args.clicks // 5), errors_at)
                for ctx, _ in opened:
                    ctx.close()
                wait_for(lambda: gateway.rest.services.push.open_streams == 0, timeout=30, what="streams closed")
            if args.screenshots:
                screenshots(browser, api)
            browser.close()
        api.post("/printer/p2/api/job", {"command": "cancel"})
    finally:
        gateway.stop()
        broker.stop()
    results["load_after"] = os.getloadavg()[0]
    write_section(SECTION, render(args, results, gateway.config.rest))
    print(read_section(SECTION))
    return 0


def render(args: argparse.Namespace, results: dict[str, Any], rest: Any) -> str:
    one_printer, one_page = results["one"]
    busy_printer, busy_page = results["busy"]
    none = [lat for lats, _, _ in results["none"] for lat in lats]
    raw = [lat for lats, _, _ in results["raw"] for lat in lats]
    pages = [lat for lats, _, _ in results["pages"] for lat in lats]
    rate = {k: statistics.median(r for _, r, _ in results[k]) for k in ("none", "raw", "pages")}
    cpu = {k: statistics.median(c for _, _, c in results[k]) for k in ("none", "raw", "pages")}
    return "\n".join([
        "## Web dashboard (real Chromium)",
        "",
        f"Command: `.venv/bin/python bench/dashboard.py --clicks {args.clicks} --pages {args.pages} "
        f"--seconds {args.seconds:g}` (bench/dashboard.py) on {os.cpu_count()} CPU(s), "
        f"{datetime.date.today().isoformat()}; Debian chromium headless via Playwright, the real gateway "
        f"(waitress, rest.threads {rest.threads} + rest.max_streams {rest.max_streams}), two simulated printers, "
        "mosquitto. Printer 2 streams a job of M117 lines throughout. Click times are taken in the page, "
        "M112 times in the simulator, both wall clock on this machine. The machine is shared with other "
        f"builds (1-minute load average {results['load_before']:.1f} at the start, {results['load_after']:.1f} at "
        "the end, on 2 cores), so the p99 and max columns include their noise.",
        "",
        "| measurement | samples | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| click \"Emergency stop\" -> M112 at the printer, 1 page open | {len(one_printer)} | {stats(one_printer)} |",
        f"| state change (StateChanged on the bus) -> painted on the page, 1 page open | {len(one_page)} | {stats(one_page)} |",
        f"| click -> M112 at the printer, {args.pages} pages open | {len(busy_printer)} | {stats(busy_printer)} |",
        f"| state change -> painted, {args.pages} pages open | {len(busy_page)} | {stats(busy_page)} |",
        f"| state change -> frame received, each of {args.pages} live streams (socket readers) | "
        f"{len(results['raw_push'])} | {stats(results['raw_push'])} |",
        f"| REST GET /api/printer + /api/job (50/s), no page open | {len(none)} | {stats(none)} |",
        f"| REST GET /api/printer + /api/job (50/s), {args.pages} live streams (socket readers) | {len(raw)} | {stats(raw)} |",
        f"| REST GET /api/printer + /api/job (50/s), {args.pages} Chromium pages open | {len(pages)} | {stats(pages)} |",
        "",
        f"Printer 2's job meanwhile (the same REST load in every case; median of 2 windows of {args.seconds:g} s), "
        "and the CPU of the gateway's process (with the REST clients and socket readers; Chromium is not in it):",
        "",
        "| open pages | job lines/s | gateway process CPU, % of one core |",
        "|---|---|---|",
        f"| none | {rate['none']:.0f} | {cpu['none']:.0f} |",
        f"| {args.pages} live streams (socket readers) | {rate['raw']:.0f} | {cpu['raw']:.0f} |",
        f"| {args.pages} Chromium pages | {rate['pages']:.0f} | {cpu['pages']:.0f} |",
        "",
        f"The live streams are what open pages cost the gateway. The Chromium rows add {args.pages} browser "
        "renderers running on the gateway's own 2 cores (on a wall screen or a phone they run elsewhere); "
        "the job streams as fast as the simulator answers, so it takes whatever CPU is left.",
    ])


if __name__ == "__main__":
    sys.exit(main())
