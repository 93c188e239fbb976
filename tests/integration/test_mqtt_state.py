"""Outbound state: retained topics, telemetry, events, terminal, Home Assistant discovery."""

from __future__ import annotations

import re
import time
from typing import Any, Iterator

import pytest

from mqttprint.protocol.states import FLAG_NAMES
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, gateway_availability, retained_now, running_gateway, unique_base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(broker: Any) -> Iterator[tuple[Any, str, Watcher]]:
    base = unique_base()
    w = Watcher(broker, [f"{base}/#", "hatest/#"])
    try:
        with running_gateway(broker, base, mqtt={"terminal": True, "telemetry_interval": 0.3},
                             homeassistant={"discovery": True, "prefix": "hatest"}, gateway={"id": "gwtest"},
                             printers=[{"id": "p1", "name": "Desk printer", "port": "sim://marlin",
                                        "temperature_interval": 0.5, "position_interval": 0.5}]) as gw:
            yield gw, base, w
    finally:
        w.close()


def _late(broker: Any, topics: list[str], live: Watcher) -> Watcher:
    """A client subscribing after `live` saw something on each topic: it gets the retained copies."""
    for topic in topics:
        live.wait_for(topic)
    return Watcher(broker, topics)


def test_bridge_healthy_until_stopped(env: tuple[Any, str, Watcher]) -> None:
    gw, _, _ = env
    assert gw.mqtt.healthy()


