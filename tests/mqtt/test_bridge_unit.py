"""The bridge's request pipeline without a broker: a fake registry and a recording publisher."""

from __future__ import annotations

import json
import time
from typing import Any, Optional

import pytest

from mqttprint.config import parse_config
from mqttprint.mqtt import topics
from mqttprint.mqtt.bridge import MqttBridge
from mqttprint.mqtt.client import InboundMessage
from mqttprint.mqtt.publisher import Publication
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.params import EngineParams
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, Request
from mqttprint.protocol.events import CommandFinished
from mqttprint.runtime.printer_service import CommandHandle, PrinterService
from mqttprint.runtime.serial_link import LinkSettings


class Harness:
    def __init__(self, **mqtt: Any) -> None:
        config = parse_config({"mqtt": {"base_topic": "b", **mqtt}, "rest": {"enabled": False},
                               "printers": [{"id": "p1", "port": "sim://marlin"}]})
        bus = EventBus()
        printers = {"p1": PrinterService("p1", LinkSettings("sim://marlin"), EngineParams(), bus)}
        self.registry = CommandRegistry(Context(printers, "p1"))
        self.calls: list[Request] = []
        self.handles: list[CommandHandle] = []
        self.fail: Optional[Exception] = None
        self.registry.register("printer.command", self._command, "test")
        self.registry.register("connection.connect", lambda ctx, req: self._record(req, ActionResult({"state": "x"})),
                               "test")
        self.bridge = MqttBridge(config, self.registry, bus, printers)
        self.sent: list[Publication] = []
        self.bridge.publisher.send = self.sent.append  # type: ignore[method-assign]

    def _record(self, request: Request, result: ActionResult) -> ActionResult:
        self.calls.append(request)
        return result

    def _command(self, ctx: Context, request: Request) -> ActionResult:
        if self.fail is not None:
            raise self.fail
        args = request.args
        commands = [args["command"]] if "command" in args else list(args["commands"])
        handles = [CommandHandle(c) for c in commands]
        self.handles.extend(handles)
        return self._record(request, ActionResult({"queued": len(handles)}, tuple(handles)))

    def deliver(self, kind: str, payload: bytes | str, *, retain: bool = False, response_topic: Optional[str] = None,
                correlation: Optional[bytes] = None) -> None:
        topic = f"b/p1/{kind}"
        raw = payload.encode() if isinstance(payload, str) else payload
        message = InboundMessage(topic, raw, 1, retain, response_topic, correlation)
        inbound = topics.parse_inbound("b", topic, ["p1"])
        assert inbound is not None
        self.bridge._handle(message, inbound)

    def published(self, topic: str) -> list[Any]:
        return [json.loads(p.payload) for p in self.sent if p.topic == topic]


def _finish(handle: CommandHandle, ok: bool = True, lines: tuple[str, ...] = ()) -> None:
    handle._complete(CommandFinished(0, handle.command, ok, lines, "" if ok else "failed", 0.0, 0.0))


def test_reply_waits_for_every_handle() -> None:
    h = Harness()
    h.deliver("command", json.dumps({"commands": ["G28", "M114"], "id": 5}))
    assert h.published("b/p1/reply") == []
    _finish(h.handles[0])
    assert h.published("b/p1/reply") == []
    _finish(h.handles[1], lines=("X:1.00 Y:2.00 Z:3.00",))
    (reply,) = h.published("b/p1/reply")
    assert reply["id"] == 5 and reply["ok"] is True and reply["replies"][1]["lines"] == ["X:1.00 Y:2.00 Z:3.00"]


def test_reply_timeout() -> None:
    h = Harness()
    h.deliver("command", "M109 S200", response_topic="r/1", correlation=b"\x01")
    h.bridge._expire_replies(time.monotonic() + 61)
    (pub,) = [p for p in h.sent if p.topic == "r/1"]
    assert pub.correlation_data == b"\x01"
    assert json.loads(pub.payload) == {"id": None, "command": "M109 S200", "lines": [], "ok": False, "error": "timeout"}
    _finish(h.handles[0])  # a late result is ignored: exactly one reply
    assert len([p for p in h.sent if p.topic == "r/1"]) == 1


def test_no_route_no_reply_but_executes() -> None:
    h = Harness()
    h.deliver("command", "G28")
    _finish(h.handles[0])
    assert h.calls and h.published("b/p1/reply") == []


def test_reply_false_suppresses_reply_topic() -> None:
    h = Harness()
    h.deliver("command", json.dumps({"command": "G28", "id": 1, "reply": False}))
    _finish(h.handles[0])
    assert h.published("b/p1/reply") == []
    h.deliver("command", json.dumps({"command": "G28", "reply": True}))
    _finish(h.handles[1])
    assert h.published("b/p1/reply")[0]["id"] is None


@pytest.mark.parametrize("error", [InvalidCommand("bad line"), NotOperational("printer is not operational (Offline)"),
                                   RuntimeError("boom")])
def test_dispatch_errors_reply_and_event(error: Exception) -> None:
    h = Harness()
    h.fail = error
    h.deliver("command", json.dumps({"command": "G28", "id": "x"}))
    (reply,) = h.published("b/p1/reply")
    assert reply["ok"] is False and str(error) in reply["error"]
    (event,) = h.published("b/p1/event/CommandRejected")
    assert event["id"] == "x" and event["topic"] == "b/p1/command" and str(error) in event["error"]


