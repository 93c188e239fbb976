"""Test doubles for the REST unit tests: a printer whose snapshot the test sets, a registry with
a recording "printer.command" action, and the shim's app built around them (Flask test client,
no sockets). The integration tests cover the same endpoints over real HTTP with the simulator."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Optional

from mqttprint.config import parse_config
from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol import gcode
from mqttprint.protocol.errors import NotOperational
from mqttprint.protocol.replies import HeaterReading, Position
from mqttprint.protocol.states import PrinterState
from mqttprint.rest import shapes
from mqttprint.rest.app import create_app
from mqttprint.rest.appkeys import AppKeyStore
from mqttprint.rest.auth import Authenticator
from mqttprint.rest.history import TemperatureHistory
from mqttprint.rest.routing import Services
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, Request
from mqttprint.runtime.printer_actions import commands_from_args
from mqttprint.protocol.events import CommandFinished
from mqttprint.runtime.printer_service import CommandHandle

ADMIN, USER, READ = "a" * 32, "u" * 32, "r" * 32
INSTALLATION = "0b3f4a4e-7c51-4d5e-9a55-2f8a3e0c9d11"

HEATERS = {"T0": HeaterReading(21.5, 0.0), "B": HeaterReading(20.0, 0.0)}


class FakePrinter:
    """Just enough of PrinterService: snapshot() and bus."""

    def __init__(self, printer_id: str, bus: EventBus) -> None:
        self.printer_id = printer_id
        self.bus = bus
        self.current = PrinterSnapshot(printer_id, state=PrinterState.OPERATIONAL, temperatures=dict(HEATERS),
                                       port=f"sim://{printer_id}", baudrate=115200)

    def snapshot(self) -> PrinterSnapshot:
        return self.current

    def set(self, **changes: Any) -> None:
        self.current = dataclasses.replace(self.current, **changes)


class Harness:
    """The app with fake printers; `sent` records every "printer.command" payload."""

    def __init__(self, tmp_path: Path, printer_ids: tuple[str, ...] = ("p1", "p2")) -> None:
        self.config = parse_config({
            "rest": {"api_keys": [{"name": "admin", "key": ADMIN, "role": "admin"},
                                  {"name": "op", "key": USER, "role": "user"},
                                  {"name": "viewer", "key": READ, "role": "read"}]},
            "storage": {"dir": str(tmp_path)},
            "printers": [{"id": pid, "port": f"sim://{pid}"} for pid in printer_ids],
        })
        self.bus = EventBus()
        self.printers = {pid: FakePrinter(pid, self.bus) for pid in printer_ids}
        self.registry = CommandRegistry(Context(self.printers, printer_ids[0]))  # type: ignore[arg-type]
        self.sent: list[tuple[Optional[str], list[str]]] = []
        self.connections: list[tuple[str, dict[str, Any]]] = []
        self.registry.register("printer.command", self._command, "record")
        self.registry.register("connection.connect", lambda c, r: self._connection("connect", r), "record")
        self.registry.register("connection.disconnect", lambda c, r: self._connection("disconnect", r), "record")
        self.registry.register("job.status", lambda c, r: ActionResult(
            shapes.job(self.printers[r.printer_id or "p1"].snapshot(), time.time())), "the idle job document")
        self.appkeys = AppKeyStore(tmp_path)
        self.services = Services(
            config=self.config, registry=self.registry, printers=self.printers,  # type: ignore[arg-type]
            history=TemperatureHistory(printer_ids), appkeys=self.appkeys,
            authenticator=Authenticator(self.config.rest.api_keys, self.appkeys.credentials),
            installation_id=lambda: INSTALLATION, port_candidates=lambda: ["/dev/ttyACM0"],
        )
        self.app = create_app(self.services)
        self.client = self.app.test_client()

    def _command(self, context: Context, request: Request) -> ActionResult:
        printer = self.printers[request.printer_id or "p1"]
        if not printer.current.operational:
            raise NotOperational("printer is not operational")
        lines = gcode.split_commands(commands_from_args(request.args))  # validates like the service
        self.sent.append((request.printer_id, lines))
        handles = []
        for line in lines:
            handle = CommandHandle(line)
            reply = ("X:1.00 Y:2.00 Z:3.00 E:0.00 Count X:80 Y:160 Z:1200",) if line == "M114" else ()
            handle._complete(CommandFinished(0, line, True, reply, "", 1.0, 1.1))
            handles.append(handle)
        if "M114" in lines:
            printer.set(position=Position(1.0, 2.0, 3.0, 0.0), position_time=1.1)
        return ActionResult({"queued": len(lines)}, tuple(handles))

    def _connection(self, what: str, request: Request) -> ActionResult:
        self.connections.append((what, dict(request.args)))
        return ActionResult({})

    def request(self, method: str, path: str, key: Optional[str] = ADMIN, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("X-Api-Key", key)
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.request("POST", path, **kwargs)
