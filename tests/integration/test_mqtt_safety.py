"""Inbound safety rules: retained, duplicate, stale and malformed requests never reach the printer."""

from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import pytest

from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, executed, running_gateway, unique_base

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("protocol", [5, 4])
def test_retained_command_is_never_executed(broker: Any, protocol: int) -> None:
    base = unique_base()
    stale = Watcher(broker, [], protocol=protocol)
    try:
        stale.publish(f"{base}/p1/command", "G1 X5 F3000", retain=True)
    finally:
        stale.close()
    w = Watcher(broker, [f"{base}/#"])
    try:
        with running_gateway(broker, base, mqtt={"protocol": protocol}) as gw:
            # A fresh command after start-up proves the gateway is subscribed and working ...
            w.publish(f"{base}/p1/command", {"command": "M114", "id": "fresh"})
            w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "fresh")
            # ... and the stale retained G1 X5 never ran.
            assert not any(c.startswith("G1 X5") for c in executed(gw)), executed(gw)
            if protocol == 4:
                # MQTT 3.1.1 replays retained messages on subscribe: refused with an event.
                event = w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: "retained" in d["error"])
                assert event["topic"] == f"{base}/p1/command"
            # MQTT 5 subscribes with retainHandling=2: the broker never hands the stale command over.
    finally:
        cleaner = Watcher(broker, [])
        cleaner.publish(f"{base}/p1/command", b"", retain=True)  # remove the retained message
        cleaner.close()
        w.close()


@pytest.fixture(scope="module")
def env(broker: Any) -> Iterator[tuple[Any, str, Watcher]]:
    base = unique_base()
    with running_gateway(broker, base, mqtt={"max_payload": 1024}) as gw:
        watcher = Watcher(broker, [f"{base}/#", "bad/#"])
        try:
            yield gw, base, watcher
        finally:
            watcher.close()


def test_duplicate_id_dropped(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    before = executed(gw).count("G91")
    w.publish(f"{base}/p1/command", {"command": "G91", "id": "dup-1"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "dup-1")
    w.publish(f"{base}/p1/command", {"command": "G91", "id": "dup-1"})
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["id"] == "dup-1" and "duplicate" in d["error"])
    # Only one reply and one execution.
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "dup-sync"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "dup-sync")
    assert len([m for m in w.messages(f"{base}/p1/reply") if m.json()["id"] == "dup-1"]) == 1
    assert executed(gw).count("G91") == before + 1
    # The same id as a number is another request.
    w.publish(f"{base}/p1/command", {"command": "M114", "id": 1})
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "1"})
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == 1)
    w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "1")


@pytest.mark.parametrize("offset, message", [(-120.0, "old"), (600.0, "future")])
def test_stale_or_future_ts_refused(env: tuple[Any, str, Watcher], offset: float, message: str) -> None:
    gw, base, w = env
    rid = f"ts{offset}"
    w.publish(f"{base}/p1/command", {"command": "G1 Y7 F3000", "id": rid, "ts": time.time() + offset})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == rid)
    assert reply["ok"] is False and message in reply["error"]
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["id"] == rid)
    assert not any(c.startswith("G1 Y7") for c in executed(gw))


def test_fresh_ts_accepted(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "fresh-ts", "ts": time.time() - 1})
    assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "fresh-ts")["ok"] is True


BAD_PAYLOADS = [
    ("command", b'{"command": "G1 X9", ', "invalid JSON"),
    ("command", b'{"command": ["G1 X9"]}', "must be a string"),
    ("command", b'{"commands": "G1 X9"}', "non-empty list"),
    ("command", b'{"command": "G1 X9", "id": {"a": 1}}', "'id' must be"),
    ("command", b'{"command": "G1 X9", "verbose": true}', "unknown key"),
    ("command", b"G1 X9 \xff\xfe", "UTF-8"),
    ("command", b"G1 X9\x1b[2J", "control character"),
    ("command", b"G1 X9\n" + b"; padding\n" * 200, "limit is 1024"),
    ("command", b"G1 X9 \xc3\xa9", "ASCII"),  # valid UTF-8 but not printable ASCII: refused by the service
    ("command", b"N5 G1 X9", "line numbers"),
    ("connection", b"reconnect", "unknown connection command"),
    ("connection", b'{"command": "connect", "baudrate": "fast"}', "'baudrate' must be an integer"),
    ("emergency", b"G1 X9", "not an emergency command"),
    ("emergency", b"M876", "not an emergency command"),
    ("job", b"explode", "unknown job command"),
]


@pytest.mark.parametrize("kind, payload, message", BAD_PAYLOADS, ids=[f"{k}-{m}" for k, _, m in BAD_PAYLOADS])
def test_bad_payload_refused(env: tuple[Any, str, Watcher], kind: str, payload: bytes, message: str) -> None:
    gw, base, w = env
    before = executed(gw)
    correlation = uuid.uuid4().bytes  # unique per request: earlier replies never match
    w.publish(f"{base}/p1/{kind}", payload, response_topic="bad/replies", correlation_data=correlation)
    reply = w.wait_for("bad/replies", lambda m: m.correlation_data == correlation)
    assert reply.json()["ok"] is False and message in reply.json()["error"], reply.json()
    w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: message in d["error"] and d["topic"].endswith(kind))
    assert executed(gw) == before
    assert not any("X9" in c for c in executed(gw))


def test_bad_payload_without_route_still_evented(env: tuple[Any, str, Watcher]) -> None:
    gw, base, w = env
    w.publish(f"{base}/p1/command", b"G1 X9\x00")
    event = w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: "U+0000" in d["error"])
    assert event["id"] is None and event["topic"] == f"{base}/p1/command"
    assert not any("X9" in c for c in executed(gw))


def test_bad_payload_with_id_replies_on_reply_topic(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    w.publish(f"{base}/p1/command", {"command": 5, "id": "typed"})
    reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "typed")
    assert reply["ok"] is False and "'command' must be a string" in reply["error"]


def test_gateway_survives_a_burst_of_garbage(env: tuple[Any, str, Watcher]) -> None:
    _, base, w = env
    for i in range(30):
        w.publish(f"{base}/p1/command", bytes([i, 0xFF, 0x00]) * (i + 1), qos=0)
    w.publish(f"{base}/p1/command", {"command": "M114", "id": "still-alive"})
    assert wait_for(lambda: any(m.json().get("id") == "still-alive" for m in w.messages(f"{base}/p1/reply")))
