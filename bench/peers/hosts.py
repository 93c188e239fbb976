"""One run of each host against a fresh bench/responder.py, in one shape for bench/run.py.

Every function starts its own responder (so each run gets a clean pty and the responder's
emergency arrival times), runs the host, stops the responder and returns a `Run`:
lines/s, host CPU µs per line, emergency latencies (call -> the line's arrival at the
responder, ms), and whatever else the host reports (RSS, HTTP round trips, M112).

- mqttprint: bench/stream.py's `run_stream` (PrinterService in this process), bench/mqtt_latency.py
  and bench/peers/mqttprint_rest_latency.py (whole daemon, subprocesses), bench/job.py (memory).
- the Python floor: bench/peers/floor.py (a yardstick, not a host).
- printcore: bench/peers/printcore_drive.py run by the printcore virtualenv's python.
- OctoPrint: bench/peers/octoprint_host.py, one server reused by every run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

from octoprint_host import OctoPrint
from stream import percentile, run_stream, start_responder, stop_responder

from mqttprint.protocol.sendqueue import Flow


@dataclass
class Run:
    lines_per_s: float = float("nan")
    cpu_us_per_line: float = float("nan")
    latencies_ms: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def lat(self) -> dict[str, float]:
        v = self.latencies_ms
        return {"p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v) if v else float("nan"), "n": len(v)}


def _latencies(calls: list[float], summary: dict, code: str) -> list[float]:
    arrivals = [t for c, t in summary["emergency"] if c.startswith(code)]
    return [(a - c) * 1000 for c, a in zip(calls, arrivals)]


# ---------------------------------------------------------------------- mqttprint
def mqttprint_stream(lines: int, delay_ms: float, flow: Flow, emergency_interval: float = 0.0) -> Run:
    r = run_stream(lines, delay_ms, flow, emergency_interval=emergency_interval)
    return Run(r.lines_per_s, r.cpu_us_per_line, r.latencies_ms)


def _json_subprocess(args: list[str], timeout: float) -> dict:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mqttprint_mqtt_latency(samples: int, no_load: bool = False) -> dict:
    """bench/mqtt_latency.py: MQTT publish -> wire (command, emergency), position report -> subscriber."""
    return _json_subprocess([sys.executable, str(ROOT / "bench" / "mqtt_latency.py"), "--samples", str(samples)]
                            + (["--no-load"] if no_load else []), 300)


def mqtt_floor(samples: int, separate_publisher: bool) -> dict:
    """bench/peers/mqtt_floor.py: publish -> subscriber callback through mosquitto, no mqttprint."""
    return _json_subprocess([sys.executable, str(HERE / "mqtt_floor.py"), "--samples", str(samples)]
                            + (["--separate-publisher"] if separate_publisher else []), 300)


def mqttprint_rest_latency(samples: int) -> dict:
    return _json_subprocess([sys.executable, str(HERE / "mqttprint_rest_latency.py"), "--samples", str(samples)], 300)


def mqttprint_job(extra: list[str]) -> dict:
    return _json_subprocess([sys.executable, str(ROOT / "bench" / "job.py"), *extra], 900)


def floor_run(lines: int, delay_ms: float) -> Run:
    """bench/peers/floor.py: bare os.write/os.read ping-pong, the yardstick."""
    proc, pty = start_responder(delay_ms)
    try:
        result = _json_subprocess([sys.executable, str(HERE / "floor.py"), "--port", pty, "--lines", str(lines)], 900)
    finally:
        stop_responder(proc)
    return Run(result["lines_per_s"], result["cpu_us_per_line"])


# ---------------------------------------------------------------------- printcore
def printcore_run(python: Path, job: Path, delay_ms: float, emergency_interval: float = 0.0, max_samples: int = 0,
                  stop_after: float = 0.0, timeout: float = 900) -> Run:
    proc, pty = start_responder(delay_ms)
    try:
        args = [str(python), str(HERE / "printcore_drive.py"), "--port", pty, "--job", str(job)]
        if emergency_interval:
            args += ["--emergency-interval", str(emergency_interval), "--emergency", "M108"]
        if max_samples:
            args += ["--max-samples", str(max_samples)]
        if stop_after:
            args += ["--stop-after", str(stop_after)]
        result = _json_subprocess(args, timeout)
    finally:
        summary = stop_responder(proc)
    if "error" in result:
        raise RuntimeError(f"printcore: {result['error']}")
    lines = max(result["lines"], 1)
    return Run(result["lines"] / result["wall"], result["cpu"] / lines * 1e6,
               _latencies(result["calls"], summary, "M108"), result)


# ---------------------------------------------------------------------- OctoPrint
def octoprint_run(op: OctoPrint, name: str, path: Path, lines: int, delay_ms: float, emergency_interval: float = 0.0,
                  max_samples: int = 0, m112_at_end: bool = False, stop_after: float = 0.0) -> Run:
    op.upload(name, path)
    proc, pty = start_responder(delay_ms)
    try:
        op.connect(pty)
        idle_rss = op.rss("VmRSS")
        r = op.print_job(name, lines, emergency_interval=emergency_interval, max_samples=max_samples,
                         m112_at_end=m112_at_end, stop_after=stop_after, sample_rss=bool(stop_after))
        if stop_after:
            op.cancel()
        op.disconnect()
    finally:
        summary = stop_responder(proc)
    extra = dict(r.extra)
    extra.update(http_ms=r.http_ms, idle_rss_mb=idle_rss, rss_mb=r.rss_mb, peak_rss_mb=r.peak_rss_mb)
    if m112_at_end and r.extra.get("m112_call") is not None:
        m112 = [t for c, t in summary["emergency"] if c.startswith("M112")]
        extra["m112_ms"] = (m112[0] - r.extra["m112_call"]) * 1000 if m112 else None
    run = Run(r.lines_per_s, r.cpu_us_per_line, _latencies(r.extra["calls"], summary, "M108"), extra)
    return run


def optional(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
