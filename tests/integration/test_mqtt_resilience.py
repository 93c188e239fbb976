"""Broker and process failures: last will on SIGKILL, reconnect after a broker restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mqttprint.protocol.states import PrinterState
from tests.helpers.mqtt import Watcher, gateway_availability, executed, running_gateway, unique_base

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, threading
from mqttprint.config import parse_config
from mqttprint.daemon import Gateway
gw = Gateway(parse_config(json.loads(sys.argv[1])))
gw.start()
print("started", flush=True)
threading.Event().wait()
"""


def test_last_will_on_kill(broker: Any, tmp_path: Path) -> None:
    base = unique_base()
    config = {"mqtt": {"host": broker.host, "port": broker.port, "base_topic": base, "keepalive": 5},
              "rest": {"enabled": False}, "printers": [{"id": "p1", "port": "sim://marlin"}],
              "storage": {"dir": str(tmp_path)}}
    w = Watcher(broker, [f"{base}/#"])
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    try:
        w.wait_for(gateway_availability(base), lambda m: m.payload == b"online", timeout=10)
        w.wait_for(f"{base}/p1/status", lambda m: m.json()["state"] == "Operational", timeout=10)
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        w.wait_for(gateway_availability(base), lambda m: m.payload == b"offline", timeout=10)
        late = Watcher(broker, [gateway_availability(base)])
        try:
            msg = late.wait_for(gateway_availability(base))
            assert msg.payload == b"offline" and msg.retain
        finally:
            late.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        w.close()


def test_broker_restart(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base, mqtt={"keepalive": 5}) as gw:
        printer = gw.printers["p1"]
        port_before = printer.link.port
        broker.restart(down_for=0.5)  # persistence is off: every retained message is gone
        w = Watcher(broker, [f"{base}/#"])
        try:
            # The bridge reconnects and republishes availability and retained state ...
            w.wait_for(gateway_availability(base), lambda m: m.payload == b"online", timeout=15)
            w.wait_for(f"{base}/p1/availability", lambda m: m.payload == b"online")
            w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Operational")
            w.wait_for(f"{base}/p1/firmware")
            w.wait_for(f"{base}/p1/temperature")
            # ... re-subscribes (commands work again) ...
            w.publish(f"{base}/p1/command", {"command": "M114", "id": "after-restart"})
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "after-restart")["ok"] is True
            # ... and the printer link never noticed.
            assert printer.link.port is port_before
            assert printer.snapshot().state is PrinterState.OPERATIONAL
            assert "M114" in executed(gw)
        finally:
            w.close()


def test_broker_down_never_stalls_the_printer(broker: Any) -> None:
    """With the broker gone, telemetry keeps flowing into the bridge and commands still run
    (from another transport); the serial thread is never blocked by MQTT."""
    base = unique_base()
    with running_gateway(broker, base, mqtt={"keepalive": 5, "telemetry_interval": 0.0}) as gw:
        printer = gw.printers["p1"]
        broker.stop()
        try:
            handles = printer.submit("G91\nG1 X1 F6000\nM114")
            results = [h.result(timeout=5) for h in handles]
            assert all(r.ok for r in results)
            assert gw.mqtt.healthy()  # broker away is not a reason for the watchdog to restart us
        finally:
            broker.start()
        w = Watcher(broker, [f"{base}/#"])
        try:
            w.wait_for(gateway_availability(base), lambda m: m.payload == b"online", timeout=15)
            w.wait_json(f"{base}/p1/position", lambda d: d["x"] is not None)
        finally:
            w.close()
