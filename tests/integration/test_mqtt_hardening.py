"""Issue 12 (adversarial run) against the real broker and the simulator: empty payloads never act,
retained requests are refused even when delivered live, unknown and duplicate keys are refused,
and connection requests cannot name a port of their own."""

from __future__ import annotations

import socket
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
