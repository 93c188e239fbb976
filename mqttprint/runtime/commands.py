"""The transport-neutral command registry: one handler per action, shared by MQTT and REST.

A transport turns its request (topic + payload, or route + JSON body) into an action name and a
dict of arguments, calls `dispatch`, and renders the `ActionResult` or the error in its own way.
Handlers validate their arguments completely before anything reaches a printer.

Errors (from `mqttprint.protocol.errors`): `CommandRejected` and subclasses = the caller's fault
(`InvalidCommand` -> 400, `NotFound` -> 404, `NotOperational` -> 409); `PrinterFault` = the
printer's; `LinkFault` = the link's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from mqttprint.protocol.errors import CommandRejected, InvalidCommand
from mqttprint.runtime.printer_service import CommandHandle, PrinterService

log = logging.getLogger(__name__)


class NotFound(CommandRejected):
    """The request names a printer, action, file or system command that does not exist."""


class Forbidden(CommandRejected):
    """The caller may not do this (permission, or disabled by configuration)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request from a transport. `source` names the transport ("mqtt", "rest", "cli")."""

    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    printer_id: Optional[str] = None
    source: str = "api"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a handler returns. `handles` complete later with the firmware's replies."""

    data: Any = None
    handles: tuple[CommandHandle, ...] = ()


Handler = Callable[["Context", Request], ActionResult]


@dataclass(frozen=True, slots=True)
class Context:
    """What every handler may use: the printers. A handler that needs a service (jobs, system
    commands) is registered bound to it (`functools.partial`), never looks it up by name."""

    printers: Mapping[str, PrinterService]
    default_printer: Optional[str]

    def printer(self, printer_id: Optional[str]) -> PrinterService:
        """The named printer, or the default one; NotFound otherwise."""
        key = printer_id or self.default_printer
        if key is None or key not in self.printers:
            raise NotFound(f"unknown printer {printer_id!r}" if printer_id else "no default printer configured")
        return self.printers[key]


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    handler: Handler
    description: str


class CommandRegistry:
    """Actions by name. Register at start-up; dispatch from any thread."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self._actions: dict[str, Action] = {}

    def register(self, name: str, handler: Handler, description: str) -> None:
        """Add an action; registering a name twice is a programming error."""
        if name in self._actions:
            raise ValueError(f"action {name!r} registered twice")
        self._actions[name] = Action(name, handler, description)

    def actions(self) -> list[Action]:
        return sorted(self._actions.values(), key=lambda a: a.name)

    def has(self, name: str) -> bool:
        return name in self._actions

    def dispatch(self, request: Request) -> ActionResult:
        """Run the action's handler. Raises the handler's CommandRejected/PrinterFault/LinkFault."""
        action = self._actions.get(request.action)
        if action is None:
            raise NotFound(f"unknown action {request.action!r}")
        if not isinstance(request.args, Mapping):
            raise InvalidCommand("arguments must be an object")
        log.debug("%s: %s %s", request.source, request.action, request.printer_id or "")
        return action.handler(self.context, request)


# ---------------------------------------------------------------------- argument helpers
def arg_str(args: Mapping[str, Any], key: str, default: Optional[str] = None, *, required: bool = False) -> Optional[str]:
    """A string argument, or InvalidCommand naming the key."""
    value = args.get(key, default)
    if value is None:
        if required:
            raise InvalidCommand(f"missing {key!r}")
        return None
    if not isinstance(value, str):
        raise InvalidCommand(f"{key!r} must be a string, not {type(value).__name__}")
    return value


def arg_bool(args: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise InvalidCommand(f"{key!r} must be true or false")
    return value


def arg_int(args: Mapping[str, Any], key: str, default: Optional[int] = None, *, minimum: Optional[int] = None,
            maximum: Optional[int] = None) -> Optional[int]:
    value = args.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidCommand(f"{key!r} must be an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidCommand(f"{key!r} must be between {minimum} and {maximum}")
    return value


def arg_number(args: Mapping[str, Any], key: str, *, required: bool = False) -> Optional[float]:
    value = args.get(key)
    if value is None:
        if required:
            raise InvalidCommand(f"missing {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidCommand(f"{key!r} must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidCommand(f"{key!r} must be a finite number")
    return float(value)
