"""Engine unit tests with scripted firmware replies (no simulator, no I/O)."""

from __future__ import annotations

from typing import Optional

import pytest

from mqttprint.protocol import framing
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import (
    CommandFinished,
    CommunicationTimeout,
    FirmwareIdentified,
    FirmwareReset,
    JobEnded,
    JobOutcome,
    LineSent,
    PositionUpdate,
    ResendRequested,
    StateChanged,
    TemperatureUpdate,
)
from mqttprint.protocol.framing import encode_numbered
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow
from mqttprint.protocol.states import PrinterState
from tests.helpers import ListJob

M115 = (
    b"FIRMWARE_NAME:Marlin 2.1.2.1 (Jun 12 2023 10:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
    b"PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer EXTRUDER_COUNT:1\n"
    b"Cap:AUTOREPORT_TEMP:1\nCap:AUTOREPORT_POS:0\nCap:EMERGENCY_PARSER:1\nok\n"
)


def connected(params: EngineParams | None = None) -> tuple[Engine, list]:
    engine = Engine(params or EngineParams(position_interval=0))
    engine.open_requested(0.0)
    engine.connection_opened(0.0)
    assert engine.data_to_send(0.0) == b"N0 M110 N0*125\n"
    events = engine.receive_data(b"ok\n", 0.0)
    assert engine.data_to_send(0.0) == encode_numbered(1, "M115")
    events += engine.receive_data(M115, 0.1)
    assert engine.state is PrinterState.OPERATIONAL
    assert engine.data_to_send(0.1) == encode_numbered(2, "M155 S2")
    events += engine.receive_data(b"ok\n", 0.1)
    return engine, events


def finished(events: list) -> list[CommandFinished]:
    return [e for e in events if isinstance(e, CommandFinished)]


def test_handshake_identifies_firmware_and_enables_autoreport() -> None:
    engine, events = connected()
    identified = [e for e in events if isinstance(e, FirmwareIdentified)]
    assert identified and identified[0].info.name.startswith("Marlin 2.1.2.1")
    assert engine.capabilities["EMERGENCY_PARSER"] is True
    states = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert (PrinterState.CONNECTING, PrinterState.OPERATIONAL) in states


def test_start_during_handshake_resends_hello() -> None:
    engine = Engine()
    engine.open_requested(0.0)
    engine.connection_opened(0.0)
    assert engine.data_to_send(0.0) == b"N0 M110 N0*125\n"
    engine.receive_data(b"start\nMarlin 2.1.2.1\n", 1.0)
    assert engine.data_to_send(1.0) == b"N0 M110 N0*125\n"


def test_hello_retried_then_gives_up() -> None:
    engine = Engine(EngineParams(hello_interval=1.0, hello_attempts=3))
    engine.open_requested(0.0)
    engine.connection_opened(0.0)
    sent = [engine.data_to_send(0.0)]
    for t in (1.0, 2.0):
        engine.tick(t)
        sent.append(engine.data_to_send(t))
    assert sent == [b"N0 M110 N0*125\n"] * 3
    engine.tick(3.0)
    assert engine.state is PrinterState.ERROR
    assert "No answer" in engine.error


def test_reply_capture_m114() -> None:
    engine, _ = connected()
    command_id = engine.submit("M114", 1.0)
    assert engine.data_to_send(1.0) == encode_numbered(3, "M114")
    # an auto-reported temperature line in between does not belong to M114
    events = engine.receive_data(b" T:21.00 /0.00 B:20.00 /0.00 @:0 B@:0\nX:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120\nok\n", 1.1)
    done = finished(events)
    assert [d.command_id for d in done] == [command_id]
    assert done[0].lines == ("X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120",)
    assert done[0].ok
    assert any(isinstance(e, PositionUpdate) and e.position.x == 10.0 for e in events)
    assert any(isinstance(e, TemperatureUpdate) for e in events)


def test_m105_reply_rides_on_ok() -> None:
    engine, _ = connected()
    engine.submit("M105", 1.0)
    engine.data_to_send(1.0)
    done = finished(engine.receive_data(b"ok T:210.00 /210.00 B:60.00 /60.00 @:127 B@:30\n", 1.1))
    assert done[0].lines == ("ok T:210.00 /210.00 B:60.00 /60.00 @:127 B@:30",)


