"""MQTT test helpers: a recording paho client (`Watcher`) and a running gateway context."""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqttprint.config import parse_config
from mqttprint.config_schema import default_gateway_id
from mqttprint.mqtt import topics
from mqttprint.daemon import Gateway
from mqttprint.protocol.states import PrinterState
from tests.helpers import DEFAULT_TIMEOUT, wait_for


def unique_base() -> str:
    """A base topic no other test uses (the broker is shared by the whole session)."""
    return f"t{uuid.uuid4().hex[:10]}"


def gateway_availability(base: str, gateway_id: Optional[str] = None) -> str:
    """`<base>/gateway/<id>/availability` of a gateway (default id: this host's name)."""
    return topics.gateway_availability(base, gateway_id or default_gateway_id())


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation_data: Optional[bytes]
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A paho test client: subscribes to filters, records every message, publishes requests."""

    def __init__(self, broker: Any, filters: list[str], protocol: int = 5, *, username: Optional[str] = None,
                 password: Optional[str] = None, ca_file: Optional[str] = None) -> None:
        self.mqtt5 = protocol == 5
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5 if self.mqtt5 else MQTTProtocolVersion.MQTTv311)
        self.filters = filters
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_connect = self._on_connect
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(5), "test client could not subscribe"

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self.filters:
            client.subscribe([(f, 1) for f in self.filters])
        else:
            self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        with self.lock:
            self.received.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), corr, time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()  # first: the network thread then ends at once instead of after its select()
        self.client.loop_stop()

    # ------------------------------------------------------------------ inspection
    def messages(self, topic: Optional[str] = None) -> list[Received]:
        with self.lock:
            return [m for m in self.received if topic is None or m.topic == topic]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def wait_for(self, topic: str, predicate: Callable[[Received], bool] = lambda m: True,
                 timeout: float = DEFAULT_TIMEOUT, after: int = 0) -> Received:
        """The first message on `topic` (from index `after` of that topic's list) matching `predicate`."""

        def find() -> Optional[Received]:
            for m in self.messages(topic)[after:]:
                if predicate(m):
                    return m
            return None

        return wait_for(find, timeout, f"a matching message on {topic}")

    def wait_json(self, topic: str, predicate: Callable[[Any], bool] = lambda d: True, timeout: float = DEFAULT_TIMEOUT,
                  after: int = 0) -> Any:
        return self.wait_for(topic, lambda m: _safe(predicate, m), timeout, after).json()

    # ------------------------------------------------------------------ requests
    def publish(self, topic: str, payload: Any, *, retain: bool = False, response_topic: Optional[str] = None,
                correlation_data: Optional[bytes] = None, qos: int = 1) -> None:
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        props = None
        if self.mqtt5 and (response_topic or correlation_data is not None):
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation_data is not None:
                props.CorrelationData = correlation_data
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(5)


def _safe(predicate: Callable[[Any], bool], message: Received) -> bool:
    try:
        return bool(predicate(message.json()))
    except (ValueError, KeyError, TypeError):
        return False


def gateway_config(broker: Any, base: str, mqtt: Optional[dict[str, Any]] = None, **sections: Any) -> Any:
    """A gateway config on the session broker; storage goes to a fresh temporary directory."""
    data: dict[str, Any] = {
        "mqtt": {"host": broker.host, "port": broker.port, "base_topic": base, **(mqtt or {})},
        "rest": {"enabled": False},
        "printers": [{"id": "p1", "port": "sim://marlin"}],
        "storage": {"dir": tempfile.mkdtemp(prefix="mqttprint-test-")},
    }
    data.update(sections)
    return parse_config(data)


@contextlib.contextmanager
def running_gateway(broker: Any, base: str, *, operational: bool = True, mqtt: Optional[dict[str, Any]] = None,
                    **sections: Any) -> Iterator[Gateway]:
    """A started gateway on the session broker; waits for printer p1 to be Operational."""
    gw = Gateway(gateway_config(broker, base, mqtt, **sections))
    gw.start()
    try:
        if operational:
            wait_for(lambda: gw.printers["p1"].snapshot().state is PrinterState.OPERATIONAL,
                     what="printer p1 Operational")
            # subscribed, not just connected: a request published before the broker acknowledged
            # the bridge's SUBSCRIBE may be dropped (seen on a loaded machine)
            wait_for(lambda: gw.mqtt is not None and gw.mqtt.connected() and gw.mqtt.subscribed(),
                     what="bridge connected and subscribed")
        yield gw
    finally:
        gw.stop()


def model(gw: Gateway, printer_id: str = "p1") -> Any:
    """The simulator model behind a connected sim:// printer."""
    port = gw.printers[printer_id].link.port
    assert port is not None, "printer is not connected"
    return port.model


def executed(gw: Gateway, printer_id: str = "p1") -> list[str]:
    """A copy of the commands the simulator executed (under its lock)."""
    port = gw.printers[printer_id].link.port
    if port is None:
        return []
    with port.lock:
        return list(port.model.executed)


def retained_now(broker: Any, topic: str) -> list[Received]:
    """The retained messages a new subscriber gets on `topic` right now (empty: none).

    No sleep: the new client subscribes to `topic` and to a probe topic of its own, then publishes
    to the probe. The broker sends a subscription's retained messages before it routes the client's
    later publish back to it, so once the probe is back every retained message has arrived."""
    probe = f"probe/{uuid.uuid4().hex}"
    late = Watcher(broker, [topic, probe])
    try:
        late.publish(probe, b"probe")
        late.wait_for(probe)
        return [m for m in late.messages(topic) if m.retain]
    finally:
        late.close()
