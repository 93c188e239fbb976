"""The gateway's thread count does not grow with its printers (issue 20), over a real mosquitto.

Before the shared network loop, every printer's MQTT connection had a paho thread of its own and
two request workers: 5 threads for 1 printer, 26 for 8. Now one network thread serves every
connection, and request workers start on demand (two warm ones at rest)."""

from __future__ import annotations

import socket
import threading
from typing import Any, Iterator, Optional

import pytest

from mqttprint.daemon import Gateway
from mqttprint.mqtt import topics
from mqttprint.mqtt.client import ClientSettings, InboundMessage, MqttClient
from mqttprint.mqtt.network_loop import NetworkLoop
from mqttprint.protocol.states import PrinterState
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, gateway_config, unique_base

#: Threads that come and go (a port being opened, an MQTT connect under way) or that are the
#: simulated printers' firmware, not the gateway (sim:// runs the simulator in-process).
TRANSIENT = ("serial-open-", "mqtt-network-connect")
SIMULATOR = "mqttprint-sim-port"


def gateway_threads(before: set[int]) -> list[str]:
    """Names of the threads started since `before` that belong to the gateway (the simulated
    printers' own clocks excluded), once no transient thread is left."""
    def settled() -> list[str] | None:
        names = [t.name for t in threading.enumerate() if t.ident not in before and t.name != SIMULATOR]
        return None if any(n.startswith(TRANSIENT) for n in names) else sorted(names)
    return wait_for(settled, what="transient threads to end")


def serve(broker: Any, printers: int) -> list[str]:
    """Start a gateway with `printers` simulated printers, make every printer answer one request
    over MQTT (one at a time, as a client waiting for each reply does), and list its threads.
    Returns once every thread the gateway started has ended again."""
    base = unique_base()
    ids = [f"p{i}" for i in range(1, printers + 1)]
    gateway = Gateway(gateway_config(broker, base, printers=[{"id": pid, "port": f"sim://marlin?seed={n}"}
                                                             for n, pid in enumerate(ids)]))
    watcher = Watcher(broker, [f"{base}/+/reply"])
    before = {t.ident for t in threading.enumerate() if t.ident is not None}
    gateway.start()
    try:
        for pid in ids:
            wait_for(lambda pid=pid: gateway.printers[pid].snapshot().state is PrinterState.OPERATIONAL,
                     what=f"{pid} Operational")
        wait_for(lambda: gateway.mqtt is not None and gateway.mqtt.connected() and gateway.mqtt.subscribed(),
                 what="every printer's connection up and subscribed")
        for pid in ids:
            t = topics.PrinterTopics(base, pid)
            watcher.publish(t.command, {"command": "M105", "id": f"{pid}-1"})
            reply = watcher.wait_json(t.reply, lambda d, pid=pid: d.get("id") == f"{pid}-1")
            assert reply["ok"] is True
        return gateway_threads(before)
    finally:
        gateway.stop()
        watcher.close()
        wait_for(lambda: not [t for t in threading.enumerate() if t.ident not in before],
                 what="every thread of the stopped gateway to end")


def test_thread_count_does_not_grow_with_printers(broker: Any) -> None:
    one = serve(broker, 1)
    eight = serve(broker, 8)
    assert eight == one, f"1 printer: {one}; 8 printers: {eight}"
    assert one.count("mqtt-network") == 1


