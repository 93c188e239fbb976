"""One printer as the transports see it: submit commands, emergency, connect, snapshots, events.

Wraps a `SerialLink`. Everything that touches the engine runs on the I/O loop thread (as intents);
callers get `CommandHandle`s that complete with the firmware's reply lines.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional

from mqttprint.printer import model
from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol import gcode
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import CommandFinished, Event, Priority
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import JobSource
from mqttprint.protocol.states import PrinterState, is_operational
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.event_log import log_events
from mqttprint.runtime.serial_link import LinkSettings, SerialLink

#: Where a connection attempt ends when it fails (see `await_connection`).
_FAILED_STATES = (PrinterState.ERROR, PrinterState.OFFLINE_AFTER_ERROR)


#: The command id of a handle that failed before its command reached the engine.
NEVER_QUEUED = 0


@dataclass(frozen=True, slots=True)
class CommandTimed:
    """Bus event (for the metrics): an interactive command's round trip, queued -> ok or failure,
    or an emergency command's `emergency()` call -> bytes written to the port. Seconds."""

    ROUND_TRIP: ClassVar[str] = "round_trip"
    EMERGENCY: ClassVar[str] = "emergency"

    command: str
    kind: str
    seconds: float


class CommandHandle:
    """A future for one command's result. Thread-safe."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.queued_at = time.monotonic()
        self._future: concurrent.futures.Future[CommandFinished] = concurrent.futures.Future()

    def result(self, timeout: Optional[float] = None) -> CommandFinished:
        """Wait for the result; raises TimeoutError when it does not come in time."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"no reply to {self.command!r} within {timeout} s") from None

    def done(self) -> bool:
        return self._future.done()

    def add_done_callback(self, callback: Callable[[CommandFinished], None]) -> None:
        """Call `callback(result)` when done (at once, on this thread, if already done)."""
        self._future.add_done_callback(lambda f: callback(f.result()))

    def _complete(self, result: CommandFinished) -> None:
        if not self._future.done():
            self._future.set_result(result)


