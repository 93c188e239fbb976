"""The fleet's presence and clash decisions without a broker: a recording client, messages by hand."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

from mqttprint.config import parse_config
from mqttprint.mqtt import fleet as fleet_module
from mqttprint.mqtt.client import InboundMessage
from mqttprint.mqtt.fleet import Fleet
from mqttprint.runtime.commands import CommandRegistry, Context


class FakeClient:
    mqtt5 = True

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, bool]] = []
        self.subscribed: list[str] = []

    def subscribe(self, filters: list[str], *, commands: bool) -> None:
        self.subscribed += filters

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, **kw: Any) -> object:
        self.published.append((topic, payload, retain))
        return object()

    def wait(self, handle: Optional[object], timeout: float) -> bool:
        return True


def make() -> tuple[Fleet, FakeClient, list[frozenset[str]], list[str]]:
    config = parse_config({"gateway": {"id": "me"}, "mqtt": {"base_topic": "f"}, "rest": {"enabled": False},
                           "printers": [{"id": "a", "port": "sim://a"}, {"id": "b", "port": "sim://b"}]})
    client = FakeClient()
    settled: list[frozenset[str]] = []
    yielded: list[str] = []
    fleet = Fleet(config, client, CommandRegistry(Context({}, None)), settled.append, yielded.append)  # type: ignore[arg-type]
    return fleet, client, settled, yielded


def deliver(fleet: Fleet, topic: str, payload: bytes) -> None:
    assert fleet.on_message(InboundMessage(topic, payload, 1, True))


def other(gid: str, printers: list[str], since: float) -> bytes:
    return json.dumps({"id": gid, "printers": [{"id": p, "name": p} for p in printers], "since": since}).encode()


def test_probe_return_settles_and_refuses_ids_an_online_gateway_serves() -> None:
    fleet, client, settled, _ = make()
    fleet.on_connect()
    assert "f/gateway/+/info" in client.subscribed and "f/gateway/me/sync" in client.subscribed
    deliver(fleet, "f/gateway/rack1/info", other("rack1", ["a"], 1.0))
    deliver(fleet, "f/gateway/rack1/availability", b"online")
    assert settled == []  # printers wait for the probe
    probe = [p for t, p, _ in client.published if t == "f/gateway/me/sync"][-1]
    deliver(fleet, "f/gateway/me/sync", probe)
    assert settled == [frozenset({"b"})] and fleet.conflicts == {"a": "rack1"}
    info = json.loads([p for t, p, r in client.published if t == "f/gateway/me/info" and r][-1])
    assert info["printers"] == [{"id": "b", "name": "b"}] and info["conflicts"] == ["a"]
    assert ("f/gateway/me/availability", b"online", True) in client.published


def test_settles_without_the_probe_after_the_timeout() -> None:
    fleet, client, settled, _ = make()
    fleet.on_connect()
    start = time.monotonic()
    fleet.tick(start + fleet_module.SYNC_TIMEOUT / 2)
    assert settled == []
    fleet.tick(start + fleet_module.SYNC_TIMEOUT + 1)
    assert settled == [frozenset({"a", "b"})]
    fleet.tick(start + 100)  # once only
    assert len(settled) == 1


def test_a_gateway_online_earlier_wins_a_late_clash() -> None:
    fleet, client, settled, yielded = make()
    fleet.on_connect()
    fleet.tick(time.monotonic() + 100)
    deliver(fleet, "f/gateway/old/availability", b"online")
    deliver(fleet, "f/gateway/old/info", other("old", ["a"], fleet.since - 60))
    assert yielded == ["a"] and fleet.conflicts == {"a": "old"} and fleet.held() == frozenset({"b"})
    deliver(fleet, "f/gateway/new/availability", b"online")
    deliver(fleet, "f/gateway/new/info", other("new", ["b"], fleet.since + 60))
    assert yielded == ["a"]  # came later: it must yield, we keep b
