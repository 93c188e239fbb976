"""The sans-I/O protocol engine: one printer's conversation with its firmware.

Bytes and commands in, events and bytes out, the time passed in by the caller:

    engine.connection_opened(now)              # port is open: handshake starts
    engine.submit("M114", now)                 # -> command id; CommandFinished carries the reply
    out = engine.data_to_send(now)             # write these bytes (flow control decides how many)
    events = engine.receive_data(data, now)    # parse what the firmware said
    events += engine.tick(now)                 # timeouts, handshake retries, status polls
    command_id, out = engine.emergency("M112", now)   # bytes to write NOW, ahead of everything

No threads, no I/O, no clock reads. Reply handling lives in `mqttprint.protocol.reactions`.
"""

from __future__ import annotations

import itertools
from typing import Optional

from mqttprint.protocol import framing, gcode, reactions, timing
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import (
    CommandFinished,
    EmergencySent,
    Event,
    JobEnded,
    JobOutcome,
    JobPaused,
    JobResumed,
    JobStarted,
    LineSent,
    Priority,
    StateChanged,
)
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.replies import Capability, FirmwareInfo
from mqttprint.protocol.sendqueue import Command, History, InFlight, JobSource, Lanes, Window
from mqttprint.protocol.states import (
    JOB_ACTIVE_STATES,
    OPERATIONAL_STATES,
    PrinterState,
    Trigger,
    can,
    next_state,
)

S = PrinterState

#: Tag of commands that belong to the running job (pause/resume/cancel scripts).
JOB_SCRIPT_TAG = "job-script"
#: States in which queued commands may be written at all.
_SENDING_STATES = frozenset({S.CONNECTING}) | OPERATIONAL_STATES
#: States in which job lines are pulled from the job source.
_JOB_FEEDING_STATES = frozenset({S.STARTING, S.PRINTING})


