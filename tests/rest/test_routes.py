"""Handlers through the Flask test client with fake printers: G-code produced, codes, shapes.
(The same endpoints run over real HTTP against the simulator in tests/integration.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqttprint.protocol.replies import HeaterReading
from mqttprint.protocol.states import PrinterState
from tests.rest.fakes import INSTALLATION, READ, USER, Harness


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def sent(h: Harness) -> list[list[str]]:
    return [lines for _, lines in h.sent]


@pytest.mark.parametrize("body, gcode", [
    ({"command": "jog", "x": 10}, ["G91", "G0 X10 F6000", "G90"]),
    ({"command": "jog", "x": 1.5, "z": -0.25}, ["G91", "G0 X1.5 Z-0.25 F200", "G90"]),
    ({"command": "jog", "y": 5, "absolute": True, "speed": 1200}, ["G90", "G0 Y5 F1200"]),
    ({"command": "jog", "z": 1, "speed": False}, ["G91", "G0 Z1", "G90"]),
    ({"command": "home", "axes": ["z", "x"]}, ["G91", "G28 X0 Z0", "G90"]),
    ({"command": "home", "axes": []}, ["G91", "G28", "G90"]),
    ({"command": "feedrate", "factor": 150}, ["M220 S150"]),
    ({"command": "feedrate", "factor": 0.9}, ["M220 S90"]),
])
def test_printhead_gcode(h: Harness, body: dict, gcode: list[str]) -> None:
    r = h.post("/api/printer/printhead", body)
    assert r.status_code == 204 and r.data == b"" and r.mimetype == "text/plain"
    assert sent(h) == [gcode]


@pytest.mark.parametrize("body, status, error", [
    ({"command": "jog"}, 400, "jog needs at least one of x, y, z"),
    ({"command": "jog", "x": "10"}, 400, "axis value is invalid"),
    ({"command": "jog", "x": True}, 400, "axis value is invalid"),
    ({"command": "jog", "x": 1e9}, 400, "axis value is invalid"),
    ({"command": "jog", "x": 1, "speed": "fast"}, 400, "speed is invalid"),
    ({"command": "home"}, 400, "Mandatory parameters missing"),
    ({"command": "home", "axes": ["e"]}, 400, "axis is invalid"),
    ({"command": "home", "axes": "x"}, 400, "axis is invalid"),
    ({"command": "feedrate", "factor": 0}, 400, "factor is invalid"),
    ({"command": "dance"}, 400, "command is invalid"),
])
def test_printhead_bad_input(h: Harness, body: dict, status: int, error: str) -> None:
    r = h.post("/api/printer/printhead", body)
    assert (r.status_code, r.json) == (status, {"error": error}) and h.sent == []


def test_printhead_409_while_printing_except_feedrate(h: Harness) -> None:
    h.printers["p1"].set(state=PrinterState.PRINTING)
    r = h.post("/api/printer/printhead", {"command": "jog", "x": 1})
    assert (r.status_code, r.json) == (409, {"error": "Printer is not operational or currently printing"})
    assert h.post("/api/printer/printhead", {"command": "feedrate", "factor": 100}).status_code == 204


@pytest.mark.parametrize("body, gcode", [
    ({"command": "select", "tool": "tool1"}, ["T1"]),
    ({"command": "target", "targets": {"tool0": 210}}, ["M104 S210"]),
    ({"command": "target", "targets": {"tool0": 200, "tool1": 180.5}}, ["M104 T0 S200", "M104 T1 S180.5"]),
    ({"command": "extrude", "amount": -2}, ["G91", "M83", "G1 E-2 F300", "M82", "G90"]),
    ({"command": "extrude", "amount": 5, "speed": 100}, ["G91", "M83", "G1 E5 F100", "M82", "G90"]),
    ({"command": "flowrate", "factor": 95}, ["M221 S95"]),
])
def test_tool_gcode(h: Harness, body: dict, gcode: list[str]) -> None:
    assert h.post("/api/printer/tool", body).status_code == 204
    assert sent(h) == [gcode]


def test_tool_offsets(h: Harness) -> None:
    assert h.post("/api/printer/tool", {"command": "offset", "offsets": {"tool0": 0}}).status_code == 204
    r = h.post("/api/printer/tool", {"command": "offset", "offsets": {"tool0": 5}})
    assert r.status_code == 400 and "not supported" in r.json["error"]
    r = h.post("/api/printer/tool", {"command": "offset", "offsets": {"tool0": 51}})
    assert r.json == {"error": "offsets contains invalid value"}
    assert h.sent == []


@pytest.mark.parametrize("body, error", [
    ({"command": "select", "tool": "extruder"}, "tool is invalid"),
    ({"command": "target", "targets": {"bed": 60}}, "targets contains invalid tool"),
    ({"command": "target", "targets": {"tool0": -5}}, "targets contains invalid value"),
    ({"command": "target", "targets": {"tool0": "hot"}}, "targets contains invalid value"),
    ({"command": "target", "targets": []}, "targets is invalid"),
    ({"command": "extrude", "amount": "5"}, "amount must be a valid number"),
])
def test_tool_bad_input(h: Harness, body: dict, error: str) -> None:
    r = h.post("/api/printer/tool", body)
    assert (r.status_code, r.json) == (400, {"error": error}) and h.sent == []


def test_bed(h: Harness) -> None:
    assert h.post("/api/printer/bed", {"command": "target", "target": 60}).status_code == 204
    assert sent(h) == [["M140 S60"]]
    assert h.get("/api/printer/bed").json == {"bed": {"actual": 20.0, "target": 0.0, "offset": 0}}
    assert h.post("/api/printer/bed", {"command": "target", "target": "x"}).json == {"error": "target is invalid"}
    h.printers["p1"].set(temperatures={"T0": HeaterReading(20.0, 0.0)})
    r = h.post("/api/printer/bed", {"command": "target", "target": 60})
    assert (r.status_code, r.json) == (409, {"error": "Printer does not have a heated bed"})
    assert h.get("/api/printer/bed").status_code == 409
    h.printers["p1"].set(temperatures={})  # no report yet: nothing is refused, nothing shown
    assert h.get("/api/printer/bed").json == {}
    assert h.post("/api/printer/bed", {"command": "target", "target": 50}).status_code == 204


def test_tool_state(h: Harness) -> None:
    h.printers["p1"].set(temperatures={"T0": HeaterReading(20.0, 0.0), "T1": HeaterReading(21.0, None),
                                       "B": HeaterReading(20.0, 0.0)})
    assert h.get("/api/printer/tool").json == {"tool0": {"actual": 20.0, "target": 0.0, "offset": 0},
                                               "tool1": {"actual": 21.0, "target": None, "offset": 0}}


def test_printer_command_variants(h: Harness) -> None:
    assert h.post("/api/printer/command", {"command": "M105"}).status_code == 204
    assert h.post("/api/printer/command", {"commands": ["G28", "M105"]}).status_code == 204
    assert h.post("/api/printer/command", {"commands": ["M104 S%(t)s"], "parameters": {"t": 200}}).status_code == 204
    assert sent(h) == [["M105"], ["G28", "M105"], ["M104 S200"]]
    r = h.post("/api/printer/command", {"command": "M114", "reply": True})
    assert r.status_code == 200
    assert r.json == {"replies": [{"command": "M114", "lines": ["X:1.00 Y:2.00 Z:3.00 E:0.00 Count X:80 Y:160 Z:1200"],
                                   "ok": True, "error": None}]}


@pytest.mark.parametrize("body, status, error", [
    ({"command": "M105", "commands": ["M105"]}, 400, "'command' and 'commands' are mutually exclusive"),
    ({"command": "M105", "script": "x"}, 400, "'command'/'commands' and 'script' are mutually exclusive"),
    ({}, 400, "Need one of 'command', 'commands' or 'script'"),
    ({"commands": "M105"}, 400, "commands is invalid"),
    ({"commands": ["M105", 5]}, 400, "commands is invalid"),
    ({"command": 105}, 400, "command is invalid"),
    ({"script": "beforePrintStarted"}, 404, "Unknown script"),
    ({"command": "M105", "parameters": []}, 400, "parameters is invalid"),
    ({"command": "M105", "reply": "yes"}, 400, "reply must be true or false"),
    ({"command": "M105", "reply": True, "timeout": 0}, 400, None),
    ({"command": "M105", "reply": True, "timeout": 301}, 400, None),
])
def test_printer_command_bad_input(h: Harness, body: dict, status: int, error: str | None) -> None:
    r = h.post("/api/printer/command", body)
    assert r.status_code == status and isinstance(r.json["error"], str)
    if error is not None:
        assert r.json["error"] == error
    assert h.sent == []


def test_nothing_to_send_is_a_no_op_like_octoprint(h: Harness) -> None:
    assert h.post("/api/printer/command", {"commands": []}).status_code == 204
    assert h.post("/api/printer/command", {"command": "  ; just a comment"}).status_code == 204
    assert h.post("/api/printer/command", {"commands": [], "reply": True}).json == {"replies": []}
    assert h.sent == []
    assert h.post("/api/printer/command", {"commands": ["", "M105\u0000"]}).status_code == 400


def test_printer_command_parameters_mismatch_is_400(h: Harness) -> None:
    r = h.post("/api/printer/command", {"command": "M104 S%(temp)s", "parameters": {"t": 1}})
    assert r.status_code == 400 and "parameters" in r.json["error"]


def test_not_operational_comes_first(h: Harness) -> None:
    h.printers["p1"].set(state=PrinterState.OFFLINE)
    r = h.post("/api/printer/command", data="not json")
    assert (r.status_code, r.json) == (409, {"error": "Printer is not operational"})
    assert h.get("/api/printer").status_code == 409 and h.get("/api/printer/tool").status_code == 409
    job = h.get("/api/job")
    assert job.status_code == 200 and job.json["state"] == "Offline"
    assert h.get("/api/connection").json["current"]["state"] == "Closed"


def test_printer_state_exclude_and_history(h: Harness) -> None:
    body = h.get("/api/printer").json
    assert set(body) == {"temperature", "state"} and body["state"]["text"] == "Operational"
    assert set(h.get("/api/printer?exclude=temperature,sd").json) == {"state"}
    assert h.get("/api/printer?history=true").json["temperature"]["history"] == []


def test_sd_disabled(h: Harness) -> None:
    assert h.get("/api/printer/sd").json == {"error": "SD support is disabled"}
    assert h.post("/api/printer/sd", {"command": "init"}).status_code == 404


def test_position_extension(h: Harness) -> None:
    assert h.get("/api/printer/printhead").json == {"position": None, "time": None}
    assert h.get("/api/printer/printhead?refresh=true", key=READ).status_code == 403
    body = h.get("/api/printer/printhead?refresh=true", key=USER).json
    assert body == {"position": {"x": 1.0, "y": 2.0, "z": 3.0, "e": 0.0}, "time": 1.1}


def test_connection(h: Harness) -> None:
    body = h.get("/api/connection").json
    assert body["current"] == {"state": "Operational", "port": "sim://p1", "baudrate": 115200,
                               "printerProfile": "_default"}
    assert body["options"]["ports"] == ["/dev/ttyACM0", "sim://p1"]
    assert body["options"]["baudrates"][0] == 250000 and body["options"]["portPreference"] == "sim://p1"
    # connected: connect is a silent no-op (OctoPrint), so a print is never interrupted
    assert h.post("/api/connection", {"command": "connect"}).status_code == 204 and h.connections == []
    assert h.post("/api/connection", {"command": "connect", "port": "/dev/nope"}).json == {"error": "port is invalid"}
    assert h.post("/api/connection", {"command": "connect", "baudrate": 1234}).json == {"error": "baudrate is invalid"}
    assert h.post("/api/connection", {"command": "connect", "printerProfile": "x"}).status_code == 400
    assert h.post("/api/connection", {"command": "disconnect"}).status_code == 204
    h.printers["p1"].set(state=PrinterState.ERROR)
    assert h.post("/api/connection", {"command": "connect", "port": "/dev/ttyACM0", "baudrate": 250000,
                                      "save": True}).status_code == 204
    assert h.post("/api/connection", {"command": "connect", "port": "AUTO", "baudrate": 0}).status_code == 204
    assert h.connections == [("disconnect", {}), ("connect", {"port": "/dev/ttyACM0", "baudrate": 250000}),
                             ("connect", {})]
    assert h.post("/api/connection", {"command": "fake_ack"}).status_code == 204
    assert h.post("/api/connection", {"command": "reset"}).json == {"error": "command is invalid"}


def test_settings_uuid_per_printer(h: Harness) -> None:
    default = h.get("/api/settings").json["plugins"]["discovery"]["upnpUuid"]
    assert default == INSTALLATION == h.get("/printer/p1/api/settings").json["plugins"]["discovery"]["upnpUuid"]
    other = h.get("/printer/p2/api/settings").json["plugins"]["discovery"]["upnpUuid"]
    assert other != default and other == h.get("/printer/p2/api/settings").json["plugins"]["discovery"]["upnpUuid"]


def test_per_printer_routing(h: Harness) -> None:
    assert h.post("/printer/p2/api/printer/command", {"command": "M105"}).status_code == 204
    assert h.sent == [("p2", ["M105"])]
    r = h.get("/printer/nope/api/printer")
    assert r.status_code == 404 and "nope" in r.json["error"]


def test_errors_are_json(h: Harness) -> None:
    for path in ("/api/nothing", "/nothing", "/printer/p1/api/nothing", "/plugin/other/x"):
        r = h.get(path)
        assert r.status_code == 404 and r.mimetype == "application/json" and "error" in r.json
    r = h.get("/api/login")
    assert r.status_code == 405 and r.json == {"error": "The method is not allowed for the requested URL."}
    assert "POST" in r.headers["Allow"]
    assert h.request("DELETE", "/api/printer").status_code == 405


def test_double_slashes(h: Harness) -> None:
    # (a leading "//" is tested over real HTTP: the test client would read it as a host name)
    assert h.get("/api//version").json == h.get("/api/version").json
    assert h.get("/printer//p1///api/version").status_code == 200


def test_auth_sources(h: Harness) -> None:
    assert h.get("/api/version", key=None).status_code == 403
    assert h.get("/api/version", key=None, headers={"Authorization": f"Bearer {READ}"}).status_code == 200
    assert h.get(f"/api/version?apikey={READ}", key=None).status_code == 200
    assert h.post("/api/printer/command", key=None, data={"apikey": USER}).status_code == 415  # form value counts
    assert h.get("/api/version", key="x" * 32).json["error"].startswith("You don't have the permission")


def test_login_and_currentuser(h: Harness) -> None:
    assert h.get("/api/currentuser", key=None).json == {"name": None, "permissions": [], "groups": ["guests"]}
    assert h.get("/api/currentuser", key=USER).json["name"] == "op"
    assert h.post("/api/login", {"passive": True}).json["name"] == "admin"
    assert h.post("/api/login", key=None, data={"passive": "1"}).json["_credentials_seen"] is False
    assert h.post("/api/login", {"user": "a", "pass": "b"}).status_code == 403
    assert h.post("/api/login", {}).json == {"error": "Neither user and pass attributes nor passive flag present"}


def test_unexpected_exceptions_are_json_500(h: Harness, caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(what, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    monkeypatch.setattr(h, "_connection", boom)  # the "connection.disconnect" action now fails
    r = h.post("/api/connection", {"command": "disconnect"})
    assert r.status_code == 500 and r.mimetype == "application/json" and "error" in r.json
    assert "bug" in caplog.text


def test_appkeys_flow(h: Harness) -> None:
    assert h.get("/plugin/appkeys/probe", key=None).status_code == 204
    r = h.post("/plugin/appkeys/request", {"app": "Home Assistant", "user": "me"}, key=None)
    assert r.status_code == 201
    token = r.json["app_token"]
    assert r.headers["Location"] == f"/plugin/appkeys/request/{token}"
    assert h.get(f"/plugin/appkeys/request/{token}", key=None).status_code == 202
    assert h.get("/plugin/appkeys/pending", key=USER).status_code == 403
    pending = h.get("/plugin/appkeys/pending").json["pending"]
    assert [(p["app"], p["user"]) for p in pending] == [("Home Assistant", "me")]
    assert h.post(f"/plugin/appkeys/decision/{pending[0]['user_token']}", {"decision": True}, key=USER).status_code == 403
    assert h.post(f"/plugin/appkeys/decision/{pending[0]['user_token']}", {"decision": True}).status_code == 204
    assert h.request("HEAD", f"/plugin/appkeys/request/{token}", key=None).status_code == 200  # not used up
    key = h.get(f"/plugin/appkeys/request/{token}", key=None).json["api_key"]
    assert h.get(f"/plugin/appkeys/request/{token}", key=None).status_code == 404
    assert h.get("/api/currentuser", key=key).json["groups"] == ["admins", "users"]  # the approver's role
    assert h.post("/plugin/appkeys/request", key=None).json == {"error": "Missing data"}
    assert h.post("/plugin/appkeys/request", {"user": "x"}, key=None).json == {"error": "No app name provided"}
    r = h.post("/printer/p2/plugin/appkeys/request", {"app": "x"}, key=None)
    assert r.headers["Location"].startswith("/printer/p2/plugin/appkeys/request/")


def test_urls_use_external_url_never_the_host_header(h: Harness) -> None:
    """Issue 12 item 11: Location and refs were built from the client's Host header."""
    import dataclasses

    r = h.post("/plugin/appkeys/request", {"app": "x"}, key=None, headers={"Host": "evil.example"})
    assert r.headers["Location"].startswith("/plugin/appkeys/request/") and "evil" not in r.get_data(as_text=True)
    rest = dataclasses.replace(h.config.rest, external_url="https://farm.example/octo")
    h.services.config = dataclasses.replace(h.config, rest=rest)
    r = h.post("/printer/p2/plugin/appkeys/request", {"app": "y"}, key=None, headers={"Host": "evil.example"})
    assert r.headers["Location"].startswith("https://farm.example/octo/printer/p2/plugin/appkeys/request/")
