"""REST over real HTTP against the simulated Marlin: shapes, codes, G-code reaching the firmware,
and bad input that must never reach it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.rest import Api, ensure_operational, error_of, rest_api, wait_for  # noqa: F401

pytestmark = pytest.mark.integration

FLAGS = {"operational", "printing", "cancelling", "pausing", "resuming", "finishing", "closedOrError", "error",
         "paused", "ready", "sdReady"}


def sent_by(api: Api, action) -> list[str]:  # type: ignore[no-untyped-def]
    """What the firmware executed because of `action()` (waits for the queue to drain)."""
    before = len(api.wait_quiet())
    action()
    return api.wait_quiet()[before:]


def test_printer_state_shape(rest_api: Api) -> None:
    wait_for(lambda: rest_api.printer().snapshot().temperatures, what="a temperature report")
    r = rest_api.get("/api/printer")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"temperature", "state"}
    assert body["state"]["text"] == "Operational" and body["state"]["error"] == ""
    assert set(body["state"]["flags"]) == FLAGS and body["state"]["flags"]["ready"] is True
    assert set(body["temperature"]["tool0"]) == {"actual", "target", "offset"}
    assert isinstance(body["temperature"]["bed"]["actual"], float)
    assert set(rest_api.get("/api/printer?exclude=temperature").json()) == {"state"}


def test_temperature_history(rest_api: Api) -> None:
    wait_for(lambda: len(rest_api.get("/api/printer?history=true").json()["temperature"]["history"]) >= 1,
             timeout=5, what="a history sample")
    history = rest_api.get("/api/printer?history=true&limit=1").json()["temperature"]["history"]
    assert len(history) == 1 and isinstance(history[0]["time"], int) and set(history[0]["tool0"]) == {"actual", "target"}
    tool = rest_api.get("/api/printer/tool?history=true").json()
    assert set(tool) == {"tool0", "history"} and all("bed" not in h for h in tool["history"])
    assert set(rest_api.get("/api/printer/bed").json()) == {"bed"}


def test_m114_with_reply_returns_xyz(rest_api: Api) -> None:
    r = rest_api.post("/api/printer/command", {"command": "M114", "reply": True})
    assert r.status_code == 200
    (reply,) = r.json()["replies"]
    assert reply["command"] == "M114" and reply["ok"] is True and reply["error"] is None
    line = " ".join(reply["lines"])
    for axis in ("X:", "Y:", "Z:"):
        assert axis in line


def test_plain_command_is_204_and_reaches_the_firmware(rest_api: Api) -> None:
    def act() -> None:
        r = rest_api.post("/api/printer/command", {"commands": ["M117 hello", "M400"]})
        assert r.status_code == 204 and r.text == "" and r.headers["Content-Type"].startswith("text/plain")

    assert sent_by(rest_api, act) == ["M117 hello", "M400"]


def test_parameters_are_substituted(rest_api: Api) -> None:
    done = sent_by(rest_api, lambda: rest_api.post("/api/printer/command",
                                                   {"command": "M104 S%(t)s", "parameters": {"t": 0}}))
    assert done == ["M104 S0"]


@pytest.mark.parametrize("command, parameters", [
    ("M117 %(a)200000000s", {"a": "x"}),   # Python's % would build 200 MB (issue 12 item 5)
    ("M117 %(a)c", {"a": 1114112}),         # Python's % raises OverflowError: a 500 in OctoPrint
    ("M117 %s", {"a": "x"}),
    ("M117 %(a)d", {"a": 5}),
    ("M117 %(a)s", {"a": "x" * 300}),
    ("M117 %(a)s", {"a": [1]}),
])
def test_parameters_only_plain_placeholders(rest_api: Api, command: str, parameters: dict) -> None:
    done = sent_by(rest_api, lambda: _expect_400(rest_api.post("/api/printer/command",
                                                                {"command": command, "parameters": parameters})))
    assert done == []


def _expect_400(response: Any) -> None:
    assert response.status_code == 400 and "parameters" in response.json()["error"], response.text


@pytest.mark.parametrize("path, body, gcode", [
    ("/api/printer/printhead", {"command": "jog", "x": 5, "y": -2.5}, ["G91", "G0 X5 Y-2.5 F6000", "G90"]),
    ("/api/printer/printhead", {"command": "home", "axes": ["x", "y"]}, ["G91", "G28 X0 Y0", "G90"]),
    ("/api/printer/printhead", {"command": "feedrate", "factor": 110}, ["M220 S110"]),
    ("/api/printer/tool", {"command": "target", "targets": {"tool0": 0}}, ["M104 S0"]),
    ("/api/printer/tool", {"command": "flowrate", "factor": 1.0}, ["M221 S100"]),
    ("/api/printer/bed", {"command": "target", "target": 0}, ["M140 S0"]),
])
def test_control_endpoints_send_octoprint_gcode(rest_api: Api, path: str, body: dict, gcode: list[str]) -> None:
    def act() -> None:
        assert rest_api.post(path, body).status_code == 204

    assert sent_by(rest_api, act) == gcode


def test_position_extension(rest_api: Api) -> None:
    rest_api.post("/api/printer/command", {"commands": ["G28", "G0 X12 Y7 Z3"]})
    body = rest_api.get("/api/printer/printhead?refresh=true").json()
    assert body["position"]["x"] == pytest.approx(12) and body["position"]["z"] == pytest.approx(3)
    assert isinstance(body["time"], float)


def test_other_endpoints_shapes(rest_api: Api) -> None:
    job = rest_api.get("/api/job").json()
    assert job["state"] == "Operational" and "error" not in job and job["job"]["file"]["name"] is None
    conn = rest_api.get("/api/connection").json()
    assert conn["current"] == {"state": "Operational", "port": "sim://marlin", "baudrate": 115200,
                               "printerProfile": "_default"}
    assert "sim://marlin" in conn["options"]["ports"] and 115200 in conn["options"]["baudrates"]
    assert rest_api.get("/api/server").json() == {"version": "1.11.8", "safemode": None}
    version = rest_api.get("//api/version").json()
    assert version["api"] == "0.1" and version["text"].startswith("OctoPrint") and "mqttprint" in version["text"]
    settings = rest_api.get("/api/settings").json()
    uuid = settings["plugins"]["discovery"]["upnpUuid"]
    assert len(uuid) == 36 and rest_api.get("/printer/p1/api/settings").json()["plugins"]["discovery"]["upnpUuid"] == uuid
    assert settings["webcam"]["webcamEnabled"] is False and settings["plugins"]["tracking"]["enabled"] is False
    assert error_of(rest_api.get("/api/printer/sd")) == "SD support is disabled"
    assert rest_api.get("/api/currentuser").json()["name"] == "admin"
    assert rest_api.post("/api/login", {"passive": True}).json()["name"] == "admin"


def test_routing_errors_are_json(rest_api: Api) -> None:
    assert rest_api.get("/printer/nope/api/version").status_code == 404
    assert "nope" in error_of(rest_api.get("/printer/nope/api/version"))
    assert rest_api.get("/api/unknown").status_code == 404 and error_of(rest_api.get("/api/unknown"))
    r = rest_api.get("/api/login")
    assert r.status_code == 405 and error_of(r) == "The method is not allowed for the requested URL."
    assert rest_api.get("//printer//p1//api//job").status_code == 200


BAD_COMMAND_BODIES = [
    # (description, request kwargs, status)
    ("no content type", {"data": b'{"command": "M117 x"}'}, 415),
    ("text/plain", {"data": b'{"command": "M117 x"}', "headers": {"Content-Type": "text/plain"}}, 415),
    ("form encoded", {"data": {"command": "M117 x"}}, 415),
    ("query only (the forum post)", {"params": {"command": "M117 x"}}, 415),
    ("malformed json", {"data": b'{"command": ', "headers": {"Content-Type": "application/json"}}, 400),
    ("json array", {"json": [{"command": "M117 x"}]}, 400),
    ("json null", {"data": b"null", "headers": {"Content-Type": "application/json"}}, 400),
    ("number command", {"json": {"command": 117}}, 400),
    ("string commands", {"json": {"commands": "M117 x"}}, 400),
    ("both", {"json": {"command": "M117 x", "commands": ["M117 y"]}}, 400),
    ("nul byte", {"json": {"command": "M117 x\u0000"}}, 400),
    ("escape", {"json": {"command": "M117 \u001b[2J"}}, 400),
    ("line break injection", {"json": {"command": "M117 x\nM112"}}, 400),
    ("line break in list", {"json": {"commands": ["M117 x", "M117 y\r\nM112"]}}, 400),
    ("non ascii", {"json": {"command": "M117 héllo"}}, 400),
    ("line number", {"json": {"command": "N5 M117 x*12"}}, 400),
    ("too long", {"json": {"command": "M117 " + "x" * 200}}, 400),
    ("too many", {"json": {"commands": ["M117 x"] * 201}}, 400),
    ("one bad line rejects all", {"json": {"commands": ["M117 ok", "M117 \u0007"]}}, 400),
    ("M110", {"json": {"command": "M110 N100"}}, 400),
    ("oversized body", {"data": json.dumps({"command": "M117 " + "x" * 70000}),
                        "headers": {"Content-Type": "application/json"}}, 413),
    ("unknown script", {"json": {"script": "afterPrintCancelled"}}, 404),
    ("bad reply flag", {"json": {"command": "M117 x", "reply": "yes"}}, 400),
]


@pytest.mark.parametrize("what, kwargs, status", BAD_COMMAND_BODIES, ids=[c[0] for c in BAD_COMMAND_BODIES])
def test_bad_command_input_never_reaches_the_firmware(rest_api: Api, what: str, kwargs: dict, status: int) -> None:
    before = rest_api.wait_quiet(settle=0.1)
    r = rest_api.call("POST", "/api/printer/command", **kwargs)
    assert r.status_code == status, r.text
    error_of(r)
    assert rest_api.wait_quiet(settle=0.2) == before
    assert rest_api.model().emergency_seen == []


BAD_CONTROL = [
    ("/api/printer/printhead", {"command": "dance"}, 400),
    ("/api/printer/printhead", {"command": "jog"}, 400),
    ("/api/printer/printhead", {"command": "jog", "x": "1; M112"}, 400),
    ("/api/printer/printhead", {"command": "home", "axes": ["x", "e"]}, 400),
    ("/api/printer/tool", {"command": "target", "targets": {"tool0": -10}}, 400),
    ("/api/printer/tool", {"command": "target", "targets": {"tool0\nM112": 10}}, 400),
    ("/api/printer/tool", {"command": "select", "tool": "tool0 M112"}, 400),
    ("/api/printer/tool", {"command": "offset", "offsets": {"tool0": 5}}, 400),
    ("/api/printer/bed", {"command": "target", "target": None}, 400),
    ("/api/printer/bed", {"command": "target", "target": 1000}, 400),
    ("/api/connection", {"command": "explode"}, 400),
    ("/api/connection", {"command": "connect", "port": "/dev/../etc/passwd"}, 400),
    ("/api/connection", {"command": "connect", "baudrate": "fast"}, 400),
]


@pytest.mark.parametrize("path, body, status", BAD_CONTROL)
def test_bad_control_input(rest_api: Api, path: str, body: dict, status: int) -> None:
    before = rest_api.wait_quiet(settle=0.1)
    r = rest_api.post(path, body)
    assert r.status_code == status, r.text
    error_of(r)
    assert rest_api.wait_quiet(settle=0.1) == before
    assert rest_api.state() == "Operational"


def test_not_operational_is_409(rest_api: Api) -> None:
    assert rest_api.post("/api/connection", {"command": "disconnect"}).status_code == 204
    rest_api.wait_state("Offline")
    try:
        for path in ("/api/printer", "/api/printer/tool", "/api/printer/bed", "/api/printer/printhead"):
            r = rest_api.get(path)
            assert r.status_code == 409 and error_of(r) == "Printer is not operational"
        r = rest_api.post("/api/printer/command", {"command": "M105"})
        assert r.status_code == 409 and error_of(r) == "Printer is not operational"
        assert rest_api.post("/api/printer/printhead", {"command": "home", "axes": []}).status_code == 409
        assert rest_api.post("/api/printer/tool", {"command": "select", "tool": "tool0"}).status_code == 409
        assert rest_api.get("/api/job").json()["state"] == "Offline"
        assert rest_api.get("/api/connection").json()["current"]["state"] == "Closed"
    finally:
        ensure_operational(rest_api)
