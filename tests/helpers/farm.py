"""Two real mosquittos bridged like a farm (a site broker bridged to a central one, MQTT 5), with a
TCP relay on the bridge's link so a test can cut it and restore it (a bridge that drops and
reconnects, delivering what the central broker queued meanwhile)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from tests.helpers import free_port, wait_for
from tests.helpers.broker import Broker


def bridge_config(name: str, address: str, topic: str) -> str:
    """The site broker's bridge to the central broker (the shape docs/farm.md recommends)."""
    return (f"connection {name}\naddress {address}\nbridge_protocol_version mqttv50\n"
            f"cleansession false\nlocal_clientid {name}-local\nremote_clientid {name}\n"
            f"restart_timeout 1\nkeepalive_interval 5\nnotifications false\n"
            f"topic {topic} both 1\n")


class Relay:
    """A TCP relay 127.0.0.1:<port> -> target. `stall()` stops forwarding (bytes wait in the
    socket buffers, the connections stay up: a link that stops passing traffic), `release()`
    delivers everything late; `cut()` drops every connection and refuses new ones, `restore()`
    accepts again.

    Why both: mosquitto's MQTT 5 bridge sends no Session Expiry Interval, so the central broker
    drops what it would have queued for the bridge while it is disconnected (mosquitto issue
    #2793) -- after a cut nothing arrives late. A stalled link is how late delivery happens."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        self._open = threading.Event()
        self._open.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                self._flowing.wait()
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stall(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stop.set()
        self._flowing.set()
        self.cut()
        self._thread.join(2)
        self._server.close()


class Farm:
    """central <- relay <- site (the site broker runs the bridge)."""

    def __init__(self, workdir: Path, topic: str = "#", relay: bool = True, extra: str = "") -> None:
        """`relay` False: the bridge connects to the central broker directly (benchmarks);
        `extra`: configuration lines for both brokers."""
        (workdir / "central").mkdir(parents=True, exist_ok=True)
        (workdir / "site").mkdir(parents=True, exist_ok=True)
        self.central = Broker(workdir / "central")
        with self.central.conf.open("a") as conf:
            conf.write(extra)
        self.central.start()
        self.relay = Relay(self.central.port) if relay else None
        address = f"127.0.0.1:{self.relay.port if self.relay else self.central.port}"
        self.probe = topic.rstrip("#").rstrip("/") + "/_probe" if topic != "#" else "_probe"
        self.site = Broker(workdir / "site")
        with self.site.conf.open("a") as conf:
            conf.write(extra)
            conf.write(bridge_config("site1", address, topic))
        self.site.start()

    def bridged(self, timeout: float = 15.0) -> None:
        """Wait until a message published on the site broker arrives on the central one."""
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        got = threading.Event()
        sub = paho.Client(CallbackAPIVersion.VERSION2)
        sub.on_message = lambda c, u, m: got.set()
        sub.connect(self.central.host, self.central.port)
        sub.subscribe(self.probe, 1)
        sub.loop_start()
        pub = paho.Client(CallbackAPIVersion.VERSION2)
        pub.connect(self.site.host, self.site.port)
        pub.loop_start()
        try:
            def probe() -> bool:
                pub.publish(self.probe, b"1", qos=1)
                return got.wait(0.3)

            wait_for(probe, timeout, "the bridge to carry a message site -> central")
        finally:
            for client in (sub, pub):
                client.disconnect()
                client.loop_stop()

    def close(self) -> None:
        self.site.stop()
        if self.relay is not None:
            self.relay.close()
        self.central.stop()


def wait_seconds(seconds: float) -> None:
    """Let wall-clock time pass on purpose (a message must become older than an age limit)."""
    end = time.time() + seconds
    wait_for(lambda: time.time() >= end, seconds + 5, f"{seconds} s to pass")
