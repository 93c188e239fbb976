"""The engine's time-driven half: handshake retries, resend-ok detection, ok timeouts, status polls.

Functions over an `Engine`; `now` is always passed in. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mqttprint.protocol import gcode
from mqttprint.protocol.events import CommunicationTimeout, Priority
from mqttprint.protocol.reactions import _acknowledged, _fatal
from mqttprint.protocol.sendqueue import Command
from mqttprint.protocol.states import JOB_ACTIVE_STATES, OPERATIONAL_STATES, PrinterState

if TYPE_CHECKING:
    from mqttprint.protocol.engine import Engine

S = PrinterState
TEMPERATURE_POLL = "poll:temperature"
POSITION_POLL = "poll:position"


def on_tick(engine: Engine, now: float) -> None:
    """Everything that happens because time passed."""
    if engine.state is S.CONNECTING:
        _handshake_timer(engine, now)
    if engine._resend_ok_deadline is not None and now >= engine._resend_ok_deadline:
        # Marlin 1.1/2.0.9-era builds and Smoothie send no `ok` after `Resend:` (reference §1.4).
        engine._resend_ok_deadline = None
        engine._window.error_oks = 0
    if engine._ok_deadline is not None and now >= engine._ok_deadline and engine.state is not S.CONNECTING:
        _ok_timeout(engine, now)
    if engine.state in OPERATIONAL_STATES:
        _schedule_polls(engine, now)


def _handshake_timer(engine: Engine, now: float) -> None:
    deadline = engine._hello_deadline
    if deadline is None or now < deadline:
        return
    if engine._hello_attempts >= engine.params.hello_attempts:
        _fatal(engine, "No answer from the printer: check the port, the baud rate and that it is powered", now)
        return
    engine._send_hello(now)


def _ok_timeout(engine: Engine, now: float) -> None:
    """No `ok` in time: OctoPrint's situation policy, then give up after too many in a row."""
    window = engine._window
    engine._ok_deadline = None
    if not window.entries and window.error_oks == 0:
        return
    engine._consecutive_timeouts += 1
    count = engine._consecutive_timeouts
    printing = engine.state in JOB_ACTIVE_STATES
    limit = engine.params.max_timeouts_printing if printing else engine.params.max_timeouts_idle
    oldest = window.oldest
    long_running = oldest is not None and oldest.command.code in gcode.LONG_RUNNING_CODES
    if count > limit:
        engine._events.append(CommunicationTimeout(count, "give_up"))
        _fatal(engine, "Too many consecutive timeouts, printer still connected and alive?", now)
        return
    if long_running and not engine.busy_protocol:
        # G28/M400/M109... on a firmware without busy keepalives: silence is expected.
        engine._events.append(CommunicationTimeout(count, "long_running"))
        engine._arm_ok_deadline(now)
        return
    # The `ok` was lost (Marlin executed the line; a dropped ok is the usual cause): release
    # the oldest line. If the line itself was lost instead, the firmware asks for it again with
    # a resend and it is re-sent from the history, so nothing runs twice or goes missing.
    window.error_oks = 0
    entry = window.pop_oldest()
    if entry is not None:
        _acknowledged(engine, entry.command, now)
    action = "tickle" if printing else "release"
    if printing and not engine._lanes.poll_queued(TEMPERATURE_POLL):
        # Provoke an answer so a live printer proves it is alive (OctoPrint does the same).
        engine._lanes.add(Command(next(engine._ids), "M105", Priority.POLL, "M105", internal=True, tag=TEMPERATURE_POLL))
    engine._events.append(CommunicationTimeout(count, action))
    if window.entries:
        engine._arm_ok_deadline(now)


def _schedule_polls(engine: Engine, now: float) -> None:
    """Queue M105/M114 polls when the firmware does not auto-report; never more than one of each."""
    params = engine.params
    caps = engine.capabilities
    oldest = engine._window.oldest
    if oldest is not None and oldest.command.code in gcode.LONG_RUNNING_CODES:
        return  # the firmware would hold the poll behind the long command anyway
    if params.temperature_interval > 0 and not caps.get("AUTOREPORT_TEMP") and now >= engine._next_temperature_poll:
        engine._next_temperature_poll = now + params.temperature_interval
        if not engine._lanes.poll_queued(TEMPERATURE_POLL) and not _in_flight(engine, TEMPERATURE_POLL):
            engine._lanes.add(Command(next(engine._ids), "M105", Priority.POLL, "M105", internal=True, tag=TEMPERATURE_POLL))
    if params.position_interval > 0 and not caps.get("AUTOREPORT_POS") and now >= engine._next_position_poll:
        engine._next_position_poll = now + params.position_interval
        if not engine._lanes.poll_queued(POSITION_POLL) and not _in_flight(engine, POSITION_POLL):
            engine._lanes.add(Command(next(engine._ids), "M114", Priority.POLL, "M114", internal=True, tag=POSITION_POLL))


def _in_flight(engine: Engine, tag: str) -> bool:
    return any(entry.command.tag == tag for entry in engine._window.entries)
