"""The pure Marlin 2.1 firmware model: bytes in, bytes out, time passed in.

No threads, sockets or clock reads: drivers (`pty_link`, `inprocess_port`, or a test with a
virtual clock) call `receive(data, now)`, `advance(now)` and `read_output()`. The model is an
event-driven simulation of Marlin's structure:

* `receive` is the UART RX interrupt: every byte goes through the emergency parser first, then
  into a ring of ``rx_buffer_size - 1`` bytes, or is dropped when the ring is full.
* `advance` runs the main loop/``idle()`` up to `now`, stopping at every event time (planner
  block finished, timer due, blocking command wake-up) so nothing is sampled late: it moves
  lines from RX into the ``bufsize``-slot command ring only while a slot is free, validates
  framing (error triple + RX flush), executes commands in order, sends ``ok`` after each one,
  and emits auto-reports and busy keepalives, also while a command blocks.

Determinism: the same config (incl. seed) and the same call sequence give the same bytes.
"""

from __future__ import annotations

import re
import types

from mqttprint.sim.config import SimConfig
from mqttprint.sim.filament import runout_due, start_runout
from mqttprint.sim.core import (
    M112_KILL_REASON,
    NO_OK,
    FaultInjector,
    Firmware,
    Journal,
    QueuedCommand,
)
from mqttprint.sim.gcode_exec import execute
from mqttprint.sim.heaters import Heaters
from mqttprint.sim.lineproto import ERR_CHECKSUM, CompletedLine, is_blank, normalise, strtol, validate
from mqttprint.sim.reports import RESET_EXTERNAL, RESET_POWER_UP, banner_lines, position_line
from mqttprint.sim.txqueue import TxQueue

#: inject_fault kinds -> Marlin ``_temp_error`` reason text.
FAULT_REASONS: dict[str, str] = {
    "thermal_runaway": "Thermal Runaway",
    "mintemp": "MINTEMP triggered",
    "maxtemp": "MAXTEMP triggered",
    "heating_failed": "Heating failed",
}
_EMERGENCY_WITHOUT_EP = (108, 112, 410)
_N_DIGITS = re.compile(rb" *N([-+0-9]*)")
_MAX_SETTLE = 100_000  # loop guards: a model bug must fail loudly, never hang a test


