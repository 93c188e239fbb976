"""How the engine reacts to each firmware reply: acks, resends, errors, resets, reports, capture.

Functions over the engine as `core.EngineCore` sees it (its receive half): they parse a line and
hand the consequences to the collaborator that owns them. Pure.
"""

from __future__ import annotations

from mqttprint.protocol import gcode
from mqttprint.protocol.core import EngineCore
from mqttprint.protocol.events import (
    BusyReported,
    FirmwareErrorReported,
    FirmwareIdentified,
    HostActionReceived,
    LineReceived,
    PositionUpdate,
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
from mqttprint.protocol.rewind import ResendDecision
from mqttprint.protocol.sendqueue import Command
from mqttprint.protocol.states import OPERATIONAL_STATES, PrinterState, Trigger

S = PrinterState


def on_line(engine: EngineCore, text: str, now: float) -> None:
    """React to one received line."""
    if engine.params.emit_traffic:
        engine.emit(LineReceived(text))
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
        if engine.window.entries:
            engine.arm_ok_deadline(now)
        engine.emit(BusyReported(reply.reason))  # type: ignore[union-attr]
    elif kind is Temperatures:
        _on_temperatures(engine, reply, text, now)  # type: ignore[arg-type]
    elif kind is Position:
        engine.emit(PositionUpdate(reply, now))  # type: ignore[arg-type]
        _capture(engine, text, gcode.POSITION_REPORT_CODES)
    elif kind is FirmwareError:
        _on_error(engine, reply, text, now)  # type: ignore[arg-type]
    elif kind is Start:
        _on_start(engine, now)
    elif kind is Capability:
        engine.handshake.learn((reply,))  # type: ignore[arg-type]
        _capture(engine, text)
    elif kind is FirmwareInfo:
        engine.firmware = reply  # type: ignore[assignment]
        engine.handshake.learn(reply.capabilities)  # type: ignore[union-attr]
        _capture(engine, text)
    elif kind is HostAction:
        engine.emit(HostActionReceived(reply.name, reply.params))  # type: ignore[union-attr]
    elif kind is SdStatus:
        engine.emit(SdStatusUpdate(reply.printing, reply.position, reply.size, reply.event))  # type: ignore[union-attr]
        _capture(engine, text)
    elif kind is Wait:
        _on_wait(engine, now)
    elif kind is Echo:
        _capture(engine, text)
        if reply.text.lower().startswith("unknown command"):  # type: ignore[union-attr]
            # Marlin/Prusa/Klipper still answer `ok`; the caller must not read that as success.
            oldest = engine.window.oldest
            if oldest is not None and not oldest.command.error:
                oldest.command.error = reply.text  # type: ignore[union-attr]
    elif kind is Unknown:
        _capture(engine, text)


def _capture(engine: EngineCore, text: str, only_for: frozenset[str] | None = None) -> None:
    """Attach a reply line to the command the firmware is working on (the oldest in flight).

    Marlin executes commands in order and sends `ok` after execution, so every line between
    sending a command and its `ok` belongs to the oldest unacknowledged command. Reports that
    also arrive unsolicited (auto-reported temperatures/positions) are attached only to the
    commands that ask for them (`only_for`).
    """
    entry = engine.window.oldest
    if entry is None:
        return
    command = entry.command
    if only_for is not None and command.code not in only_for:
        return
    if len(command.lines) < 64:  # a runaway reply (M503, M20 listings) is capped
        command.lines.append(text)


def _on_temperatures(engine: EngineCore, reply: Temperatures, text: str, now: float) -> None:
    engine.emit(TemperatureUpdate(reply.heaters, now))
    _capture(engine, text, gcode.TEMPERATURE_REPORT_CODES)
    oldest = engine.window.oldest
    if oldest is not None and oldest.command.code in gcode.HEATING_CODES:
        # Heat-up progress lines (Marlin W:, Klipper's 1 s lines) prove the firmware is alive.
        engine.arm_ok_deadline(now)


def _on_ok(engine: EngineCore, ok: Ok, text: str, now: float) -> None:
    engine.deadlines.ok_received()
    if ok.temperatures is not None:
        engine.emit(TemperatureUpdate(ok.temperatures.heaters, now))
    if ok.position is not None:
        engine.emit(PositionUpdate(ok.position, now))
    if ok.firmware is not None:
        engine.firmware = ok.firmware
        engine.handshake.learn(ok.firmware.capabilities)
    window = engine.window
    if window.take_error_ok():
        # The `ok` that closes an `Error:`/`Resend:` triple acknowledges no line.
        if window.error_oks == 0:
            engine.deadlines.resend_ok_arrived()
        return
    if ok.line_number is not None:
        _release_lost_oks(engine, ok.line_number, now)
    entry = window.pop_oldest()
    if entry is None:
        return  # an ok nobody waits for (late ok after a timeout release, or a duplicate)
    if ok.text:
        entry.command.lines.append(text)
    engine.deadlines.disarm()
    if window.entries:
        engine.arm_ok_deadline(now)
    if entry.line_number is not None:
        engine.resends.acknowledged(entry.line_number)
    acknowledged(engine, entry.command, now)


def _release_lost_oks(engine: EngineCore, acked: int, now: float) -> None:
    """ADVANCED_OK (`ok N<n> P<p> B<b>`) names the line it acknowledges. Numbered lines older than
    that one were executed too (Marlin runs them in order), so their `ok`s were lost on the way:
    acknowledge them now instead of waiting for a communication timeout."""
    window = engine.window
    if not any(e.line_number == acked for e in window.entries):
        return  # not one of ours (e.g. a line from before a resend rewind): count the ok as usual
    while window.entries:
        oldest = window.entries[0]
        if oldest.line_number is None or oldest.line_number >= acked:
            return
        entry = window.pop_oldest()
        if entry is not None:
            acknowledged(engine, entry.command, now)


def acknowledged(engine: EngineCore, command: Command, now: float) -> None:
    """A command's `ok` arrived: finish it, and drive the handshake for internal commands."""
    tag = command.tag
    engine.finish(command, True, "", now)
    if tag == "hello" and engine.state is S.CONNECTING:
        engine.handshake.hello_acknowledged()
        engine.queue_internal("M115", "m115")
    elif tag == "m115" and engine.state is S.CONNECTING:
        _handshake_done(engine, now)


def _handshake_done(engine: EngineCore, now: float) -> None:
    caps = engine.handshake.capability_map()
    engine.capabilities = caps
    info = engine.firmware or FirmwareInfo(name="", fields={})
    engine.firmware = info
    engine.emit(FirmwareIdentified(info, engine.handshake.capabilities))
    engine.transition(Trigger.HANDSHAKE_DONE, now)
    params = engine.params
    if caps.get("AUTOREPORT_TEMP") and params.temperature_interval > 0:
        engine.queue_internal(f"M155 S{max(1, round(params.temperature_interval))}", "autoreport")
    # Marlin calls it AUTOREPORT_POS, Prusa AUTOREPORT_POSITION (reported via M155 C4 there).
    if caps.get("AUTOREPORT_POS") and params.position_interval > 0:
        engine.queue_internal(f"M154 S{max(1, round(params.position_interval))}", "autoreport")
    engine.polls.start(now)


def _on_resend(engine: EngineCore, number: int, now: float) -> None:
    """The firmware wants line `number` again (see `rewind.ResendTracker` for the stale duplicates)."""
    window = engine.window
    window.expect_error_ok()
    engine.deadlines.expect_resend_ok(now)
    decision = engine.resends.decide(number, engine.next_line, engine.history.get(number) is not None)
    if decision is ResendDecision.AHEAD or decision is ResendDecision.STALE:
        engine.emit(ResendRequested(number, False))
    elif decision is ResendDecision.STUCK:
        engine.fatal(f"Printer keeps requesting line {number} again and again, communication stuck", now)
    elif decision is ResendDecision.LOST:
        engine.fatal(f"Printer requested line {number}, which is no longer in the resend history", now)
    else:
        lost = window.remove_from(number)
        engine.resends.rewound(number, (entry.line_number for entry in lost))
        engine.lanes.rewind(number, engine.next_line)
        engine.emit(ResendRequested(number, True))
        engine.arm_ok_deadline(now)


def _on_error(engine: EngineCore, error: FirmwareError, text: str, now: float) -> None:
    if error.kind in COMMUNICATION_ERROR_KINDS:
        engine.resends.communication_error(error.kind)
        return
    if not error.fatal:
        if error.kind not in (ErrorKind.UNKNOWN_COMMAND, ErrorKind.SD):
            oldest = engine.window.oldest
            if oldest is not None and not oldest.command.error:
                oldest.command.error = error.text
        _capture(engine, text)
        engine.emit(FirmwareErrorReported(error.text, False))
        return
    engine.emit(FirmwareErrorReported(error.text, True))
    if engine.state is S.ERROR:
        return  # the kill sequence prints several error lines: the first one named the reason
    engine.fatal(error.text, now)


def _on_start(engine: EngineCore, now: float) -> None:
    """`start`: the firmware (re)booted. While connecting, greet it again; otherwise it reset."""
    if engine.state is S.CONNECTING:
        engine.send_hello(now)
        return
    if engine.state in OPERATIONAL_STATES or engine.state is S.ERROR:
        engine.firmware_rebooted(now)


def _on_wait(engine: EngineCore, now: float) -> None:
    """`wait`: the firmware's queue is empty and it waits for us, so no `ok` is outstanding."""
    window = engine.window
    if not window.entries or engine.lanes.resends:
        return
    window.forget_error_oks()
    while window.entries:
        entry = window.pop_oldest()
        if entry is not None:
            acknowledged(engine, entry.command, now)
    engine.deadlines.disarm()
