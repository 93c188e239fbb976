"""Connection changes, emergency writes and jobs are in the journal at INFO (issue 12 item 13)."""

from __future__ import annotations

import logging

import pytest

from mqttprint.protocol.events import (
    EmergencySent, JobEnded, JobOutcome, JobStarted, LineSent, Priority, StateChanged,
)
from mqttprint.protocol.states import PrinterState as S
from mqttprint.runtime.event_log import log_events


def test_operator_events_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mqttprint")
    log_events("p1", [
        StateChanged(S.OFFLINE, S.OPENING), StateChanged(S.CONNECTING, S.OPERATIONAL),
        LineSent("G28", 1, Priority.INTERACTIVE), JobStarted("cube.gcode"),
        StateChanged(S.OPERATIONAL, S.PRINTING), EmergencySent("M112", 1.0),
        StateChanged(S.PRINTING, S.ERROR, "Emergency stop"), JobEnded("cube.gcode", JobOutcome.FAILED, "emergency stop", 7),
    ])
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (logging.INFO, "p1: Connecting -> Operational"),
        (logging.INFO, "p1: job started: cube.gcode"),
        (logging.WARNING, "p1: emergency command M112 written"),
        (logging.WARNING, "p1: Printing -> Error (Emergency stop)"),
        (logging.WARNING, "p1: job failed: cube.gcode (7 lines sent): emergency stop"),
    ]
