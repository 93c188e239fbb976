"""mqttprint's REST emergency latency under full streaming load (the counterpart of OctoPrint's
`POST /api/printer/command {"command": "M108"}` in bench/peers/octoprint_host.py).

A whole daemon (`Gateway`: printer, jobs, MQTT bridge to a local mosquitto, REST shim on a free
port) streams a job to bench/responder.py at 0 ms; meanwhile `POST /api/printer/command
{"command": "M108"}` is sent every `--interval` s on one keep-alive HTTP connection with an
X-Api-Key, and the time before the request is compared with the line's arrival at the responder
(CLOCK_MONOTONIC both sides). At the end one M112 is timed the same way.

Meanwhile the responder emits a position report every 50 ms (sequence number as X) and a
subscriber (paho, TCP_NODELAY) records when the retained `B/position` publish for it arrives; only
reports emitted after the sampling began count (bench/mqtt_latency.py also counts the ones emitted
while it builds and uploads its load file in the same process, which inflates its p99).
Prints one JSON object.
Usage: python bench/peers/mqttprint_rest_latency.py [--samples 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway_bench import loaded_gateway
from stream import percentile

KEY = "bench-rest-key-0123456789abcdef"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    sent: list[float] = []
    http_ms: list[float] = []
    m112_call = m112_http = None
    with loaded_gateway("0.05", rest_key=KEY) as bench:
        conn = http.client.HTTPConnection("127.0.0.1", bench.gateway.rest.port, timeout=10)  # type: ignore[union-attr]

        def post(command: str) -> int:
            conn.request("POST", "/api/printer/command", body=json.dumps({"command": command}),
                         headers={"X-Api-Key": KEY, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status

        try:
            sampling_began = time.monotonic()
            for _ in range(args.samples):
                t0 = time.monotonic()
                status = post("M108")
                t1 = time.monotonic()
                if status >= 300:
                    raise RuntimeError(f"REST M108 answered {status}")
                sent.append(t0)
                http_ms.append((t1 - t0) * 1000)
                time.sleep(max(0.0, args.interval - (t1 - t0)))
            streamed = bench.lines_streamed()
            sampling_ended = time.monotonic()
            m112_call = time.monotonic()
            post("M112")
            m112_http = (time.monotonic() - m112_call) * 1000
            time.sleep(0.5)
        finally:
            conn.close()
    summary, seen = bench.summary, bench.seen  # read once everything has stopped
    arrivals = [t for code, t in summary["emergency"] if code.startswith("M108")]
    emergency = [(a - s) * 1000 for s, a in zip(sent, arrivals)]
    m112 = [t for code, t in summary["emergency"] if code.startswith("M112")]
    reports = [(seen[seq] - t) * 1000 for seq, t in summary["reports"]
               if seq in seen and sampling_began <= t <= sampling_ended - 0.1]
    result = {"job_lines_streamed": streamed,
              "position_report": {"n": len(reports), "p50": round(percentile(reports, 50), 2),
                                  "p99": round(percentile(reports, 99), 2),
                                  "max": round(max(reports), 2) if reports else None},
              "emergency": {"n": len(emergency), "p50": round(percentile(emergency, 50), 2),
                            "p99": round(percentile(emergency, 99), 2), "max": round(max(emergency), 2),
                            "values": emergency},
              "http_ms": {"p50": round(percentile(http_ms, 50), 2), "p99": round(percentile(http_ms, 99), 2)},
              "m112_ms": round((m112[0] - m112_call) * 1000, 2) if m112 and m112_call else None,
              "m112_http_ms": round(m112_http, 2) if m112_http else None}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