class MarlinSim:
    """A Marlin 2.1.2.1 board on a serial line. See the module docstring for the contract.

    Inspection attributes (read-only by convention): `executed`, `executed_numbers`,
    `received_lines`, `emergency_seen`, `prompt_responses` (append-only, kept across resets),
    `killed`, `rx_dropped`, `temperatures`, `position`, `last_line_number`, `now`.
    """

    def __init__(self, config: SimConfig | None = None, now: float = 0.0) -> None:
        self.config = config or SimConfig()
        self._now = now
        self._tx = TxQueue()
        self._journal = Journal(limit=self.config.journal_limit)
        self._faults = FaultInjector(self.config)
        self._heaters = Heaters(self.config.heating_rate, now)
        self.boots = 0
        self._hold_from: int | None = None  # test-bench output hold (see hold_output)
        self._fw = self._power_on(RESET_POWER_UP)

    # -- inspection ---------------------------------------------------------------------------
    @property
    def executed(self) -> list[str]:
        """Every command executed, in order, normalised (``"G1 X10 Y20"``)."""
        return self._journal.executed

    @property
    def executed_numbers(self) -> list[int | None]:
        """Parallel to `executed`: the ``N`` of the carrying line, None if un-numbered."""
        return self._journal.executed_numbers

    @property
    def received_lines(self) -> list[bytes]:
        """Every complete non-empty raw line that reached the line layer (comments included)."""
        return self._journal.received_lines

    @property
    def emergency_seen(self) -> list[str]:
        """Emergency-parser hits in arrival order (``"M112"``, ``"M108"``, ``"M876 S1"``...)."""
        return self._journal.emergency_seen

    @property
    def prompt_responses(self) -> list[int]:
        """Every M876 answer received (EP or queue)."""
        return self._journal.prompt_responses

    @property
    def killed(self) -> bool:
        """True after M112 or a fatal fault, until `reset`."""
        return self._fw.killed

    @property
    def booted(self) -> bool:
        """False while the bootloader runs (``boot_delay``); bytes are then discarded."""
        return self._fw.booted

    @property
    def rx_dropped(self) -> int:
        """Bytes lost because the RX ring was full (``SERIAL_STATS_DROPPED_RX``), all boots."""
        return self._journal.rx_dropped

    @property
    def injected_checksum_errors(self) -> int:
        """How many lines `checksum_error_rate` rejected."""
        return self._faults.injected_checksum_errors

    @property
    def dropped_oks(self) -> int:
        """How many ``ok`` lines `drop_ok_rate` swallowed."""
        return self._faults.dropped_oks

    @property
    def now(self) -> float:
        """Simulated time the model has been advanced to."""
        return self._now

    @property
    def temperatures(self) -> dict[str, tuple[float, float]]:
        """``{"T0": (actual, target), "B": (actual, target)}`` at `now`."""
        return self._heaters.snapshot(self._now)

    @property
    def position(self) -> tuple[float, float, float, float]:
        """Projected logical X, Y, Z, E (what M114 reports)."""
        x, y, z, e = self._fw.motion.position
        return (x, y, z, e)

    @property
    def last_line_number(self) -> int:
        """``last_N`` of the serial port."""
        return self._fw.last_n

    @property
    def rx_waiting(self) -> int:
        """Bytes currently in the RX ring."""
        return len(self._fw.rx)

    @property
    def queued_commands(self) -> int:
        """Commands in the ring, the executing one included."""
        return len(self._fw.ring)

    @property
    def planner_queued(self) -> int:
        """Moves in the planner."""
        return len(self._fw.planner)

    @property
    def fan_speed(self) -> int:
        """Last M106/M107 value (0..255)."""
        return self._fw.fan_speed

    # -- driver API ---------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> None:
        """Host -> firmware bytes arriving at `now` (the UART ISR).

        The model is first advanced to `now` so events before the arrival happen before it.
        Each byte is offered to the emergency parser *before* the RX-full check.
        """
        self.advance(now)
        fw = self._fw
        if fw.killed:
            return
        if not fw.booted:
            self._journal.bootloader_discarded += len(data)
            return
        capacity = self.config.rx_capacity
        for byte in data:
            if self.config.emergency_parser:
                fired = fw.ep.feed(byte)
                if fired is not None:
                    self._on_emergency(fired)
                    if fw.killed:
                        return  # a halted MCU ignores the rest of the burst
            if len(fw.rx) >= capacity:
                # The main loop runs much faster than the wire: before a byte is lost it gets a
                # chance to drain RX. Bytes are only dropped when the firmware genuinely cannot
                # take lines (command ring full behind a blocking command or a full planner).
                self._step()
            if len(fw.rx) < capacity:
                fw.rx.append(byte)
            else:
                self._journal.rx_dropped += 1
            if byte in (0x0A, 0x0D):
                # Same reason: a burst of lines is seen one line at a time, so lines following a
                # corrupt one arrive *after* the RX flush and each gets its own error triple
                # (the resend cascade of reference §1.4).
                self._step()
                if fw.killed:
                    return

    def advance(self, now: float) -> None:
        """Run the firmware up to `now` (earlier times are ignored: time never goes back)."""
        now = max(now, self._now)
        stepped_here = False  # one step at an instant is enough: _step runs to a fixpoint
        for _ in range(_MAX_SETTLE):
            due = self._due_time()
            if due is None or due > now:
                break
            if due > self._now:
                self._now = due
            elif stepped_here:
                break
            self._step()
            stepped_here = True
        else:
            raise RuntimeError("simulator: too many events in one advance() call")
        if not stepped_here or self._now != now:
            self._now = now
            self._step()

    def read_output(self) -> bytes:
        """Drain the firmware -> host bytes that have been released by `now` (none while held)."""
        if self.output_held:
            return b""
        return self._tx.drain(self._now)

    # -- test-bench controls ------------------------------------------------------------------
    def hold_output(self, after_lines: int = 0) -> None:
        """Keep every output line back once `after_lines` more lines have been received.

        Not a Marlin behaviour: a bench control, like a USB adapter that stops forwarding. The
        host then gets no ``ok`` until `release_output`, so a job streamed in ping-pong stalls at
        a known line count however fast the host is (with several lines in flight it stalls a
        few lines later). Lines keep being received and executed; a reset keeps the hold.
        """
        if after_lines < 0:
            raise ValueError("after_lines must be >= 0")
        self._hold_from = self._journal.received_total + after_lines

    def release_output(self) -> None:
        """End `hold_output`: what was kept back becomes readable, in order."""
        self._hold_from = None

    @property
    def output_held(self) -> bool:
        """True while a `hold_output` is in effect (armed and its line count reached)."""
        return self._hold_from is not None and self._journal.received_total >= self._hold_from

    def next_event_time(self) -> float | None:
        """Earliest time >= `now` at which something happens (incl. delayed output); None = idle."""
        candidates = [t for t in (self._due_time(), self._tx.next_release(self._now)) if t is not None]
        return min(candidates) if candidates else None

    def reset(self, now: float) -> None:
        """DTR / power-cycle reset at `now`: everything restarts and the banner is printed again.

        Released output stays readable (it already crossed the wire); output still held by
        ``ok_latency`` is lost. Heaters keep their physical temperature and cool down.
        The inspection logs (`executed`, ...) are kept; `killed` clears.
        """
        self.advance(now)
        self._tx.drop_unreleased(self._now)
        self._heaters.all_off(self._now)
        self._fw = self._power_on(RESET_EXTERNAL)

    def inject_host_action(self, name: str, params: str = "") -> None:
        """Emit ``//action:<name>[ <params>]`` now (as a firmware-initiated action would)."""
        self._fw.now = self._now
        self._fw.emit(f"//action:{name} {params}" if params else f"//action:{name}")

    def inject_runout(self) -> None:
        """The filament sensor trips now (see `SimConfig.runout_after_line` for what follows)."""
        self._fw.runout_fired = False
        self._fw.runout_requested = True
        self._fw.wake_requested = True

    def inject_fault(self, kind: str, heater: str = "0") -> None:
        """Fatal heater fault: ``Error:<reason>, system stopped! Heater_ID: <heater>``, then kill."""
        if kind not in FAULT_REASONS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_REASONS)}")
        fw = self._fw
        fw.now = self._now
        fw.emit(f"Error:{FAULT_REASONS[kind]}, system stopped! Heater_ID: {heater}")
        fw.kill(None)

    # -- internals ----------------------------------------------------------------------------
    def _power_on(self, cause: str) -> Firmware:
        self.boots += 1
        fw = Firmware(self.config, self._tx, self._heaters, self._journal, self._faults, self._now, cause)
        self._fw = fw
        self._step()  # prints the banner at once when boot_delay is 0
        return fw

    def _on_emergency(self, command: str) -> None:
        fw = self._fw
        fw.now = self._now
        self._journal.emergency_seen.append(command)
        if command == "M112":
            fw.kill(M112_KILL_REASON)
        elif command == "M108":
            fw.release_waits()
        elif command == "M410":
            fw.quickstop()
        elif command == "M524":
            fw.sd_abort_requested = True
        elif command.startswith("M876 S") and self.config.prompt_support:
            fw.prompt_response(int(command[6:]))

    def _has_instant_work(self) -> bool:
        fw = self._fw
        if fw.killed or not fw.booted:
            return False
        return (
            fw.wake_requested
            or (bool(fw.rx) and len(fw.ring) < self.config.bufsize)
            or (bool(fw.ring) and fw.current is None)
        )

    def _due_time(self) -> float | None:
        """Next time the firmware itself has something to do (output releases excluded)."""
        fw = self._fw
        if fw.killed:
            return None
        if not fw.booted:
            return fw.boot_at
        if self._has_instant_work():
            return self._now
        candidates = [fw.planner.next_completion(), fw.next_temp_report, fw.next_pos_report]
        if fw.current is not None:
            candidates += [fw.current_wake, fw.next_keepalive]
        times = [t for t in candidates if t is not None]
        return min(times) if times else None

    def _step(self) -> None:
        """One pass of loop()/idle() at `self._now`, repeated until nothing changes."""
        fw = self._fw
        fw.now = self._now
        if fw.killed:
            return
        if not fw.booted:
            if self._now < fw.boot_at:
                return
            fw.booted = True
            for line in banner_lines(self.config, fw.reset_cause):
                fw.emit(line)
        fw.wake_requested = False
        for _ in range(_MAX_SETTLE):
            progressed = fw.planner.retire(self._now)
            progressed |= self._pump_serial(fw)
            if not fw.killed:
                progressed |= self._run_commands(fw)
            if fw.killed:
                return
            if not progressed:
                break
        else:
            raise RuntimeError("simulator: main loop did not settle")
        self._service_timers(fw)

    def _pump_serial(self, fw: Firmware) -> bool:
        """``get_serial_commands()``: read RX only while the command ring has a free slot."""
        moved = False
        while fw.rx and len(fw.ring) < self.config.bufsize and not fw.killed:
            byte = fw.rx.pop(0)
            moved = True
            line = fw.assembler.feed(byte)
            if line is not None:
                self._line_done(fw, line)
        return moved

    def _line_done(self, fw: Firmware, line: CompletedLine) -> None:
        if line.raw:
            self._journal.receive(line.raw)
        if is_blank(line.stored):
            return  # empty / comment-only line: no reply at all
        verdict = validate(line.stored, fw.last_n)
        error = verdict.error
        if error is None and verdict.number is not None and self._faults.corrupt_line():
            error = f"{ERR_CHECKSUM}{fw.last_n}"  # injected: as if a byte flipped on the wire
        if error is not None:
            self._line_error(fw, error)
            return
        fw.last_n = verdict.new_last_n
        if not self.config.emergency_parser and verdict.number is None:
            self._early_emergency(fw, line.stored)
            if fw.killed:
                return
        number_text = None
        if verdict.number is not None:
            # ADVANCED_OK copies the N digits verbatim from the stored line (signs included).
            match = _N_DIGITS.match(line.stored)
            number_text = match.group(1).decode("latin-1") if match else str(verdict.number)
        fw.ring.append(QueuedCommand(line.stored, normalise(line.stored), verdict.number, number_text))

    def _line_error(self, fw: Firmware, message: str) -> None:
        """``gcode_line_error``: Error line, RX flushed, ``Resend: <last+1>``, ok."""
        fw.emit(f"Error:{message}")
        fw.rx.clear()
        fw.assembler.reset()
        fw.request_resend()

    def _early_emergency(self, fw: Firmware, stored: bytes) -> None:
        """Without the EP Marlin acts on un-numbered ``M108/M112/M410`` when it *reads* the line
        (so only once a ring slot is free); the line is still queued (except M112)."""
        command = stored.lstrip(b" ")
        if not command.startswith(b"M"):
            return
        code = strtol(command[1:])
        if code not in _EMERGENCY_WITHOUT_EP:
            return
        if code == 112:
            fw.kill(M112_KILL_REASON)
        elif code == 108:
            fw.release_waits()
        else:
            fw.quickstop()

    def _run_commands(self, fw: Firmware) -> bool:
        """Start/resume commands in ring order; True if a command started or finished."""
        progressed = False
        for _ in range(_MAX_SETTLE):
            if fw.killed:
                return progressed
            if fw.current is None:
                if runout_due(fw):
                    start_runout(fw, self._now)
                    progressed = True
                    continue
                if not fw.ring:
                    return progressed
                entry = fw.ring[0]
                self._journal.execute(entry.text, entry.number)
                fw.busy_state = "processing"
                outcome = execute(fw, entry.text)
                progressed = True
                if isinstance(outcome, types.GeneratorType):
                    fw.current = outcome
                    interval = fw.keepalive_interval
                    fw.next_keepalive = self._now + interval if interval > 0 else None
                else:
                    self._finish(fw, outcome)
                continue
            try:
                wake = next(fw.current)
            except StopIteration as stop:
                self._finish(fw, stop.value)
                progressed = True
                continue
            if wake is not None and wake <= self._now:
                continue  # the handler asked to be resumed right away
            fw.current_wake = wake
            return progressed
        raise RuntimeError("simulator: a command handler never settled")

    def _finish(self, fw: Firmware, outcome: object) -> None:
        if fw.killed:
            return
        if fw.injected:  # the runout's M600 has no ring slot and no ok
            fw.injected = False
            fw.current = fw.current_wake = fw.next_keepalive = None
            return
        if outcome is not NO_OK:
            fw.ack(fw.ring[0])
        fw.ring.popleft()
        fw.current = None
        fw.current_wake = None
        fw.next_keepalive = None

    def _service_timers(self, fw: Firmware) -> None:
        """Auto-reports and host keepalive (they run from ``idle()``, so also while blocked)."""
        now = self._now
        if fw.next_temp_report is not None and now >= fw.next_temp_report:
            fw.emit(self._heaters.report(now))
            fw.next_temp_report = now + fw.temp_report_interval
        if fw.next_pos_report is not None and now >= fw.next_pos_report:
            fw.emit(position_line(fw.motion.position, fw.motion.machine()))
            fw.next_pos_report = now + fw.pos_report_interval
        if fw.current is not None and fw.next_keepalive is not None and now >= fw.next_keepalive:
            if fw.keepalive_interval > 0:
                fw.emit(f"echo:busy: {fw.busy_state}")
                fw.next_keepalive = now + fw.keepalive_interval
            else:
                fw.next_keepalive = None
