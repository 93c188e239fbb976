"""How the engine reacts to each firmware reply: acks, resends, errors, resets, reports, capture.

Functions over an `Engine` (they are its receive half, kept apart to keep files small). Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mqttprint.protocol import gcode
from mqttprint.protocol.events import (
    BusyReported,
    FirmwareErrorReported,
    FirmwareIdentified,
    FirmwareReset,
    HostActionReceived,
    JobOutcome,
    LineReceived,
    PositionUpdate,
    Priority,
    ResendRequested,
    SdStatusUpdate,
    TemperatureUpdate,
)
from mqttprint.protocol.parser import parse_reply
from mqttprint.protocol.replies import (
    COMMUNICATION_ERROR_KINDS,
    Busy,
    Capability,
    Echo,
    ErrorKind,
    FirmwareError,
    FirmwareInfo,
    HostAction,
    Ok,
    Position,
    Resend,
    SdStatus,
    Start,
    Temperatures,
    Unknown,
    Wait,
)
from mqttprint.protocol.sendqueue import Command
from mqttprint.protocol.states import OPERATIONAL_STATES, PrinterState, Trigger, can

if TYPE_CHECKING:
    from mqttprint.protocol.engine import Engine

S = PrinterState


def on_line(engine: Engine, text: str, now: float) -> None:
    """React to one received line."""
    if engine.params.emit_traffic:
        engine._events.append(LineReceived(text))
    if engine.state in (S.OFFLINE, S.OFFLINE_AFTER_ERROR, S.OPENING):
        return
    reply = parse_reply(text)
    kind = type(reply)
    if kind is Ok:
        _on_ok(engine, reply, text, now)  # type: ignore[arg-type]
    elif kind is Resend:
        _on_resend(engine, reply.line_number, now)  # type: ignore[union-attr]
    elif kind is Busy:
        engine.busy_protocol = True
        if engine._window.entries:
            engine._arm_ok_deadline(now)
        engine._events.append(BusyReported(reply.reason))  # type: ignore[union-attr]
    elif kind is Temperatures:
        _on_temperatures(engine, reply, text, now)  # type: ignore[arg-type]
    elif kind is Position:
        engine._events.append(PositionUpdate(reply, now))  # type: ignore[arg-type]
        _capture(engine, text, gcode.POSITION_REPORT_CODES)
    elif kind is FirmwareError:
        _on_error(engine, reply, text, now)  # type: ignore[arg-type]
    elif kind is Start:
        _on_start(engine, now)
    elif kind is Capability:
        engine._pending_caps.append(reply)  # type: ignore[arg-type]
        _capture(engine, text)
    elif kind is FirmwareInfo:
        engine.firmware = reply  # type: ignore[assignment]
        engine._pending_caps.extend(reply.capabilities)  # type: ignore[union-attr]
        _capture(engine, text)
    elif kind is HostAction:
        engine._events.append(HostActionReceived(reply.name, reply.params))  # type: ignore[union-attr]
    elif kind is SdStatus:
        engine._events.append(SdStatusUpdate(reply.printing, reply.position, reply.size, reply.event))  # type: ignore[union-attr]
        _capture(engine, text)
    elif kind is Wait:
        _on_wait(engine, now)
    elif kind is Echo:
        _capture(engine, text)
        if reply.text.lower().startswith("unknown command"):  # type: ignore[union-attr]
            # Marlin/Prusa/Klipper still answer `ok`; the caller must not read that as success.
            oldest = engine._window.oldest
            if oldest is not None and not oldest.command.error:
                oldest.command.error = reply.text  # type: ignore[union-attr]
    elif kind is Unknown:
        _capture(engine, text)


def _capture(engine: Engine, text: str, only_for: frozenset[str] | None = None) -> None:
    """Attach a reply line to the command the firmware is working on (the oldest in flight).

    Marlin executes commands in order and sends `ok` after execution, so every line between
    sending a command and its `ok` belongs to the oldest unacknowledged command. Reports that
    also arrive unsolicited (auto-reported temperatures/positions) are attached only to the
    commands that ask for them (`only_for`).
    """
    entry = engine._window.oldest
    if entry is None:
        return
    command = entry.command
    if only_for is not None and command.code not in only_for:
        return
    if len(command.lines) < 64:  # a runaway reply (M503, M20 listings) is capped
        command.lines.append(text)


def _on_temperatures(engine: Engine, reply: Temperatures, text: str, now: float) -> None:
    engine._events.append(TemperatureUpdate(reply.heaters, now))
    _capture(engine, text, gcode.TEMPERATURE_REPORT_CODES)
    oldest = engine._window.oldest
    if oldest is not None and oldest.command.code in gcode.HEATING_CODES:
        # Heat-up progress lines (Marlin W:, Klipper's 1 s lines) prove the firmware is alive.
        engine._arm_ok_deadline(now)


def _on_ok(engine: Engine, ok: Ok, text: str, now: float) -> None:
    engine._consecutive_timeouts = 0
    if ok.temperatures is not None:
        engine._events.append(TemperatureUpdate(ok.temperatures.heaters, now))
    if ok.position is not None:
        engine._events.append(PositionUpdate(ok.position, now))
    if ok.firmware is not None:
        engine.firmware = ok.firmware
        engine._pending_caps.extend(ok.firmware.capabilities)
    window = engine._window
    if window.error_oks > 0:
        # The `ok` that closes an `Error:`/`Resend:` triple acknowledges no line.
        window.error_oks -= 1
        if window.error_oks == 0:
            engine._resend_ok_deadline = None
        return
    if ok.line_number is not None:
        _release_lost_oks(engine, ok.line_number, now)
    entry = window.pop_oldest()
    if entry is None:
        return  # an ok nobody waits for (late ok after a timeout release, or a duplicate)
    if ok.text:
        entry.command.lines.append(text)
    engine._ok_deadline = None
    if window.entries:
        engine._arm_ok_deadline(now)
    if entry.line_number is not None and entry.line_number == engine._rewind_target:
        engine._rewind_target, engine._stale_budget = None, 0
    if engine._last_resend_request is not None and entry.line_number is not None and entry.line_number >= engine._last_resend_request:
        engine._same_resend_count = 0
    _acknowledged(engine, entry.command, now)


def _release_lost_oks(engine: Engine, acked: int, now: float) -> None:
    """ADVANCED_OK (`ok N<n> P<p> B<b>`) names the line it acknowledges. Numbered lines older than
    that one were executed too (Marlin runs them in order), so their `ok`s were lost on the way:
    acknowledge them now instead of waiting for a communication timeout."""
    window = engine._window
    if not any(e.line_number == acked for e in window.entries):
        return  # not one of ours (e.g. a line from before a resend rewind): count the ok as usual
    while window.entries:
        oldest = window.entries[0]
        if oldest.line_number is None or oldest.line_number >= acked:
            return
        entry = window.pop_oldest()
        if entry is not None:
            _acknowledged(engine, entry.command, now)


def _acknowledged(engine: Engine, command: Command, now: float) -> None:
    """A command's `ok` arrived: finish it, and drive the handshake for internal commands."""
    tag = command.tag
    engine._finish(command, True, "", now)
    if tag == "hello" and engine.state is S.CONNECTING:
        engine._hello_deadline = None
        engine._lanes.add(Command(next(engine._ids), "M115", Priority.INTERACTIVE, "M115", internal=True, tag="m115"))
    elif tag == "m115" and engine.state is S.CONNECTING:
        _handshake_done(engine, now)