def test_retained_refused() -> None:
    h = Harness()
    h.deliver("command", "G28", retain=True)
    assert h.calls == []
    (event,) = h.published("b/p1/event/CommandRejected")
    assert "retained" in event["error"]


def test_duplicates_dropped_only_after_acceptance() -> None:
    h = Harness()
    h.deliver("command", json.dumps({"command": "G28", "id": 7}))
    h.deliver("command", json.dumps({"command": "G28", "id": 7}))  # a QoS 1 redelivery: dropped
    assert len(h.calls) == 1
    (event,) = h.published("b/p1/event/CommandRejected")
    assert event["id"] == 7 and "duplicate" in event["error"]
    # A refused id is never remembered: the corrected retry runs (issue 12 item 9).
    h.fail = InvalidCommand("bad line")
    h.deliver("command", json.dumps({"command": "G28", "id": "retry"}))
    h.fail = None
    h.deliver("command", json.dumps({"command": "G28", "id": "retry"}))
    assert [c.args for c in h.calls[1:]] == [{"command": "G28"}]


def test_duplicate_window_zero_remembers_nothing() -> None:
    h = Harness(duplicate_window=0)
    for _ in range(3):
        h.deliver("command", json.dumps({"command": "G28", "id": "ha-m114"}))
    assert len(h.calls) == 3


def test_action_without_handles_replies_at_once() -> None:
    h = Harness()
    h.deliver("connection", json.dumps({"command": "connect", "id": 3}))
    assert h.calls[0].args == {} and h.calls[0].printer_id == "p1" and h.calls[0].source == "mqtt"
    assert h.published("b/p1/reply") == [{"id": 3, "action": "connection.connect", "ok": True, "error": None,
                                          "data": {"state": "x"}}]


def test_missing_actions_not_available() -> None:
    h = Harness()
    h.deliver("emergency", "PRESS", response_topic="r/e", correlation=b"c")  # printer.emergency not registered here
    assert "not available yet" in json.loads(h.sent[0].payload)["error"]


@pytest.mark.parametrize("response_topic", ["r/#", "b/p1/status", "b/availability", "b/p1/command", "b/p2/reply",
                                            "homeassistant/device/mqttprint_p1/config", "$SYS/x",
                                            "b/gateway/rack2/info", "b/gateway/rack2/reply/x"])
def test_unsafe_response_topic_refused(response_topic: str) -> None:
    """Replies must never overwrite the gateway's own topics or HA discovery (issue 12 item 10)."""
    h = Harness()
    h.deliver("command", json.dumps({"command": "G28", "id": "rt"}), response_topic=response_topic, correlation=b"c")
    assert h.calls == []
    assert not [p for p in h.sent if p.topic == response_topic]
    (reply,) = h.published("b/p1/reply")
    assert reply["id"] == "rt" and reply["ok"] is False and "ResponseTopic" in reply["error"]
    (event,) = h.published("b/p1/event/CommandRejected")
    assert event["id"] == "rt"


@pytest.mark.parametrize("response_topic", ["b/p1/reply", "b/p1/reply/client-7", "replies/me", "b2/x",
                                            "b/gateway/rack2/reply"])
def test_reply_namespace_and_foreign_topics_allowed(response_topic: str) -> None:
    h = Harness()
    h.deliver("command", "G28", response_topic=response_topic, correlation=b"c")
    _finish(h.handles[0])
    assert [p.correlation_data for p in h.sent if p.topic == response_topic] == [b"c"]


def test_busy_refusal_carries_the_id() -> None:
    h = Harness(request_queue=1)
    assert h.bridge._lanes.submit("p1", None)  # type: ignore[arg-type]  # not started: the lane stays full
    message = InboundMessage("b/p1/command", json.dumps({"command": "M105", "id": "q2"}).encode(), 1, False)
    h.bridge._on_message(message)
    (reply,) = h.published("b/p1/reply")
    assert reply == {"id": "q2", "ok": False, "error": reply["error"]} and "mqtt.request_queue" in reply["error"]
    (event,) = h.published("b/p1/event/CommandRejected")
    assert event["id"] == "q2"


def test_emergency_is_never_refused_for_age_but_runs_once_per_id() -> None:
    h = Harness(max_command_age=5)
    h.registry.register("printer.emergency", lambda ctx, req: h._record(req, ActionResult({"command": "M112"})),
                        "test")
    stale = time.time() - 3600  # held up by a bridge for an hour: still wanted
    h.deliver("emergency", json.dumps({"command": "M112", "id": "stop-1", "ts": stale}))
    h.deliver("emergency", json.dumps({"command": "M112", "id": "stop-1", "ts": stale}))  # QoS 1 redelivery
    assert [c.action for c in h.calls] == ["printer.emergency"]
    # long after mqtt.duplicate_window (a bridge delivering its copy late): still only once
    assert h.bridge._emergency_seen["p1"].window >= 3600
    seen = h.bridge._emergency_seen["p1"]._accepted
    for key in seen:
        seen[key] -= 600  # as if the first copy ran 10 minutes ago
    h.deliver("emergency", json.dumps({"command": "M112", "id": "stop-1", "ts": stale}))
    assert [c.action for c in h.calls] == ["printer.emergency"]
    h.deliver("command", json.dumps({"command": "G28", "id": "g-1", "ts": stale}))  # every other path: refused
    assert [c.action for c in h.calls] == ["printer.emergency"]
    (rejected,) = [r for r in h.published("b/p1/reply") if r["id"] == "g-1"]
    assert rejected["ok"] is False and "old" in rejected["error"]
