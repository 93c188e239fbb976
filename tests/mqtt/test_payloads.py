"""Inbound payload validation and outbound encoding (pure)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pytest

from mqttprint.mqtt import admission, payloads
from mqttprint.mqtt.payloads import ParsedRequest, PayloadError
from mqttprint.protocol.replies import HeaterReading


# ---------------------------------------------------------------------- decode_text
def test_decode_text_limits_and_utf8() -> None:
    assert payloads.decode_text(b"G28", 10) == "G28"
    assert payloads.decode_text("\ufeffM114".encode(), 100) == "M114"
    with pytest.raises(PayloadError, match="limit is 4"):
        payloads.decode_text(b"G28 X", 4)
    with pytest.raises(PayloadError, match="UTF-8"):
        payloads.decode_text(b"G1 X\xff\xfe", 100)


# ---------------------------------------------------------------------- command
@pytest.mark.parametrize("text, expected", [
    ("M114", ParsedRequest("printer.command", {"command": "M114"})),
    ("  G28 \n\nM114\r\n", ParsedRequest("printer.command", {"commands": ["G28", "M114"]})),
    ('{"command": "M114", "id": 7}', ParsedRequest("printer.command", {"command": "M114"}, 7)),
    ('{"commands": ["G28", " ", "M114"], "id": "a", "reply": false, "ts": 12}',
     ParsedRequest("printer.command", {"commands": ["G28", "M114"]}, "a", False, 12.0)),
    ('["G28", "M114"]', ParsedRequest("printer.command", {"commands": ["G28", "M114"]})),
    ('{"command": "M105", "id": 1.5, "reply": true}', ParsedRequest("printer.command", {"command": "M105"}, 1.5, True)),
])
def test_parse_command(text: str, expected: ParsedRequest) -> None:
    assert payloads.parse_command(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "empty command"),
    ("  \n ", "empty command"),
    ("G1 X1\x07", "control character U\\+0007"),
    ("G1\x00X1", "control character U\\+0000"),
    ("{not json", "invalid JSON"),
    ("[1, 2]", "entries must be strings"),
    ("[]", "non-empty list"),
    ('"M114"', None),  # a JSON string is plain text, goes to the printer as such (it is refused there)
    ('{"command": 114}', "'command' must be a string"),
    ('{"commands": "G28"}', "non-empty list of strings"),
    ('{"command": "G28", "commands": ["M114"]}', "exactly one"),
    ('{"id": 5}', "exactly one"),
    ('{"command": "G28\\nM114"}', "holds one line"),
    ('{"command": "G28\\u0000"}', "control character"),
    ('{"commands": ["G28", "M114\\u001b"]}', "control character"),
    ('{"command": "G28", "comand": 1}', "unknown key 'comand'"),
    ('{"command": "G28", "id": true}', "'id' must be a string or a number"),
    ('{"command": "G28", "id": [1]}', "'id' must be a string or a number"),
    ('{"command": "G28", "id": ""}', "'id' must be"),
    ('{"command": "G28", "reply": "yes"}', "'reply' must be true or false"),
    ('{"command": "G28", "ts": "now"}', "'ts' must be a unix timestamp"),
    ('{"command": "G28", "ts": NaN}', "NaN is not a valid JSON number"),
    ('{"command": "G28", "ts": true}', "'ts' must be a unix timestamp"),
])
def test_parse_command_errors(text: str, message: Any) -> None:
    if message is None:
        assert payloads.parse_command(text).args == {"command": text}
        return
    with pytest.raises(PayloadError, match=message):
        payloads.parse_command(text)


def test_error_carries_id_when_known() -> None:
    with pytest.raises(PayloadError) as info:
        payloads.parse_command('{"command": 5, "id": "abc"}')
    assert info.value.request_id == "abc"
    with pytest.raises(PayloadError) as info:
        payloads.parse_command("{bad")
    assert info.value.request_id is None


# ---------------------------------------------------------------------- emergency
@pytest.mark.parametrize("text, command", [
    ("PRESS", "M112"), ("press", "M112"), ("  M112 ", "M112"), ("M108", "M108"), ("m410", "M410"),
    ("M876 S1", "M876 S1"), ("M876  S0", "M876 S0"), ("M524", "M524"), ("STOP", "M112"),
    ('{"command": "M108", "id": 3}', "M108"),
])
def test_parse_emergency(text: str, command: str) -> None:
    assert payloads.parse_emergency(text).args == {"command": command}
    assert payloads.parse_emergency(text).action == "printer.emergency"


@pytest.mark.parametrize("text", ["G28", "M1120", "M876", "M112 X1", "M114", "M112\nG28", "HALT", '{"command": "G1"}',
                                  "M112\x00", "", "  ", "{}", '{"command": ""}'])
def test_parse_emergency_refuses(text: str) -> None:
    with pytest.raises(PayloadError):
        payloads.parse_emergency(text)


# ---------------------------------------------------------------------- connection / job / system
def test_parse_connection() -> None:
    assert payloads.parse_connection("connect") == ParsedRequest("connection.connect")
    assert payloads.parse_connection(" Disconnect\n") == ParsedRequest("connection.disconnect")
    assert payloads.parse_connection('{"command": "connect", "port": "sim://marlin", "baudrate": 250000, "id": 1}') \
        == ParsedRequest("connection.connect", {"port": "sim://marlin", "baudrate": 250000}, 1)
    for bad, message in (("reconnect", "unknown connection command"), ('{"command": "open"}', "unknown connection"),
                         ('{"port": "x"}', "missing 'command'"), ('{"command": "connect", "baudrate": "fast"}',
                                                                  "'baudrate' must be an integer"),
                         ('{"command": "connect", "baudrate": 10000000000}', "'baudrate' must be an integer"),
                         ('{"command": "disconnect", "port": "x"}', "with 'connect' only"),
                         ('{"command": "connect", "port": "a\\u0001"}', "control character")):
        with pytest.raises(PayloadError, match=message):
            payloads.parse_connection(bad)


def test_parse_job() -> None:
    assert payloads.parse_job("pause") == ParsedRequest("job.pause", {"action": "pause"})
    assert payloads.parse_job("resume") == ParsedRequest("job.resume")
    assert payloads.parse_job('{"command": "pause", "action": "toggle"}').args == {"action": "toggle"}
    assert payloads.parse_job('{"command": "start", "file": "x.gcode", "id": "j1"}') \
        == ParsedRequest("job.start", {"file": "x.gcode"}, "j1")
    with pytest.raises(PayloadError, match="unknown job command"):
        payloads.parse_job("explode")
    with pytest.raises(PayloadError, match="unknown job command"):
        payloads.parse_job('{"command": "explode"}')
    # A typo must not start the selected file (issue 12 item 3).
    with pytest.raises(PayloadError, match="unknown key 'fiel'") as info:
        payloads.parse_job('{"command": "start", "fiel": "other.gcode", "id": "t"}')
    assert info.value.request_id == "t"
    with pytest.raises(PayloadError, match="unknown key 'file'"):
        payloads.parse_job('{"command": "cancel", "file": "x.gcode"}')
    with pytest.raises(PayloadError, match="'file' must be a string"):
        payloads.parse_job('{"command": "start", "file": 5}')


@pytest.mark.parametrize("text", [
    '{"command": "start", "command": "cancel", "id": "d"}',
    '{"command": "M114", "command": "M112", "id": "d"}',
])
def test_duplicate_keys_refused(text: str) -> None:
    for kind in ("job", "command"):
        try:
            payloads.parse_request(kind, text)
        except PayloadError as exc:
            if "duplicate key 'command'" in str(exc):
                assert exc.request_id == "d"
                break
    else:
        pytest.fail("duplicate key accepted")


def test_duplicate_id_key_refused_without_id() -> None:
    with pytest.raises(PayloadError, match="duplicate key 'id'") as info:
        payloads.parse_command('{"command": "M114", "id": 1, "id": 2}')
    assert info.value.request_id is None


@pytest.mark.parametrize("text, message", [
    ('{"command": "M114", "ts": ' + "9" * 400 + ', "id": "big"}', "'ts' must be a unix timestamp"),
    ('{"command": "M114", "ts": -5, "id": "big"}', "'ts' must be a unix timestamp"),
    ('{"command": "M114", "ts": 1e300, "id": "big"}', "'ts' must be a unix timestamp"),
    ('{"command": "M114", "id": ' + "9" * 400 + '}', "'id' must be a finite number"),
    ('{"command": "M114", "id": 1e300}', "'id' must be a finite number"),
])
def test_numbers_are_bounded(text: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as info:
        payloads.parse_command(text)
    if "'ts'" in message:
        assert info.value.request_id == "big"


def test_parse_system() -> None:
    assert payloads.parse_system("PRESS", "custom", "b") == ParsedRequest("system.execute", {"source": "custom", "action": "b"})
    assert payloads.parse_system('{"id": 2}', "custom", "b") \
        == ParsedRequest("system.execute", {"source": "custom", "action": "b"}, 2)
    with pytest.raises(PayloadError):
        payloads.parse_system("reboot now", "core", "reboot")
    with pytest.raises(PayloadError):
        payloads.parse_system("", "core", "reboot")  # an empty payload never runs a command
    with pytest.raises(PayloadError, match="unknown key 'confirm'"):
        payloads.parse_system('{"id": 2, "confirm": true}', "custom", "b")
    with pytest.raises(PayloadError, match="unknown key 'action'"):
        payloads.parse_system('{"action": "other"}', "core", "reboot")


def test_parse_request_dispatch() -> None:
    assert payloads.parse_request("command", "M114").action == "printer.command"
    assert payloads.parse_request("emergency", "PRESS").action == "printer.emergency"
    assert payloads.parse_request("system", "PRESS", "core", "shutdown").args["action"] == "shutdown"
    with pytest.raises(PayloadError):
        payloads.parse_request("bogus", "x")
    for kind in ("command", "emergency", "connection", "job", "system"):
        with pytest.raises(PayloadError, match="empty payload"):
            payloads.parse_request(kind, " \n", "core", "shutdown")


def test_age_problem() -> None:
    assert admission.age_problem(None, 1000.0, 30) is None
    assert admission.age_problem(990.0, 1000.0, 30) is None
    assert "old" in (admission.age_problem(960.0, 1000.0, 30) or "")
    assert "future" in (admission.age_problem(1100.0, 1000.0, 30) or "")
    assert admission.age_problem(1050.0, 1000.0, 30) is None
    assert admission.age_problem(1.0, 1000.0, 0) is None  # 0 disables the age limit


# ---------------------------------------------------------------------- outbound
def test_encode_is_compact_and_nan_safe() -> None:
    raw = payloads.encode({"a": math.nan, "b": [1.5, math.inf], "c": (1, "x"), "d": None, "°": "°C"})
    assert json.loads(raw) == {"a": None, "b": [1.5, None], "c": [1, "x"], "d": None, "°": "°C"}
    assert b" " not in raw


def test_status_payload() -> None:
    body = payloads.status_payload("Operational", {"operational": True}, "", "sim://marlin", 115200, 5.0)
    assert body == {"state": "Operational", "flags": {"operational": True}, "error": "", "port": "sim://marlin",
                    "baudrate": 115200, "ts": 5.0}


def test_position_payload() -> None:
    assert payloads.position_payload(1.0, 2.0, 3.0, 4.0, {"E0": 4.0, "A": 1.0}, 9.0) == {
        "x": 1.0, "y": 2.0, "z": 3.0, "e": 4.0, "e0": 4.0, "a": 1.0, "ts": 9.0}


@pytest.mark.parametrize("key, name", [("T0", "tool0"), ("T1", "tool1"), ("T", "tool0"), ("B", "bed"),
                                       ("C", "chamber"), ("P", "p"), ("A", "a"), ("T12", "tool12")])
def test_heater_key(key: str, name: str) -> None:
    assert payloads.heater_key(key) == name


def test_temperature_payload() -> None:
    body = payloads.temperature_payload({"T0": HeaterReading(200.5, 210.0), "B": HeaterReading(60.0, None),
                                         "C": HeaterReading(30.0, 0.0)}, 7.0)
    assert body == {"tool0": {"actual": 200.5, "target": 210.0}, "bed": {"actual": 60.0, "target": None},
                    "chamber": {"actual": 30.0, "target": 0.0}, "ts": 7.0}


@pytest.mark.parametrize("name, product, version", [
    ("Marlin 2.1.2.1 (Jun 12 2023 10:00:00)", "Marlin", "2.1.2.1"),
    ("Prusa-Firmware 3.14.1+8237_a1b2c3d based on Marlin", "Prusa-Firmware", "3.14.1+8237_a1b2c3d"),
    ("Repetier_1.0.3", "Repetier", "1.0.3"),
    ("Klipper", "Klipper", None),
    ("Marlin v2.0.9", "Marlin", "2.0.9"),
])
def test_split_firmware_name(name: str, product: str, version: Any) -> None:
    assert payloads.split_firmware_name(name) == (product, version)


def test_firmware_payload() -> None:
    body = payloads.firmware_payload("Marlin 2.1.2.1 (x)", {"FIRMWARE_NAME": "Marlin 2.1.2.1 (x)"}, {"EEPROM": True}, 1.0)
    assert body["name"] == "Marlin 2.1.2.1 (x)" and body["version"] == "2.1.2.1" and body["product"] == "Marlin"
    assert body["capabilities"] == {"EEPROM": True} and body["fields"]["FIRMWARE_NAME"]


@dataclass
class _Result:
    command: str
    ok: bool
    lines: tuple[str, ...]
    error: str


def test_command_reply_single_and_multi() -> None:
    one = payloads.command_reply(7, ["M114"], [_Result("M114", True, ("X:1.00 Y:2.00 Z:3.00",), "")])
    assert one == {"id": 7, "command": "M114", "lines": ["X:1.00 Y:2.00 Z:3.00"], "ok": True, "error": None}
    many = payloads.command_reply("a", ["G28", "M999"], [_Result("G28", True, (), ""),
                                                        _Result("M999", False, (), "unknown command")])
    assert many == {"id": "a", "ok": False, "error": "M999: unknown command", "replies": [
        {"command": "G28", "lines": [], "ok": True, "error": None},
        {"command": "M999", "lines": [], "ok": False, "error": "unknown command"}]}
    late = payloads.command_reply(None, ["G4 S100"], [None], timed_out=True)
    assert late == {"id": None, "command": "G4 S100", "lines": [], "ok": False, "error": "timeout"}


def test_other_replies() -> None:
    assert payloads.action_reply(1, "connection.connect", {"state": "Connecting"}) == {
        "id": 1, "action": "connection.connect", "ok": True, "error": None, "data": {"state": "Connecting"}}
    assert payloads.error_reply(None, "bad") == {"id": None, "ok": False, "error": "bad"}
    assert payloads.event_payload("PrintDone", 3.0, name="a.gcode") == {"event": "PrintDone", "name": "a.gcode", "ts": 3.0}
