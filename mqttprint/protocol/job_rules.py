"""The rulebook for what a caller may ask of a printer's job, and the one refusal text for each no.

The engine's moves are in `states.TRANSITIONS`; a request that maps to a trigger (pause, resume,
cancel) is allowed exactly when the table allows the trigger. File requests (select, unselect,
start, restart) have no trigger of their own, so their rules are written here, once, with
OctoPrint 1.11's refusal texts. Every layer asks `refusal()` / `require()`: the runtime before it
acts, REST where OctoPrint's order of checks needs the answer early. Pure.
"""

from __future__ import annotations

import enum
from typing import Callable, Mapping, Optional

from mqttprint.protocol.errors import NotOperational
from mqttprint.protocol.states import JOB_ACTIVE_STATES, OPERATIONAL_STATES, PrinterState, Trigger, allowed

S = PrinterState


class JobRequest(enum.Enum):
    """What a caller (REST, MQTT, the firmware's host actions) may ask of the job."""

    SELECT = "select"  # choose a stored file
    UNSELECT = "unselect"
    PRINT_SELECTED = "print_selected"  # select with print=true
    START = "start"
    RESTART = "restart"  # start the paused job over
    PAUSE = "pause"  # the pause command (pause, resume or toggle)
    CANCEL = "cancel"


def _idle(state: PrinterState) -> bool:
    return state not in JOB_ACTIVE_STATES


def _operational(state: PrinterState) -> bool:
    return state in OPERATIONAL_STATES


def _ready(state: PrinterState) -> bool:
    # OctoPrint's "ready": operational and no job; the same text refuses a disconnected printer.
    return _operational(state) and _idle(state)


def _job_active(state: PrinterState) -> bool:
    return state in JOB_ACTIVE_STATES


Check = tuple[Callable[[PrinterState], bool], str]

#: request -> checks in order; the first that fails gives the refusal text.
RULES: Mapping[JobRequest, tuple[Check, ...]] = {
    JobRequest.SELECT: ((_ready, "Printer is already printing, cannot select a new file"),),
    JobRequest.UNSELECT: ((_idle, "Printer is already printing, cannot unselect current file"),),
    JobRequest.PRINT_SELECTED: ((_operational, "Printer is not operational, cannot directly start printing"),),
    JobRequest.START: (
        (_operational, "Printer is not operational"),
        (_idle, "Printer already has an active print job, did you mean 'restart'?"),
    ),
    JobRequest.RESTART: ((lambda state: state is S.PAUSED, "Printer does not have an active print job or is not paused"),),
    JobRequest.PAUSE: ((_job_active, "Printer is neither printing nor paused, 'pause' command cannot be performed"),),
    JobRequest.CANCEL: ((_job_active, "Printer is neither printing nor paused, 'cancel' command cannot be performed"),),
}


def refusal(request: JobRequest, state: PrinterState) -> Optional[str]:
    """Why `request` is refused in `state` (OctoPrint's 409 text), None when it is allowed."""
    for check, message in RULES[request]:
        if not check(state):
            return message
    return None


def require(request: JobRequest, state: PrinterState) -> None:
    """Raise NotOperational with the refusal text unless `request` is allowed in `state`."""
    message = refusal(request, state)
    if message is not None:
        raise NotOperational(message)


def pause_trigger(action: str, state: PrinterState) -> Optional[Trigger]:
    """The engine trigger a pause command means (`pause`, `resume` or `toggle`), None for a no-op
    (pausing while paused, resuming while printing: OctoPrint answers 204 and does nothing)."""
    if action == "toggle":
        action = "resume" if allowed(state, Trigger.RESUME) else "pause"
    trigger = Trigger.PAUSE if action == "pause" else Trigger.RESUME
    return trigger if allowed(state, trigger) else None


def host_action_trigger(name: str, state: PrinterState) -> Optional[Trigger]:
    """The trigger a firmware host action (`//action:pause|resume|cancel`) means, None when the
    state does not allow it (the firmware's request is then ignored)."""
    trigger = {"pause": Trigger.PAUSE, "resume": Trigger.RESUME, "cancel": Trigger.CANCEL}.get(name)
    return trigger if trigger is not None and allowed(state, trigger) else None
