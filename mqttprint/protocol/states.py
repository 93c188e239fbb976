"""Printer connection/job states: one enum, one transition table, OctoPrint's text and flags derived.

The rulebook: `TRANSITIONS` says which trigger moves which state (the job's pause/resume/cancel
included), `JOB_PROGRESS` says when the engine takes the job's automatic moves, and `allowed()`
answers every "may I?" question. Callers outside `protocol/` ask these functions (or
`job_rules`), never a set of states of their own.

Pure; stdlib only.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Mapping


class PrinterState(enum.Enum):
    """Every state a printer link can be in. Values are OctoPrint 1.11's state texts, exactly."""

    OFFLINE = "Offline"
    OPENING = "Opening serial connection"
    CONNECTING = "Connecting"
    OPERATIONAL = "Operational"
    STARTING = "Starting"
    PRINTING = "Printing"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    RESUMING = "Resuming"
    CANCELLING = "Cancelling"
    FINISHING = "Finishing"
    ERROR = "Error"
    OFFLINE_AFTER_ERROR = "Offline after error"

    @property
    def text(self) -> str:
        """OctoPrint's user-visible state string (what Home Assistant's enum sensor expects)."""
        return self.value


class Trigger(enum.Enum):
    """What can move the state machine."""

    OPEN = "open"  # the shell starts opening the port
    PORT_OPENED = "port_opened"  # port is open: handshake starts
    HANDSHAKE_DONE = "handshake_done"  # hello acknowledged, firmware info read
    START_JOB = "start_job"
    JOB_RUNNING = "job_running"  # first job line went out
    PAUSE = "pause"
    PAUSE_DONE = "pause_done"  # in-flight job lines drained, pause script queued
    RESUME = "resume"
    RESUME_DONE = "resume_done"
    CANCEL = "cancel"
    CANCEL_DONE = "cancel_done"
    JOB_EOF = "job_eof"  # last job line sent, waiting for its ok
    JOB_DONE = "job_done"
    FIRMWARE_RESET = "firmware_reset"  # unexpected `start`: re-handshake
    FATAL = "fatal"  # firmware halted, M112, too many timeouts, resend loop
    CLOSE = "close"  # deliberate disconnect
    LINK_LOST = "link_lost"  # port vanished or I/O error


S = PrinterState
T = Trigger

_JOB_STATES = (S.STARTING, S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING, S.CANCELLING, S.FINISHING)
_CONNECTED_STATES = (S.CONNECTING, S.OPERATIONAL) + _JOB_STATES


def _build_table() -> Mapping[tuple[PrinterState, Trigger], PrinterState]:
    table: dict[tuple[PrinterState, Trigger], PrinterState] = {
        (S.OFFLINE, T.OPEN): S.OPENING,
        (S.OFFLINE_AFTER_ERROR, T.OPEN): S.OPENING,
        (S.ERROR, T.OPEN): S.OPENING,
        (S.OPENING, T.PORT_OPENED): S.CONNECTING,
        (S.CONNECTING, T.HANDSHAKE_DONE): S.OPERATIONAL,
        (S.OPERATIONAL, T.START_JOB): S.STARTING,
        (S.STARTING, T.JOB_RUNNING): S.PRINTING,
        (S.STARTING, T.PAUSE): S.PAUSING,
        (S.PRINTING, T.PAUSE): S.PAUSING,
        (S.RESUMING, T.PAUSE): S.PAUSING,
        (S.PAUSING, T.PAUSE_DONE): S.PAUSED,
        (S.PAUSING, T.RESUME): S.RESUMING,
        (S.PAUSED, T.RESUME): S.RESUMING,
        (S.RESUMING, T.RESUME_DONE): S.PRINTING,
        (S.STARTING, T.JOB_EOF): S.FINISHING,
        (S.PRINTING, T.JOB_EOF): S.FINISHING,
        (S.FINISHING, T.JOB_DONE): S.OPERATIONAL,
        (S.CANCELLING, T.CANCEL_DONE): S.OPERATIONAL,
    }
    for state in (S.STARTING, S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING, S.FINISHING):
        table[(state, T.CANCEL)] = S.CANCELLING
    for state in _CONNECTED_STATES:
        table[(state, T.FIRMWARE_RESET)] = S.CONNECTING
        table[(state, T.FATAL)] = S.ERROR
        table[(state, T.CLOSE)] = S.OFFLINE
        table[(state, T.LINK_LOST)] = S.OFFLINE_AFTER_ERROR
    table[(S.OPENING, T.CLOSE)] = S.OFFLINE
    table[(S.OPENING, T.LINK_LOST)] = S.OFFLINE_AFTER_ERROR
    table[(S.OPENING, T.FATAL)] = S.OFFLINE_AFTER_ERROR
    table[(S.ERROR, T.CLOSE)] = S.OFFLINE_AFTER_ERROR
    table[(S.ERROR, T.LINK_LOST)] = S.OFFLINE_AFTER_ERROR
    table[(S.ERROR, T.FATAL)] = S.ERROR
    # The firmware rebooting after an error (Prusa resets itself after kill()) means it talks
    # again: handshake anew instead of staying in Error forever.
    table[(S.ERROR, T.FIRMWARE_RESET)] = S.CONNECTING
    return MappingProxyType(table)


