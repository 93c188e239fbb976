"""Printhead, tool and bed: OctoPrint's JSON commands turned into G-code (octoprint.md 1.4).

Every value is validated here and the G-code goes out through the registry's "printer.command"
action, so MQTT and REST share one path to the printer. Where OctoPrint answers bad input with a
500 (jog without axes, negative targets) mqttprint answers 400.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from mqttprint.printer.model import PrinterSnapshot
from mqttprint.rest import shapes
from mqttprint.rest.api_printer import collect_replies, temperature_body
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route, require_operational
from mqttprint.rest.validation import (
    ApiError,
    factor_percent,
    format_number,
    is_true,
    json_command,
    number,
)

#: OctoPrint's default printer profile speeds, mm/min (jog picks the slowest jogged axis).
AXIS_SPEEDS = {"x": 6000, "y": 6000, "z": 200}
EXTRUDE_SPEED = 300
#: A jog farther than this is a typo (or an attack), not a move, mm.
MAX_JOG = 10000.0
MAX_TEMPERATURE = 500.0
OFFSET_LIMIT = 50.0
POSITION_TIMEOUT = 10.0
_TOOL = re.compile(r"^tool(\d{1,2})$")

OFFSETS_UNSUPPORTED = "Temperature offsets are not supported by mqttprint (only 0 is accepted)"


def send(call: Call, lines: list[str]) -> Reply:
    """Queue G-code lines (all or none) for this printer; 204 like OctoPrint."""
    call.dispatch("printer.command", {"commands": lines})
    return NO_CONTENT


# ---------------------------------------------------------------------- printhead
def _jog(data: Mapping[str, Any]) -> list[str]:
    moves = []
    for axis in ("x", "y", "z"):
        if axis in data:
            value = number(data[axis], "axis value is invalid", low=-MAX_JOG, high=MAX_JOG)
            moves.append((axis, value))
    if not moves:
        raise ApiError(400, "jog needs at least one of x, y, z")
    speed = data.get("speed")
    if speed is None:
        feed = min(AXIS_SPEEDS[axis] for axis, _ in moves)
    elif isinstance(speed, bool):
        feed = None  # OctoPrint: true/false means "no F word"
    else:
        feed = number(speed, "speed is invalid", low=1, high=100000)
    line = "G0 " + " ".join(f"{axis.upper()}{format_number(value)}" for axis, value in moves)
    if feed is not None:
        line += f" F{format_number(feed)}"
    return ["G90", line] if is_true(data.get("absolute")) else ["G91", line, "G90"]


def _home(data: Mapping[str, Any]) -> list[str]:
    axes = data["axes"]
    if not isinstance(axes, list) or not all(isinstance(a, str) and a in AXIS_SPEEDS for a in axes):
        raise ApiError(400, "axis is invalid")
    ordered = [a for a in ("x", "y", "z") if a in axes]
    # An empty list homes everything (a bare G28), as in OctoPrint.
    return ["G91", " ".join(["G28"] + [f"{a.upper()}0" for a in ordered]), "G90"]


def printhead_command(call: Call) -> Reply:
    """POST /api/printer/printhead: jog, home, feedrate. Validation, then 409, then G-code."""
    data = call.json()
    command = json_command(data, {"jog": (), "home": ("axes",), "feedrate": ("factor",)})
    snapshot = call.snapshot()
    if not snapshot.operational or (snapshot.flags["printing"] and command != "feedrate"):
        raise ApiError(409, "Printer is not operational or currently printing")
    if command == "jog":
        lines = _jog(data)
    elif command == "home":
        lines = _home(data)
    else:
        lines = [f"M220 S{factor_percent(data['factor'])}"]
    return send(call, lines)


def printhead_position(call: Call) -> Reply:
    """GET /api/printer/printhead (mqttprint extension): the last position the firmware reported.
    `?refresh=true` first asks the firmware (M114) and waits for the answer; that needs CONTROL."""
    require_operational(call)
    if is_true(call.query.get("refresh")):
        if not call.principal.allows("CONTROL"):
            raise ApiError(403, "refresh=true sends M114 and needs the CONTROL permission")
        result = call.dispatch("printer.command", {"command": "M114"})
        replies = collect_replies(result.handles, POSITION_TIMEOUT)
        if not replies or not replies[0]["ok"]:
            raise ApiError(504, "The printer did not report its position in time")
    return Reply(200, shapes.position(call.snapshot()))


# ---------------------------------------------------------------------- tool
def _tool_index(name: Any, message: str) -> int:
    match = _TOOL.match(name) if isinstance(name, str) else None
    if match is None:
        raise ApiError(400, message)
    return int(match.group(1))


def _checked_map(data: Mapping[str, Any], key: str, low: float, high: float) -> dict[int, float]:
    """`targets`/`offsets`: {"tool<n>": number} -> {n: value}, with OctoPrint's messages."""
    raw = data[key]
    if not isinstance(raw, dict) or not raw:
        raise ApiError(400, f"{key} is invalid")
    out = {}
    for name, value in raw.items():
        index = _tool_index(name, f"{key} contains invalid tool")
        out[index] = number(value, f"{key} contains invalid value", low=low, high=high)
    return out


