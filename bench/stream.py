"""Streaming benchmark: a job through the real serial link to a responder on a pseudo-terminal.

Measures lines/s, host CPU per line (this process, all threads), and emergency latency (the
`emergency()` call -> the line's arrival at the responder) while the job streams at full speed.
M108 is used for the latency samples: it takes the very same fast path as M112, which would end
the run.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mqttprint.protocol.events import JobEnded
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings


class ListJob:
    def __init__(self, lines: list[str]) -> None:
        self.name = "bench.gcode"
        self._lines = lines
        self._i = 0

    def next_line(self) -> str | None:
        if self._i >= len(self._lines):
            return None
        self._i += 1
        return self._lines[self._i - 1]


def job_lines(count: int) -> list[str]:
    """Unique ~32-byte G1 lines, like the peers' benchmark job."""
    return [f"G1 X{(i % 200) + 0.123:.3f} Y{(i * 7) % 200 + 0.5:.3f} E{i * 0.01:.4f}" for i in range(count)]


@dataclass
class StreamResult:
    lines_per_s: float
    cpu_us_per_line: float
    latencies_ms: list[float]


def start_responder(ok_delay_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "responder.py"), "--ok-delay-ms", str(ok_delay_ms)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    path = proc.stdout.readline().strip()
    return proc, path


def stop_responder(proc: subprocess.Popen[str]) -> dict:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    return json.loads(out.strip().splitlines()[-1])


def run_stream(lines: int, ok_delay_ms: float, flow: Flow, emergency_interval: float = 0.02,
               attach: Optional[Callable[[PrinterService, EventBus], Callable[[], None]]] = None) -> StreamResult:
    """One run: connect, stream `lines` job lines, fire M108 every `emergency_interval` s meanwhile.
    `attach(service, bus)` adds an observer for the run (e.g. metrics) and returns its cleanup."""
    proc, path = start_responder(ok_delay_ms)
    bus = EventBus()
    done = threading.Event()
    bus.subscribe(lambda m: done.set(), (JobEnded,))
    service = PrinterService(
        "bench", LinkSettings(port=path, baudrate=115200),
        EngineParams(flow=flow, temperature_interval=0, position_interval=0, ok_timeout=30), bus,
    )
    detach = attach(service, bus) if attach is not None else (lambda: None)
    service.start()
    try:
        deadline = time.monotonic() + 20
        while not service.snapshot().operational:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no handshake: {service.snapshot().state_text} {service.snapshot().error}")
            time.sleep(0.01)
        job = ListJob(job_lines(lines))
        calls: list[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        service.start_job(job)
        if emergency_interval > 0:
            while not done.wait(emergency_interval):
                calls.append(time.monotonic())
                service.emergency("M108")
        else:
            done.wait(600)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        service.stop()
        detach()
        summary = stop_responder(proc)
    arrivals = [t for code, t in summary["emergency"] if code.startswith("M108")]
    latencies = [(a - c) * 1000 for c, a in zip(calls, arrivals)]
    return StreamResult(lines / wall, cpu / lines * 1e6, latencies)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(results: list[StreamResult]) -> dict[str, float]:
    rates = [r.lines_per_s for r in results]
    cpus = [r.cpu_us_per_line for r in results]
    lat = [x for r in results for x in r.latencies_ms]
    return {
        "rate_median": statistics.median(rates), "rate_min": min(rates), "rate_max": max(rates),
        "cpu_median": statistics.median(cpus), "cpu_min": min(cpus), "cpu_max": max(cpus),
        "lat_p50": percentile(lat, 50), "lat_p99": percentile(lat, 99), "lat_max": max(lat) if lat else float("nan"),
        "lat_n": len(lat),
    }


if __name__ == "__main__":
    print(summarize([run_stream(int(os.environ.get("LINES", "5000")), float(os.environ.get("DELAY", "0")), Flow.PING_PONG)]))