class Engine:
    """One printer's protocol state: lanes, window, resends, handshake, job, timeouts."""

    def __init__(self, params: EngineParams | None = None) -> None:
        self.params = params or EngineParams()
        self.state = S.OFFLINE
        self.error = ""
        self.firmware: Optional[FirmwareInfo] = None
        self.capabilities: dict[str, bool] = {}
        self.busy_protocol = False
        self._ids = itertools.count(1)
        self._events: list[Event] = []
        self._splitter = framing.LineSplitter()
        self._lanes = Lanes()
        self._window = Window(self.params.flow, self.params.rx_buffer, self.params.max_lines_in_flight)
        self._history = History(self.params.history_size)
        self._next_line = 0
        #: every line written (job, interactive, polls, resends): read by the metrics without a lock
        self.lines_written = 0
        # handshake
        self._hello_attempts = 0
        self._hello_deadline: Optional[float] = None
        self._pending_caps: list[Capability] = []
        # timeouts
        self._ok_deadline: Optional[float] = None
        self._resend_ok_deadline: Optional[float] = None
        self._consecutive_timeouts = 0
        # resend bookkeeping
        self._last_comm_error = None  # ErrorKind of the last communication error line, if any
        self._rewind_target: Optional[int] = None
        self._stale_budget = 0
        self._last_resend_request: Optional[int] = None
        self._same_resend_count = 0
        # polls
        self._next_temperature_poll = 0.0
        self._next_position_poll = 0.0
        # job
        self._job: Optional[JobSource] = None
        self._job_peek: Optional[str] = None
        self._job_exhausted = False
        self._job_in_flight = 0
        self.job_lines_sent = 0
        self._now = 0.0
        self._scripts_outstanding = 0
        self._after_drain_script: list[str] = []

    # ------------------------------------------------------------------ connection
    def open_requested(self, now: float) -> None:
        """The shell starts opening the port (state: Opening serial connection)."""
        self._transition(Trigger.OPEN, now)

    def connection_opened(self, now: float) -> None:
        """The port is open: reset everything and start the handshake (`M110 N0`, then `M115`)."""
        if self.state is not S.OPENING:
            self._transition(Trigger.OPEN, now)
        self._reset_link(now, "connection reopened")
        self._transition(Trigger.PORT_OPENED, now)
        self._start_handshake(now)

    def connection_closed(self, now: float, error: str = "") -> None:
        """The port was closed on purpose (`error` empty) or lost (`error` says why)."""
        reason = error or "disconnected"
        self._fail_job(now, JobOutcome.FAILED if error else JobOutcome.CANCELLED, reason)
        self._fail_all(now, reason)
        self._splitter.reset()
        if self.state in (S.OFFLINE, S.OFFLINE_AFTER_ERROR):
            return
        self._transition(Trigger.LINK_LOST if error else Trigger.CLOSE, now, error)

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
        line = gcode.validate_command(text)
        if not line:
            raise InvalidCommand("empty command (comments and blank lines are not sent)")
        code = gcode.code_key(line)
        if code in gcode.EMERGENCY_CODES:
            raise InvalidCommand(f"{code} is an emergency command: use emergency()")
        if code == "M110":
            raise InvalidCommand("M110 (line numbers) is managed by the gateway")
        if not internal and self.state not in OPERATIONAL_STATES:
            raise NotOperational(f"printer is not operational ({self.state.text})")
        command = Command(next(self._ids), line, priority, code, internal=internal, tag=tag)
        self._lanes.add(command)
        return command.command_id

    def submit_many(self, lines: list[str], now: float, priority: Priority = Priority.INTERACTIVE) -> list[int]:
        """Queue several commands atomically: all of them (in order) or, on any error, none."""
        if self.state not in OPERATIONAL_STATES:
            raise NotOperational(f"printer is not operational ({self.state.text})")
        commands = []
        for text in lines:
            line = gcode.validate_command(text)
            code = gcode.code_key(line)
            if not line or code in gcode.EMERGENCY_CODES or code == "M110":
                raise InvalidCommand(f"{text!r} cannot be queued")
            commands.append(Command(next(self._ids), line, priority, code))
        for command in commands:
            self._lanes.add(command)
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
        line = gcode.validate_command(text)
        code = gcode.code_key(line)
        if code not in gcode.EMERGENCY_CODES:
            raise InvalidCommand(f"{line!r} is not an emergency command ({', '.join(sorted(gcode.EMERGENCY_CODES))})")
        out = bytearray() if already_written else bytearray(framing.encode_plain(line))
        command = Command(next(self._ids), line, Priority.EMERGENCY, code, sent_at=now)
        self._events.append(EmergencySent(line, now))
        connected = self.state in _SENDING_STATES or self.state is S.ERROR
        if code == "M112":
            if connected:
                out += framing.encode_numbered(self._next_line, "M112")
                self._next_line += 1
                for tool in range(self._extruder_count()):
                    out += framing.encode_plain(f"M104 T{tool} S0")
                out += framing.encode_plain("M140 S0")
            command.finished = True
            self._events.append(CommandFinished(command.command_id, line, True, (), "", now, now))
            reason = "Emergency stop (M112) sent: the firmware is halted; reconnect to reset it"
            self._fail_job(now, JobOutcome.FAILED, "emergency stop")
            self._fail_all(now, "emergency stop")
            if can(self.state, Trigger.FATAL):
                self._transition(Trigger.FATAL, now, reason)
            return command.command_id, bytes(out)
        if connected:
            self._window.push(InFlight(command, None, len(line) + 1))
            self._arm_ok_deadline(now)
        else:
            command.finished = True
            self._events.append(CommandFinished(command.command_id, line, False, (), "printer not connected", now, now))
        return command.command_id, bytes(out)

    # ------------------------------------------------------------------ jobs
    def start_job(self, source: JobSource, now: float) -> None:
        """Start streaming `source` (state Starting, then Printing once the first line is out)."""
        if self.state is not S.OPERATIONAL:
            raise NotOperational(f"cannot start a job while {self.state.text}")
        self._job, self._job_peek, self._job_exhausted = source, None, False
        self._job_in_flight = 0
        self.job_lines_sent = 0
        self._transition(Trigger.START_JOB, now)
        self._events.append(JobStarted(source.name))

    def pause(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Stop feeding job lines; once the job's lines in flight are acknowledged, run `script`."""
        if not can(self.state, Trigger.PAUSE):
            raise NotOperational(f"cannot pause while {self.state.text}")
        self._transition(Trigger.PAUSE, now)
        self._after_drain_script = list(script)
        self._check_job_progress(now)

    def resume(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Run `script`, then continue the job from the exact next line."""
        if not can(self.state, Trigger.RESUME):
            raise NotOperational(f"cannot resume while {self.state.text}")
        self._transition(Trigger.RESUME, now)
        self._queue_script(script, now)
        self._check_job_progress(now)

    def cancel(self, now: float, script: tuple[str, ...] = ()) -> None:
        """Stop feeding and drop the job's pending lines; then run `script` and end the job."""
        if not can(self.state, Trigger.CANCEL):
            raise NotOperational(f"cannot cancel while {self.state.text}")
        self._transition(Trigger.CANCEL, now)
        self._job_peek = None
        for command in self._lanes.drop_internal_interactive(JOB_SCRIPT_TAG):
            self._finish(command, False, "job cancelled", now)
        self._after_drain_script = list(script)
        self._check_job_progress(now)

    @property
    def job(self) -> Optional[JobSource]:
        """The job source being streamed (or paused/cancelling), None when no job runs."""
        return self._job

    # ------------------------------------------------------------------ output
    def data_to_send(self, now: float) -> bytes:
        """Every byte flow control allows to be written now, highest priority first."""
        if self.state not in _SENDING_STATES:
            return b""
        self._now = now
        out = bytearray()
        window = self._window
        while True:
            if self._lanes.resends:
                number = self._lanes.resends[0]
                stored = self._history.get(number)
                if stored is None:  # fell out of the history: reported by reactions as fatal
                    self._lanes.resends.popleft()
                    continue
                data, command = stored
                if not window.can_send(len(data)):
                    break
                self._lanes.resends.popleft()
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
            self._history.remember(number, data, command)
            self._write(out, data, command, number, now)
        if self._job is not None and self._job_exhausted:
            self._check_job_progress(now)  # an empty job (or its last line already acked) ends here
        return bytes(out)

    def _peek_command(self) -> Command | str | None:
        lanes = self._lanes
        if lanes.interactive:
            return lanes.interactive[0]
        if self.state in _JOB_FEEDING_STATES and self._job is not None and not self._job_exhausted:
            if self._job_peek is None:
                try:
                    self._job_peek = self._job.next_line()
                except Exception as exc:  # the injected source (a file) failed: the job fails, not the link
                    self._fail_job(self._now, JobOutcome.FAILED, f"cannot read the job: {exc}")
                    if self.state in (S.STARTING, S.PRINTING):
                        self._transition(Trigger.JOB_EOF, self._now)
                        self._transition(Trigger.JOB_DONE, self._now)
                    return lanes.polls[0] if lanes.polls else None
                if self._job_peek is None:
                    self._job_exhausted = True
            if self._job_peek is not None:
                return self._job_peek
        if lanes.polls:
            return lanes.polls[0]
        return None

    def _take_queued(self, command: Command) -> None:
        if self._lanes.interactive and self._lanes.interactive[0] is command:
            self._lanes.pop_interactive()
        else:
            self._lanes.pop_poll()

    def _take_job_line(self, now: float) -> Command:
        text, self._job_peek = self._job_peek or "", None
        command = Command(next(self._ids), text, Priority.JOB, gcode.code_key(text), internal=True, tag="job")
        self._job_in_flight += 1
        self.job_lines_sent += 1
        if self.state is S.STARTING:
            self._transition(Trigger.JOB_RUNNING, now)
        return command

    def _write(self, out: bytearray, data: bytes, command: Command, number: int, now: float) -> None:
        out += data
        self.lines_written += 1
        if command.sent_at is None:
            command.sent_at = now
        self._window.push(InFlight(command, number, len(data)))
        self._arm_ok_deadline(now)
        if self.params.emit_traffic:
            self._events.append(LineSent(command.text, number, command.priority))

    # ------------------------------------------------------------------ input / time
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Parse received bytes; returns every event produced since the last drain."""
        for received in self._splitter.feed(data):
            reactions.on_line(self, received.text, now)
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
        candidates = [d for d in (self._hello_deadline, self._ok_deadline, self._resend_ok_deadline) if d is not None]
        if self.state in OPERATIONAL_STATES:
            candidates.append(self._next_temperature_poll)
            if self.params.position_interval > 0:
                candidates.append(self._next_position_poll)
        return min(candidates) if candidates else None

    # ------------------------------------------------------------------ shared helpers (used by reactions/timing)
    def _transition(self, trigger: Trigger, now: float, error: str = "") -> None:
        old = self.state
        self.state = next_state(old, trigger)
        if self.state in (S.ERROR, S.OFFLINE_AFTER_ERROR):
            self.error = error or self.error
        elif trigger is not Trigger.CLOSE:
            self.error = ""
        if self.state is not old:
            self._events.append(StateChanged(old, self.state, self.error if self.state in (S.ERROR, S.OFFLINE_AFTER_ERROR) else ""))

    def _arm_ok_deadline(self, now: float) -> None:
        timeout = self.params.busy_ok_timeout if self.busy_protocol else self.params.ok_timeout
        self._ok_deadline = now + timeout

    def _extruder_count(self) -> int:
        try:
            return max(1, int((self.firmware.fields.get("EXTRUDER_COUNT", "1") if self.firmware else "1")))
        except ValueError:
            return 1

    def _reset_link(self, now: float, reason: str) -> None:
        """Forget everything about the wire (new connection or firmware reboot)."""
        self._fail_all(now, reason)
        self._history.clear()
        self._next_line = 0
        self._splitter.reset()
        self._ok_deadline = self._resend_ok_deadline = None
        self._consecutive_timeouts = 0
        self._rewind_target, self._stale_budget = None, 0
        self._last_resend_request, self._same_resend_count = None, 0
        self._last_comm_error = None
        self.busy_protocol = False

    def _start_handshake(self, now: float) -> None:
        self._hello_attempts = 0
        self._pending_caps = []
        self._send_hello(now)

    def _send_hello(self, now: float) -> None:
        """Queue `N0 M110 N0`: resets the firmware's line counter (M110 skips the sequence check)."""
        for entry in self._window.clear():
            self._finish(entry.command, False, "handshake restarted", now)
        for command in self._lanes.drain():
            self._finish(command, False, "handshake restarted", now)
        self._history.clear()
        self._next_line = 0
        self._hello_attempts += 1
        self._hello_deadline = now + self.params.hello_interval
        hello = Command(next(self._ids), "M110 N0", Priority.INTERACTIVE, "M110", internal=True, tag="hello")
        self._lanes.add(hello)

    def _queue_script(self, script: tuple[str, ...] | list[str], now: float) -> None:
        for line in script:
            text = gcode.validate_command(line)
            if text:
                self._scripts_outstanding += 1
                self._lanes.add(Command(next(self._ids), text, Priority.INTERACTIVE, gcode.code_key(text),
                                        internal=True, tag=JOB_SCRIPT_TAG))

    def _finish(self, command: Command, ok: bool, error: str, now: float) -> None:
        """A command is done (acknowledged or failed). Each command finishes exactly once."""
        if command.finished:
            return
        command.finished = True
        if command.tag == "job":
            self._job_in_flight -= 1
        elif command.tag == JOB_SCRIPT_TAG:
            self._scripts_outstanding -= 1
        if not command.internal:
            ok = ok and not command.error
            self._events.append(CommandFinished(command.command_id, command.text, ok, tuple(command.lines),
                                                error or command.error, command.sent_at, now))
        if self._job is not None:
            self._check_job_progress(now)

    def _fail_all(self, now: float, reason: str) -> None:
        """Fail every queued and in-flight command (reset, emergency, link loss)."""
        for entry in self._window.clear():
            self._finish(entry.command, False, reason, now)
        for command in self._lanes.drain():
            self._finish(command, False, reason, now)
        self._scripts_outstanding = 0
        self._ok_deadline = self._resend_ok_deadline = self._hello_deadline = None

    def _fail_job(self, now: float, outcome: JobOutcome, reason: str) -> None:
        """End a running job without sending any more of it."""
        if self._job is None:
            return
        name = self._job.name
        self._job, self._job_peek, self._job_exhausted = None, None, True
        self._events.append(JobEnded(name, outcome, reason, self.job_lines_sent))

    def _check_job_progress(self, now: float) -> None:
        """Advance Pausing/Resuming/Cancelling/Finishing once the job's lines in flight are acked."""
        if self._job is None or self.state not in JOB_ACTIVE_STATES:
            return
        name = self._job.name
        drained = self._job_in_flight <= 0
        if self.state is S.PAUSING and drained:
            self._transition(Trigger.PAUSE_DONE, now)
            self._queue_script(self._after_drain_script, now)
            self._after_drain_script = []
            self._events.append(JobPaused(name))
        elif self.state is S.RESUMING and self._scripts_outstanding <= 0:
            self._transition(Trigger.RESUME_DONE, now)
            self._events.append(JobResumed(name))
        elif self.state is S.CANCELLING and drained:
            if self._after_drain_script:
                self._queue_script(self._after_drain_script, now)
                self._after_drain_script = []
            if self._scripts_outstanding <= 0:
                self._transition(Trigger.CANCEL_DONE, now)
                self._job = None
                self._events.append(JobEnded(name, JobOutcome.CANCELLED, "cancelled", self.job_lines_sent))
        elif self.state in (S.STARTING, S.PRINTING) and self._job_exhausted and self._job_peek is None:
            self._transition(Trigger.JOB_EOF, now)
            self._check_job_progress(now)
        elif self.state is S.FINISHING and drained:
            self._transition(Trigger.JOB_DONE, now)
            self._job = None
            self._events.append(JobEnded(name, JobOutcome.DONE, "", self.job_lines_sent))