def _handshake_done(engine: Engine, now: float) -> None:
    caps = {cap.name: cap.enabled for cap in engine._pending_caps}
    engine.capabilities = caps
    info = engine.firmware or FirmwareInfo(name="", fields={})
    engine.firmware = info
    engine._events.append(FirmwareIdentified(info, tuple(engine._pending_caps)))
    engine._transition(Trigger.HANDSHAKE_DONE, now)
    params = engine.params
    if caps.get("AUTOREPORT_TEMP") and params.temperature_interval > 0:
        _internal(engine, f"M155 S{max(1, round(params.temperature_interval))}", "autoreport")
    # Marlin calls it AUTOREPORT_POS, Prusa AUTOREPORT_POSITION (reported via M155 C4 there).
    if caps.get("AUTOREPORT_POS") and params.position_interval > 0:
        _internal(engine, f"M154 S{max(1, round(params.position_interval))}", "autoreport")
    engine._next_temperature_poll = now
    engine._next_position_poll = now


def _internal(engine: Engine, text: str, tag: str) -> None:
    engine._lanes.add(Command(next(engine._ids), text, Priority.INTERACTIVE, gcode.code_key(text), internal=True, tag=tag))


def _on_resend(engine: Engine, number: int, now: float) -> None:
    """The firmware wants line `number` again.

    Marlin answers every bad line with `Error:` + `Resend:` + `ok`, and flushes its receive
    buffer, so each line already in flight behind the bad one arrives out of sequence and
    produces its own triple asking for the same number. Rewind once; ignore those stale
    duplicates (line-number errors for the current rewind target while lines sent before the
    rewind are still unaccounted for); count every `ok`.
    """
    comm_error, engine._last_comm_error = engine._last_comm_error, None
    window = engine._window
    window.error_oks += 1
    engine._resend_ok_deadline = now + engine.params.resend_ok_timeout
    if number >= engine._next_line:
        # Asks for a line we have not sent yet: it already has everything we sent.
        engine._events.append(ResendRequested(number, False))
        return
    if comm_error is ErrorKind.LINE_NUMBER and number == engine._rewind_target and engine._stale_budget > 0:
        engine._stale_budget -= 1
        engine._events.append(ResendRequested(number, False))
        return
    if number == engine._last_resend_request:
        engine._same_resend_count += 1
    else:
        engine._last_resend_request, engine._same_resend_count = number, 1
    if engine._same_resend_count > engine.params.max_resends_same_line:
        _fatal(engine, f"Printer keeps requesting line {number} again and again, communication stuck", now)
        return
    if engine._history.get(number) is None:
        _fatal(engine, f"Printer requested line {number}, which is no longer in the resend history", now)
        return
    lost = window.remove_from(number)
    engine._stale_budget = sum(1 for entry in lost if entry.line_number is not None and entry.line_number > number)
    engine._rewind_target = number
    engine._lanes.resends.clear()
    engine._lanes.resends.extend(range(number, engine._next_line))
    engine._events.append(ResendRequested(number, True))
    engine._arm_ok_deadline(now)


