"""The measurement phases of bench/run.py: streaming, emergency latency, memory, scale, profiles.

Each phase fills its part of `Results`; runs of different hosts are interleaved (A B C A B C ...).
`Settings.sections` picks the phases (all by default), so the throughput and emergency tables
can be rerun side by side without the slow memory and scale phases.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "peers"))

from hosts import (
    Run,
    floor_run,
    mqtt_floor,
    mqttprint_job,
    mqttprint_mqtt_latency,
    mqttprint_rest_latency,
    mqttprint_stream,
    octoprint_run,
    printcore_run,
)
from job import write_job
from octoprint_host import OctoPrint, job_file
from report_format import med
from stream import job_lines

from mqttprint.protocol.sendqueue import Flow

PP, WIN, PC, OP = "mqttprint ping-pong", "mqttprint window (127 B)", "printcore", "OctoPrint"
FLOOR = "Python floor (yardstick, not a host)"
STREAM_HOSTS = (FLOOR, PP, WIN, PC, OP)
#: the phases, in the order they run
SECTIONS = ("stream", "emergency", "memory", "scale", "profiles")
EMERGENCY_KEYS = ("mqtt", "rest", "direct", "pc", "op", "mqtt_idle", "floor_same", "floor_separate")


@dataclass(frozen=True)
class Settings:
    """How big and how long (from the command line)."""

    quick: bool
    runs: int
    runs_arg: int
    sections: tuple[str, ...] = SECTIONS

    @property
    def lines(self) -> int:
        return 2000 if self.quick else 20000

    @property
    def samples(self) -> int:
        return 50 if self.quick else 200

    @property
    def mem_seconds(self) -> float:
        return 3 if self.quick else 10

    @property
    def big_mb(self) -> int:
        return 10 if self.quick else 100

    @property
    def small_lines(self) -> int:
        return 20000 if self.quick else 100000

    @property
    def scale_seconds(self) -> float:
        return 3 if self.quick else 6


@dataclass
class Results:
    """Everything measured, keyed as the report reads it."""

    settings: Settings
    pc_version: str = ""
    op_version: str = ""
    stream: dict[tuple[str, float], list[Run]] = field(default_factory=dict)
    emergency: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in EMERGENCY_KEYS})
    memory: dict[str, Any] = field(default_factory=dict)
    scale: dict[tuple[int, str, bool], list[dict]] = field(default_factory=dict)
    profiles: list[tuple[str, str, dict]] = field(default_factory=list)
    op_start_rss: float = float("nan")
    op_start_peak: float = float("nan")
    elapsed: float = 0.0
    #: the machine's 1-minute load average at the start and the end (it may be shared)
    load: tuple[float, float] = (float("nan"), float("nan"))

    def rates(self, host: str, delay: float) -> list[float]:
        return [r.lines_per_s for r in self.stream.get((host, delay), [])]

    def cpus(self, host: str, delay: float) -> list[float]:
        return [r.cpu_us_per_line for r in self.stream.get((host, delay), [])]

    def sc(self, n: int, flow: str, shared: bool, key: str) -> float:
        """Median of one scale metric over the runs."""
        return med([x[key] for x in self.scale.get((n, flow, shared), [])])

    def scale_min(self, flow: str, shared: bool) -> float:
        """The slowest of 32 printers (median over the runs)."""
        return self.sc(32, flow, shared, "per_printer_min")

    def raw(self) -> dict[str, Any]:
        """JSON-ready raw results (bench/.peers/results*.json)."""
        return {"command": sys.argv, "elapsed_s": self.elapsed,
                "stream": {f"{h} @ {d:g} ms": [vars(r) for r in v] for (h, d), v in self.stream.items()},
                "emergency": {k: [vars(x) if isinstance(x, Run) else x for x in v] for k, v in self.emergency.items()},
                "memory": self.memory, "scale": {f"{n} {flow}{' shared' if sh else ''}": v for (n, flow, sh), v in self.scale.items()},
                "profiles": {label: metrics for label, _, metrics in self.profiles}}


def measure(settings: Settings, pc_python: str, op_python: str, log: Callable[[str], None], results: Results) -> None:
    """Run the chosen phases; the peer phases share one OctoPrint server."""
    sections = settings.sections
    if any(s in sections for s in ("stream", "emergency", "memory")):
        tmp = Path(tempfile.mkdtemp(prefix="mqttprint-bench-"))
        octoprint = OctoPrint(op_python)
        try:
            log("starting OctoPrint ...")
            octoprint.start()
            results.op_start_rss = octoprint.start_rss_mb
            results.op_start_peak = octoprint.rss("VmHWM")
            stream_job = job_file(tmp, job_lines(settings.lines), f"bench{settings.lines}.gcode")
            if "stream" in sections:
                _stream(settings, results, log, pc_python, octoprint, stream_job)
            if "emergency" in sections:
                _emergency(settings, results, log, pc_python, octoprint, stream_job)
            if "memory" in sections:
                _memory(settings, results, log, pc_python, octoprint, tmp)
        finally:
            octoprint.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    if "scale" in sections:
        _scale(settings, results, log)
    if "profiles" in sections:
        _profiles(settings, results, log)


def _stream(settings: Settings, results: Results, log: Callable[[str], None], pc_python: str,
            octoprint: OctoPrint, stream_job: Path) -> None:
    lines, runs = settings.lines, settings.runs
    for r in range(runs):
        for delay in (0.0, 2.0):
            for host in STREAM_HOSTS:
                if host == FLOOR and delay:
                    continue  # pinned at 1/(round trip) like every ping-pong host; saves ~50 s a round
                log(f"streaming round {r + 1}/{runs}, {delay:g} ms, {host}, {lines:,} lines ...")
                if host == FLOOR:
                    run = floor_run(lines, delay)
                elif host == PP:
                    run = mqttprint_stream(lines, delay, Flow.PING_PONG)
                elif host == WIN:
                    run = mqttprint_stream(lines, delay, Flow.WINDOW)
                elif host == PC:
                    run = printcore_run(pc_python, stream_job, delay)
                else:
                    run = octoprint_run(octoprint, stream_job.name, stream_job, lines, delay)
                results.stream.setdefault((host, delay), []).append(run)
                log(f"    {run.lines_per_s:,.0f} lines/s, {run.cpu_us_per_line:,.0f} µs/line")


def _emergency(settings: Settings, results: Results, log: Callable[[str], None], pc_python: str,
               octoprint: OctoPrint, stream_job: Path) -> None:
    lines, runs, samples, emergency = settings.lines, settings.runs, settings.samples, results.emergency
    for r in range(runs):
        log(f"emergency round {r + 1}/{runs}: MQTT, REST, in-process, printcore, OctoPrint ...")
        emergency["mqtt"].append(mqttprint_mqtt_latency(samples))
        emergency["rest"].append(mqttprint_rest_latency(samples))
        emergency["direct"].append(mqttprint_stream(lines, 0.0, Flow.PING_PONG, emergency_interval=0.02))
        emergency["pc"].append(printcore_run(pc_python, stream_job, 0.0, emergency_interval=0.02, max_samples=samples))
        emergency["op"].append(octoprint_run(octoprint, stream_job.name, stream_job, lines, 0.0, emergency_interval=0.02,
                                             max_samples=samples, m112_at_end=True))
        log(f"emergency round {r + 1}/{runs}: where the MQTT time goes (no load; MQTT without mqttprint) ...")
        emergency["mqtt_idle"].append(mqttprint_mqtt_latency(samples, no_load=True))
        emergency["floor_same"].append(mqtt_floor(samples, separate_publisher=False))
        emergency["floor_separate"].append(mqtt_floor(samples, separate_publisher=True))


def _memory(settings: Settings, results: Results, log: Callable[[str], None], pc_python: str,
            octoprint: OctoPrint, tmp: Path) -> None:
    small_lines, big_mb, mem_seconds, memory = settings.small_lines, settings.big_mb, settings.mem_seconds, results.memory
    log(f"memory: writing a {small_lines:,}-line file and a {big_mb} MB file ...")
    small = tmp / "small.gcode"
    small_count = write_job(small, lines=small_lines)
    big = tmp / "big.gcode"
    big_count = write_job(big, size_mb=big_mb)
    memory["files"] = {"small_mb": small.stat().st_size / 2**20, "big_mb": big.stat().st_size / 2**20,
                       "small_lines": small_count, "big_lines": big_count}
    log("memory: mqttprint (bench/job.py) ...")
    memory["mq_small"] = mqttprint_job(["--lines", str(small_lines)])
    memory["mq_big"] = mqttprint_job(["--size-mb", str(big_mb), "--seconds", str(mem_seconds)])
    log("memory: printcore ...")
    memory["pc_small"] = printcore_run(pc_python, small, 0.0, stop_after=mem_seconds).extra
    memory["pc_big"] = printcore_run(pc_python, big, 0.0, stop_after=mem_seconds).extra
    log("memory: OctoPrint ...")
    memory["op_small"] = octoprint_run(octoprint, small.name, small, small_count, 0.0, stop_after=mem_seconds).extra
    memory["op_big"] = octoprint_run(octoprint, big.name, big, big_count, 0.0, stop_after=mem_seconds).extra
    memory["op_peak"] = octoprint.rss("VmHWM")
    octoprint.delete(big.name)
    big.unlink()


def _scale(settings: Settings, results: Results, log: Callable[[str], None]) -> None:
    runs = settings.runs
    scale_cases = [(n, flow, False) for n in (1, 8, 32) for flow in ("ping-pong", "window")]
    scale_cases += [(32, flow, True) for flow in ("ping-pong", "window")]
    for r in range(runs):
        for n, flow, shared in scale_cases:
            log(f"scale round {r + 1}/{runs}: {n} printer(s), {flow}{', one shared responder' if shared else ''} ...")
            cmd = [sys.executable, str(ROOT / "bench" / "peers" / "scale.py"), "--printers", str(n), "--flow", flow,
                   "--seconds", str(settings.scale_seconds)] + (["--shared-responder"] if shared else [])
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            results.scale.setdefault((n, flow, shared), []).append(result)
            log(f"    {result['aggregate_lines_per_s']:,} lines/s, per printer min {result['per_printer_min']}")


def _profiles(settings: Settings, results: Results, log: Callable[[str], None]) -> None:
    for label, extra in (("one printer, ping-pong, 0 ms (throughput and CPU per line)", ["--printers", "1"]),
                         ("32 printers, window, 0 ms (scale)", ["--printers", "32", "--flow", "window"])):
        log(f"profiling the serial thread: {label} ...")
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "peers" / "profile_serial.py"), *extra,
                              "--seconds", "2" if settings.quick else "5"], capture_output=True, text=True, timeout=300,
                             check=True)
        body, _, metrics = out.stdout.strip().rpartition("\nJSON ")
        results.profiles.append((label, body.strip(), json.loads(metrics)))


def timed(results: Results, started: float) -> None:
    """Record the elapsed time of the whole run."""
    results.elapsed = time.monotonic() - started
