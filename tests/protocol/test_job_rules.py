"""The rulebook: job requests allowed exactly where the transition table allows their trigger, one
refusal text per refusal, and the job's automatic moves all legal transitions."""

from __future__ import annotations

import pytest

from mqttprint.protocol.errors import NotOperational
from mqttprint.protocol.job_rules import RULES, JobRequest, host_action_trigger, pause_trigger, refusal, require
from mqttprint.protocol.states import JOB_PROGRESS, TRANSITIONS, PrinterState, Trigger, allowed

S = PrinterState


@pytest.mark.parametrize("state", list(PrinterState))
def test_pause_and_cancel_requests_follow_octoprint_active_job(state: PrinterState) -> None:
    active = state in {S.STARTING, S.PRINTING, S.PAUSING, S.PAUSED, S.RESUMING, S.CANCELLING, S.FINISHING}
    assert (refusal(JobRequest.PAUSE, state) is None) == active
    assert (refusal(JobRequest.CANCEL, state) is None) == active
    assert (refusal(JobRequest.RESTART, state) is None) == (state is S.PAUSED)
    assert (refusal(JobRequest.SELECT, state) is None) == (state is S.OPERATIONAL)


def test_start_checks_operational_before_the_active_job() -> None:
    assert refusal(JobRequest.START, S.OFFLINE) == "Printer is not operational"
    assert refusal(JobRequest.START, S.PAUSED) == "Printer already has an active print job, did you mean 'restart'?"
    assert refusal(JobRequest.START, S.OPERATIONAL) is None
    with pytest.raises(NotOperational, match="'cancel' command cannot be performed"):
        require(JobRequest.CANCEL, S.OPERATIONAL)


def test_each_refusal_text_is_written_once() -> None:
    texts = [message for checks in RULES.values() for _, message in checks]
    assert len(texts) == len(set(texts))
    assert set(RULES) == set(JobRequest)


@pytest.mark.parametrize("state", list(PrinterState))
def test_pause_and_host_actions_map_to_triggers_the_table_allows(state: PrinterState) -> None:
    for action in ("pause", "resume", "toggle"):
        trigger = pause_trigger(action, state)
        assert trigger is None or allowed(state, trigger)
    assert pause_trigger("toggle", S.PAUSED) is Trigger.RESUME
    assert pause_trigger("toggle", S.PRINTING) is Trigger.PAUSE
    assert pause_trigger("pause", S.PAUSED) is None  # pausing while paused: a no-op
    for name, trigger in (("pause", Trigger.PAUSE), ("resume", Trigger.RESUME), ("cancel", Trigger.CANCEL)):
        assert (host_action_trigger(name, state) is trigger) == allowed(state, trigger)
    assert host_action_trigger("reboot", state) is None


def test_job_progress_moves_are_legal_transitions() -> None:
    for state, (conditions, trigger) in JOB_PROGRESS.items():
        assert conditions, state
        assert (state, trigger) in TRANSITIONS