# ---------------------------------------------------------------------- the network loop alone
class Silent:
    """A TCP server that accepts and never says a word: a TLS handshake to it blocks."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def test_many_connections_share_one_thread_and_a_stuck_connect_stalls_none(broker: Any, silent: Silent) -> None:
    network = NetworkLoop(name="test-network")
    base = unique_base()
    received: dict[int, list[bytes]] = {i: [] for i in range(12)}
    clients: list[MqttClient] = []

    def connected(i: int) -> None:
        clients[i].subscribe([f"{base}/{i}"], commands=False)

    def message(i: int, msg: InboundMessage) -> None:
        received[i].append(msg.payload)

    # A connection whose TLS handshake never completes: its connect blocks on a thread of its own.
    stuck = MqttClient(ClientSettings(host="127.0.0.1", port=silent.port, client_id=f"{base}-stuck", tls=True,
                                      keepalive=60),
                       lambda: None, lambda reason: None, lambda msg: None, network=network)
    stuck.start()
    wait_for(lambda: silent.accepted, what="the stuck connection's TCP connect")
    for i in range(12):
        clients.append(MqttClient(ClientSettings(host=broker.host, port=broker.port, client_id=f"{base}-{i}"),
                                  lambda i=i: connected(i), lambda reason: None,
                                  lambda msg, i=i: message(i, msg), network=network))
    for client in clients:
        client.start()
    try:
        wait_for(lambda: all(c.subscribed for c in clients), what="every connection subscribed")
        publisher = Watcher(broker, [])
        try:
            for i in range(12):
                publisher.publish(f"{base}/{i}", f"hello {i}".encode())
        finally:
            publisher.close()
        wait_for(lambda: all(received[i] == [f"hello {i}".encode()] for i in range(12)), what="each message")
        names = [t.name for t in threading.enumerate()]
        assert names.count("test-network") == 1
        assert names.count("test-network-connect") == 1  # only the stuck one is still connecting
        assert all(c.loop_alive() for c in clients)
    finally:
        for client in clients:
            client.stop()
        silent.close()  # the stuck handshake fails now; stop() then finds no connect under way
        stuck.stop()
        network.stop()
    assert not any(t.name == "test-network" for t in threading.enumerate())


def test_a_callback_may_stop_and_restart_another_connection(broker: Any) -> None:
    """The fleet drops a printer's connection from the gateway connection's callback (another
    gateway serves that printer id): on the network thread itself, which must not wait for itself."""
    network = NetworkLoop(name="test-network")
    base = unique_base()
    will = f"{base}/b/availability"
    seen: list[bytes] = []
    stopped_in_callback: list[Optional[int]] = []

    def on_message(msg: InboundMessage) -> None:
        seen.append(msg.payload)
        if msg.payload == b"drop b":
            second.stop()
            stopped_in_callback.append(second.io_fileno())  # the loop has not run since: still open

    first = MqttClient(ClientSettings(host=broker.host, port=broker.port, client_id=f"{base}-a"),
                       lambda: first.subscribe([f"{base}/a"], commands=False), lambda reason: None, on_message,
                       network=network)
    connects: list[int] = []

    def second_connected() -> None:
        connects.append(1)
        second.subscribe([f"{base}/b"], commands=False)

    second = MqttClient(ClientSettings(host=broker.host, port=broker.port, client_id=f"{base}-b", will_topic=will),
                        second_connected, lambda reason: None, lambda msg: None, network=network)
    watcher = Watcher(broker, [will])
    try:
        first.start()
        second.start()
        wait_for(lambda: first.subscribed and second.subscribed, what="both connections subscribed")
        watcher.publish(f"{base}/a", b"drop b")
        wait_for(lambda: stopped_in_callback, what="the callback to stop b")
        assert stopped_in_callback[0] is not None
        wait_for(lambda: second.io_fileno() is None, what="b's socket closed after its DISCONNECT")
        watcher.publish(f"{base}/a", b"still here")
        wait_for(lambda: b"still here" in seen, what="a still served")
        second.start()  # reclaimed: the same client connects again
        wait_for(lambda: len(connects) == 2 and second.subscribed, what="b connected and subscribed again")
        second.stop()
        assert second.io_fileno() is None  # stopped off the network thread: waited for the close
        assert watcher.messages(will) == []  # clean DISCONNECTs: the last will never fired
    finally:
        watcher.close()
        first.stop()
        second.stop()
        network.stop()
