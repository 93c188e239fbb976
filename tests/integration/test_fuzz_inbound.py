"""Hypothesis fuzzing of every inbound MQTT topic and every REST JSON body (issue 12).

One gateway (real mosquitto, real HTTP, the simulator behind a real serial link). Every
generated request must end in a clear answer:

* MQTT: every request carries an MQTT 5 ResponseTopic, so every one, accepted or refused, must
  get exactly one reply there; a refusal (`{"id", "ok": false, "error"}`) carries the request's
  id when the JSON had a valid one, and no byte of it reaches the printer.
* REST: never a 5xx other than 503/504, errors are `{"error": ...}` JSON, and a 4xx sends no
  byte to the printer.
* Nothing is logged at ERROR (no unhandled exception) while it runs.

Bounded in time: a fixed number of examples per test, each waiting only for its own answer.
A request that was accepted may disconnect or halt the printer (`disconnect`, `M112`): the
printer is brought back before the next example.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Iterator, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher
from tests.helpers.rest import Api, start_gateway

pytestmark = pytest.mark.integration

BOUNDED = settings(max_examples=60, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = ["command", "commands", "id", "ts", "reply", "port", "baudrate", "file", "action", "source", "x", "y", "z",
        "target", "targets", "factor", "amount", "tool", "axes", "speed", "parameters", "decision", "app", "user",
        "passive", "offset", "offsets", "absolute", "timeout", "select", "print", "fiel"]
WORDS = ["M114", "M105", "G28", "G91", "M117 hi", "M112", "M108", "M410", "M876 S1", "connect", "disconnect",
         "start", "pause", "resume", "cancel", "restart", "toggle", "jog", "home", "target", "select", "PRESS",
         "sim://marlin", "socket://127.0.0.1:9", "/etc/passwd", "auto", "%(a)s", "%(a)200000000s", "x.gcode",
         "tool0", "bed", ""]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.integers(-5, 300),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(WORDS),
                    st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.sampled_from(KEYS + WORDS), inner, max_size=3)),
                      max_leaves=6)
OBJECTS = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), VALUES, max_size=5)
TOPICS = ["command", "emergency", "connection", "job", "system/custom/x", "system/core/shutdown", "system/a",
          "system/a/b/c"]
ROUTES = ["/api/printer/command", "/api/printer/printhead", "/api/printer/tool", "/api/printer/bed",
          "/api/connection", "/api/job", "/api/files/local/x.gcode", "/api/login", "/plugin/appkeys/request",
          "/plugin/appkeys/decision/nope", "/api/system/commands/custom/x", "/api/system/commands/core/shutdown",
          "/printer/p1/api/printer/command", "/printer/nope/api/job"]


class ErrorRecords(logging.Handler):
    """Every record at ERROR or above (an unhandled exception is logged there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Watcher, str, ErrorRecords]]:
    base = f"fuzz{uuid.uuid4().hex[:8]}"
    # No polling (temperatures are auto-reported, positions not asked for): the only bytes to
    # the printer come from the requests themselves.
    printers = [{"id": "p1", "port": "sim://marlin", "position_interval": 0, "temperature_interval": 0}]
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("fuzz"), base, printers)
    errors = ErrorRecords()
    logging.getLogger("mqttprint").addHandler(errors)
    watcher = Watcher(broker, [f"{base}-replies/#"])
    try:
        api.wait_operational()
        # The printer's own MQTT connection opens after the gateway's (fleet sync), and a request
        # published before the broker acknowledged its subscriptions would be lost: wait for both.
        wait_for(lambda: gateway.mqtt is not None and gateway.mqtt.connected() and gateway.mqtt.subscribed(),
                 what="MQTT connections up and subscribed")
        yield api, watcher, base, errors
    finally:
        logging.getLogger("mqttprint").removeHandler(errors)
        watcher.close()
        api.session.close()
        gateway.stop()


def _wire(api: Api) -> tuple[Any, int, int]:
    """The open simulated port and how many lines / emergency codes reached it so far."""
    port = api.printer().link.port
    if port is None:
        return None, 0, 0
    with port.lock:
        return port, port.model._journal.received_total, len(port.model.emergency_seen)


def _restore(api: Api) -> None:
    """Bring the printer back to Operational and idle after an accepted request."""
    if api.state() != "Operational":
        api.printer().connect()
        api.wait_operational()
    api.wait_quiet(settle=0.05)


def _refusal(reply: dict[str, Any]) -> bool:
    return reply.get("ok") is False and not {"command", "replies", "action"} & set(reply)


def _valid_id(obj: Any) -> Optional[Any]:
    if not isinstance(obj, dict):
        return None
    rid = obj.get("id")
    if isinstance(rid, str) and 0 < len(rid) <= 128 and rid.isprintable():
        return rid
    if isinstance(rid, int) and not isinstance(rid, bool) and abs(rid) <= 2**53:
        return rid
    return None


def _no_errors(errors: ErrorRecords) -> None:
    assert not errors.records, [r.getMessage() for r in errors.records]


@BOUNDED
@given(topic=st.sampled_from(TOPICS),
       payload=st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                         st.sampled_from(WORDS).map(str.encode),
                         OBJECTS.map(lambda o: json.dumps(o).encode()),
                         OBJECTS.map(lambda o: json.dumps({**o, "id": f"fz-{uuid.uuid4().hex[:8]}"}).encode())),
       retain=st.booleans())
def test_every_mqtt_request_is_answered(fuzz: tuple[Api, Watcher, str, ErrorRecords], topic: str, payload: bytes,
                                        retain: bool) -> None:
    api, w, base, errors = fuzz
    correlation = uuid.uuid4().bytes
    port, lines, emergencies = _wire(api)
    target = f"{base}/p1/{topic}"
    w.publish(target, payload, retain=retain, response_topic=f"{base}-replies/r", correlation_data=correlation)
    if retain:
        w.publish(target, b"", retain=True)  # never leave a stored request behind (refused as empty)
    found = wait_for(lambda: [m for m in w.messages(f"{base}-replies/r") if m.correlation_data == correlation],
                     what=f"the reply to {payload[:40]!r} on {topic}")
    assert len(found) == 1
    reply = found[0].json()
    try:
        document = json.loads(payload)
    except ValueError:
        document = None
    rid = _valid_id(document)
    if rid is not None and (not retain and payload.strip()):
        assert reply["id"] == rid, reply
    if _refusal(reply):
        assert _wire(api) == (port, lines, emergencies), f"a refused request reached the printer: {reply}"
    else:
        _restore(api)
    _no_errors(errors)


@BOUNDED
@given(route=st.sampled_from(ROUTES),
       body=st.one_of(OBJECTS.map(lambda o: json.dumps(o).encode()), st.binary(max_size=40),
                      st.sampled_from([b'{"command": "connect", "command": "disconnect"}', b'{"target": NaN}',
                                       b'{"command": "target", "target": ' + b"9" * 400 + b"}",
                                       b'{"command": "M117 %(a)c", "parameters": {"a": 1114112}}'])))
def test_every_rest_body_gets_a_clear_answer(fuzz: tuple[Api, Watcher, str, ErrorRecords], route: str,
                                             body: bytes) -> None:
    api, _, _, errors = fuzz
    port, lines, emergencies = _wire(api)
    response = api.call("POST", route, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code < 500 or response.status_code in (503, 504), (route, body, response.text)
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/json"), response.text
        assert isinstance(response.json().get("error"), str)
        if response.status_code < 500:
            assert _wire(api) == (port, lines, emergencies), f"a refused request reached the printer: {response.text}"
    else:
        _restore(api)
    _no_errors(errors)
