"""The printer's built-in actions: G-code commands, emergency, connection, state.

Each is registered once in the command registry and reached from MQTT and REST alike.
"""

from __future__ import annotations

import time
from typing import Any

from mqttprint.protocol import gcode
from mqttprint.protocol.errors import InvalidCommand
from mqttprint.runtime.bus import BusMessage
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, Request, arg_int, arg_str
from mqttprint.runtime.port_detect import candidate_ports, port_problem
from mqttprint.runtime.prompts import FilamentChangeSent

#: How long a connect request waits for the handshake's outcome before answering "Connecting".
CONNECT_WAIT = 10.0
#: Longest G-code payload accepted in one request (a page of commands, not a job: jobs are files).
MAX_PAYLOAD_LINES = 200



def commands_from_args(args: Any) -> str:
    """`{"command": "M114"}` or `{"commands": ["G28", "M114"]}` -> G-code text (validated by the service)."""
    has_one, has_many = "command" in args, "commands" in args
    if has_one == has_many:
        raise InvalidCommand("give exactly one of 'command' (a string) or 'commands' (a list of strings)")
    if has_one:
        value = args["command"]
        if not isinstance(value, str):
            raise InvalidCommand("'command' must be a string")
        lines = [value]
    else:
        value = args["commands"]
        if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
            raise InvalidCommand("'commands' must be a non-empty list of strings")
        lines = value
    if len(lines) > MAX_PAYLOAD_LINES:
        raise InvalidCommand(f"at most {MAX_PAYLOAD_LINES} commands per request")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise InvalidCommand("one command per list entry: line breaks are not allowed inside a command")
    return "\n".join(lines)


def send_commands(context: Context, request: Request) -> ActionResult:
    """Queue G-code (emergency codes inside take the fast path). Handles carry the replies."""
    printer = context.printer(request.printer_id)
    text = commands_from_args(request.args)
    if text.count("\n") + 1 > MAX_PAYLOAD_LINES:
        raise InvalidCommand(f"at most {MAX_PAYLOAD_LINES} commands per request")
    handles = printer.submit(text)
    if any(gcode.code_key(line) == "M600" for line in gcode.split_commands(text)):
        # Firmware prompts follow: the next dialog is a filament change (docs/mqtt.md, B/prompt).
        printer.bus.publish(BusMessage(printer.printer_id, FilamentChangeSent(), time.time()))
    return ActionResult(data={"queued": len(handles)}, handles=tuple(handles))


def emergency(context: Context, request: Request) -> ActionResult:
    """Write an emergency command at once; M112 by default."""
    printer = context.printer(request.printer_id)
    command = gcode.emergency_request(arg_str(request.args, "command", "M112") or "")
    handle = printer.emergency(command)
    return ActionResult(data={"command": handle.command}, handles=(handle,))


def connect(context: Context, request: Request) -> ActionResult:
    """(Re)open the printer's port, optionally with another baud rate or a port among the allowed
    ones (`port_detect.allowed_ports`: the configured port and detected local serial devices)."""
    printer = context.printer(request.printer_id)
    port = arg_str(request.args, "port")
    baudrate = arg_int(request.args, "baudrate", minimum=300, maximum=4_000_000)
    if port is not None:
        problem = port_problem(port, printer.link.settings.port, candidate_ports())
        if problem:
            raise InvalidCommand(problem)
    printer.connect(port or None, baudrate)
    # Report the attempt's outcome, not the state from before it (issue 12 item 13).
    snapshot = printer.await_connection(CONNECT_WAIT)
    return ActionResult(data={"state": snapshot.state_text, "error": snapshot.error or printer.link.last_error})


def disconnect(context: Context, request: Request) -> ActionResult:
    """Close the printer's port and stay disconnected."""
    printer = context.printer(request.printer_id)
    printer.disconnect()
    return ActionResult(data={"state": printer.snapshot().state_text})


def state(context: Context, request: Request) -> ActionResult:
    """The printer's current snapshot."""
    return ActionResult(data=context.printer(request.printer_id).snapshot())


def register_printer_actions(registry: CommandRegistry) -> None:
    """Register the printer actions (names are part of the transports' contract)."""
    registry.register("printer.command", send_commands, "Send G-code; emergency codes bypass the queue")
    registry.register("printer.emergency", emergency, "Emergency command (M112 default, M108, M410, M876 S<n>, M524)")
    registry.register("connection.connect", connect, "Open (or re-open and reset) the printer's port")
    registry.register("connection.disconnect", disconnect, "Close the printer's port")
    registry.register("printer.state", state, "Current state snapshot")
