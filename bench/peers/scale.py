"""Scale: N simulated printers streaming at once in ONE mqttprint process.

Each printer is a `PrinterService` (its protocol engine, serviced by the process's one I/O loop,
as the daemon builds them) on its own pseudo-terminal. Responders: by default one `bench/responder.py` process
per printer; `--shared-responder` serves all N ptys from one process (bench/peers/multi_responder.py),
for when N responder processes would compete with the host for the 2 cores.

Every printer streams an endless job of unique `G1` lines; after `--warmup` s the lines sent by
every printer and the process CPU are sampled, and again `--seconds` later: sustained lines/s per
printer (min / median / max), aggregate lines/s, host CPU µs/line, the share of the machine the
host and the responders used, the host's RSS and its thread count while streaming. Prints one JSON object. One fresh process per N.
Usage: python bench/peers/scale.py --printers 32 [--delay-ms 0] [--flow ping-pong|window] [--shared-responder]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

from fleet import fleet
from procstat import cpu_seconds, rss_mb

from mqttprint.runtime.bus import EventBus


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--printers", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--flow", default="ping-pong", choices=("ping-pong", "window"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--shared-responder", action="store_true")
    args = parser.parse_args()
    n = args.printers
    with fleet(n, args.flow, args.delay_ms, args.shared_responder, EventBus()) as printers:
        idle_rss = rss_mb("self", "VmRSS")
        printers.start_jobs()
        time.sleep(args.warmup)

        def sample() -> tuple[float, float, list[int], float, tuple[int, int], float]:
            return (time.perf_counter(), time.process_time(), printers.lines_sent(),
                    sum(cpu_seconds(p.pid) for p in printers.responders), machine_busy(), os.times().system)

        t0, c0, n0, r0, m0, k0 = sample()
        time.sleep(args.seconds)
        t1, c1, n1, r1, m1, k1 = sample()
        rss = rss_mb("self", "VmRSS")
        threads = threading.active_count()
    wall = t1 - t0
    rates = [(b - a) / wall for a, b in zip(n0, n1)]
    total = sum(b - a for a, b in zip(n0, n1))
    cores = os.cpu_count() or 1
    print(json.dumps({
        "printers": n, "delay_ms": args.delay_ms, "flow": args.flow, "shared_responder": args.shared_responder,
        "seconds": round(wall, 2), "aggregate_lines_per_s": round(total / wall),
        "per_printer_min": round(min(rates)), "per_printer_median": round(statistics.median(rates)),
        "per_printer_max": round(max(rates)),
        "host_cpu_us_per_line": round((c1 - c0) / max(total, 1) * 1e6, 1),
        "host_kernel_share_pct": round(100 * (k1 - k0) / max(c1 - c0, 1e-9)),
        "host_cpu_cores": round((c1 - c0) / wall, 2), "responder_cpu_cores": round((r1 - r0) / wall, 2),
        "machine_busy_pct": round(100 * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1), 1), "cores": cores,
        "idle_rss_mb": round(idle_rss, 1), "rss_mb": round(rss, 1), "peak_rss_mb": round(rss_mb("self", "VmHWM"), 1),
        "threads": threads,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
