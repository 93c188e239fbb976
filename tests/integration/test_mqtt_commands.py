"""Inbound topics end to end: real mosquitto, the gateway, the in-process Marlin simulator."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, executed, model, running_gateway, unique_base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(broker: Any) -> Iterator[tuple[Any, str, Watcher]]:
    """One gateway (MQTT 5) and one watcher for the module's request/response tests."""
    base = unique_base()
    with running_gateway(broker, base) as gw:
        watcher = Watcher(broker, [f"{base}/#", "replies/#"])
        try:
            yield gw, base, watcher
        finally:
            watcher.close()


def test_m114_with_id_replies_on_reply_topic(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "pos-1"})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "pos-1")
    assert reply["ok"] is True and reply["error"] is None and reply["command"] == "M114"
    assert any("X:" in line and "Y:" in line and "Z:" in line for line in reply["lines"]), reply
    assert "M114" in executed(gw)


def test_numeric_id_and_multi_command_reply(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"commands": ["G91", "M114"], "id": 42})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == 42)
    assert reply["ok"] is True and reply["error"] is None
    assert [r["command"] for r in reply["replies"]] == ["G91", "M114"]
    assert all(r["ok"] for r in reply["replies"])
    assert any("X:" in line for line in reply["replies"][1]["lines"])


def test_mqtt5_request_response_json(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    correlation = bytes(range(256))  # every byte value: echoed exactly, never decoded
    w.publish(f"{base}/p1/command", {"command": "M114"}, response_topic="replies/json", correlation_data=correlation)
    msg = w.wait_for("replies/json")
    assert msg.correlation_data == correlation
    body = msg.json()
    assert body["id"] is None and body["ok"] is True and any("X:" in line for line in body["lines"])
    assert not w.messages(f"{base}/p1/reply") or all(m.json()["id"] is not None for m in w.messages(f"{base}/p1/reply"))


def test_mqtt5_request_response_plain_text(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", "G90\nM114", response_topic="replies/text", correlation_data=b"\x00\xffcorr")
    msg = w.wait_for("replies/text")
    assert msg.correlation_data == b"\x00\xffcorr"
    body = msg.json()
    assert body["ok"] is True and [r["command"] for r in body["replies"]] == ["G90", "M114"]


def test_mqtt5_request_error_reply_goes_to_response_topic(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    before = len(executed(gw))
    w.publish(f"{base}/p1/command", "G1 X1\x07", response_topic="replies/err", correlation_data=b"e1")
    msg = w.wait_for("replies/err")
    assert msg.correlation_data == b"e1"
    assert msg.json()["ok"] is False and "control character" in msg.json()["error"]
    event = w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["topic"] == f"{base}/p1/command"
                        and "control character" in d["error"])
    assert "ts" in event and event["id"] is None
    assert len(executed(gw)) == before


def test_response_topic_that_is_a_request_topic_is_refused(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    before = len(executed(gw))
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "loop"}, response_topic=f"{base}/p1/command")
    # A reply there would become a request: the request is refused, the refusal goes to B/reply.
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "loop")
    assert reply["ok"] is False and "ResponseTopic" in reply["error"]
    assert "M114" not in executed(gw)[before:]


def test_unknown_gcode_reply_carries_the_firmware_line(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"command": "M9999", "id": "unknown-code"})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "unknown-code")
    assert reply["command"] == "M9999"
    # Marlin acknowledges unknown codes with `ok` after an echo line: the caller sees that line.
    assert any("Unknown command" in line for line in reply["lines"]), reply


def test_dispatch_error_gets_immediate_reply(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    before = len(executed(gw))
    w.publish(f"{base}/p1/command", {"command": "M110 N5", "id": "m110"})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "m110")
    assert reply["ok"] is False and "M110" in reply["error"]
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["id"] == "m110")
    assert len(executed(gw)) == before


def test_unknown_emergency_code_refused(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    seen_before = list(model(gw).emergency_seen)
    w.publish(f"{base}/p1/emergency", "G28", response_topic="replies/em", correlation_data=b"bad-em")
    msg = w.wait_for("replies/em", lambda m: m.correlation_data == b"bad-em")
    assert msg.json()["ok"] is False and "not an emergency command" in msg.json()["error"]
    w.publish(f"{base}/p1/emergency", "M999")
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: "'M999' is not an emergency" in d["error"])
    assert model(gw).emergency_seen == seen_before
    assert "G28" not in executed(gw)


@pytest.mark.parametrize("payload, code", [("M108", "M108"), ("M876 S1", "M876 S1"), ("M410", "M410"),
                                           ("M524", "M524")])
def test_non_halting_emergency_codes(env: tuple[Any, str, Watcher], payload: str, code: str) -> None:
    gw, base, w = env
    w.publish(f"{base}/p1/emergency", payload)
    wait_for(lambda: any(code.split()[0] in seen for seen in model(gw).emergency_seen),
             what=f"{code} at the simulator")