#: The single transition table: (state, trigger) -> next state. Missing pairs are illegal.
TRANSITIONS: Mapping[tuple[PrinterState, Trigger], PrinterState] = _build_table()


class IllegalTransition(Exception):
    """A trigger that makes no sense in the current state (a programming error in the engine)."""


def next_state(state: PrinterState, trigger: Trigger) -> PrinterState:
    """Look up the transition table; raise IllegalTransition when the pair is not in it."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(f"{trigger.value} is not allowed while {state.text}") from None


def allowed(state: PrinterState, trigger: Trigger) -> bool:
    """Whether `trigger` is allowed in `state` (e.g. `allowed(state, Trigger.OPEN)`: may connect)."""
    return (state, trigger) in TRANSITIONS


class JobCondition(enum.Enum):
    """What the engine waits for before a job state moves on by itself."""

    SOURCE_DONE = "source_done"  # every line of the job file was written
    LINES_DRAINED = "lines_drained"  # no job line is in flight (each was acknowledged)
    SCRIPTS_DONE = "scripts_done"  # no pause/resume/cancel script line is queued or in flight


C = JobCondition

#: The job's automatic moves: state -> (conditions that must all hold, trigger to take).
#: In Pausing and Cancelling the pause/cancel script is queued once the lines are drained
#: (`AFTER_DRAIN_SCRIPT_STATES`), so Cancelling ends only after its script was acknowledged.
JOB_PROGRESS: Mapping[PrinterState, tuple[frozenset[JobCondition], Trigger]] = MappingProxyType({
    S.STARTING: (frozenset({C.SOURCE_DONE}), T.JOB_EOF),
    S.PRINTING: (frozenset({C.SOURCE_DONE}), T.JOB_EOF),
    S.PAUSING: (frozenset({C.LINES_DRAINED}), T.PAUSE_DONE),
    S.RESUMING: (frozenset({C.SCRIPTS_DONE}), T.RESUME_DONE),
    S.CANCELLING: (frozenset({C.LINES_DRAINED, C.SCRIPTS_DONE}), T.CANCEL_DONE),
    S.FINISHING: (frozenset({C.LINES_DRAINED}), T.JOB_DONE),
})
#: States whose after-drain script (pause script, cancel script) is queued once no job line is in flight.
AFTER_DRAIN_SCRIPT_STATES = frozenset({S.PAUSING, S.CANCELLING})


OPERATIONAL_STATES = frozenset((S.OPERATIONAL,) + _JOB_STATES)
PRINTING_STATES = frozenset((S.STARTING, S.PRINTING, S.CANCELLING, S.PAUSING, S.RESUMING, S.FINISHING))
BUSY_STATES = PRINTING_STATES | {S.PAUSED}
JOB_ACTIVE_STATES = frozenset(_JOB_STATES)



def is_operational(state: PrinterState) -> bool:
    """The printer takes commands (connected, handshake done; a job may run)."""
    return state in OPERATIONAL_STATES


def is_job_active(state: PrinterState) -> bool:
    """OctoPrint's "active print job": starting, printing, pausing, paused, resuming, cancelling or finishing."""
    return state in JOB_ACTIVE_STATES


def is_closed(state: PrinterState) -> bool:
    """No connection exists (OctoPrint's /api/connection says "Closed")."""
    return state in (S.OFFLINE, S.OFFLINE_AFTER_ERROR)


FLAG_NAMES = (
    "operational",
    "printing",
    "cancelling",
    "pausing",
    "resuming",
    "finishing",
    "closedOrError",
    "error",
    "paused",
    "ready",
    "sdReady",
)


def octoprint_flags(state: PrinterState, sd_ready: bool = False) -> dict[str, bool]:
    """OctoPrint's 11 state flags, derived from the state exactly as OctoPrint 1.11 derives them."""
    operational = state in OPERATIONAL_STATES
    return {
        "operational": operational,
        "printing": state in PRINTING_STATES,
        "cancelling": state is S.CANCELLING,
        "pausing": state is S.PAUSING,
        "resuming": state is S.RESUMING,
        "finishing": state is S.FINISHING,
        "closedOrError": state in (S.OFFLINE, S.ERROR, S.OFFLINE_AFTER_ERROR),
        "error": state in (S.ERROR, S.OFFLINE_AFTER_ERROR),
        "paused": state is S.PAUSED,
        "ready": operational and state not in BUSY_STATES,
        "sdReady": bool(sd_ready) and operational,
    }
