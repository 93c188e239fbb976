"""The job's moves: start, pause, resume, cancel, and the automatic moves of `states.JOB_PROGRESS`.

Functions over the engine as `core.EngineCore` sees it: the job's lines and counters are the
`JobStream`'s, the states and their rules the transition table's; this module only sequences
them (queue the pause script once the lines in flight are drained, end the job once the cancel
script is acknowledged, ...). Pure.
"""

from __future__ import annotations

from typing import Sequence

from mqttprint.protocol import gcode
from mqttprint.protocol.core import EngineCore
from mqttprint.protocol.errors import NotOperational
from mqttprint.protocol.events import JobEnded, JobOutcome, JobPaused, JobResumed, JobStarted
from mqttprint.protocol.jobstream import JobStream
from mqttprint.protocol.sendqueue import JobSource
from mqttprint.protocol.states import (
    AFTER_DRAIN_SCRIPT_STATES,
    JOB_PROGRESS,
    JobCondition,
    PrinterState,
    Trigger,
    allowed,
)

#: Tag of commands that belong to the running job (pause/resume/cancel scripts).
JOB_SCRIPT_TAG = "job-script"
C = JobCondition


def start(core: EngineCore, source: JobSource, now: float) -> None:
    """Start streaming `source` (state Starting, then Printing once the first line is out)."""
    if core.state is not PrinterState.OPERATIONAL:
        raise NotOperational(f"cannot start a job while {core.state.text}")
    core.stream.start(source)
    core.transition(Trigger.START_JOB, now)
    core.emit(JobStarted(source.name))


def pause(core: EngineCore, now: float, script: Sequence[str]) -> None:
    """Stop feeding job lines; once the job's lines in flight are acknowledged, run `script`."""
    _require(core, Trigger.PAUSE, "pause")
    core.transition(Trigger.PAUSE, now)
    core.stream.run_after_drain(script)
    advance(core, now)


def resume(core: EngineCore, now: float, script: Sequence[str]) -> None:
    """Run `script`, then continue the job from the exact next line."""
    _require(core, Trigger.RESUME, "resume")
    core.transition(Trigger.RESUME, now)
    queue_script(core, script)
    advance(core, now)


def cancel(core: EngineCore, now: float, script: Sequence[str]) -> None:
    """Stop feeding and drop the job's pending lines; then run `script` and end the job."""
    _require(core, Trigger.CANCEL, "cancel")
    core.transition(Trigger.CANCEL, now)
    core.stream.forget_peeked()
    for command in core.lanes.drop_internal_interactive(JOB_SCRIPT_TAG):
        core.finish(command, False, "job cancelled", now)
    core.stream.run_after_drain(script)
    advance(core, now)


def _require(core: EngineCore, trigger: Trigger, verb: str) -> None:
    if not allowed(core.state, trigger):
        raise NotOperational(f"cannot {verb} while {core.state.text}")


def queue_script(core: EngineCore, script: Sequence[str]) -> None:
    """Queue a job script's lines (comment-only lines skipped); the job waits for them."""
    for line in script:
        text = gcode.validate_command(line)
        if text:
            core.stream.script_queued()
            core.queue_internal(text, JOB_SCRIPT_TAG)


def end(core: EngineCore, outcome: JobOutcome, reason: str) -> None:
    """End a running job without sending any more of it (failure, link loss, emergency)."""
    name = core.stream.end()
    if name is not None:
        core.emit(JobEnded(name, outcome, reason, core.stream.lines_sent))


def advance(core: EngineCore, now: float) -> None:
    """Take the job's automatic moves (`states.JOB_PROGRESS`) whose conditions now hold.

    Called after every acknowledged job line, so it does no more than a table look-up and the
    conditions' checks while nothing moves.
    """
    stream = core.stream
    step = JOB_PROGRESS.get(core.state)
    if step is None or stream.source is None:
        return
    if core.state in AFTER_DRAIN_SCRIPT_STATES and stream.drained:
        queue_script(core, stream.take_after_drain())
    conditions, trigger = step
    for condition in conditions:
        if not _holds(stream, condition):
            return
    name = stream.source.name
    core.transition(trigger, now)
    if trigger is Trigger.JOB_EOF:
        advance(core, now)  # Finishing may already be drained
    elif trigger is Trigger.PAUSE_DONE:
        core.emit(JobPaused(name))
    elif trigger is Trigger.RESUME_DONE:
        core.emit(JobResumed(name))
    else:
        outcome, reason = (JobOutcome.CANCELLED, "cancelled") if trigger is Trigger.CANCEL_DONE else (JobOutcome.DONE, "")
        stream.end()
        core.emit(JobEnded(name, outcome, reason, stream.lines_sent))


def _holds(stream: JobStream, condition: JobCondition) -> bool:
    if condition is C.SOURCE_DONE:
        return stream.at_end
    if condition is C.LINES_DRAINED:
        return stream.drained
    return stream.scripts_done
