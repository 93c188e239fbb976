"""Remote emergency stops across the fleet: gateway A asks for an emergency command on gateway B's
printer (`fleet.emergency`, what `POST /api/fleet/<gateway>/<printer>/emergency` calls) and the
time until the line is written to B's serial port is measured. Two set-ups:

* one broker: A and B on the same mosquitto;
* bridged: A on a central mosquitto, B on a site mosquitto bridged to it (MQTT 5 bridge, the
  configuration docs/farm.md recommends), on the same host (so the numbers are the software path,
  not a network).

Both gateways run in this process (sim:// printers) so one CLOCK_MONOTONIC times both ends: the
request is timed from the call on A to B's port `write()` of the command. M410 (quickstop) is the
command: it takes exactly M112's path through the gateways but leaves the simulated printer
running, so many samples can be taken in a row. The table goes into docs/benchmarks.md between
the `section:fleet` markers.

Usage: .venv/bin/python bench/fleet_latency.py [--samples 100] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stream import percentile  # noqa: E402

from mqttprint.config import parse_config  # noqa: E402
from mqttprint.daemon import Gateway  # noqa: E402
from mqttprint.protocol.states import PrinterState  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.helpers.broker import Broker  # noqa: E402
from tests.helpers.farm import Farm  # noqa: E402

SECTION = "fleet"
BASE = "bench"


def nodelay(broker: Broker) -> None:
    """mosquitto leaves Nagle's algorithm on unless told (small messages then wait for ACKs)."""
    with broker.conf.open("a") as conf:
        conf.write("set_tcp_nodelay true\n")


def gateway(broker: Broker, gid: str, printer: str, storage: str) -> Gateway:
    config = parse_config({"gateway": {"id": gid}, "rest": {"enabled": False}, "homeassistant": {"discovery": False},
                           "mqtt": {"host": broker.host, "port": broker.port, "base_topic": BASE},
                           "storage": {"dir": storage}, "printers": [{"id": printer, "port": f"sim://{gid}"}]})
    gw = Gateway(config)
    gw.start()
    return gw


def measure(a_broker: Broker, b_broker: Broker, samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        b = gateway(b_broker, "bench-b", "pb", tmp + "/b")
        a = gateway(a_broker, "bench-a", "pa", tmp + "/a")
        try:
            wait_for(lambda: b.printers["pb"].snapshot().state is PrinterState.OPERATIONAL, 20, "B's printer")
            wait_for(lambda: a.mqtt.fleet.view.gateway_online("bench-b"), 20, "A sees B")  # type: ignore[union-attr]
            port = b.printers["pb"].link.port
            arrived: list[float] = []
            seen = threading.Event()
            original = port.write

            def timed_write(data: bytes) -> Any:
                if b"M410" in data:
                    arrived.append(time.monotonic())
                    seen.set()
                return original(data)

            port.write = timed_write  # type: ignore[method-assign]
            fleet = a.mqtt.fleet  # type: ignore[union-attr]
            latencies = []
            for _ in range(samples + 5):  # the first 5 warm up paths and caches
                seen.clear()
                started = time.monotonic()
                fleet.emergency("bench-b", "pb", "M410")
                if not seen.wait(10):
                    raise RuntimeError("an emergency command did not arrive")
                latencies.append((arrived[-1] - started) * 1000)
                time.sleep(0.02)
            return latencies[5:]
        finally:
            a.stop()
            b.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        single = Broker(Path(tmp))
        nodelay(single)
        single.start()
        try:
            results["one broker"] = measure(single, single, args.samples)
        finally:
            single.stop()
        farm = Farm(Path(tmp) / "farm", topic=f"{BASE}/#", relay=False, extra="set_tcp_nodelay true\n")
        try:
            farm.bridged()
            results["two brokers, MQTT 5 bridge"] = measure(farm.central, farm.site, args.samples)
        finally:
            farm.close()
    rows = "".join(f"| {name} | {len(v)} | {percentile(v, 50):.2f} | {percentile(v, 99):.2f} | {max(v):.2f} |\n"
                   for name, v in results.items())
    table = (
        "## Fleet: remote emergency stops across brokers\n\n"
        f"`{' '.join(['.venv/bin/python', 'bench/fleet_latency.py'] + sys.argv[1:])}` on {os.cpu_count()} CPU(s), "
        f"{time.strftime('%Y-%m-%d')}, mosquitto 2.0 on this host (`set_tcp_nodelay true`), idle printers. Gateway A calls "
        "`fleet.emergency` (what `POST /api/fleet/<gateway>/<printer>/emergency` does) for gateway B's printer; "
        "the time is measured until B writes the command to its serial port (one process, one monotonic clock). "
        "Path: A's gateway connection -> broker(s) -> B's printer connection (paho network thread, the emergency "
        "fast path) -> port. M410 takes M112's path but leaves the printer running, so samples can follow each "
        "other (one every 20 ms). The bridge hop is a second mosquitto on the same host: on a real network add "
        "the link's round trip. The machine is shared: load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s) at the end of the run (p99 and max follow the load).\n\n"
        "| set-up | stops | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|\n" + rows + "\n")
    print(table)
    if not args.no_write:
        doc = ROOT / "docs" / "benchmarks.md"
        text = doc.read_text(encoding="utf-8") if doc.exists() else ""
        block = f"<!-- section:{SECTION} -->\n{table}<!-- /section:{SECTION} -->\n"
        pattern = re.compile(rf"<!-- section:{SECTION} -->.*?<!-- /section:{SECTION} -->\n?", re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
        doc.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
