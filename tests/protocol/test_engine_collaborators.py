"""Each of the engine's collaborators on its own: handshake, resend tracker, ok deadlines, job stream, polls."""

from __future__ import annotations

from typing import Optional

import pytest

from mqttprint.protocol.deadlines import OkDeadlines
from mqttprint.protocol.handshake import Handshake
from mqttprint.protocol.jobstream import JobStream
from mqttprint.protocol.polls import PollSchedule
from mqttprint.protocol.replies import Capability, ErrorKind
from mqttprint.protocol.rewind import ResendDecision, ResendTracker
from mqttprint.protocol.sendqueue import Flow, Lanes, Window


class ListSource:
    def __init__(self, lines: list[str], name: str = "job.gcode") -> None:
        self.name = name
        self._lines = list(lines)

    def next_line(self) -> Optional[str]:
        return self._lines.pop(0) if self._lines else None


def test_handshake_retries_until_exhausted_and_collects_capabilities() -> None:
    hs = Handshake(interval=2.0, max_attempts=2)
    hs.hello_sent(10.0)
    assert hs.deadline == 12.0 and not hs.retry_due(11.9) and hs.retry_due(12.0)
    assert not hs.exhausted
    hs.hello_sent(12.0)
    assert hs.exhausted and hs.attempts == 2
    hs.learn([Capability("AUTOREPORT_TEMP", True), Capability("EEPROM", False)])
    hs.learn([Capability("EEPROM", True)])
    assert hs.capability_map() == {"AUTOREPORT_TEMP": True, "EEPROM": True}
    assert len(hs.capabilities) == 3
    hs.hello_acknowledged()
    assert hs.deadline is None and not hs.retry_due(100.0)
    hs.restart()
    assert hs.attempts == 0 and hs.capabilities == ()


def test_resend_tracker_rewinds_once_then_counts_stale_duplicates() -> None:
    tracker = ResendTracker(max_same_line=10)
    tracker.communication_error(ErrorKind.CHECKSUM)
    assert tracker.decide(5, next_line=9, in_history=True) is ResendDecision.REWIND
    tracker.rewound(5, [5, 6, 7, 8])  # lines 6, 7, 8 were behind the bad one: three stale requests
    assert tracker.rewind_target == 5 and tracker.stale_budget == 3
    for _ in range(3):
        tracker.communication_error(ErrorKind.LINE_NUMBER)
        assert tracker.decide(5, next_line=9, in_history=True) is ResendDecision.STALE
    tracker.communication_error(ErrorKind.LINE_NUMBER)
    assert tracker.decide(5, next_line=9, in_history=True) is ResendDecision.REWIND  # budget spent
    tracker.acknowledged(5)
    assert tracker.rewind_target is None and tracker.stale_budget == 0


def test_resend_tracker_classifies_ahead_lost_and_stuck() -> None:
    tracker = ResendTracker(max_same_line=2)
    assert tracker.decide(9, next_line=9, in_history=True) is ResendDecision.AHEAD
    assert tracker.decide(3, next_line=9, in_history=False) is ResendDecision.LOST
    tracker.reset()
    assert tracker.decide(4, next_line=9, in_history=True) is ResendDecision.REWIND
    assert tracker.decide(4, next_line=9, in_history=True) is ResendDecision.REWIND
    assert tracker.decide(4, next_line=9, in_history=True) is ResendDecision.STUCK
    tracker.acknowledged(4)  # progress past the line resets the loop counter
    assert tracker.decide(4, next_line=9, in_history=True) is ResendDecision.REWIND


def test_ok_deadlines_busy_timeout_resend_ok_and_timeout_count() -> None:
    deadlines = OkDeadlines(ok_timeout=10.0, busy_ok_timeout=5.0, resend_ok_timeout=0.5)
    deadlines.arm(0.0, busy_protocol=False)
    assert not deadlines.ok_overdue(9.9) and deadlines.ok_overdue(10.0)
    deadlines.arm(0.0, busy_protocol=True)
    assert deadlines.ok_overdue(5.0)
    deadlines.expect_resend_ok(1.0)
    assert sorted(deadlines.pending()) == [1.5, 5.0]
    assert deadlines.resend_ok_overdue(1.5)
    deadlines.resend_ok_arrived()
    assert not deadlines.resend_ok_overdue(99.0)
    assert deadlines.timed_out() == 1 and deadlines.timed_out() == 2
    deadlines.ok_received()
    assert deadlines.consecutive_timeouts == 0
    deadlines.disarm()
    assert deadlines.pending() == []


def test_job_stream_counts_lines_and_scripts() -> None:
    stream = JobStream()
    stream.start(ListSource(["G1 X1", "G1 X2"]))
    assert stream.peek() == "G1 X1" and stream.peek() == "G1 X1"  # peeking does not consume
    assert stream.take() == "G1 X1" and not stream.drained and stream.lines_sent == 1
    assert stream.peek() == "G1 X2" and stream.take() == "G1 X2"
    assert stream.peek() is None and stream.exhausted and stream.at_end
    stream.line_finished()
    stream.line_finished()
    assert stream.drained
    stream.run_after_drain(["M104 S0"])
    assert stream.take_after_drain() == ["M104 S0"] and stream.take_after_drain() == []
    stream.script_queued()
    assert not stream.scripts_done
    stream.script_finished()
    assert stream.scripts_done
    assert stream.end() == "job.gcode" and stream.source is None and stream.end() is None


def test_job_stream_forgets_the_line_read_ahead_on_cancel() -> None:
    stream = JobStream()
    stream.start(ListSource(["G1 X1", "G1 X2"]))
    assert stream.peek() == "G1 X1"
    stream.forget_peeked()
    assert stream.peek() == "G1 X2"


def test_poll_schedule_spaces_polls_and_can_be_off() -> None:
    polls = PollSchedule(temperature_interval=2.0, position_interval=0.0)
    polls.start(10.0)
    assert polls.temperature_due(10.0) and not polls.temperature_due(11.0) and polls.temperature_due(12.0)
    assert not polls.position_due(10.0)  # interval 0: never polled
    assert polls.deadlines() == [14.0]


@pytest.mark.parametrize("flow", [Flow.PING_PONG, Flow.WINDOW])
def test_window_error_oks_and_lanes_rewind(flow: Flow) -> None:
    window = Window(flow, 128)
    assert not window.take_error_ok()
    window.expect_error_ok()
    window.expect_error_ok()
    assert window.take_error_ok() and window.error_oks == 1
    window.forget_error_oks()
    assert not window.take_error_ok()
    lanes = Lanes()
    lanes.rewind(3, 6)
    lanes.rewind(4, 6)  # a newer request replaces the pending rewind
    assert list(lanes.resends) == [4, 5]
