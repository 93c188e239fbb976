"""What the journal says about a printer at INFO: connection changes, emergency writes, jobs.

Called on the serial thread with every batch of engine events; only a handful of event types
are logged, so the per-line traffic costs one type lookup each.
"""

from __future__ import annotations

import logging
from typing import Iterable

from mqttprint.protocol.events import EmergencySent, Event, JobEnded, JobOutcome, JobStarted, StateChanged
from mqttprint.protocol.states import PrinterState

log = logging.getLogger("mqttprint.runtime.printer")

#: State changes worth a journal line: the link opening, closing and failing.
_CONNECTION_STATES = (PrinterState.OFFLINE, PrinterState.CONNECTING, PrinterState.OPERATIONAL, PrinterState.ERROR,
                      PrinterState.OFFLINE_AFTER_ERROR)
_LOGGED = (StateChanged, EmergencySent, JobStarted, JobEnded)


def log_events(printer_id: str, events: Iterable[Event]) -> None:
    """Log the events an operator needs in the journal (the rest is in DEBUG traffic logs)."""
    for event in events:
        if type(event) not in _LOGGED:
            continue
        if isinstance(event, StateChanged):
            # Not: a port that failed to open (the link logs that once per distinct error, not
            # on every retry), nor Operational again after a job (the job's end is logged).
            if event.old is PrinterState.OPENING or (event.new is PrinterState.OPERATIONAL
                                                     and event.old is not PrinterState.CONNECTING):
                continue
            if event.new in _CONNECTION_STATES:
                level = logging.WARNING if event.new in (PrinterState.ERROR, PrinterState.OFFLINE_AFTER_ERROR) \
                    else logging.INFO
                log.log(level, "%s: %s -> %s%s", printer_id, event.old.text, event.new.text,
                        f" ({event.error})" if event.error else "")
        elif isinstance(event, EmergencySent):
            log.warning("%s: emergency command %s written", printer_id, event.command)
        elif isinstance(event, JobStarted):
            log.info("%s: job started: %s", printer_id, event.name)
        elif isinstance(event, JobEnded):
            level = logging.WARNING if event.outcome is JobOutcome.FAILED else logging.INFO
            log.log(level, "%s: job %s: %s (%d lines sent)%s", printer_id, event.outcome.value, event.name,
                    event.lines_sent, f": {event.reason}" if event.reason else "")
