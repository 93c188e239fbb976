"""The pure SHDR mapping: printer states -> MTConnect execution, availability and conditions."""

from __future__ import annotations

import dataclasses

import pytest

from mqttprint.integrations import shdr
from mqttprint.printer.model import JobInfo, PrinterSnapshot
from mqttprint.protocol.replies import HeaterReading, Position
from mqttprint.protocol.states import PrinterState as S

BASE = PrinterSnapshot("p1", state=S.OPERATIONAL)


@pytest.mark.parametrize("state, outcome, expected", [
    (S.OPERATIONAL, None, "READY"), (S.OPERATIONAL, "done", "PROGRAM_COMPLETED"),
    (S.OPERATIONAL, "cancelled", "STOPPED"), (S.OPERATIONAL, "failed", "INTERRUPTED"),
    (S.STARTING, None, "ACTIVE"), (S.PRINTING, None, "ACTIVE"), (S.FINISHING, None, "ACTIVE"),
    (S.PAUSING, None, "FEED_HOLD"), (S.PAUSED, None, "FEED_HOLD"), (S.CANCELLING, None, "STOPPED"),
    (S.ERROR, None, "STOPPED"), (S.OFFLINE, None, "UNAVAILABLE"),
])
def test_execution(state: S, outcome: str | None, expected: str) -> None:
    job = None if outcome is None else JobInfo("a.gcode", 0.0, 10, outcome)
    assert shdr.execution(dataclasses.replace(BASE, state=state, job=job)) == expected


def test_offline_printer_is_unavailable_except_part_count() -> None:
    values = shdr.values(shdr.PrinterFacts(dataclasses.replace(BASE, state=S.OFFLINE), part_count=3))
    assert values["avail"] == "UNAVAILABLE" and values["partcount"] == "3"
    assert values["system"] == shdr.Condition("UNAVAILABLE")
    assert {v for k, v in values.items() if k not in ("partcount", "system")} == {"UNAVAILABLE"}


def test_values_and_lines() -> None:
    snapshot = dataclasses.replace(
        BASE, state=S.PRINTING, job=JobInfo("a|b\nc.gcode", 0.0), position=Position(1.0, 2.5, 0.2),
        temperatures={"T": HeaterReading(200.04, 200.0), "T0": HeaterReading(201.0), "B": HeaterReading(60.0)})
    values = shdr.values(shdr.PrinterFacts(snapshot, job_line=42))
    assert values["program"] == "a/b c.gcode" and values["line"] == "42"
    assert values["tool0_temp"] == "201.0" and values["bed_temp"] == "60.0" and values["Yact"] == "2.500"
    assert values["mode"] == "AUTOMATIC" and values["estop"] == "ARMED"
    lines = shdr.lines("p1", values, None, 0.5)
    assert lines[0].startswith("1970-01-01T00:00:00.500Z|p1:avail|AVAILABLE|")
    assert lines[-1] == "1970-01-01T00:00:00.500Z|p1:system|NORMAL||||"
    changed = dict(values, exec="FEED_HOLD")
    assert shdr.lines("p1", changed, values, 1.0) == ["1970-01-01T00:00:01.000Z|p1:exec|FEED_HOLD"]
    assert shdr.lines("p1", values, values, 1.0) == []


def test_error_is_a_fault_and_estop_only_after_m112() -> None:
    error = dataclasses.replace(BASE, state=S.ERROR, error="Emergency stop (M112) sent")
    values = shdr.values(shdr.PrinterFacts(error, estop_triggered=True))
    assert values["estop"] == "TRIGGERED" and values["system"].level == "FAULT"  # type: ignore[union-attr]
    link = dataclasses.replace(BASE, state=S.ERROR, error="serial port vanished")
    assert shdr.values(shdr.PrinterFacts(link))["estop"] == "ARMED"
    assert shdr.values(shdr.PrinterFacts(link))["system"].native_code == "LINK"  # type: ignore[union-attr]
