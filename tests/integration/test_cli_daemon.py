"""The real CLI in subprocesses, against the real broker and simulators: start-up, two printers
where one is unplugged (the other keeps working), SIGTERM during a print. (The README's demo command
from a fresh clone: tests/integration/test_fresh_machine_demo.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator
from tests.helpers import free_port
from tests.helpers.broker import Broker
from tests.helpers.mqtt import gateway_availability

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent


class Watcher:
    """A paho subscriber that keeps the latest payload per topic and every event."""

    def __init__(self, broker: Broker, base: str) -> None:
        self.latest: dict[str, bytes] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{base}/#")
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.latest[message.topic] = message.payload
            if "/event/" in message.topic:
                self.events.append((message.topic, json.loads(message.payload)))

    def get(self, topic: str) -> bytes | None:
        with self._lock:
            return self.latest.get(topic)

    def status(self, topic: str) -> str | None:
        raw = self.get(topic)
        return json.loads(raw)["state"] if raw else None

    def wait(self, condition: Any, timeout: float = 15.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; latest: {sorted(self.latest)}")
            time.sleep(0.02)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def write_config(tmp_path: Path, broker: Broker, base: str, printers: list[dict[str, Any]]) -> Path:
    config = {
        "mqtt": {"host": broker.host, "port": broker.port, "base_topic": base, "keepalive": 5},
        "rest": {"host": "127.0.0.1", "port": free_port(), "api_keys": [{"name": "admin", "key": "a" * 32, "role": "admin"}]},
        "homeassistant": {"discovery": False},
        "storage": {"dir": str(tmp_path / "state")},
        "printers": printers,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_cli(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "mqttprint", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)


def test_two_printers_one_unplugged_then_sigterm_during_print(tmp_path: Path, broker: Broker) -> None:
    link = tmp_path / "printer-b"
    simulator = PtySimulator(SimConfig(), link=str(link))
    simulator.start()
    base = "cli1"
    watcher = Watcher(broker, base)
    config = write_config(tmp_path, broker, base, [
        {"id": "a", "port": "sim://marlin?ok_latency=0.001"},  # >= 1 ms per line in real time: the job below lasts
        {"id": "b", "port": str(link)},
    ])
    proc = start_cli(config)
    try:
        watcher.wait(lambda: watcher.get(gateway_availability(base)) == b"online", what="gateway online")
        watcher.wait(lambda: watcher.status(f"{base}/a/status") == "Operational" and
                     watcher.status(f"{base}/b/status") == "Operational", what="both printers operational")
        # (How fast it starts and stops is measured in bench/, not asserted here: host speed varies.)

        simulator.unplug()  # printer b's cable is pulled
        watcher.wait(lambda: watcher.status(f"{base}/b/status") == "Offline after error", what="b offline after error")
        # printer a is another failure domain: it keeps answering
        watcher.client.publish(f"{base}/a/command", json.dumps({"command": "M114", "id": "after-unplug"}))
        watcher.wait(lambda: watcher.get(f"{base}/a/reply") is not None, what="a's reply")
        reply = json.loads(watcher.get(f"{base}/a/reply") or b"{}")
        assert reply["ok"] and reply["lines"][0].startswith("X:")
        assert watcher.status(f"{base}/a/status") == "Operational"

        simulator.replug()
        watcher.wait(lambda: watcher.status(f"{base}/b/status") == "Operational", what="b back after replug")

        # a print on a is running when the service is stopped
        upload = tmp_path / "state" / "uploads"
        upload.mkdir(parents=True, exist_ok=True)
        (upload / "long.gcode").write_text("".join(f"G1 X{i % 100} Y{i % 50} F3000\n" for i in range(200000)))
        watcher.client.publish(f"{base}/a/job", json.dumps({"command": "start", "file": "long.gcode"}))
        watcher.wait(lambda: watcher.status(f"{base}/a/status") == "Printing", what="printing")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)  # a hang fails here
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
        watcher.wait(lambda: watcher.get(gateway_availability(base)) == b"offline", what="offline published")
        failed = [payload for topic, payload in watcher.events if topic == f"{base}/a/event/PrintFailed"]
        assert failed and "interrupted" in json.dumps(failed[-1])  # reported, never silently lost
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        watcher.close()
        simulator.stop()


def test_invalid_config_exits_2_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt: {port: nope}\nprinters: [{id: X}]\n")
    result = subprocess.run([sys.executable, "-m", "mqttprint", "run", "--config", str(bad)], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "mqtt.port" in result.stderr and "printers[0].id" in result.stderr and "printers[0].port" in result.stderr
