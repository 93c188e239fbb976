"""What the engine's receive half (`reactions`) and time half (`timing`) may use of the engine.

A structural type, so those modules need not import `engine` (which imports them): the engine's
collaborators, each owning its state, plus the few operations that touch several of them at
once (finishing a command, failing everything, moving the state machine). Pure.
"""

from __future__ import annotations

from typing import Optional, Protocol

from mqttprint.protocol.deadlines import OkDeadlines
from mqttprint.protocol.events import Event, Priority
from mqttprint.protocol.handshake import Handshake
from mqttprint.protocol.jobstream import JobStream
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.polls import PollSchedule
from mqttprint.protocol.replies import FirmwareInfo
from mqttprint.protocol.rewind import ResendTracker
from mqttprint.protocol.sendqueue import Command, History, Lanes, Window
from mqttprint.protocol.states import PrinterState, Trigger


class EngineCore(Protocol):
    """The engine as its two halves see it."""

    params: EngineParams
    state: PrinterState
    firmware: Optional[FirmwareInfo]
    capabilities: dict[str, bool]
    busy_protocol: bool
    window: Window
    lanes: Lanes
    history: History
    handshake: Handshake
    resends: ResendTracker
    deadlines: OkDeadlines
    stream: JobStream
    polls: PollSchedule

    @property
    def next_line(self) -> int: ...

    def emit(self, event: Event) -> None: ...

    def queue_internal(self, text: str, tag: str, priority: Priority = Priority.INTERACTIVE) -> None: ...

    def finish(self, command: Command, ok: bool, error: str, now: float) -> None: ...

    def fatal(self, reason: str, now: float) -> None: ...

    def transition(self, trigger: Trigger, now: float, error: str = "") -> None: ...

    def arm_ok_deadline(self, now: float) -> None: ...

    def send_hello(self, now: float) -> None: ...

    def firmware_rebooted(self, now: float) -> None: ...
