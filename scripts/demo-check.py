"""Check that a running gateway really serves what its config promises (used by scripts/run-demo
and scripts/fresh-machine-demo): the first printer's retained status reads Operational over MQTT,
REST answers /api/version, and with --m114 an M114 sent over MQTT comes back with its position.

Run with the project's virtualenv: .venv/bin/python scripts/demo-check.py [--config config.yaml]
[--pid GATEWAY_PID] [--timeout 60] [--m114]. Exit 0 when everything answered, 1 otherwise; one
line per check. MQTT 3.1.1 on purpose: it works against any broker, the embedded one included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mqttprint.config import load_config  # noqa: E402


class Check:
    def __init__(self, timeout: float, pid: int | None) -> None:
        self.deadline = time.monotonic() + timeout
        self.pid = pid

    def until(self, what: str, condition) -> None:  # type: ignore[no-untyped-def]
        while not condition():
            if self.pid is not None and not _alive(self.pid):
                raise SystemExit(f"demo-check: the gateway (pid {self.pid}) exited while waiting for {what}")
            if time.monotonic() > self.deadline:
                raise SystemExit(f"demo-check: timed out waiting for {what}")
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by run-demo's shell) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--pid", type=int, default=None, help="fail at once when this process exits")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--m114", action="store_true", help="also send M114 over MQTT and wait for its reply")
    args = parser.parse_args()
    config = load_config(args.config)
    check = Check(args.timeout, args.pid)
    host = "127.0.0.1" if config.mqtt.host == "auto" else config.mqtt.host
    printer = config.printers[0].id
    base = f"{config.mqtt.base_topic}/{printer}"
    received: dict[str, list[bytes]] = {}
    lock = threading.Lock()

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with lock:
            received.setdefault(message.topic, []).append(bytes(message.payload))

    def seen(topic: str, predicate) -> bool:  # type: ignore[no-untyped-def]
        with lock:
            return any(predicate(payload) for payload in received.get(topic, []))

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-check-{uuid.uuid4().hex[:8]}",
                         protocol=MQTTProtocolVersion.MQTTv311)
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([(f"{base}/status", 1), (f"{base}/reply", 1)])
    if config.mqtt.username:
        client.username_pw_set(config.mqtt.username, config.mqtt.password)
    if config.mqtt.tls.enabled:
        client.tls_set(ca_certs=config.mqtt.tls.ca_file)
    check.until(f"an MQTT broker on {host}:{config.mqtt.port}", lambda: _connect(client, host, config.mqtt.port))
    client.loop_start()
    try:
        check.until(f"{base}/status to read Operational",
                    lambda: seen(f"{base}/status", lambda p: json.loads(p).get("state") == "Operational"))
        print(f"demo-check: MQTT {host}:{config.mqtt.port}: {base}/status is Operational")
        if args.m114:
            request_ids: list[str] = []

            def position(payload: bytes) -> bool:
                reply = json.loads(payload)
                return reply.get("id") in request_ids and reply.get("ok") is True

            def answered() -> bool:
                # Asked again every few seconds: a request published before the gateway's
                # subscription is active at the broker is dropped (QoS 1 keeps nothing for nobody).
                if not request_ids or time.monotonic() - asked[0] > 3:
                    request_ids.append(uuid.uuid4().hex[:8])
                    asked[0] = time.monotonic()
                    client.publish(f"{base}/command", json.dumps({"command": "M114", "id": request_ids[-1]}), qos=1)
                return seen(f"{base}/reply", position)

            asked = [0.0]
            check.until("the reply to M114", answered)
            with lock:
                reply = next(json.loads(p) for p in received[f"{base}/reply"] if position(p))
            print(f"demo-check: M114 over MQTT answered: {reply['lines'][0] if reply.get('lines') else reply}")
    finally:
        client.disconnect()
        client.loop_stop()
    if config.rest.enabled:
        url = f"http://127.0.0.1:{config.rest.port}/api/version"
        key = config.rest.api_keys[0].key if config.rest.api_keys else ""
        check.until(f"REST on {url}", lambda: _http_ok(url, key))
        print(f"demo-check: REST answers on {url}")
    return 0


def _connect(client: paho.Client, host: str, port: int) -> bool:
    try:
        client.connect(host, port, keepalive=30)
        return True
    except OSError:
        return False


def _http_ok(url: str, key: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"X-Api-Key": key}), timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    sys.exit(main())