def _targets(snapshot_heaters: Mapping[str, Any], targets: dict[int, float]) -> list[str]:
    # Single extruder: plain `M104 S<t>` as OctoPrint sends; several: address each with T<n>.
    multi = any(name not in ("T", "T0") and name.startswith("T") for name in snapshot_heaters) or set(targets) != {0}
    return [f"M104 T{n} S{format_number(v)}" if multi else f"M104 S{format_number(v)}" for n, v in sorted(targets.items())]


def tool_command(call: Call) -> Reply:
    """POST /api/printer/tool: select, target, offset, extrude, flowrate (409 before the body)."""
    snapshot = require_operational(call)
    data = call.json()
    command = json_command(data, {"select": ("tool",), "target": ("targets",), "offset": ("offsets",),
                                  "extrude": ("amount",), "flowrate": ("factor",)})
    if command == "select":
        return send(call, [f"T{_tool_index(data['tool'], 'tool is invalid')}"])
    if command == "target":
        return send(call, _targets(snapshot.temperatures, _checked_map(data, "targets", 0, MAX_TEMPERATURE)))
    if command == "offset":
        offsets = _checked_map(data, "offsets", -OFFSET_LIMIT, OFFSET_LIMIT)
        if any(offsets.values()):
            raise ApiError(400, OFFSETS_UNSUPPORTED)
        return NO_CONTENT
    if command == "extrude":
        if snapshot.flags["printing"]:
            raise ApiError(409, "Printer is currently printing")
        amount = number(data["amount"], "amount must be a valid number", low=-1000, high=1000)
        speed = data.get("speed")
        feed = EXTRUDE_SPEED if speed is None else min(number(speed, "speed is invalid", low=1, high=100000), EXTRUDE_SPEED)
        return send(call, ["G91", "M83", f"G1 E{format_number(amount)} F{format_number(feed)}", "M82", "G90"])
    return send(call, [f"M221 S{factor_percent(data['factor'])}"])


def tool_state(call: Call) -> Reply:
    """GET /api/printer/tool: only the `tool*` sensors (+ history)."""
    snapshot = require_operational(call)
    return Reply(200, temperature_body(call, snapshot, keep="tool"))


# ---------------------------------------------------------------------- bed
def _require_bed(call: Call) -> PrinterSnapshot:
    # OctoPrint reads "has a heated bed" from its printer profile; mqttprint from the firmware's
    # temperature reports. Before the first report nothing is known, so nothing is refused.
    snapshot = require_operational(call)
    if snapshot.temperatures and "B" not in snapshot.temperatures:
        raise ApiError(409, "Printer does not have a heated bed")
    return snapshot


def bed_command(call: Call) -> Reply:
    """POST /api/printer/bed: target (M140) or offset; 409 without a reported bed sensor."""
    _require_bed(call)
    data = call.json()
    command = json_command(data, {"target": ("target",), "offset": ("offset",)})
    if command == "target":
        target = number(data["target"], "target is invalid", low=0, high=MAX_TEMPERATURE)
        return send(call, [f"M140 S{format_number(target)}"])
    if number(data["offset"], "offset is invalid", low=-OFFSET_LIMIT, high=OFFSET_LIMIT):
        raise ApiError(400, OFFSETS_UNSUPPORTED)
    return NO_CONTENT


def bed_state(call: Call) -> Reply:
    """GET /api/printer/bed: `{"bed": {...}}` (+ history)."""
    snapshot = _require_bed(call)
    return Reply(200, temperature_body(call, snapshot, keep="bed"))


ROUTES = (
    Route("/printer/printhead", ("POST",), printhead_command, "CONTROL"),
    Route("/printer/printhead", ("GET",), printhead_position, "STATUS"),
    Route("/printer/tool", ("POST",), tool_command, "CONTROL"),
    Route("/printer/tool", ("GET",), tool_state, "STATUS"),
    Route("/printer/bed", ("POST",), bed_command, "CONTROL"),
    Route("/printer/bed", ("GET",), bed_state, "STATUS"),
)
