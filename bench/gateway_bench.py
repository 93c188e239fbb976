"""A whole mqttprint daemon under streaming load, for the latency benchmarks (shared by
bench/mqtt_latency.py and bench/peers/mqttprint_rest_latency.py).

`loaded_gateway()` starts a private mosquitto on a free port, bench/responder.py on a pty (with
position reports every `report_interval` s), a `Gateway` on it, and a subscriber that records when
each report's retained `B/position` arrives; it waits for the handshake, uploads a 400,000-line
load file and (unless `load=False`) starts printing it, then yields. On the way out everything is
stopped and the responder's JSON summary (arrival times) is parsed.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt

from mqttprint.config import parse_config
from mqttprint.daemon import Gateway
from mqttprint.runtime.commands import Request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


@dataclass
class LoadedGateway:
    gateway: Gateway
    client: mqtt.Client  # subscribed to bench/p/position, TCP_NODELAY, loop running
    mqtt_port: int
    #: report sequence number -> when its retained position publish reached the subscriber
    seen: dict[int, float] = field(default_factory=dict)
    #: the responder's summary (emergency/marker arrivals, report emit times), after the exit
    summary: dict[str, Any] = field(default_factory=dict)

    def lines_streamed(self) -> int:
        return self.gateway.printers["p"].link.engine.job_lines_sent


@contextmanager
def loaded_gateway(report_interval: str = "0.05", rest_key: Optional[str] = None, load: bool = True) -> Iterator[LoadedGateway]:
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp))
        responder = subprocess.Popen([sys.executable, str(ROOT / "bench" / "responder.py"), "--report-interval", report_interval],
                                     stdout=subprocess.PIPE, text=True)
        assert responder.stdout is not None
        pty_path = responder.stdout.readline().strip()
        rest: dict[str, Any] = {"enabled": False}
        if rest_key is not None:
            rest = {"enabled": True, "host": "127.0.0.1", "port": 0, "api_keys": [{"name": "bench", "key": rest_key, "role": "admin"}]}
        config = parse_config({
            "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": "bench", "telemetry_interval": 0},
            "rest": rest, "homeassistant": {"discovery": False}, "storage": {"dir": tmp},
            "printers": [{"id": "p", "port": pty_path, "temperature_interval": 0, "position_interval": 0, "ok_timeout": 30}],
        })
        gateway = Gateway(config)
        gateway.start()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        bench = LoadedGateway(gateway, client, port)

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            now = time.monotonic()
            try:
                bench.seen.setdefault(int(float(json.loads(message.payload)["x"])), now)
            except (ValueError, KeyError, TypeError):
                pass

        client.on_message = on_message
        client.connect("127.0.0.1", port)
        client.subscribe("bench/p/position", qos=0)
        # paho leaves Nagle on: a small publish would wait for the ACK riding on the next incoming
        # position message (~half the report interval). Real command senders should set this too.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        try:
            deadline = time.monotonic() + 20
            while not gateway.printers["p"].snapshot().operational:
                if time.monotonic() > deadline:
                    raise RuntimeError("no handshake")
                time.sleep(0.01)
            body = "".join(f"G1 X{(i % 200) + 0.5:.2f} Y{(i * 7) % 200:.2f} E{i * 0.01:.3f}\n" for i in range(400_000))
            gateway.registry.dispatch(Request("files.upload", {"name": "load.gcode", "stream": io.BytesIO(body.encode())}, "p"))
            if load:
                gateway.registry.dispatch(Request("job.start", {"file": "load.gcode"}, "p"))
            time.sleep(0.5)
            yield bench
        finally:
            client.loop_stop()
            client.disconnect()
            gateway.stop()
            responder.terminate()
            out, _ = responder.communicate(timeout=10)
            broker.terminate()
            broker.wait(5)
        bench.summary = json.loads(out.strip().splitlines()[-1])