def test_connection_disconnect_and_connect(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    status = f"{base}/p1/status"
    w.publish(f"{base}/p1/connection", "disconnect")
    w.wait_json(status, lambda d: d["state"] == "Offline" and d["flags"]["closedOrError"])
    w.wait_json(f"{base}/p1/event/Disconnected")
    w.publish(f"{base}/p1/connection", {"command": "connect", "id": "c1"})
    assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "c1")["ok"] is True
    w.wait_json(status, lambda d: d["state"] == "Operational" and d["flags"]["ready"], timeout=10)
    w.wait_json(f"{base}/p1/event/Connected", lambda d: d["port"] == "sim://marlin")
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "after-reconnect"})
    assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "after-reconnect")["ok"] is True


def test_not_operational_is_an_error_reply(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base, printers=[{"id": "p1", "port": "sim://marlin", "autoconnect": False}],
                         operational=False) as gw:
        w = Watcher(broker, [f"{base}/#"])
        try:
            wait_for(lambda: gw.mqtt.connected() and gw.mqtt.subscribed())  # type: ignore[union-attr]
            w.publish(f"{base}/p1/command", {"command": "G28", "id": 1})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == 1)
            assert reply["ok"] is False and "not operational" in reply["error"]
            w.publish(f"{base}/p1/emergency", "PRESS")
            w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["topic"].endswith("/emergency")
                        and "not connected" in d["error"])
        finally:
            w.close()


def test_mqtt311_mode_replies_by_id(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base, mqtt={"protocol": 4}) as gw:
        w = Watcher(broker, [f"{base}/#"], protocol=4)
        try:
            w.publish(f"{base}/p1/command", {"command": "M114", "id": "v311"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "v311")
            assert reply["ok"] is True and any("X:" in line for line in reply["lines"])
            w.publish(f"{base}/p1/command", "G1 X3 F3000")  # plain text, no reply route: just executed
            wait_for(lambda: any(c.startswith("G1 X3") for c in executed(gw)), what="G1 X3 executed")
            # Without No Local the broker echoes our own B/system publication back: never a request.
            w.wait_for(f"{base}/p1/system")
            assert not w.messages(f"{base}/p1/event/CommandRejected")
        finally:
            w.close()


def test_emergency_reaches_simulator_and_status_goes_error(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base) as gw:
        w = Watcher(broker, [f"{base}/#"])
        try:
            sim = model(gw)
            w.publish(f"{base}/p1/emergency", "PRESS")
            wait_for(lambda: sim.emergency_seen == ["M112"], what="M112 at the simulator")
            status = w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Error")
            assert status["flags"]["error"] is True and status["error"]
            event = w.wait_json(f"{base}/p1/event/EmergencyStop")
            assert event["command"] == "M112" and "ts" in event
            w.wait_json(f"{base}/p1/event/Error")
            assert sim.killed
        finally:
            w.close()


def test_emergency_inside_command_payload_takes_fast_path(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base) as gw:
        w = Watcher(broker, [f"{base}/#"])
        try:
            sim = model(gw)
            w.publish(f"{base}/p1/command", {"command": "M112", "id": "e-1"})
            wait_for(lambda: sim.emergency_seen == ["M112"], what="M112 at the simulator")
            w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "e-1")
            w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Error")
        finally:
            w.close()


def test_two_printers_one_connection(broker: Any) -> None:
    base = unique_base()
    printers = [{"id": "p1", "port": "sim://marlin"}, {"id": "p2", "port": "sim://second"}]
    w = Watcher(broker, [f"{base}/#"])
    try:
        with running_gateway(broker, base, printers=printers) as gw:
            wait_for(lambda: gw.printers["p2"].snapshot().operational, what="p2 Operational")
            w.wait_for(f"{base}/p1/availability", lambda m: m.payload == b"online")
            w.wait_for(f"{base}/p2/availability", lambda m: m.payload == b"online")
            w.publish(f"{base}/p2/command", {"command": "G1 X7 F6000", "id": "only-p2"})
            assert w.wait_json(f"{base}/p2/reply", lambda d: d["id"] == "only-p2")["ok"] is True
            assert any(c.startswith("G1 X7") for c in executed(gw, "p2"))
            assert not any(c.startswith("G1 X7") for c in executed(gw, "p1"))
            w.publish(f"{base}/p2/emergency", "PRESS")
            wait_for(lambda: model(gw, "p2").emergency_seen == ["M112"], what="M112 on p2")
            assert model(gw, "p1").emergency_seen == []
            assert not w.messages(f"{base}/p1/reply")
        for pid in ("p1", "p2"):
            w.wait_for(f"{base}/{pid}/availability", lambda m: m.payload == b"offline")
    finally:
        w.close()
