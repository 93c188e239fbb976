"""Firmware prompts of every printer: state from the event bus, answers to the printer.

Actions: `prompt.get` (the current prompt) and `prompt.answer {choice}` (0-9). An answer is sent
only while a prompt is open - `M876 S<choice>` on the emergency path (Marlin's emergency parser
acts on it at once), or M108 when only a busy line asked - and the prompt closes as answered, so a
second answer to the same question is refused instead of being sent twice.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from mqttprint.printer.prompt import Prompt, PromptEvent, PromptTracker
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import BusyReported, FirmwareReset, HostActionReceived, StateChanged
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, Request
from mqttprint.runtime.printer_service import PrinterService

NO_PROMPT = "no prompt is open: nothing was sent"
_GONE = (PrinterState.OFFLINE, PrinterState.OFFLINE_AFTER_ERROR, PrinterState.ERROR, PrinterState.CONNECTING)


@dataclass(frozen=True, slots=True)
class PromptChanged:
    """Bus event: a printer's prompt state changed (published retained as `B/prompt`)."""

    prompt: Prompt


@dataclass(frozen=True, slots=True)
class PromptNotice:
    """Bus event: one of FilamentRunout, FilamentChange, PromptShown, PromptClosed, PausedByFirmware."""

    name: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FilamentChangeSent:
    """Bus event: a job line with M600 went to the printer."""


class PrinterPrompts:
    """The prompt state of one printer."""

    def __init__(self, printer: PrinterService, bus: EventBus, wall_clock: Callable[[], float] = time.time) -> None:
        self.printer = printer
        self._bus = bus
        self._clock = wall_clock
        self._lock = threading.Lock()
        self._tracker = PromptTracker()
        bus.subscribe(self._on_event, (HostActionReceived, BusyReported, StateChanged, FirmwareReset, FilamentChangeSent))

    def current(self) -> Prompt:
        return self._tracker.prompt

    def answer(self, choice: int) -> str:
        """Send the answer to the open prompt; returns the command sent. 409 when none is open."""
        with self._lock:
            prompt = self._tracker.prompt
            if not prompt.open:
                raise NotOperational(NO_PROMPT)
            if prompt.buttons and choice >= len(prompt.buttons):
                raise InvalidCommand(f"choice {choice} does not exist: the prompt has {len(prompt.buttons)} "
                                     f"button(s) ({', '.join(prompt.buttons)})")
            command = prompt.answer_command.format(choice=choice)
            self.printer.emergency(command)  # raises (nothing sent) when the link is down
            events = self._tracker.close("answered", self._clock())
        self._publish(events, changed=True)
        return command

    def _on_event(self, message: BusMessage) -> None:
        """Serial thread: reduce, then publish what changed (never blocks)."""
        if message.printer_id != self.printer.printer_id:
            return
        event, wall = message.event, message.wall_time
        with self._lock:
            before = self._tracker.prompt
            if isinstance(event, HostActionReceived):
                events = self._tracker.host_action(event.name, event.params, wall)
            elif isinstance(event, BusyReported):
                events = self._tracker.busy(event.reason, wall)
            elif isinstance(event, FilamentChangeSent):
                events = self._tracker.m600_sent(wall)
            elif isinstance(event, FirmwareReset) or (isinstance(event, StateChanged) and event.new in _GONE):
                events = self._tracker.reset(wall)
            else:
                return
            changed = self._tracker.prompt != before
        self._publish(events, changed)

    def _publish(self, events: list[PromptEvent], changed: bool) -> None:
        pid, now = self.printer.printer_id, self._clock()
        if changed:
            self._bus.publish(BusMessage(pid, PromptChanged(self._tracker.prompt), now))
        for event in events:
            self._bus.publish(BusMessage(pid, PromptNotice(event.name, event.data), now))


class PromptsService:
    """Every printer's prompts (built by the daemon, registered as service "prompts")."""

    def __init__(self, printers: dict[str, PrinterService], bus: EventBus) -> None:
        self.prompts = {pid: PrinterPrompts(printer, bus) for pid, printer in printers.items()}


def _prompts(service: PromptsService, context: Context, request: Request) -> PrinterPrompts:
    return service.prompts[context.printer(request.printer_id).printer_id]


def parse_choice(value: Any) -> int:
    """A button index 0-9 (an int, or a digit string from MQTT's plain payload)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 1:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise InvalidCommand("'choice' must be a button index from 0 to 9")
    return value


def prompt_get(service: PromptsService, context: Context, request: Request) -> ActionResult:
    return ActionResult(data=_prompts(service, context, request).current().to_dict())


def prompt_answer(service: PromptsService, context: Context, request: Request) -> ActionResult:
    prompts = _prompts(service, context, request)
    choice = parse_choice(request.args.get("choice"))
    return ActionResult(data={"choice": choice, "sent": prompts.answer(choice)})


def register_prompt_actions(registry: CommandRegistry, service: PromptsService) -> None:
    """Register `prompt.get` and `prompt.answer`, bound to `service`."""
    registry.register("prompt.get", functools.partial(prompt_get, service), "The printer's current firmware prompt")
    registry.register("prompt.answer", functools.partial(prompt_answer, service),
                      "Answer the open firmware prompt (M876 S<choice>)")