def _on_error(engine: Engine, error: FirmwareError, text: str, now: float) -> None:
    if error.kind in COMMUNICATION_ERROR_KINDS:
        engine._last_comm_error = error.kind
        return
    if not error.fatal:
        if error.kind not in (ErrorKind.UNKNOWN_COMMAND, ErrorKind.SD):
            oldest = engine._window.oldest
            if oldest is not None and not oldest.command.error:
                oldest.command.error = error.text
        _capture(engine, text)
        engine._events.append(FirmwareErrorReported(error.text, False))
        return
    engine._events.append(FirmwareErrorReported(error.text, True))
    if engine.state is S.ERROR:
        return  # the kill sequence prints several error lines: the first one named the reason
    _fatal(engine, error.text, now)


def _fatal(engine: Engine, reason: str, now: float) -> None:
    """The printer cannot go on: end the job, fail every command, state Error."""
    engine._fail_job(now, JobOutcome.FAILED, reason)
    engine._fail_all(now, reason)
    if can(engine.state, Trigger.FATAL):
        engine._transition(Trigger.FATAL, now, reason)


def _on_start(engine: Engine, now: float) -> None:
    """`start`: the firmware (re)booted. While connecting, greet it again; otherwise it reset."""
    if engine.state is S.CONNECTING:
        engine._send_hello(now)
        return
    if engine.state in OPERATIONAL_STATES or engine.state is S.ERROR:
        during_job = engine._job is not None
        engine._events.append(FirmwareReset(during_job))
        engine._fail_job(now, JobOutcome.FAILED, "firmware reset: the printer lost its state")
        engine._reset_link(now, "firmware reset")
        engine._transition(Trigger.FIRMWARE_RESET, now)
        engine._start_handshake(now)


def _on_wait(engine: Engine, now: float) -> None:
    """`wait`: the firmware's queue is empty and it waits for us, so no `ok` is outstanding."""
    window = engine._window
    if not window.entries or engine._lanes.resends:
        return
    window.error_oks = 0
    while window.entries:
        entry = window.pop_oldest()
        if entry is not None:
            _acknowledged(engine, entry.command, now)
    engine._ok_deadline = None
