"""The sans-I/O protocol engine: one printer's conversation with its firmware.

Bytes and commands in, events and bytes out, the time passed in by the caller:

    engine.connection_opened(now)              # port is open: handshake starts
    engine.submit("M114", now)                 # -> command id; CommandFinished carries the reply
    out = engine.data_to_send(now)             # write these bytes (flow control decides how many)
    events = engine.receive_data(data, now)    # parse what the firmware said
    events += engine.tick(now)                 # timeouts, handshake retries, status polls
    command_id, out = engine.emergency("M112", now)   # bytes to write NOW, ahead of everything

No threads, no I/O, no clock reads. The engine is a small core over collaborators that own
their state: `Lanes`/`Window`/`History` (sendqueue), `Handshake`, `ResendTracker` (rewind),
`OkDeadlines`, `JobStream` and `PollSchedule`. Reply handling lives in `reactions`, time
handling in `timing`, the job's moves in `jobsteps`; all three see the engine through
`core.EngineCore`.
"""

from __future__ import annotations

import itertools
from typing import Optional

from mqttprint.protocol import framing, gcode, jobsteps, reactions, timing
from mqttprint.protocol.deadlines import OkDeadlines
from mqttprint.protocol.errors import NotOperational
from mqttprint.protocol.events import (
    CommandFinished,
    EmergencySent,
    Event,
    FirmwareReset,
    JobOutcome,
    LineSent,
    Priority,
    StateChanged,
)
from mqttprint.protocol.handshake import Handshake
from mqttprint.protocol.jobstream import JobStream
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.polls import PollSchedule
from mqttprint.protocol.replies import FirmwareInfo
from mqttprint.protocol.rewind import ResendTracker
from mqttprint.protocol.sendqueue import Command, Flow, History, InFlight, JobSource, Lanes, Window
from mqttprint.protocol.jobsteps import JOB_SCRIPT_TAG
from mqttprint.protocol.states import OPERATIONAL_STATES, PrinterState, Trigger, allowed, next_state

S = PrinterState

#: States in which queued commands may be written at all.
_SENDING_STATES = frozenset({S.CONNECTING}) | OPERATIONAL_STATES
#: States in which job lines are pulled from the job source.
_JOB_FEEDING_STATES = frozenset({S.STARTING, S.PRINTING})


