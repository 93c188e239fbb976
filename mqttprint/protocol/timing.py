"""The engine's time-driven half: handshake retries, resend-ok detection, ok timeouts, status polls.

Functions over the engine as `core.EngineCore` sees it; `now` is always passed in. Pure.
"""

from __future__ import annotations

from mqttprint.protocol import gcode
from mqttprint.protocol.core import EngineCore
from mqttprint.protocol.events import CommunicationTimeout, Priority
from mqttprint.protocol.reactions import acknowledged
from mqttprint.protocol.states import JOB_ACTIVE_STATES, OPERATIONAL_STATES, PrinterState

S = PrinterState
TEMPERATURE_POLL = "poll:temperature"
POSITION_POLL = "poll:position"


def on_tick(engine: EngineCore, now: float) -> None:
    """Everything that happens because time passed."""
    if engine.state is S.CONNECTING:
        _handshake_timer(engine, now)
    if engine.deadlines.resend_ok_overdue(now):
        # Marlin 1.1/2.0.9-era builds and Smoothie send no `ok` after `Resend:` (reference §1.4).
        engine.deadlines.resend_ok_arrived()
        engine.window.forget_error_oks()
    if engine.deadlines.ok_overdue(now) and engine.state is not S.CONNECTING:
        _ok_timeout(engine, now)
    if engine.state in OPERATIONAL_STATES:
        _schedule_polls(engine, now)


def _handshake_timer(engine: EngineCore, now: float) -> None:
    if not engine.handshake.retry_due(now):
        return
    if engine.handshake.exhausted:
        engine.fatal("No answer from the printer: check the port, the baud rate and that it is powered", now)
        return
    engine.send_hello(now)


def _ok_timeout(engine: EngineCore, now: float) -> None:
    """No `ok` in time: OctoPrint's situation policy, then give up after too many in a row."""
    window = engine.window
    engine.deadlines.disarm()
    if not window.entries and window.error_oks == 0:
        return
    count = engine.deadlines.timed_out()
    printing = engine.state in JOB_ACTIVE_STATES
    limit = engine.params.max_timeouts_printing if printing else engine.params.max_timeouts_idle
    oldest = window.oldest
    long_running = oldest is not None and oldest.command.code in gcode.LONG_RUNNING_CODES
    if count > limit:
        engine.emit(CommunicationTimeout(count, "give_up"))
        engine.fatal("Too many consecutive timeouts, printer still connected and alive?", now)
        return
    if long_running and not engine.busy_protocol:
        # G28/M400/M109... on a firmware without busy keepalives: silence is expected.
        engine.emit(CommunicationTimeout(count, "long_running"))
        engine.arm_ok_deadline(now)
        return
    # The `ok` was lost (Marlin executed the line; a dropped ok is the usual cause): release
    # the oldest line. If the line itself was lost instead, the firmware asks for it again with
    # a resend and it is re-sent from the history, so nothing runs twice or goes missing.
    window.forget_error_oks()
    entry = window.pop_oldest()
    if entry is not None:
        acknowledged(engine, entry.command, now)
    action = "tickle" if printing else "release"
    if printing and not engine.lanes.poll_queued(TEMPERATURE_POLL):
        # Provoke an answer so a live printer proves it is alive (OctoPrint does the same).
        engine.queue_internal("M105", TEMPERATURE_POLL, Priority.POLL)
    engine.emit(CommunicationTimeout(count, action))
    if window.entries:
        engine.arm_ok_deadline(now)


def _schedule_polls(engine: EngineCore, now: float) -> None:
    """Queue M105/M114 polls when the firmware does not auto-report; never more than one of each."""
    caps = engine.capabilities
    oldest = engine.window.oldest
    if oldest is not None and oldest.command.code in gcode.LONG_RUNNING_CODES:
        return  # the firmware would hold the poll behind the long command anyway
    if not caps.get("AUTOREPORT_TEMP") and engine.polls.temperature_due(now):
        if not engine.lanes.poll_queued(TEMPERATURE_POLL) and not _in_flight(engine, TEMPERATURE_POLL):
            engine.queue_internal("M105", TEMPERATURE_POLL, Priority.POLL)
    if not caps.get("AUTOREPORT_POS") and engine.polls.position_due(now):
        if not engine.lanes.poll_queued(POSITION_POLL) and not _in_flight(engine, POSITION_POLL):
            engine.queue_internal("M114", POSITION_POLL, Priority.POLL)


def _in_flight(engine: EngineCore, tag: str) -> bool:
    return any(entry.command.tag == tag for entry in engine.window.entries)
