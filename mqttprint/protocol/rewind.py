"""Resend requests: when to rewind the stream, which requests are stale, when a loop is fatal.

Marlin answers every bad line with `Error:` + `Resend: <n>` + `ok` and flushes its receive
buffer, so each line already in flight behind the bad one arrives out of sequence and produces
its own triple asking for the same number. The tracker rewinds once and recognises those stale
duplicates (line-number errors for the current rewind target while lines sent before the rewind
are still unaccounted for). Pure; owns only its counters, the engine applies the decision.
"""

from __future__ import annotations

import enum
from typing import Iterable, Optional

from mqttprint.protocol.replies import ErrorKind


class ResendDecision(enum.Enum):
    """What to do about one `Resend:` request."""

    AHEAD = "ahead"  # asks for a line not sent yet: the firmware has everything we sent
    STALE = "stale"  # a duplicate caused by the lines in flight behind the bad one
    STUCK = "stuck"  # the same line asked for too often in a row: communication is stuck
    LOST = "lost"  # the line fell out of the resend history
    REWIND = "rewind"  # re-send from that line on


class ResendTracker:
    """The rewind target, the stale-request budget and the same-line counter."""

    def __init__(self, max_same_line: int) -> None:
        self.max_same_line = max_same_line
        self._last_comm_error: Optional[ErrorKind] = None
        self._rewind_target: Optional[int] = None
        self._stale_budget = 0
        self._last_request: Optional[int] = None
        self._same_count = 0

    def reset(self) -> None:
        """Forget everything (new connection, firmware reset)."""
        self._last_comm_error = None
        self._rewind_target, self._stale_budget = None, 0
        self._last_request, self._same_count = None, 0

    def communication_error(self, kind: ErrorKind) -> None:
        """An `Error:` line about the link (checksum, line number) announces the next resend."""
        self._last_comm_error = kind

    def decide(self, number: int, next_line: int, in_history: bool) -> ResendDecision:
        """Classify a request for line `number` (`next_line` is the next number to be assigned)."""
        comm_error, self._last_comm_error = self._last_comm_error, None
        if number >= next_line:
            return ResendDecision.AHEAD
        if comm_error is ErrorKind.LINE_NUMBER and number == self._rewind_target and self._stale_budget > 0:
            self._stale_budget -= 1
            return ResendDecision.STALE
        if number == self._last_request:
            self._same_count += 1
        else:
            self._last_request, self._same_count = number, 1
        if self._same_count > self.max_same_line:
            return ResendDecision.STUCK
        if not in_history:
            return ResendDecision.LOST
        return ResendDecision.REWIND

    def rewound(self, number: int, lost_line_numbers: Iterable[Optional[int]]) -> None:
        """The stream was rewound to `number`; `lost_line_numbers` were in flight at that moment.

        Every lost line after the requested one will produce one stale request of its own.
        """
        self._stale_budget = sum(1 for n in lost_line_numbers if n is not None and n > number)
        self._rewind_target = number

    def acknowledged(self, line_number: int) -> None:
        """The `ok` for numbered line `line_number` arrived."""
        if line_number == self._rewind_target:
            self._rewind_target, self._stale_budget = None, 0
        if self._last_request is not None and line_number >= self._last_request:
            self._same_count = 0

    @property
    def rewind_target(self) -> Optional[int]:
        """The line the stream was last rewound to, until its `ok` arrives."""
        return self._rewind_target

    @property
    def stale_budget(self) -> int:
        """How many stale duplicate requests are still expected."""
        return self._stale_budget
