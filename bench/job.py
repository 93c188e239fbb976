"""Job benchmark: stream a stored G-code file through the job service to the responder on a pty.

Run one measurement per fresh process so peak RSS (VmHWM) belongs to it alone:
    python bench/job.py --lines 100000            -> lines/s, CPU µs/line, peak RSS MB
    python bench/job.py --size-mb 100 --seconds 10 -> the same while printing the first part of a 100 MB file
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stream import start_responder, stop_responder

from mqttprint.config import parse_config
from mqttprint.daemon import engine_params, link_settings
from mqttprint.protocol.events import JobEnded
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry, Context, Request
from mqttprint.runtime.file_store import FileStore
from mqttprint.runtime.job_actions import JobsService, register_job_actions
from mqttprint.runtime.printer_service import PrinterService


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_job(path: Path, lines: int = 0, size_mb: float = 0) -> int:
    """A G-code file with comments and blank lines mixed in, by line count or by size."""
    count = 0
    with open(path, "w") as out:
        limit = size_mb * 1024 * 1024
        while (lines and count < lines) or (size_mb and out.tell() < limit):
            if count % 50 == 0:
                out.write(f"; layer {count // 50}\n\n")
            out.write(f"G1 X{(count % 200) + 0.123:.3f} Y{(count * 7) % 200 + 0.5:.3f} E{count * 0.01:.4f} ; move\n")
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=0)
    parser.add_argument("--size-mb", type=float, default=0)
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (big files)")
    parser.add_argument("--flow", default="ping-pong")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.gcode"
        total = write_job(source, args.lines, args.size_mb)
        proc, pty_path = start_responder(0.0)
        config = parse_config({"printers": [{"id": "b", "port": pty_path, "flow_control": args.flow, "temperature_interval": 0,
                                             "position_interval": 0, "ok_timeout": 30}],
                               "storage": {"dir": tmp}})
        bus = EventBus()
        done = threading.Event()
        bus.subscribe(lambda m: done.set(), (JobEnded,))
        pc = config.printers[0]
        printer = PrinterService("b", link_settings(pc), engine_params(pc, config), bus)
        store = FileStore(Path(tmp) / "uploads", 1 << 40)
        jobs = JobsService(config, store, {"b": printer}, bus)
        registry = CommandRegistry(Context({"b": printer}, "b"))
        register_job_actions(registry, jobs)
        printer.start()
        try:
            deadline = time.monotonic() + 20
            while not printer.snapshot().operational:
                if time.monotonic() > deadline:
                    raise RuntimeError("no handshake")
                time.sleep(0.01)
            with open(source, "rb") as stream:
                registry.dispatch(Request("files.upload", {"name": "job.gcode", "stream": stream}, "b"))
            idle_rss = rss_mb("VmRSS")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            registry.dispatch(Request("job.start", {"file": "job.gcode"}, "b"))
            finished = done.wait(args.seconds if args.seconds else 3600)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            sent = printer.link.engine.job_lines_sent
        finally:
            printer.stop()
            stop_responder(proc)
        print(json.dumps({
            "file_lines": total, "file_mb": round(source.stat().st_size / 2**20, 1), "lines_sent": sent,
            "lines_per_s": round(sent / wall), "cpu_us_per_line": round(cpu / max(sent, 1) * 1e6, 1),
            "idle_rss_mb": round(idle_rss, 1), "peak_rss_mb": round(rss_mb("VmHWM"), 1), "finished": finished,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
