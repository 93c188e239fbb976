"""Issue 12 (adversarial run) against the real broker and the simulator: empty payloads never act,
retained requests are refused even when delivered live, unknown and duplicate keys are refused,
and connection requests cannot name a port of their own."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from mqttprint.protocol.states import PrinterState
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, executed, running_gateway, unique_base

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Watcher, Path]]:
    marker = tmp_path_factory.mktemp("hardening") / "ran"
    base = unique_base()
    system = {"actions": [{"action": "make", "name": "Make", "command": f"touch {marker}"}]}
    with running_gateway(broker, base, system=system) as gw:
        watcher = Watcher(broker, [f"{base}/#"])
        try:
            yield gw, base, watcher, marker
        finally:
            watcher.close()


def _rejected(w: Watcher, base: str, text: str, after: int = 0) -> Any:
    return w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: text in d["error"], after=after)


def _rejections(w: Watcher, base: str) -> int:
    return len(w.messages(f"{base}/p1/event/CommandRejected"))


@pytest.mark.parametrize("retain", [True, False])
def test_empty_payload_never_stops_the_printer(env: tuple[Any, str, Watcher, Path], retain: bool) -> None:
    """`mosquitto_pub -r -n -t B/emergency` (how a retained message is cleared) must not send M112."""
    gw, base, w, _ = env
    after = _rejections(w, base)
    w.publish(f"{base}/p1/emergency", b"", retain=retain)
    event = _rejected(w, base, "empty payload", after)
    assert event["topic"] == f"{base}/p1/emergency"
    assert "M112" not in executed(gw)
    assert gw.printers["p1"].snapshot().state is PrinterState.OPERATIONAL


def test_empty_payload_never_runs_a_system_command(env: tuple[Any, str, Watcher, Path]) -> None:
    gw, base, w, marker = env
    after = _rejections(w, base)
    w.publish(f"{base}/p1/system/custom/make", b"", retain=True)
    _rejected(w, base, "empty payload", after)
    assert not marker.exists()
    # The explicit payload runs it (so the refusal above was not a broken system topic).
    w.publish(f"{base}/p1/system/custom/make", {"id": "sys-1"})
    assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "sys-1")["ok"] is True
    wait_for(marker.exists, what="the marker of the system command")


def test_retained_request_refused_when_delivered_live(env: tuple[Any, str, Watcher, Path]) -> None:
    """The broker clears the retain flag on live delivery unless the subscription asks for
    retain-as-published (MQTT 5): a `-r` request must be refused now, not executed and stored."""
    gw, base, w, _ = env
    after = _rejections(w, base)
    try:
        w.publish(f"{base}/p1/command", "M117 RETAINED-LIVE", retain=True)
        _rejected(w, base, "retained", after)
    finally:
        w.publish(f"{base}/p1/command", b"", retain=True)  # clear it: refused as empty, never run
    _rejected(w, base, "empty payload", after)
    assert not any("RETAINED-LIVE" in line for line in executed(gw))


def test_unknown_key_never_starts_the_selected_file(env: tuple[Any, str, Watcher, Path]) -> None:
    gw, base, w, _ = env
    w.publish(f"{base}/p1/job", {"command": "start", "fiel": "other.gcode", "id": "typo"})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "typo")
    assert reply["ok"] is False and "unknown key 'fiel'" in reply["error"]
    assert gw.printers["p1"].snapshot().state is PrinterState.OPERATIONAL


def test_duplicate_keys_refused(env: tuple[Any, str, Watcher, Path]) -> None:
    gw, base, w, _ = env
    w.publish(f"{base}/p1/command", b'{"command": "M117 FIRST", "command": "M117 SECOND", "id": "dupkey"}')
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "dupkey")
    assert reply["ok"] is False and "duplicate key 'command'" in reply["error"]
    assert not any("FIRST" in line or "SECOND" in line for line in executed(gw))


def test_connection_request_cannot_name_a_port(env: tuple[Any, str, Watcher, Path]) -> None:
    """`socket://host:port` would open a TCP connection anywhere; the port must not stick either."""
    gw, base, w, _ = env
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        target = f"socket://127.0.0.1:{listener.getsockname()[1]}"
        for rid, port in (("port-tcp", target), ("port-file", "/etc/passwd")):
            w.publish(f"{base}/p1/connection", {"command": "connect", "port": port, "id": rid})
            reply = w.wait_json(f"{base}/p1/reply", lambda d, rid=rid: d["id"] == rid)
            assert reply["ok"] is False and "is not allowed" in reply["error"], reply
        # A plain connect afterwards uses the configured port.
        w.publish(f"{base}/p1/connection", {"command": "connect", "id": "plain"})
        assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "plain")["ok"] is True
        wait_for(lambda: gw.printers["p1"].snapshot().state is PrinterState.OPERATIONAL, what="Operational again")
        assert gw.printers["p1"].snapshot().port == "sim://marlin"
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_huge_ts_is_refused_with_the_id(env: tuple[Any, str, Watcher, Path]) -> None:
    """A 400-digit `ts` raised OverflowError: no reply, no event (issue 12 item 6)."""
    gw, base, w, _ = env
    w.publish(f"{base}/p1/command", b'{"command": "M117 TS", "id": "big-ts", "ts": ' + b"9" * 400 + b"}")
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "big-ts")
    assert reply["ok"] is False and "'ts'" in reply["error"]
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["id"] == "big-ts")


def test_refused_id_can_be_retried(env: tuple[Any, str, Watcher, Path]) -> None:
    gw, base, w, _ = env
    w.publish(f"{base}/p1/command", {"command": "M110 N5", "id": "retry-me"})  # refused by the service
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "retry-me" and d["ok"] is False)
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "retry-me"})
    assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "retry-me" and d.get("ok") is True)


@pytest.mark.parametrize("response_topic", ["{base}/p1/status", "{base}/availability", "homeassistant/status"])
def test_response_topic_on_own_topics_refused(env: tuple[Any, str, Watcher, Path], response_topic: str) -> None:
    gw, base, w, _ = env
    topic = response_topic.format(base=base)
    rid = f"rt-{topic}"
    before = len(w.messages(topic))
    w.publish(f"{base}/p1/command", {"command": "M117 RT", "id": rid}, response_topic=topic, correlation_data=b"c")
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == rid)
    assert reply["ok"] is False and "ResponseTopic" in reply["error"]
    assert not any(m.correlation_data == b"c" for m in w.messages(topic)[before:])


def test_fixed_id_answers_again_after_the_window(broker: Any) -> None:
    """The HA script example uses one fixed id: every run must get its reply (issue 12 item 9)."""
    base = unique_base()
    window = 0.3
    with running_gateway(broker, base, mqtt={"duplicate_window": window}):
        w = Watcher(broker, [f"{base}/p1/reply"])
        try:
            for run in range(2):
                w.publish(f"{base}/p1/command", {"command": "M114", "id": "ha-m114"})
                w.wait_for(f"{base}/p1/reply", after=run)
                time.sleep(window)  # the window is a duration by definition: let it pass
            assert len(w.messages(f"{base}/p1/reply")) == 2
        finally:
            w.close()


def test_every_busy_refusal_carries_its_id(broker: Any, tmp_path: Path) -> None:
    """Requests beyond mqtt.request_queue are refused, each with its own id (issue 12 item 8)."""
    gate = tmp_path / "open"
    # The system lane runs one command at a time; this one holds it until the test opens the gate.
    wait = {"action": "wait", "name": "Wait", "command": f"sh -c 'while [ ! -e {gate} ]; do sleep 0.01; done'"}
    base = unique_base()
    with running_gateway(broker, base, mqtt={"request_queue": 2}, system={"actions": [wait]}):
        w = Watcher(broker, [f"{base}/p1/reply"])
        try:
            ids = [f"burst-{i}" for i in range(12)]
            for rid in ids:
                w.publish(f"{base}/p1/system/custom/wait", {"id": rid})
            # one runs, two wait in the queue: at least nine are refused at once, each with its id
            busy = wait_for(lambda: (lambda b: b if len(b) >= 9 else None)(
                [m.json() for m in w.messages(f"{base}/p1/reply") if "busy" in (m.json()["error"] or "")]),
                what="nine busy refusals")
            assert {b["id"] for b in busy} <= set(ids) and len({b["id"] for b in busy}) == len(busy)
            gate.touch()
            wait_for(lambda: {m.json()["id"] for m in w.messages(f"{base}/p1/reply")} == set(ids),
                     what="a reply for every request")
        finally:
            gate.touch()
            w.close()