class PrinterService:
    """The printer-facing API shared by MQTT and REST (through the command registry)."""

    def __init__(
        self,
        printer_id: str,
        settings: LinkSettings,
        params: EngineParams,
        bus: EventBus,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.printer_id = printer_id
        self.bus = bus
        self._wall_clock = wall_clock
        self._snapshot = PrinterSnapshot(printer_id)
        self._handles: dict[int, CommandHandle] = {}  # serial thread only
        self._snapshot_lock = threading.Lock()
        self.link = SerialLink(printer_id, settings, params, self._on_events, self._on_connection)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.link.start()

    def stop(self, timeout: float = 3.0) -> None:
        self.link.stop(timeout)

    def snapshot(self) -> PrinterSnapshot:
        """The latest immutable state (never blocks)."""
        return self._snapshot

    # ------------------------------------------------------------------ commands
    def validate(self, text: str) -> list[str]:
        """Split and validate a payload of one or more G-code lines without sending anything."""
        lines = gcode.split_commands(text)
        if not lines:
            raise InvalidCommand("no command to send (empty, or only comments)")
        for line in lines:
            gcode.refuse_reserved(line)
        return lines

    def submit(self, text: str, *, priority: Priority = Priority.INTERACTIVE) -> list[CommandHandle]:
        """Send one or more G-code lines; emergency codes among them take the fast path.

        Every line is validated before anything is sent: one bad line rejects the whole payload.
        Raises InvalidCommand (caller's fault) or NotOperational (printer not ready).
        """
        lines = self.validate(text)
        if any(gcode.is_emergency(line) for line in lines):
            # Emergencies first, at once; the rest queue behind them as usual.
            handles = {i: self.emergency(line) for i, line in enumerate(lines) if gcode.is_emergency(line)}
            rest = [(i, line) for i, line in enumerate(lines) if i not in handles]
            if rest:
                try:
                    queued = self._queue([line for _, line in rest], priority)
                except NotOperational:
                    # The emergency already went out (M112 puts the printer in Error): report
                    # the other lines as not sent instead of failing the whole request.
                    queued = [self._failed(line, "not sent: the printer left the operational state after the emergency command")
                              for _, line in rest]
                handles.update({i: h for (i, _), h in zip(rest, queued)})
            return [handles[i] for i in range(len(lines))]
        if not is_operational(self._snapshot.state):
            raise NotOperational(f"printer is not operational ({self._snapshot.state_text})")
        return self._queue(lines, priority)

    def _queue(self, lines: list[str], priority: Priority) -> list[CommandHandle]:
        handles = [CommandHandle(line) for line in lines]

        def enqueue(engine: Engine, now: float) -> None:
            # All lines of one payload enter the lane together, in order, or none does.
            for command_id, handle in zip(engine.submit_many(lines, now, priority), handles):
                self._handles[command_id] = handle

        self.link.call(enqueue).result(timeout=10)
        return handles

    def emergency(self, command: str = "M112") -> CommandHandle:
        """Write an emergency command at once (M112, M108, M410, M876 S<n>, M524)."""
        line = gcode.emergency_line(command)
        handle = CommandHandle(line)

        def register(command_id: int) -> None:
            # Runs on the serial thread inside the intent, before its events are delivered.
            self._handles[command_id] = handle

        self.link.emergency(line, on_recorded=register)
        written = time.monotonic()
        self.bus.publish(BusMessage(self.printer_id, CommandTimed(line, CommandTimed.EMERGENCY, written - handle.queued_at),
                                    self._wall_clock()))
        return handle

    def _failed(self, line: str, error: str) -> CommandHandle:
        handle = CommandHandle(line)
        now = self._wall_clock()
        handle._complete(CommandFinished(NEVER_QUEUED, line, False, (), error, None, now))
        return handle

    def connect(self, port: Optional[str] = None, baudrate: Optional[int] = None) -> None:
        """(Re)connect; from Error this closes, resets the board where possible and handshakes."""
        self.link.connect(port, baudrate)

    def await_connection(self, timeout: float) -> PrinterSnapshot:
        """After `connect()`: the snapshot once the attempt has an outcome (operational, error,
        or the port failed to open), or as it is after `timeout` seconds (still connecting)."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self._snapshot
            settled = is_operational(snapshot.state) or snapshot.state in _FAILED_STATES or (
                snapshot.state is PrinterState.OFFLINE and self.link.last_error)
            if settled or time.monotonic() >= deadline:
                return snapshot
            time.sleep(0.01)

    def disconnect(self) -> None:
        self.link.disconnect()

    # ------------------------------------------------------------------ jobs (driven by the job service)
    def call(self, intent: Callable[[Engine, float], Any], timeout: float = 10.0) -> Any:
        """Run `intent(engine, now)` on the serial thread and return its result (or raise its error)."""
        return self.link.call(intent).result(timeout=timeout)

    def start_job(self, source: JobSource) -> None:
        self.call(lambda engine, now: engine.start_job(source, now))

    # ------------------------------------------------------------------ serial-thread callbacks
    def _on_connection(self, port: Optional[str], baudrate: Optional[int]) -> None:
        self._snapshot = model.connection_changed(self._snapshot, port, baudrate, self._wall_clock())

    def _on_events(self, events: list[Event]) -> None:
        log_events(self.printer_id, events)
        wall = self._wall_clock()
        snapshot = self._snapshot
        for event in events:
            snapshot = model.reduce(snapshot, event, wall)
        self._snapshot = snapshot
        publish = self.bus.publish
        timings: list[CommandTimed] = []
        for event in events:
            if type(event) is CommandFinished:
                handle = self._handles.pop(event.command_id, None)  # type: ignore[union-attr]
                if handle is not None:
                    handle._complete(event)  # type: ignore[arg-type]
                    if not gcode.is_emergency(handle.command):  # emergencies are timed call -> written
                        timings.append(CommandTimed(handle.command, CommandTimed.ROUND_TRIP,
                                                    time.monotonic() - handle.queued_at))
            publish(BusMessage(self.printer_id, event, wall))
        for timing in timings:
            publish(BusMessage(self.printer_id, timing, wall))
