"""Temperature history: bus-fed, bounded, cut off after 30 minutes."""

from __future__ import annotations

from mqttprint.protocol.events import PositionUpdate, TemperatureUpdate
from mqttprint.protocol.replies import HeaterReading, Position
from mqttprint.rest.history import CUTOFF_MINUTES, TemperatureHistory
from mqttprint.runtime.bus import BusMessage, EventBus


def temp(value: float) -> TemperatureUpdate:
    return TemperatureUpdate({"T0": HeaterReading(value, 0.0)}, 0.0)


def test_records_only_temperatures_of_known_printers() -> None:
    bus = EventBus()
    history = TemperatureHistory(["p1"], max_samples=3)
    history.attach(bus)
    history.attach(bus)  # idempotent: one subscription
    for i in range(5):
        bus.publish(BusMessage("p1", temp(float(i)), 1000.0 + i))
    bus.publish(BusMessage("p1", PositionUpdate(Position(0, 0, 0), 0.0), 1010.0))
    bus.publish(BusMessage("zz", temp(99.0), 1010.0))
    samples = history.samples("p1", 1010.0)
    assert [s[1]["T0"].actual for s in samples] == [2.0, 3.0, 4.0]  # bounded: oldest dropped
    assert [s[1]["T0"].actual for s in history.samples("p1", 1010.0, limit=2)] == [3.0, 4.0]
    assert history.samples("p1", 1010.0, limit=0) == [] and history.samples("zz", 0.0) == []
    history.detach()
    bus.publish(BusMessage("p1", temp(5.0), 1011.0))
    assert len(history.samples("p1", 1011.0)) == 3


def test_cutoff() -> None:
    history = TemperatureHistory(["p1"])
    history.record(BusMessage("p1", temp(1.0), 0.0))
    history.record(BusMessage("p1", temp(2.0), 100.0))
    assert len(history.samples("p1", 100.0 + CUTOFF_MINUTES * 60 - 50)) == 1
