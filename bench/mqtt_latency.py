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
import io
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import paho.mqtt.client as mqtt
from stream import percentile

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
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp))
        responder = subprocess.Popen([sys.executable, str(ROOT / "bench" / "responder.py"), "--report-interval", args.report_interval],
                                     stdout=subprocess.PIPE, text=True)
        assert responder.stdout is not None
        pty_path = responder.stdout.readline().strip()
        config = parse_config({
            "mqtt": {"host": "127.0.0.1", "port": port, "base_topic": "bench", "telemetry_interval": 0},
            "rest": {"enabled": False}, "homeassistant": {"discovery": False}, "storage": {"dir": tmp},
            "printers": [{"id": "p", "port": pty_path, "temperature_interval": 0, "position_interval": 0, "ok_timeout": 30}],
        })
        gateway = Gateway(config)
        gateway.start()
        seen: dict[int, float] = {}
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            now = time.monotonic()
            try:
                x = int(float(json.loads(message.payload)["x"]))
            except (ValueError, KeyError, TypeError):
                return
            seen.setdefault(x, now)

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
            if not args.no_load:
                gateway.registry.dispatch(Request("job.start", {"file": "load.gcode"}, "p"))
            time.sleep(0.5)
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
            streamed = gateway.printers["p"].link.engine.job_lines_sent
        finally:
            client.loop_stop()
            client.disconnect()
            gateway.stop()
            responder.terminate()
            out, _ = responder.communicate(timeout=10)
            broker.terminate()
            broker.wait(5)
        summary = json.loads(out.strip().splitlines()[-1])
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