class Engine:
    """One printer's protocol core: state, command ids, events, and the collaborators that own the rest."""

    def __init__(self, params: EngineParams | None = None) -> None:
        self.params = params = params or EngineParams()
        self.state = S.OFFLINE
        self.error = ""
        self.firmware: Optional[FirmwareInfo] = None
        self.capabilities: dict[str, bool] = {}
        self.busy_protocol = False
        self.lanes = Lanes()
        self.window = Window(params.flow, params.rx_buffer, params.max_lines_in_flight)
        self.history = History(params.history_size)
        self.handshake = Handshake(params.hello_interval, params.hello_attempts)
        self.resends = ResendTracker(params.max_resends_same_line)
        self.deadlines = OkDeadlines(params.ok_timeout, params.busy_ok_timeout, params.resend_ok_timeout)
        self.stream = JobStream()
        self.polls = PollSchedule(params.temperature_interval, params.position_interval)
        self._ids = itertools.count(1)
        self._events: list[Event] = []
        self._splitter = framing.LineSplitter()
        #: (number, text, bytes) of the job line `line_ahead` offered, until `commit_ahead` or the next offer
        self._ahead: Optional[tuple[int, str, bytes]] = None
        self._held_events: list[Event] = []  # of the line written ahead, until its `ok` is processed
        self._next_line = 0
        #: every line written (job, interactive, polls, resends): read by the metrics without a lock
        self.lines_written = 0
        self._now = 0.0

    # ------------------------------------------------------------------ connection
    def open_requested(self, now: float) -> None:
        """The shell starts opening the port (state: Opening serial connection)."""
        self.transition(Trigger.OPEN, now)

    def connection_opened(self, now: float) -> None:
        """The port is open: reset everything and start the handshake (`M110 N0`, then `M115`)."""
        if self.state is not S.OPENING:
            self.transition(Trigger.OPEN, now)
        self._reset_link(now, "connection reopened")
        self.transition(Trigger.PORT_OPENED, now)
        self._start_handshake(now)

    def connection_closed(self, now: float, error: str = "") -> None:
        """The port was closed on purpose (`error` empty) or lost (`error` says why)."""
        reason = error or "disconnected"
        jobsteps.end(self, JobOutcome.FAILED if error else JobOutcome.CANCELLED, reason)
        self._fail_all(now, reason)
        self._splitter.reset()
        if self.state in (S.OFFLINE, S.OFFLINE_AFTER_ERROR):
            return
        self.transition(Trigger.LINK_LOST if error else Trigger.CLOSE, now, error)

    # ------------------------------------------------------------------ commands
    def submit(
        self,
        text: str,
        now: float,
        priority: Priority = Priority.INTERACTIVE,
        *,
        tag: Optional[str] = None,
        internal: bool = False,
    ) -> int:
        """Queue one command; returns its id (CommandFinished carries the same id).

        Raises InvalidCommand for malformed lines (or emergency codes, which go through
        `emergency()`), NotOperational when the printer cannot take commands.
        """
        line, code = gcode.queueable(text)
        if not internal and self.state not in OPERATIONAL_STATES:
            raise NotOperational(f"printer is not operational ({self.state.text})")
        command = Command(next(self._ids), line, priority, code, internal=internal, tag=tag)
        self.lanes.add(command)
        return command.command_id

    def submit_many(self, lines: list[str], now: float, priority: Priority = Priority.INTERACTIVE) -> list[int]:
        """Queue several commands atomically: all of them (in order) or, on any error, none."""
        if self.state not in OPERATIONAL_STATES:
            raise NotOperational(f"printer is not operational ({self.state.text})")
        commands = []
        for text in lines:
            line, code = gcode.queueable(text)
            commands.append(Command(next(self._ids), line, priority, code))
        for command in commands:
            self.lanes.add(command)
        return [command.command_id for command in commands]

    def emergency(self, text: str, now: float, *, already_written: bool = False) -> tuple[int, bytes]:
        """Record an emergency command and return (command id, bytes to write immediately).

        The un-numbered line comes first (unless the shell already wrote it from its fast path),
        so Marlin's emergency parser acts on it on arrival even with full buffers. M112 also
        sends a numbered copy (firmwares without the parser only act on a dequeued line) and
        heaters-off lines, then fails everything and moves to Error. M108/M410/M876/M524 leave
        one `ok` to collect (the parser's queued copy is acknowledged later), so they take a
        place in the window.
        """
        line = gcode.emergency_line(text)
        code = gcode.code_key(line)
        out = bytearray() if already_written else bytearray(framing.encode_plain(line))
        command = Command(next(self._ids), line, Priority.EMERGENCY, code, sent_at=now)
        self._events.append(EmergencySent(line, now))
        connected = self.state in _SENDING_STATES or self.state is S.ERROR
        if code == "M112":
            if connected:
                tools = range(self.firmware.extruder_count if self.firmware else 1)
                lines = [(self._next_line, "M112")] + [(None, f"M104 T{t} S0") for t in tools] + [(None, "M140 S0")]
                self._next_line += 1
                for number, text in lines:
                    out += framing.encode_plain(text) if number is None else framing.encode_numbered(number, text)
                    if self.params.emit_traffic:  # the terminal shows every byte written
                        self._events.append(LineSent(text, number, Priority.EMERGENCY))
            command.finished = True
            self._events.append(CommandFinished(command.command_id, line, True, (), "", now, now))
            reason = "Emergency stop (M112) sent: the firmware is halted; reconnect to reset it"
            jobsteps.end(self, JobOutcome.FAILED, "emergency stop")
            self._fail_all(now, "emergency stop")
            if allowed(self.state, Trigger.FATAL):
                self.transition(Trigger.FATAL, now, reason)
            return command.command_id, bytes(out)
        if connected:
            self.window.push(InFlight(command, None, len(line) + 1))
            self.arm_ok_deadline(now)
        else:
            command.finished = True
            self._events.append(CommandFinished(command.command_id, line, False, (), "printer not connected", now, now))
        return command.command_id, bytes(out)

    # ------------------------------------------------------------------ jobs (protocol/jobsteps.py)
    def start_job(self, source: JobSource, now: float) -> None:
        """Start streaming `source` (state Starting, then Printing once the first line is out)."""
        jobsteps.start(self, source, now)

    def pause(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Stop feeding job lines; once the job's lines in flight are acknowledged, run `script`."""
        jobsteps.pause(self, now, script)

    def resume(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Run `script`, then continue the job from the exact next line."""
        jobsteps.resume(self, now, script)

    def cancel(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Stop feeding and drop the job's pending lines; then run `script` and end the job."""
        jobsteps.cancel(self, now, script)

    def allowed(self, trigger: Trigger) -> bool:
        """Whether the transition table allows `trigger` in the current state."""
        return allowed(self.state, trigger)

    @property
    def job(self) -> Optional[JobSource]:
        """The job source being streamed (or paused/cancelling), None when no job runs."""
        return self.stream.source

    @property
    def job_lines_sent(self) -> int:
        """Job lines written since the job started."""
        return self.stream.lines_sent

    @property
    def next_line(self) -> int:
        """The line number the next numbered line will carry."""
        return self._next_line

    # ------------------------------------------------------------------ output
    def data_to_send(self, now: float) -> bytes:
        """Every byte flow control allows to be written now, highest priority first."""
        if self.state not in _SENDING_STATES:
            return b""
        self._now = now
        out = bytearray()
        window = self.window
        while True:
            if self.lanes.resends:
                number = self.lanes.resends[0]
                stored = self.history.get(number)
                if stored is None:  # fell out of the history: reported by reactions as fatal
                    self.lanes.resends.popleft()
                    continue
                data, command = stored
                if not window.can_send(len(data)):
                    break
                self.lanes.resends.popleft()
                self._write(out, data, command, number, now)
                continue
            command = self._peek_command()
            if command is None:
                break
            text = command if isinstance(command, str) else command.text
            size = len(text) + len(str(self._next_line)) + 6  # "N<n> " + "*<cs>" + "\n", upper bound
            if not window.can_send(size):
                break
            if isinstance(command, str):
                command = self._take_job_line(now)
            else:
                self._take_queued(command)
            number = self._next_line
            self._next_line += 1
            data = framing.encode_numbered(number, command.text)
            self._send_numbered(out, data, command, number, now)
        if self.stream.source is not None and self.stream.exhausted:
            jobsteps.advance(self, now)  # an empty job (or its last line already acked) ends here
        return bytes(out)

    def _peek_command(self) -> Command | str | None:
        lanes = self.lanes
        if lanes.interactive:
            return lanes.interactive[0]
        if self.state in _JOB_FEEDING_STATES:
            try:
                line = self.stream.peek()
            except Exception as exc:  # the injected source (a file) failed: the job fails, not the link
                jobsteps.end(self, JobOutcome.FAILED, f"cannot read the job: {exc}")
                if self.state in (S.STARTING, S.PRINTING):
                    self.transition(Trigger.JOB_EOF, self._now)
                    self.transition(Trigger.JOB_DONE, self._now)
                return lanes.polls[0] if lanes.polls else None
            if line is not None:
                return line
        if lanes.polls:
            return lanes.polls[0]
        return None

    def _take_queued(self, command: Command) -> None:
        if self.lanes.interactive and self.lanes.interactive[0] is command:
            self.lanes.pop_interactive()
        else:
            self.lanes.pop_poll()

    def _take_job_line(self, now: float) -> Command:
        text = self.stream.take()
        command = Command(next(self._ids), text, Priority.JOB, gcode.code_key(text), internal=True, tag="job")
        if self.state is S.STARTING:
            self.transition(Trigger.JOB_RUNNING, now)
        return command

    def _send_numbered(self, out: bytearray, data: bytes, command: Command, number: int, now: float) -> None:
        self.history.remember(number, data, command)
        self._write(out, data, command, number, now)

    # ------------------------------------------------------------------ the ping-pong fast path
    def line_ahead(self) -> Optional[bytes]:
        """Ping-pong while printing, one job line in flight: the bytes of the next job line, which
        is exactly what `data_to_send` will write once a plain `ok` acknowledges the line in flight.

        The shell may write them the moment that `ok` arrives, before the `ok` is processed, and
        must then call `commit_ahead` before any other engine call. The host's bookkeeping of the
        `ok` then runs while the firmware already works on the next line: at 0 ms round trip the
        host's CPU per line leaves the critical path. None whenever anything could make the next
        line another one (a resend, a queued command, an error `ok` owed, a partial reply line, a
        state other than PRINTING, no line read ahead)."""
        window = self.window
        if (self.state is not S.PRINTING or window.flow is not Flow.PING_PONG or len(window.entries) != 1
                or window.error_oks or window.entries[0].line_number is None or self.lanes.resends
                or self.lanes.interactive or not self._splitter.idle):
            self._ahead = None
            return None
        text = self.stream.peeked
        if text is None:
            self._ahead = None
            return None
        number = self._next_line
        data = framing.encode_numbered(number, text)
        self._ahead = (number, text, data)
        return data

    def commit_ahead(self, data: bytes, now: float) -> None:
        """The shell wrote `data` from `line_ahead` as a plain `ok` arrived: take that job line as
        written (numbered, remembered for resends, in flight) before the `ok` is processed.
        Raises RuntimeError when `data` is not the line ahead (a shell bug: the link is reset)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[2] is not data or ahead[0] != self._next_line or ahead[1] is not self.stream.peeked:
            raise RuntimeError("the line written ahead is not the engine's next line")
        command = self._take_job_line(now)
        self._next_line += 1
        held = len(self._events)
        self._send_numbered(bytearray(), data, command, ahead[0], now)
        # The terminal shows the wire in order: this line went out after the `ok` that is
        # processed next, so its LineSent waits for that `ok`'s LineReceived.
        self._held_events, self._events = self._events[held:], self._events[:held]

    def _write(self, out: bytearray, data: bytes, command: Command, number: int, now: float) -> None:
        out += data
        self.lines_written += 1
        if command.sent_at is None:
            command.sent_at = now
        self.window.push(InFlight(command, number, len(data)))
        self.arm_ok_deadline(now)
        if self.params.emit_traffic:
            self._events.append(LineSent(command.text, number, command.priority))

    # ------------------------------------------------------------------ input / time
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Parse received bytes; returns every event produced since the last drain."""
        for received in self._splitter.feed(data):
            reactions.on_line(self, received.text, now)
        if self._held_events:
            self._events += self._held_events
            self._held_events = []
        return self.drain_events()

    def tick(self, now: float) -> list[Event]:
        """Handle time: handshake retries, resend-ok detection, ok timeouts, status polls."""
        timing.on_tick(self, now)
        return self.drain_events()

    def drain_events(self) -> list[Event]:
        """Return and forget the events produced so far."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> Optional[float]:
        """The earliest time `tick` has something to do (for the shell's select timeout)."""
        candidates = self.deadlines.pending()
        if self.handshake.deadline is not None:
            candidates.append(self.handshake.deadline)
        if self.state in OPERATIONAL_STATES:
            candidates.extend(self.polls.deadlines())
        return min(candidates) if candidates else None

    # ------------------------------------------------------------------ operations for reactions/timing (core.EngineCore)
    def emit(self, event: Event) -> None:
        """Record an event for the next drain."""
        self._events.append(event)

    def queue_internal(self, text: str, tag: str, priority: Priority = Priority.INTERACTIVE) -> None:
        """Queue a command the gateway itself needs (handshake, auto-report, poll)."""
        self.lanes.add(Command(next(self._ids), text, priority, gcode.code_key(text), internal=True, tag=tag))

    def transition(self, trigger: Trigger, now: float, error: str = "") -> None:
        """Move the state machine (IllegalTransition when the table has no such move)."""
        old = self.state
        self.state = next_state(old, trigger)
        if self.state in (S.ERROR, S.OFFLINE_AFTER_ERROR):
            self.error = error or self.error
        elif trigger is not Trigger.CLOSE:
            self.error = ""
        if self.state is not old:
            self._events.append(StateChanged(old, self.state, self.error if self.state in (S.ERROR, S.OFFLINE_AFTER_ERROR) else ""))

    def arm_ok_deadline(self, now: float) -> None:
        """Expect an `ok` for the oldest line in flight."""
        self.deadlines.arm(now, self.busy_protocol)

    def fatal(self, reason: str, now: float) -> None:
        """The printer cannot go on: end the job, fail every command, state Error."""
        jobsteps.end(self, JobOutcome.FAILED, reason)
        self._fail_all(now, reason)
        if allowed(self.state, Trigger.FATAL):
            self.transition(Trigger.FATAL, now, reason)

    def firmware_rebooted(self, now: float) -> None:
        """An unexpected `start` while connected: the printer lost its state; handshake anew."""
        self._events.append(FirmwareReset(self.stream.source is not None))
        jobsteps.end(self, JobOutcome.FAILED, "firmware reset: the printer lost its state")
        self._reset_link(now, "firmware reset")
        self.transition(Trigger.FIRMWARE_RESET, now)
        self._start_handshake(now)

    def send_hello(self, now: float) -> None:
        """Queue `N0 M110 N0`: resets the firmware's line counter (M110 skips the sequence check)."""
        for entry in self.window.clear():
            self.finish(entry.command, False, "handshake restarted", now)
        for command in self.lanes.drain():
            self.finish(command, False, "handshake restarted", now)
        self.history.clear()
        self._next_line = 0
        self.handshake.hello_sent(now)
        self.queue_internal("M110 N0", "hello")

    def finish(self, command: Command, ok: bool, error: str, now: float) -> None:
        """A command is done (acknowledged or failed). Each command finishes exactly once."""
        if command.finished:
            return
        command.finished = True
        if command.tag == "job":
            self.stream.line_finished()
        elif command.tag == JOB_SCRIPT_TAG:
            self.stream.script_finished()
        if not command.internal:
            ok = ok and not command.error
            self._events.append(CommandFinished(command.command_id, command.text, ok, tuple(command.lines),
                                                error or command.error, command.sent_at, now))
        if self.stream.source is not None:
            jobsteps.advance(self, now)

    # ------------------------------------------------------------------ private helpers
    def _reset_link(self, now: float, reason: str) -> None:
        """Forget everything about the wire (new connection or firmware reboot)."""
        self._fail_all(now, reason)
        self.history.clear()
        self._next_line = 0
        self._splitter.reset()
        self.deadlines.reset()
        self.resends.reset()
        self.busy_protocol = False

    def _start_handshake(self, now: float) -> None:
        self.handshake.restart()
        self.send_hello(now)

    def _fail_all(self, now: float, reason: str) -> None:
        """Fail every queued and in-flight command (reset, emergency, link loss)."""
        for entry in self.window.clear():
            self.finish(entry.command, False, reason, now)
        for command in self.lanes.drain():
            self.finish(command, False, reason, now)
        self.stream.scripts_dropped()
        self.deadlines.clear()
        self.handshake.stop()