def test_ping_pong_one_line_in_flight() -> None:
    engine, _ = connected()
    engine.submit("G1 X1", 1.0)
    engine.submit("G1 X2", 1.0)
    assert engine.data_to_send(1.0) == encode_numbered(3, "G1 X1")
    assert engine.data_to_send(1.0) == b""
    engine.receive_data(b"ok\n", 1.1)
    assert engine.data_to_send(1.1) == encode_numbered(4, "G1 X2")


def test_window_mode_counts_characters() -> None:
    engine, _ = connected(EngineParams(flow=Flow.WINDOW, rx_buffer=64, position_interval=0))
    for i in range(10):
        engine.submit(f"G1 X{i}", 1.0)
    out = engine.data_to_send(1.0)
    assert 1 < out.count(b"\n") and len(out) <= 63


def test_resend_rewinds_once_and_ignores_stale_duplicates() -> None:
    engine, _ = connected(EngineParams(flow=Flow.WINDOW, rx_buffer=128, position_interval=0))
    for i in range(4):
        engine.submit(f"G1 X{i}", 1.0)
    out = engine.data_to_send(1.0)
    assert out.count(b"\n") == 4  # N3..N6 in flight
    events = engine.receive_data(
        b"Error:checksum mismatch, Last Line: 3\nResend: 4\nok\nok\n", 1.1
    )  # N4 corrupt; N3 acked afterwards
    assert [e.rewound for e in events if isinstance(e, ResendRequested)] == [True]
    assert [d.command for d in finished(events)] == ["G1 X0"]
    resent = engine.data_to_send(1.1)
    assert resent == encode_numbered(4, "G1 X1") + encode_numbered(5, "G1 X2") + encode_numbered(6, "G1 X3")
    # a stale N5 from before the rewind arrives out of sequence: ignored, its ok counted
    events = engine.receive_data(
        b"Error:Line Number is not Last Line Number+1, Last Line: 3\nResend: 4\nok\n", 1.2
    )
    assert [e.rewound for e in events if isinstance(e, ResendRequested)] == [False]
    assert engine.data_to_send(1.2) == b""
    events = engine.receive_data(b"ok\nok\nok\n", 1.3)
    assert [d.command for d in finished(events)] == ["G1 X1", "G1 X2", "G1 X3"]


def test_resend_loop_is_fatal() -> None:
    engine, _ = connected(EngineParams(max_resends_same_line=3, position_interval=0))
    engine.submit("G1 X1", 1.0)
    engine.data_to_send(1.0)
    for i in range(4):
        engine.receive_data(b"Error:checksum mismatch, Last Line: 2\nResend: 3\nok\n", 1.0 + i)
        engine.data_to_send(1.0 + i)
    assert engine.state is PrinterState.ERROR
    assert "again and again" in engine.error


def test_dropped_ok_times_out_and_releases() -> None:
    engine, _ = connected(EngineParams(ok_timeout=5.0, position_interval=0))
    engine.submit("G1 X1", 1.0)
    engine.submit("G1 X2", 1.0)
    engine.data_to_send(1.0)
    events = engine.tick(6.5)
    assert any(isinstance(e, CommunicationTimeout) and e.action == "release" for e in events)
    assert [d.command for d in finished(events)] == ["G1 X1"]
    assert engine.data_to_send(6.5) == encode_numbered(4, "G1 X2")


def test_too_many_timeouts_is_fatal() -> None:
    engine, _ = connected(EngineParams(ok_timeout=1.0, max_timeouts_idle=2, position_interval=0))
    for i in range(3):
        engine.submit(f"G1 X{i}", 1.0)
    engine.data_to_send(1.0)
    now = 1.0
    for _ in range(4):
        now += 1.5
        engine.tick(now)
        engine.data_to_send(now)
    assert engine.state is PrinterState.ERROR
    assert "Too many consecutive timeouts" in engine.error


