"""MQTT latency benchmark, under full streaming load (a job printing to the responder at 0 ms):

1. MQTT publish on `B/command` (`M118 <marker>`, an ordinary interactive command) -> its line at
   the printer, and publish on `B/emergency` (`M108`, the emergency fast path) -> the line at the
   printer.
2. A firmware position report (emitted by the responder with a sequence number as X) -> the
   retained `B/position` publish seen by a subscriber.

Times are CLOCK_MONOTONIC in every process. Prints one JSON object.
Usage: python bench/mqtt_latency.py [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway_bench import loaded_gateway
from stream import percentile


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--report-interval", default="0.05", help="responder position report interval (0 = none)")
    parser.add_argument("--no-load", action="store_true", help="measure without a job streaming")
    parser.add_argument("--switch-interval", type=float, default=None, help="override sys.setswitchinterval (experiments)")
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    with loaded_gateway(args.report_interval, load=not args.no_load) as bench:
        client = bench.client
        normal_sent: dict[str, float] = {}
        emergency_sent: list[float] = []
        for i in range(args.samples):
            marker = f"m{i}"
            normal_sent[marker] = time.monotonic()
            client.publish("bench/p/command", f"M118 {marker}", qos=0)
            time.sleep(args.interval / 2)
            emergency_sent.append(time.monotonic())
            client.publish("bench/p/emergency", "M108", qos=0)
            time.sleep(args.interval / 2)
        time.sleep(1.0)
        streamed = bench.lines_streamed()
    summary, seen = bench.summary, bench.seen  # read once everything has stopped
    summary, seen = bench.summary, bench.seen
    normal = [(t - normal_sent[m]) * 1000 for m, t in summary["markers"] if m in normal_sent]
    arrivals = [t for code, t in summary["emergency"] if code.startswith("M108")]
    emergency = [(a - s) * 1000 for s, a in zip(emergency_sent, arrivals)]
    reports = [(seen[seq] - t) * 1000 for seq, t in summary["reports"] if seq in seen]
    result = {"job_lines_streamed": streamed}
    for name, values in (("command", normal), ("emergency", emergency), ("position_report", reports)):
        result[name] = {"n": len(values), "p50": round(percentile(values, 50), 2), "p99": round(percentile(values, 99), 2),
                        "max": round(max(values), 2) if values else None}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
