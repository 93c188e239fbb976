"""The running job's stream: its source, the line read ahead, lines in flight, scripts outstanding.

The engine asks it for the next line when the window has room, tells it when a job line or a
pause/resume/cancel script line finished, and reads `drained` / `scripts_done` / `at_end` to
advance the job states (the rules are in `states.JOB_PROGRESS`). Pure.
"""

from __future__ import annotations

from typing import Optional, Sequence

from mqttprint.protocol.sendqueue import JobSource


class JobStream:
    """One job's reading position and the counters that say when a job state may advance."""

    def __init__(self) -> None:
        self._source: Optional[JobSource] = None
        self._peek: Optional[str] = None
        self._exhausted = False
        self._in_flight = 0
        self._scripts_outstanding = 0
        self._after_drain: list[str] = []
        #: job lines written since the job started (progress, benchmarks)
        self.lines_sent = 0

    def start(self, source: JobSource) -> None:
        """Begin streaming `source` from its first line."""
        self._source, self._peek, self._exhausted = source, None, False
        self._in_flight = 0
        self.lines_sent = 0

    @property
    def source(self) -> Optional[JobSource]:
        """The job being streamed (or paused/cancelling), None when no job runs."""
        return self._source

    def peek(self) -> Optional[str]:
        """The next job line without taking it (None at the end). The source's errors propagate."""
        if self._source is None or self._exhausted:
            return None
        if self._peek is None:
            self._peek = self._source.next_line()
            if self._peek is None:
                self._exhausted = True
        return self._peek

    @property
    def peeked(self) -> Optional[str]:
        """The line `peek` read ahead and nobody took yet (None: none read ahead; reads nothing)."""
        return self._peek

    def take(self) -> str:
        """Take the peeked line: it is being written now."""
        text, self._peek = self._peek or "", None
        self._in_flight += 1
        self.lines_sent += 1
        return text

    def forget_peeked(self) -> None:
        """Drop the line read ahead (cancel: it must never be written)."""
        self._peek = None

    def line_finished(self) -> None:
        """A job line was acknowledged or failed."""
        self._in_flight -= 1

    def script_queued(self) -> None:
        """A pause/resume/cancel script line was queued."""
        self._scripts_outstanding += 1

    def script_finished(self) -> None:
        """A script line was acknowledged or failed."""
        self._scripts_outstanding -= 1

    def scripts_dropped(self) -> None:
        """Every queued script line was failed at once (reset, link loss)."""
        self._scripts_outstanding = 0

    def run_after_drain(self, script: Sequence[str]) -> None:
        """Keep `script` until the job's lines in flight are acknowledged (pause, cancel)."""
        self._after_drain = list(script)

    def take_after_drain(self) -> list[str]:
        """The script kept for after the drain (then forgotten)."""
        script, self._after_drain = self._after_drain, []
        return script

    @property
    def drained(self) -> bool:
        """No job line is in flight."""
        return self._in_flight <= 0

    @property
    def scripts_done(self) -> bool:
        """No script line is queued or in flight."""
        return self._scripts_outstanding <= 0

    @property
    def exhausted(self) -> bool:
        """The source said it has no more lines (or the job ended)."""
        return self._exhausted

    @property
    def at_end(self) -> bool:
        """Every line of the source has been written."""
        return self._exhausted and self._peek is None

    def end(self) -> Optional[str]:
        """Stop the job (done, cancelled or failed): returns its name, None when none ran."""
        if self._source is None:
            return None
        name = self._source.name
        self._source, self._peek, self._exhausted = None, None, True
        return name
