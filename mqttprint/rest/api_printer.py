"""Printer state and arbitrary G-code: GET /api/printer, POST /api/printer/command, /api/printer/sd.

`POST /api/printer/command` answers 204 like OctoPrint; with the mqttprint extension
`"reply": true` it waits for the firmware's answer to each command and returns the reply lines
(what the seed forum thread was told was impossible: M114 -> X/Y/Z).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol import gcode
from mqttprint.rest import shapes
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route, require_operational
from mqttprint.rest.validation import ApiError, excluded, is_number, is_true, query_limit
from mqttprint.runtime.printer_service import CommandHandle
from mqttprint.validation import TemplateProblem, substitute

DEFAULT_REPLY_TIMEOUT = 30.0
MAX_REPLY_TIMEOUT = 300.0


def temperature_body(call: Call, snapshot: PrinterSnapshot, keep: Optional[str] = None) -> dict[str, Any]:
    """The temperature dict (optionally only `tool*` or `bed`), plus `history` when asked for."""
    temps = {k: v for k, v in shapes.temperatures(snapshot.temperatures).items() if keep is None or k.startswith(keep)}
    if is_true(call.query.get("history")):
        limit = query_limit(call.query.get("limit"))
        samples = call.services.history.samples(call.printer_id, time.time(), limit)
        temps["history"] = shapes.history_entries(samples, keep)
    return temps


def printer_state(call: Call) -> Reply:
    """GET /api/printer: 409 when not operational; `exclude` drops temperature/sd/state.

    `sd` never appears: the shim reports `feature.sdSupport` false, and OctoPrint omits `sd` then.
    """
    snapshot = require_operational(call)
    skip = excluded(call.query.get("exclude"))
    body: dict[str, Any] = {}
    if "temperature" not in skip:
        body["temperature"] = temperature_body(call, snapshot)
    if "state" not in skip:
        body["state"] = shapes.state(snapshot)
    return Reply(200, body)


def _command_lines(data: dict[str, Any]) -> list[str]:
    """OctoPrint's checks and messages for command/commands/script/parameters, in its order."""
    has_one, has_many, has_script = "command" in data, "commands" in data, "script" in data
    if has_one and has_many:
        raise ApiError(400, "'command' and 'commands' are mutually exclusive")
    if (has_one or has_many) and has_script:
        raise ApiError(400, "'command'/'commands' and 'script' are mutually exclusive")
    if not (has_one or has_many or has_script):
        raise ApiError(400, "Need one of 'command', 'commands' or 'script'")
    parameters = data.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ApiError(400, "parameters is invalid")
    if has_script:
        # mqttprint has no GCODE scripts; OctoPrint answers an unknown script like this.
        raise ApiError(404, "Unknown script")
    if has_many:
        lines = data["commands"]
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise ApiError(400, "commands is invalid")
    else:
        if not isinstance(data["command"], str):
            raise ApiError(400, "command is invalid")
        lines = [data["command"]]
    if parameters:
        # Only %(name)s placeholders with bounded values: OctoPrint runs Python's `%` on the
        # text, where `%(a)200000000s` exhausts memory and `%(a)c` raises (a 500).
        try:
            lines = [substitute(line, parameters) for line in lines]
        except TemplateProblem as exc:
            raise ApiError(400, f"parameters do not fit the command: {exc}") from None
    return lines


def _reply_options(data: dict[str, Any]) -> tuple[bool, float]:
    """The extension's `reply` (bool) and `timeout` (seconds, 0 < t <= 300, default 30)."""
    reply = data.get("reply", False)
    if not isinstance(reply, bool):
        raise ApiError(400, "reply must be true or false")
    timeout = data.get("timeout", DEFAULT_REPLY_TIMEOUT)
    if not is_number(timeout) or not 0 < timeout <= MAX_REPLY_TIMEOUT:
        raise ApiError(400, f"timeout must be a number of seconds between 0 and {MAX_REPLY_TIMEOUT:g}")
    return reply, float(timeout)


def collect_replies(handles: tuple[CommandHandle, ...], timeout: float) -> list[dict[str, Any]]:
    """Wait (one shared deadline) for every command's result; late ones are reported as such."""
    deadline = time.monotonic() + timeout
    replies = []
    for handle in handles:
        try:
            result = handle.result(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            replies.append({"command": handle.command, "lines": [], "ok": False,
                            "error": f"no reply within {timeout:g} s (the command stays queued)"})
            continue
        replies.append({"command": result.command, "lines": list(result.lines), "ok": result.ok,
                        "error": result.error or None})
    return replies


def printer_command(call: Call) -> Reply:
    """POST /api/printer/command. OctoPrint checks "operational" before it reads the body."""
    require_operational(call)
    data = call.json()
    lines = _command_lines(data)
    reply, timeout = _reply_options(data)
    if not any(gcode.strip_comment(line) for line in lines):
        # Nothing to send (empty list, blank lines, comments): OctoPrint answers 204 and sends
        # nothing; the registry would call it an invalid command.
        return Reply(200, {"replies": []}) if reply else NO_CONTENT
    result = call.dispatch("printer.command", {"commands": lines})
    if not reply:
        return NO_CONTENT
    return Reply(200, {"replies": collect_replies(result.handles, timeout)})


def sd_disabled(call: Call) -> Reply:
    """GET/POST /api/printer/sd: OctoPrint's answer when `feature.sdSupport` is off."""
    raise ApiError(404, "SD support is disabled")


ROUTES = (
    Route("/printer", ("GET",), printer_state, "STATUS"),
    Route("/printer/command", ("POST",), printer_command, "CONTROL"),
    Route("/printer/sd", ("GET",), sd_disabled, "STATUS"),
    Route("/printer/sd", ("POST",), sd_disabled, "CONTROL"),
)
