"""Printer connection/job states: one enum, one transition table, OctoPrint's text and flags derived.

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


def can(state: PrinterState, trigger: Trigger) -> bool:
    """Whether `trigger` is allowed in `state`."""
    return (state, trigger) in TRANSITIONS


OPERATIONAL_STATES = frozenset((S.OPERATIONAL,) + _JOB_STATES)
PRINTING_STATES = frozenset((S.STARTING, S.PRINTING, S.CANCELLING, S.PAUSING, S.RESUMING, S.FINISHING))
BUSY_STATES = PRINTING_STATES | {S.PAUSED}
JOB_ACTIVE_STATES = frozenset(_JOB_STATES)

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