def test_availability_online_retained(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, _ = env
    gateway = gateway_availability(base, "gwtest")
    late = _late(broker, [gateway, f"{base}/p1/availability", f"{base}/gateway/gwtest/info"], env[2])
    try:
        assert late.wait_for(gateway).payload == b"online"
        assert late.wait_for(gateway).retain
        assert late.wait_for(f"{base}/p1/availability").payload == b"online"
        info = late.wait_for(f"{base}/gateway/gwtest/info")
        assert info.retain and info.json()["id"] == "gwtest" and info.json()["printers"] == [
            {"id": "p1", "name": "Desk printer"}]
        assert info.json()["version"] and info.json()["host"] and info.json()["conflicts"] == []
    finally:
        late.close()


def test_retained_status_shape(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, live = env
    live.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Operational")
    late = _late(broker, [f"{base}/p1/status"], live)
    try:
        msg = late.wait_for(f"{base}/p1/status")
        assert msg.retain
        body = msg.json()
        assert set(body) >= {"state", "flags", "error", "port", "ts"}
        assert set(body["flags"]) == set(FLAG_NAMES) and len(body["flags"]) == 11
        assert body["flags"]["operational"] and body["flags"]["ready"] and not body["flags"]["error"]
        assert body["port"] == "sim://marlin" and body["error"] == ""
        assert abs(body["ts"] - time.time()) < 600
    finally:
        late.close()


def test_retained_temperature_shape(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, _ = env
    late = _late(broker, [f"{base}/p1/temperature"], env[2])
    try:
        msg = late.wait_for(f"{base}/p1/temperature", timeout=5)
        assert msg.retain
        body = msg.json()
        assert set(body["tool0"]) == {"actual", "target"} and isinstance(body["tool0"]["actual"], float)
        assert set(body["bed"]) == {"actual", "target"}
        assert not any(k in body for k in ("T0", "B"))
        assert isinstance(body["ts"], float)
    finally:
        late.close()


def test_temperature_target_published(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", "M140 S45")
    w.wait_json(f"{base}/p1/temperature", lambda d: d["bed"]["target"] == 45.0, timeout=5)
    w.publish(f"{base}/p1/command", "M140 S0")


def test_position_from_firmware(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"commands": ["G90", "G1 X12 Y8 Z3 F6000", "M400", "M114"], "id": "pos"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "pos", timeout=10)
    body = w.wait_json(f"{base}/p1/position", lambda d: d["x"] == 12.0 and d["y"] == 8.0 and d["z"] == 3.0)
    assert {"x", "y", "z", "e", "ts"} <= set(body)
    late = _late(broker, [f"{base}/p1/position"], env[2])
    try:
        assert late.wait_for(f"{base}/p1/position").retain
    finally:
        late.close()


def test_telemetry_is_coalesced(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    topic = f"{base}/p1/position"
    start = len(w.messages(topic))
    w.publish(f"{base}/p1/command", {"commands": ["M114"] * 20 + ["G1 X1 F6000", "M400", "M114"], "id": "burst"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "burst", timeout=10)
    # Trailing edge: the latest value always arrives ...
    w.wait_json(topic, lambda d: d["x"] == 1.0, after=start)
    time.sleep(0.4)
    msgs = w.messages(topic)[start:]
    # ... but never more often than telemetry_interval (0.3 s). The exact schedule is unit-tested on
    # a virtual clock (tests/mqtt/test_publisher_unit.py); here delivery on a loaded machine may
    # bunch messages up, so count them over their span, with a second of slack for that jitter.
    span = msgs[-1].at - msgs[0].at
    assert len(msgs) - 1 <= (span + 1.0) / 0.3, [round(m.at - msgs[0].at, 3) for m in msgs]
    assert len(msgs) < 10


def test_retained_firmware_shape(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, _ = env
    late = _late(broker, [f"{base}/p1/firmware"], env[2])
    try:
        msg = late.wait_for(f"{base}/p1/firmware")
        assert msg.retain
        body = msg.json()
        assert body["name"].startswith("Marlin") and body["version"] and body["version"][0].isdigit()
        assert isinstance(body["capabilities"], dict) and body["capabilities"]
        assert all(isinstance(v, bool) for v in body["capabilities"].values())
    finally:
        late.close()


def test_terminal_stream(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"command": "M115", "id": "term"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "term")
    # The wire bytes: `N<n> M115*<checksum>` (issue 12 item 13), not the bare command.
    wire = re.compile(r"^> N\d+ M115\*\d+$")
    wait_for(lambda: any(wire.match(line) for m in w.messages(f"{base}/p1/terminal")
                         for line in m.payload.decode().splitlines()), what="the numbered M115 on the terminal")
    w.publish(f"{base}/p1/emergency", "M108")  # out of band: on the terminal too
    wait_for(lambda: any(line == "> M108" for m in w.messages(f"{base}/p1/terminal")
                         for line in m.payload.decode().splitlines()), what="the emergency write on the terminal")
    wait_for(lambda: any(line.startswith("< ok") for m in w.messages(f"{base}/p1/terminal")
                         for line in m.payload.decode().splitlines()), what="ok on the terminal")
    assert not any(m.retain for m in w.messages(f"{base}/p1/terminal"))


def test_discovery_message(env: tuple[Any, str, Watcher], broker: Any) -> None:
    _, base, live = env
    topic = "hatest/device/mqttprint_gwtest_p1/config"
    live.wait_json(topic, lambda d: d["dev"]["mdl"] == "Marlin")  # the firmware is known
    late = _late(broker, [topic], live)
    try:
        msg = late.wait_for(topic)
        assert msg.retain and msg.json()["dev"]["mdl"] == "Marlin"
        doc = msg.json()
        assert doc["dev"]["ids"] == ["mqttprint_gwtest_p1"] and doc["dev"]["name"] == "Desk printer"
        assert doc["dev"]["mf"] == "mqttprint" and doc["dev"]["sw"][0].isdigit()
        assert doc["o"]["name"] == "mqttprint" and doc["o"]["sw"]
        assert doc["avty_mode"] == "all"
        assert [a["t"] for a in doc["avty"]] == [f"{base}/p1/availability", f"{base}/p1/status"]
        cmps = doc["cmps"]
        assert cmps["state"]["stat_t"] == f"{base}/p1/status" and "Operational" in cmps["state"]["options"]
        assert cmps["emergency_stop"]["cmd_t"] == f"{base}/p1/emergency"
        assert cmps["tool0_setpoint"]["cmd_t"] == f"{base}/p1/command"
        assert {c["uniq_id"] for c in cmps.values()} == {f"mqttprint_gwtest_p1_{k}" for k in cmps}
        # the heaters the simulated firmware reports (one tool, a bed) have setpoints
        assert {k for k in cmps if k.endswith("_setpoint")} == {"tool0_setpoint", "bed_setpoint"}
    finally:
        late.close()


def test_discovery_republished_on_ha_birth(env: tuple[Any, str, Watcher]) -> None:
    _, _, w = env
    topic = "hatest/device/mqttprint_gwtest_p1/config"
    w.wait_for(topic)
    count = len(w.messages(topic))
    w.publish("hatest/status", "offline")
    w.publish("hatest/status", "online")
    w.wait_for(topic, after=count, timeout=5)


def test_ha_button_payloads_work(env: tuple[Any, str, Watcher]) -> None:
    """What HA's home button and setpoint number publish is accepted as-is."""
    gw, base, w = env
    from tests.helpers.mqtt import executed

    w.publish(f"{base}/p1/command", "M104 S0.0")
    wait_for(lambda: any(c.startswith("M104") for c in executed(gw)), what="M104 executed")


def test_discovery_cleared_when_disabled(broker: Any) -> None:
    base = unique_base()
    prefix = f"ha{unique_base()}"
    topic = f"{prefix}/device/mqttprint_gwx_p1/config"
    w = Watcher(broker, [f"{prefix}/#"])
    try:
        with running_gateway(broker, base, homeassistant={"discovery": True, "prefix": prefix}, operational=False,
                             gateway={"id": "gwx"}):
            w.wait_for(topic, lambda m: len(m.payload) > 0)
        with running_gateway(broker, base, homeassistant={"discovery": False, "prefix": prefix}, operational=False,
                             gateway={"id": "gwx"}):
            w.wait_for(topic, lambda m: m.payload == b"")
        assert not [m for m in retained_now(broker, topic) if m.payload], "a retained config survived"
    finally:
        w.close()


def test_offline_published_on_stop(broker: Any) -> None:
    base = unique_base()
    w = Watcher(broker, [f"{base}/#"])
    try:
        with running_gateway(broker, base):
            w.wait_for(gateway_availability(base), lambda m: m.payload == b"online")
        gone = w.wait_for(gateway_availability(base), lambda m: m.payload == b"offline")
        w.wait_for(f"{base}/p1/availability", lambda m: m.payload == b"offline")
        # The printers stop first: their final Offline status goes out before the gateway's offline.
        final = w.wait_for(f"{base}/p1/status", lambda m: m.json()["state"] == "Offline")
        assert final.at <= gone.at
        late = Watcher(broker, [gateway_availability(base)])
        try:
            assert late.wait_for(gateway_availability(base)).payload == b"offline"
        finally:
            late.close()
    finally:
        w.close()
