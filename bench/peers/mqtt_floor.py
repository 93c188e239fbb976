"""The MQTT transport floor: publish -> a subscriber's callback, through the same local mosquitto.

Two paho clients in this process (publisher and subscriber, both with TCP_NODELAY and their own
network threads, like the benchmark client and the daemon's bridge in bench/mqtt_latency.py), no
printer, no load: what the hop through the broker costs before mqttprint does anything. Publishes
`--samples` messages `--interval` s apart (QoS 0) and times each from just before `publish()` to
the subscriber's `on_message`. Prints one JSON object (p50 / p99 / max ms).
With --separate-publisher the publisher is a child process instead (its send times come back
on its stdout; CLOCK_MONOTONIC is shared by all processes), as when Home Assistant or a script
publishes to the daemon.
Usage: python bench/peers/mqtt_floor.py [--samples 200] [--separate-publisher]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import paho.mqtt.client as mqtt
from gateway_bench import start_broker
from stream import percentile


def client(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def publish_samples(pub: mqtt.Client, samples: int, interval: float) -> dict[int, float]:
    sent: dict[int, float] = {}
    for i in range(samples):
        sent[i] = time.monotonic()
        pub.publish("floor/emergency", str(i), qos=0)
        time.sleep(interval)
    return sent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--separate-publisher", action="store_true")
    parser.add_argument("--publish-to", type=int, default=0, help=argparse.SUPPRESS)  # child mode: broker port
    args = parser.parse_args()
    if args.publish_to:
        pub = client(args.publish_to)
        pub.loop_start()
        time.sleep(0.2)
        sent = publish_samples(pub, args.samples, args.interval)
        time.sleep(0.2)
        pub.loop_stop()
        pub.disconnect()
        print(json.dumps(sent))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(Path(tmp))
        arrived: dict[int, float] = {}
        subscribed = threading.Event()
        sub = client(port)
        sub.on_message = lambda c, u, m: arrived.setdefault(int(m.payload), time.monotonic())
        sub.on_subscribe = lambda *a: subscribed.set()
        sub.subscribe("floor/emergency", qos=0)
        sub.loop_start()
        pub = None if args.separate_publisher else client(port)
        sent: dict[int, float] = {}
        try:
            if not subscribed.wait(10):
                raise RuntimeError("no SUBACK")
            if pub is None:
                out = subprocess.run([sys.executable, __file__, "--publish-to", str(port), "--samples", str(args.samples),
                                      "--interval", str(args.interval)], capture_output=True, text=True, timeout=120, check=True)
                sent = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
            else:
                pub.loop_start()
                time.sleep(0.2)
                sent = publish_samples(pub, args.samples, args.interval)
            time.sleep(0.5)
        finally:
            for c in (pub, sub):
                if c is not None:
                    c.loop_stop()
                    c.disconnect()
            broker.terminate()
            broker.wait(5)
    values = [(arrived[i] - t) * 1000 for i, t in sent.items() if i in arrived]
    print(json.dumps({"n": len(values), "p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3),
                      "max": round(max(values), 3) if values else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
