"""The fleet over REST: every gateway and printer this gateway sees on the broker, and commands to
any of them. The REST shim never talks to another gateway: remote printers are reached through
their MQTT topics (registry actions `fleet.*`, implemented in mqttprint/mqtt/fleet.py).

`GET /api/fleet` (read), `POST /api/fleet/<gateway>/<printer>/command` (user; body like
`/api/printer/command`, optional `"reply": true` and `"timeout"`), `POST
/api/fleet/<gateway>/<printer>/emergency` (user; `{"command": "M112"}`, M112 by default).
"""

from __future__ import annotations

from mqttprint.protocol import gcode
from mqttprint.rest.api_printer import _command_lines, _reply_options
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route
from mqttprint.rest.validation import ApiError


def _target(call: Call) -> dict[str, str]:
    return {"gateway": call.params["gateway"], "printer": call.params["printer"]}


def fleet(call: Call) -> Reply:
    """GET /api/fleet."""
    return Reply(200, call.dispatch("fleet.list", {}).data)


def fleet_command(call: Call) -> Reply:
    """POST /api/fleet/<gateway>/<printer>/command: 204, or 200 `{"replies"}` with `"reply": true`;
    504 when the printer's gateway did not answer in time."""
    data = call.json()
    lines = _command_lines(data)
    reply, timeout = _reply_options(data)
    if not any(gcode.strip_comment(line) for line in lines):
        return Reply(200, {"replies": []}) if reply else NO_CONTENT
    result = call.dispatch("fleet.command", {**_target(call), "commands": lines, "reply": reply, "timeout": timeout})
    if "timeout" in result.data:
        raise ApiError(504, result.data["timeout"])
    return Reply(200, {"replies": result.data["replies"]}) if reply else NO_CONTENT


def fleet_emergency(call: Call) -> Reply:
    """POST /api/fleet/<gateway>/<printer>/emergency: 204 once published (or written locally)."""
    data = call.json() if call.read_body() else {}
    command = data.get("command", "M112")
    if not isinstance(command, str):
        raise ApiError(400, "command is invalid")
    call.dispatch("fleet.emergency", {**_target(call), "command": command})
    return NO_CONTENT


ROUTES = (
    Route("/fleet", ("GET",), fleet, "STATUS"),
    Route("/fleet/<gateway>/<printer>/command", ("POST",), fleet_command, "CONTROL"),
    Route("/fleet/<gateway>/<printer>/emergency", ("POST",), fleet_emergency, "CONTROL"),
)
