"""System commands, exactly as OctoPrint's API models them: core (shutdown/reboot/restart, listed only
when configured) and custom actions (with dividers), listed and executed through the registry.

Registry actions: "system.list" {source?} and "system.execute" {source, action}. The REST shim and
the MQTT bridge render the results; both add the absolute `resource` URL themselves.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mqttprint.config import SystemConfig
from mqttprint.protocol.errors import InvalidCommand, MqttprintError
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, NotFound, Request, arg_str
from mqttprint.runtime.system_runner import SystemCommandResult, run_command, run_in_background

SOURCES = ("core", "custom", "plugin")

_DISRUPT = ("This action may disrupt any ongoing print jobs (depending on your printer's controller and general setup "
            "that might also apply to prints run directly from your printer's internal storage).")

#: OctoPrint 1.11's core commands: action -> (name, confirm text, fresh_credentials)
CORE = {
    "shutdown": ("Shutdown system", f"<strong>You are about to shutdown the system.</strong></p><p>{_DISRUPT}", True),
    "reboot": ("Reboot system", f"<strong>You are about to reboot the system.</strong></p><p>{_DISRUPT}", True),
    "restart": ("Restart OctoPrint", f"<strong>You are about to restart the OctoPrint server.</strong></p><p>{_DISRUPT}", False),
}


class SystemCommandFailed(MqttprintError):
    """A synchronous system command failed (non-zero exit, timeout, could not start); REST answers 500."""

    def __init__(self, result: SystemCommandResult) -> None:
        detail = result.error or f"failed with return code {result.returncode}"
        super().__init__(f"Command for {result.source}:{result.action} {detail}:\n\nSTDOUT:\n{result.stdout}\n\nSTDERR:\n{result.stderr}")
        self.result = result


@dataclass(frozen=True, slots=True)
class SystemCommandSpec:
    """One command definition (internal: `command` is never exposed to clients)."""

    source: str
    action: str
    name: str
    command: Optional[str]
    confirm: Optional[str]
    async_: bool
    ignore: bool
    shell: bool
    timeout: float
    fresh_credentials: bool = False

    @property
    def divider(self) -> bool:
        return self.action == "divider"

    def client_spec(self, base_url: str) -> dict[str, Any]:
        """OctoPrint's ClientSpec: source, action, name, confirm (when set), resource; never the command."""
        spec: dict[str, Any] = {"action": self.action, "source": self.source}
        if not self.divider:
            spec["name"] = self.name
            if self.confirm:
                spec["confirm"] = self.confirm
            if self.fresh_credentials:
                spec["fresh_credentials"] = True
        spec["resource"] = f"{base_url.rstrip('/')}/api/system/commands/{self.source}/{self.action}"
        return spec


@dataclass(frozen=True, slots=True)
class SystemCommandFinished:
    """Bus event: a system command ended (async ones report here; sync ones too, for MQTT events)."""

    source: str
    action: str
    ok: bool
    returncode: Optional[int]
    error: str
    stdout: str
    stderr: str


def build_specs(config: SystemConfig) -> list[SystemCommandSpec]:
    """Every command definition, core first (only the configured ones), then custom in order."""
    specs = []
    for action, (name, confirm, fresh) in CORE.items():
        command = config.commands.get(action)
        if command:
            specs.append(SystemCommandSpec("core", action, name, command, confirm, True, False, False, 60.0, fresh))
    for item in config.actions:
        specs.append(SystemCommandSpec("custom", item.action, item.name or item.action, item.command, item.confirm,
                                       item.async_, item.ignore, item.shell, item.timeout))
    return specs


class SystemCommands:
    """The configured commands and how to run them."""

    def __init__(self, config: SystemConfig, bus: EventBus, wall_clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.specs = build_specs(config)
        self._bus = bus
        self._wall_clock = wall_clock

    def listing(self, base_url: str, source: Optional[str] = None) -> Any:
        """All commands by source ({"core", "custom", "plugin"}), or one source's list."""
        if source is not None:
            if source not in SOURCES:
                raise NotFound(f"unknown source {source!r}: one of {', '.join(SOURCES)}")
            return [s.client_spec(base_url) for s in self.specs if s.source == source]
        return {src: [s.client_spec(base_url) for s in self.specs if s.source == src] for src in SOURCES}

    def find(self, source: str, action: str) -> SystemCommandSpec:
        """Exact lookup; request text only ever selects among configured definitions."""
        if action == "divider":
            raise InvalidCommand("Dividers cannot be executed")
        for spec in self.specs:
            if spec.source == source and spec.action == action:
                return spec
        raise NotFound(f"no system command {source}:{action}")

    def execute(self, source: str, action: str, printer_id: str = "") -> Optional[SystemCommandResult]:
        """Run a command. Async ones return None at once and report a SystemCommandFinished event;
        a failing sync one raises SystemCommandFailed unless `ignore`."""
        spec = self.find(source, action)
        if not spec.command:
            raise SystemCommandFailed(SystemCommandResult(source, action, None, "", "", 0.0,
                                                          "does not define a command to execute, can't proceed"))
        if spec.async_:
            run_in_background(source, action, spec.command, shell=spec.shell, timeout=spec.timeout,
                              on_done=lambda r: self._report(r, printer_id))
            return None
        result = run_command(source, action, spec.command, shell=spec.shell, timeout=spec.timeout)
        self._report(result, printer_id)
        if not result.ok and not spec.ignore:
            raise SystemCommandFailed(result)
        return result

    def _report(self, result: SystemCommandResult, printer_id: str) -> None:
        event = SystemCommandFinished(result.source, result.action, result.ok, result.returncode, result.error,
                                      result.stdout, result.stderr)
        self._bus.publish(BusMessage(printer_id, event, self._wall_clock()))


def list_commands(system: SystemCommands, context: Context, request: Request) -> ActionResult:
    """{"base_url": ..., "source"?: ...} -> the listing in OctoPrint's shape."""
    base_url = arg_str(request.args, "base_url", "") or ""
    return ActionResult(data=system.listing(base_url, arg_str(request.args, "source")))


def execute_command(system: SystemCommands, context: Context, request: Request) -> ActionResult:
    """{"source", "action"} -> runs the configured command; data = result (None for async)."""
    source = arg_str(request.args, "source", required=True) or ""
    action = arg_str(request.args, "action", required=True) or ""
    result = system.execute(source, action, request.printer_id or "")
    return ActionResult(data=result)


def register_system_actions(registry: CommandRegistry, system: SystemCommands) -> None:
    """Register the system actions, bound to `system`."""
    registry.register("system.list", functools.partial(list_commands, system), "List configured system commands (OctoPrint's shape)")
    registry.register("system.execute", functools.partial(execute_command, system), "Execute a configured system command")
