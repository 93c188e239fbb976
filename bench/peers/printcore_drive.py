"""Drive Printrun's printcore (run with bench/.peers/printcore/bin/python, never the project's).

Connects `printrun.printcore.printcore` to a pseudo-terminal, waits until it is online, loads a
job (the file object into `gcoder.LightGCode`, which parses the whole file, as Printrun's tools do)
and prints it. Meanwhile, if asked, calls `send_now(<code>)` every `--emergency-interval` s and
records CLOCK_MONOTONIC before each call. Prints one JSON object:
lines, wall and CPU time of the print (this process, all threads: time.process_time()), the
emergency call times, RSS idle (after connecting, before loading the job), RSS after loading,
and peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--emergency-interval", type=float, default=0.0)
    parser.add_argument("--emergency", default="M108")
    parser.add_argument("--stop-after", type=float, default=0.0, help="cancel the print after this many seconds")
    parser.add_argument("--max-samples", type=int, default=0, help="cancel the print after this many emergency samples")
    args = parser.parse_args()

    from printrun import gcoder
    from printrun.printcore import printcore

    core = printcore(args.port, 115200)
    deadline = time.monotonic() + 30
    while not core.online:
        if time.monotonic() > deadline:
            print(json.dumps({"error": "printcore did not come online"}))
            return 1
        time.sleep(0.01)
    idle_rss = rss_mb("VmRSS")
    load0 = time.perf_counter()
    with open(args.job) as source:  # as Printrun's own tools load a file: the whole file, parsed
        gcode = gcoder.LightGCode(source)
    load_s = time.perf_counter() - load0
    job_lines = sum(1 for line in gcode.lines if line.raw.split(";", 1)[0].strip())
    loaded_rss = rss_mb("VmRSS")
    done = threading.Event()
    end = [0.0]

    def on_end() -> None:
        end[0] = time.perf_counter()
        done.set()

    core.endcb = on_end
    calls: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    core.startprint(gcode)
    interval = args.emergency_interval or 0.5
    stop_at = wall0 + args.stop_after if args.stop_after else None
    while not done.wait(interval):
        if stop_at is not None and time.perf_counter() >= stop_at:
            break
        if args.max_samples and len(calls) >= args.max_samples:
            break
        if args.emergency_interval:
            calls.append(time.monotonic())
            core.send_now(args.emergency)
    finished = done.is_set()
    if not finished:  # stopped early (memory and emergency runs): what was sent so far
        end[0] = time.perf_counter()
        sent = core.lineno
        cpu = time.process_time() - cpu0
        core.cancelprint()
    else:
        sent = job_lines
        cpu = time.process_time() - cpu0
    wall = end[0] - wall0
    peak = rss_mb("VmHWM")
    core.disconnect()
    print(json.dumps({"lines": sent, "wall": wall, "cpu": cpu, "calls": calls, "idle_rss_mb": round(idle_rss, 1),
                      "loaded_rss_mb": round(loaded_rss, 1), "load_s": round(load_s, 2), "peak_rss_mb": round(peak, 1),
                      "finished": finished}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