def test_m112_writes_plain_first_fails_everything() -> None:
    engine, _ = connected()
    engine.start_job(ListJob([f"G1 X{i}" for i in range(100)]), 1.0)
    engine.submit("G1 X5", 1.0)
    engine.data_to_send(1.0)
    command_id, out = engine.emergency("M112", 1.1)
    assert out.startswith(b"M112\n")
    assert b"M140 S0\n" in out
    events = engine.drain_events()
    assert engine.state is PrinterState.ERROR
    assert any(isinstance(e, JobEnded) and e.outcome is JobOutcome.FAILED for e in events)
    assert any(isinstance(e, CommandFinished) and e.command == "G1 X5" and not e.ok for e in events)
    assert engine.data_to_send(1.2) == b""
    with pytest.raises(NotOperational):
        engine.submit("G1 X1", 1.2)


def test_m112_traffic_shows_every_line_written() -> None:
    """B/terminal must show what went to the wire (issue 12 item 13): the numbered copy and the
    heaters-off lines after the un-numbered M112 (EmergencySent) are traffic events too."""
    engine, _ = connected(EngineParams(position_interval=0, emit_traffic=True))
    engine.drain_events()
    _, out = engine.emergency("M112", 1.1)
    sent = [e for e in engine.drain_events() if isinstance(e, LineSent)]
    wire = b"".join(framing.encode_plain(e.text) if e.line_number is None else framing.encode_numbered(e.line_number, e.text)
                    for e in sent)
    assert b"M112\n" + wire == out


def test_m108_takes_an_ok() -> None:
    engine, _ = connected()
    engine.submit("M109 S200", 1.0)
    engine.data_to_send(1.0)
    command_id, out = engine.emergency("M108", 1.5)
    assert out == b"M108\n"
    events = engine.receive_data(b"ok\nok\n", 2.0)
    assert [d.command for d in finished(events)] == ["M109 S200", "M108"]


def test_job_runs_to_done() -> None:
    engine, _ = connected()
    engine.start_job(ListJob(["G1 X1", "G1 X2", "G1 X3"]), 1.0)
    sent = []
    for i in range(3):
        sent.append(engine.data_to_send(1.0 + i))
        assert engine.state is (PrinterState.PRINTING if i < 2 else PrinterState.FINISHING)
        events = engine.receive_data(b"ok\n", 1.0 + i)
    assert sent == [encode_numbered(3 + i, f"G1 X{i + 1}") for i in range(3)]
    assert engine.state is PrinterState.OPERATIONAL
    assert any(isinstance(e, JobEnded) and e.outcome is JobOutcome.DONE for e in events)


def test_pause_runs_script_after_drain_and_resume_continues() -> None:
    engine, _ = connected()
    engine.start_job(ListJob(["G1 X1", "G1 X2", "G1 X3"]), 1.0)
    assert engine.data_to_send(1.0) == encode_numbered(3, "G1 X1")
    engine.pause(1.0, script=("G91", "G1 Z5"))
    assert engine.state is PrinterState.PAUSING
    engine.receive_data(b"ok\n", 1.1)
    assert engine.state is PrinterState.PAUSED
    assert engine.data_to_send(1.1) == encode_numbered(4, "G91")
    engine.receive_data(b"ok\n", 1.2)
    assert engine.data_to_send(1.2) == encode_numbered(5, "G1 Z5")
    engine.receive_data(b"ok\n", 1.3)
    assert engine.data_to_send(1.3) == b""  # paused: no job line
    engine.resume(1.4)
    assert engine.data_to_send(1.4) == encode_numbered(6, "G1 X2")


def test_cancel_drops_job_and_runs_cancel_script() -> None:
    engine, _ = connected()
    engine.start_job(ListJob(["G1 X1", "G1 X2", "G1 X3"]), 1.0)
    engine.data_to_send(1.0)
    engine.cancel(1.0, script=("M104 S0",))
    engine.receive_data(b"ok\n", 1.1)
    assert engine.data_to_send(1.1) == encode_numbered(4, "M104 S0")
    events = engine.receive_data(b"ok\n", 1.2)
    assert engine.state is PrinterState.OPERATIONAL
    assert any(isinstance(e, JobEnded) and e.outcome is JobOutcome.CANCELLED for e in events)


