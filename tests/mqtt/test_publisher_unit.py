"""The publisher without a broker: a fake client, events fed by hand, cycles driven by hand."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from mqttprint.config import parse_config
from mqttprint.mqtt import publisher as publisher_module
from mqttprint.mqtt.publisher import Publisher
from mqttprint.protocol.events import (
    EmergencySent,
    JobEnded,
    JobOutcome,
    JobStarted,
    LineReceived,
    LineSent,
    Priority,
    StateChanged,
    TemperatureUpdate,
)
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.replies import HeaterReading
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings


class FakeClient:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
                correlation_data: Optional[bytes] = None, content_type: Optional[str] = None) -> object:
        self.published.append((topic, payload, qos, retain))
        return object()

    def wait(self, handle: object, timeout: float) -> bool:
        return True

    def topics(self) -> list[str]:
        return [t for t, *_ in self.published]

    def json(self, topic: str) -> list[Any]:
        return [json.loads(p) for t, p, *_ in self.published if t == topic and p]


def make(**mqtt: Any) -> tuple[Publisher, FakeClient, PrinterService]:
    config = parse_config({"mqtt": {"base_topic": "b", **mqtt}, "homeassistant": {"discovery": False},
                           "printers": [{"id": "p1", "port": "sim://marlin"}]})
    service = PrinterService("p1", LinkSettings("sim://marlin"), EngineParams(), EventBus())
    client = FakeClient()
    return Publisher(config, client, {"p1": service}), client, service  # type: ignore[arg-type]


def bus(event: Any, wall: float = 100.0) -> BusMessage:
    return BusMessage("p1", event, wall)


def test_republish_on_connect() -> None:
    pub, client, _ = make()
    pub.set_connected(True)
    pub._cycle(0.0)
    assert client.published[0] == ("b/p1/availability", b"online", 1, True)
    assert client.json("b/p1/status")[0]["state"] == "Offline"
    discovery = f"homeassistant/device/mqttprint_{pub.config.gateway.id}_p1/config"
    assert (discovery, b"", 1, True) in client.published  # discovery off: cleared


def test_state_change_publishes_status_and_events() -> None:
    pub, client, _ = make()
    pub.set_connected(True)
    pub._cycle(0.0)
    client.published.clear()
    pub.on_bus(bus(StateChanged(PrinterState.CONNECTING, PrinterState.OPERATIONAL)))
    pub.on_bus(bus(StateChanged(PrinterState.OPERATIONAL, PrinterState.ERROR, "Emergency stop (M112)")))
    pub.on_bus(bus(StateChanged(PrinterState.ERROR, PrinterState.OFFLINE_AFTER_ERROR, "x")))
    pub._cycle(1.0)
    states = [s["state"] for s in client.json("b/p1/status")]
    assert states == ["Operational", "Error", "Offline after error"]
    assert client.json("b/p1/status")[1]["flags"]["error"] is True
    assert client.json("b/p1/status")[1]["error"] == "Emergency stop (M112)"
    assert len(client.json("b/p1/event/Connected")) == 1
    assert client.json("b/p1/event/Error")[0]["error"] == "Emergency stop (M112)"
    assert len(client.json("b/p1/event/Disconnected")) == 1
    assert [e["state"] for e in client.json("b/p1/event/PrinterStateChanged")] == states


def test_failed_open_is_not_a_disconnect() -> None:
    pub, client, _ = make()
    pub.on_bus(bus(StateChanged(PrinterState.OPENING, PrinterState.OFFLINE_AFTER_ERROR, "no port")))
    pub._cycle(0.0)
    assert client.json("b/p1/event/Disconnected") == []


def test_job_and_emergency_events() -> None:
    pub, client, _ = make()
    pub.on_bus(bus(JobStarted("a.gcode")))
    pub.on_bus(bus(JobEnded("a.gcode", JobOutcome.CANCELLED, "user", 10)))
    pub.on_bus(bus(EmergencySent("M112", 1.0)))
    pub.on_bus(bus(EmergencySent("M108", 1.0)))
    pub._cycle(0.0)
    assert client.json("b/p1/event/PrintStarted") == [{"event": "PrintStarted", "name": "a.gcode", "ts": 100.0}]
    assert client.json("b/p1/event/PrintCancelled")[0]["reason"] == "user"
    assert client.json("b/p1/event/EmergencyStop")[0]["command"] == "M112"
    assert client.json("b/p1/event/EmergencyCommand")[0]["command"] == "M108"


def test_telemetry_trailing_edge() -> None:
    pub, client, service = make(telemetry_interval=1.0)
    pub.set_connected(True)
    pub._cycle(0.0)
    client.published.clear()

    def report(value: float, now: float) -> None:
        service._snapshot = dataclasses.replace(service._snapshot, temperatures={"T0": HeaterReading(value, 0.0)},
                                                temperature_time=now)
        pub.on_bus(bus(TemperatureUpdate({"T0": HeaterReading(value, 0.0)}, now)))

    report(20.0, 10.0)
    pub._cycle(10.0)                   # first: published at once
    report(21.0, 10.2)
    report(22.0, 10.4)
    wait = pub._cycle(10.4)            # within the interval: held back
    assert [t["tool0"]["actual"] for t in client.json("b/p1/temperature")] == [20.0]
    assert 0 < wait <= 0.6
    pub._cycle(11.0)                   # trailing edge: the latest value
    assert [t["tool0"]["actual"] for t in client.json("b/p1/temperature")] == [20.0, 22.0]
    pub._cycle(12.5)                   # nothing new: nothing published
    assert len(client.json("b/p1/temperature")) == 2


def test_telemetry_skipped_while_disconnected() -> None:
    pub, client, service = make()
    service._snapshot = dataclasses.replace(service._snapshot, temperatures={"B": HeaterReading(50.0, 60.0)})
    pub.on_bus(bus(TemperatureUpdate({"B": HeaterReading(50.0, 60.0)}, 1.0)))
    pub._cycle(5.0)
    assert client.json("b/p1/temperature") == []
    pub.set_connected(True)
    pub._cycle(6.0)
    assert client.json("b/p1/temperature")[0]["bed"] == {"actual": 50.0, "target": 60.0}


def test_terminal_batches() -> None:
    pub, client, _ = make(terminal=True)
    pub.set_connected(True)
    pub._cycle(0.0)
    # The terminal shows the wire bytes: line number and checksum, and out-of-band emergencies.
    pub.on_bus(bus(LineSent("G28", 1, Priority.INTERACTIVE)))
    pub.on_bus(bus(LineReceived("ok")))
    pub.on_bus(bus(EmergencySent("M108", 0.5)))
    pub._cycle(1.0)
    (batch,) = [p for t, p, *_ in client.published if t == "b/p1/terminal"]
    assert batch == b"> N1 G28*18\n< ok\n> M108"


def test_event_queue_drops_oldest_non_state(monkeypatch: Any) -> None:
    monkeypatch.setattr(publisher_module, "MAX_PENDING_EVENTS", 3)
    pub, client, _ = make()
    pub.on_bus(bus(StateChanged(PrinterState.OFFLINE, PrinterState.OPENING)))
    pub.on_bus(bus(JobStarted("first")))
    pub.on_bus(bus(JobStarted("second")))
    pub.on_bus(bus(JobStarted("third")))
    pub._cycle(0.0)
    assert [e["name"] for e in client.json("b/p1/event/PrintStarted")] == ["second", "third"]
    assert len(client.json("b/p1/event/PrinterStateChanged")) == 1


def test_publish_offline() -> None:
    pub, client, _ = make()
    pub.publish_offline()
    assert client.published == [("b/p1/availability", b"offline", 1, True)]  # the gateway's own: fleet.py
    client.published.clear()
    pub.publish_offline(frozenset())  # a printer another gateway serves: its topic is not ours
    assert client.published == []


def test_each_printer_publishes_on_its_own_connection() -> None:
    config = parse_config({"mqtt": {"base_topic": "b"}, "homeassistant": {"discovery": False},
                           "printers": [{"id": "p1", "port": "sim://marlin"}, {"id": "p2", "port": "sim://two"}]})
    services = {pid: PrinterService(pid, LinkSettings("sim://marlin"), EngineParams(), EventBus()) for pid in ("p1", "p2")}
    gateway, own = FakeClient(), {"p1": FakeClient(), "p2": FakeClient()}
    pub = Publisher(config, gateway, services, printer_clients=own)  # type: ignore[arg-type]
    pub.set_connected(True)
    pub.set_connected(True, "p1")
    pub._cycle(0.0)
    assert gateway.topics() == []  # nothing about a printer on the gateway's connection (its own: fleet.py)
    assert ("b/p1/availability", b"online", 1, True) in own["p1"].published
    assert all((t.startswith("b/p1/") or t.endswith("_p1/config")) for t in own["p1"].topics())
    assert own["p2"].published == []  # p2's connection is not up yet: nothing queued for it
    pub.set_connected(True, "p2")
    pub.on_bus(BusMessage("p2", StateChanged(PrinterState.CONNECTING, PrinterState.OPERATIONAL), 1.0))
    pub._cycle(1.0)
    assert own["p2"].json("b/p2/event/Connected")
    assert all((t.startswith("b/p2/") or t.endswith("_p2/config")) for t in own["p2"].topics())
    pub.publish_offline()
    assert own["p1"].published[-1] == ("b/p1/availability", b"offline", 1, True)
    assert gateway.topics() == []
