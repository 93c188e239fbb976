"""When an `ok` is overdue: the ok deadline, the post-resend ok deadline, consecutive timeouts.

Pure; the time is always passed in.
"""

from __future__ import annotations

from typing import Optional


class OkDeadlines:
    """The two `ok` deadlines and the count of timeouts in a row."""

    def __init__(self, ok_timeout: float, busy_ok_timeout: float, resend_ok_timeout: float) -> None:
        self.ok_timeout = ok_timeout
        self.busy_ok_timeout = busy_ok_timeout
        self.resend_ok_timeout = resend_ok_timeout
        self._ok: Optional[float] = None
        self._resend_ok: Optional[float] = None
        self._consecutive_timeouts = 0

    def arm(self, now: float, busy_protocol: bool) -> None:
        """Expect an `ok` within the timeout (shorter once the firmware sends busy keepalives)."""
        self._ok = now + (self.busy_ok_timeout if busy_protocol else self.ok_timeout)

    def disarm(self) -> None:
        """Nothing in flight waits for an `ok` any more."""
        self._ok = None

    def expect_resend_ok(self, now: float) -> None:
        """A `Resend:` arrived: its closing `ok` should follow shortly (not every firmware sends one)."""
        self._resend_ok = now + self.resend_ok_timeout

    def resend_ok_arrived(self) -> None:
        """Every `ok` owed for error triples arrived."""
        self._resend_ok = None

    def clear(self) -> None:
        """Forget both deadlines (everything in flight was failed)."""
        self._ok = self._resend_ok = None

    def reset(self) -> None:
        """A new link: no deadlines, no timeouts counted."""
        self.clear()
        self._consecutive_timeouts = 0

    def ok_overdue(self, now: float) -> bool:
        """Whether the ok deadline has passed."""
        return self._ok is not None and now >= self._ok

    def resend_ok_overdue(self, now: float) -> bool:
        """Whether the post-resend ok deadline has passed."""
        return self._resend_ok is not None and now >= self._resend_ok

    def ok_received(self) -> None:
        """Any `ok` proves the link alive: the count of timeouts in a row starts over."""
        self._consecutive_timeouts = 0

    def timed_out(self) -> int:
        """Count one more timeout in a row; returns the count."""
        self._consecutive_timeouts += 1
        return self._consecutive_timeouts

    @property
    def consecutive_timeouts(self) -> int:
        """Timeouts in a row since the last `ok`."""
        return self._consecutive_timeouts

    def pending(self) -> list[float]:
        """The deadlines that are armed (for the shell's select timeout)."""
        return [d for d in (self._ok, self._resend_ok) if d is not None]