def test_firmware_reset_mid_job_fails_job_and_rehandshakes() -> None:
    engine, _ = connected()
    engine.start_job(ListJob([f"G1 X{i}" for i in range(10)]), 1.0)
    engine.data_to_send(1.0)
    events = engine.receive_data(b"start\n", 1.1)
    assert any(isinstance(e, FirmwareReset) and e.during_job for e in events)
    assert any(isinstance(e, JobEnded) and e.outcome is JobOutcome.FAILED for e in events)
    assert engine.state is PrinterState.CONNECTING
    assert engine.data_to_send(1.1) == b"N0 M110 N0*125\n"


def test_fatal_error_ends_job() -> None:
    engine, _ = connected()
    engine.start_job(ListJob([f"G1 X{i}" for i in range(10)]), 1.0)
    engine.data_to_send(1.0)
    engine.receive_data(b"Error:Thermal Runaway, system stopped! Heater_ID: 0\nError:Printer halted. kill() called!\n", 1.1)
    assert engine.state is PrinterState.ERROR
    assert "Thermal Runaway" in engine.error
    assert engine.data_to_send(1.2) == b""


@pytest.mark.parametrize("bad", ["G1 X1\nM112", "N5 G1 X1", "G1 X1*12", "M110 N5", "G1 \x07", "G1 X" + "1" * 100, "G1 Xé", ""])
def test_invalid_commands_rejected(bad: str) -> None:
    engine, _ = connected()
    with pytest.raises(InvalidCommand):
        engine.submit(bad, 1.0)
    assert engine.data_to_send(1.0) == b""


def test_polls_m105_without_autoreport_never_more_than_one() -> None:
    engine = Engine(EngineParams(temperature_interval=1.0, position_interval=0))
    engine.open_requested(0.0)
    engine.connection_opened(0.0)
    engine.data_to_send(0.0)
    engine.receive_data(b"ok\n", 0.0)
    engine.data_to_send(0.0)
    engine.receive_data(b"FIRMWARE_NAME:Marlin\nok\n", 0.0)
    engine.submit("G4 S10", 0.0)
    engine.data_to_send(0.0)
    for t in (1.0, 2.0, 3.0, 4.0):
        engine.tick(t)
    assert engine.data_to_send(4.0) == b""  # G4 in flight: polls wait
    engine.receive_data(b"ok\n", 4.5)
    engine.tick(5.0)
    out = engine.data_to_send(5.0)
    assert out.count(b"M105") == 1


class BrokenJob:
    """A source whose file read fails after two lines (file deleted, disk error)."""

    name = "broken.gcode"

    def __init__(self) -> None:
        self.calls = 0

    def next_line(self) -> Optional[str]:
        self.calls += 1
        if self.calls > 2:
            raise ValueError("readline of closed file")
        return f"G1 X{self.calls}"


def test_failing_job_source_fails_the_job_not_the_link() -> None:
    engine, _ = connected()
    engine.start_job(BrokenJob(), 1.0)
    events = []
    for i in range(4):
        engine.data_to_send(1.0 + i)
        events += engine.receive_data(b"ok\n", 1.0 + i)
    events += engine.drain_events()
    ended = [e for e in events if isinstance(e, JobEnded)]
    assert ended and ended[0].outcome is JobOutcome.FAILED and "cannot read the job" in ended[0].reason
    assert engine.state is PrinterState.OPERATIONAL
    engine.submit("M114", 9.0)
    assert engine.data_to_send(9.0).endswith(b"M114*" + str(__import__("mqttprint.protocol.framing", fromlist=["x"]).checksum(f"N{engine.next_line - 1} M114")).encode() + b"\n")


def test_unknown_command_is_reported_as_failed() -> None:
    engine, _ = connected()
    engine.submit("G999", 1.0)
    engine.data_to_send(1.0)
    [done] = finished(engine.receive_data(b'echo:Unknown command: "G999"\nok\n', 1.1))
    assert not done.ok and done.error.startswith("Unknown command") and done.lines == ('echo:Unknown command: "G999"',)
