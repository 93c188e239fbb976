"""The connection handshake's bookkeeping: `M110 N0` retries, then `M115`'s capability lines.

Owns the hello attempt count, the retry deadline and the capabilities collected so far. The
engine writes the commands; this object only says when to greet again and what was learned. Pure.
"""

from __future__ import annotations

from typing import Iterable, Optional

from mqttprint.protocol.replies import Capability


class Handshake:
    """Hello retries and capability collection for one connection attempt."""

    def __init__(self, interval: float, max_attempts: int) -> None:
        self.interval = interval
        self.max_attempts = max_attempts
        self._attempts = 0
        self._deadline: Optional[float] = None
        self._capabilities: list[Capability] = []

    def restart(self) -> None:
        """A new connection (or a firmware reboot): no attempts yet, nothing learned."""
        self._attempts = 0
        self._capabilities = []

    def hello_sent(self, now: float) -> None:
        """`M110 N0` was queued: count the attempt and wait `interval` for its `ok`."""
        self._attempts += 1
        self._deadline = now + self.interval

    def hello_acknowledged(self) -> None:
        """The firmware answered the hello: stop the retry timer."""
        self._deadline = None

    def stop(self) -> None:
        """Give up waiting (link closed, fatal error)."""
        self._deadline = None

    @property
    def deadline(self) -> Optional[float]:
        """When the next hello retry is due, None when none is."""
        return self._deadline

    def retry_due(self, now: float) -> bool:
        """Whether the hello went unanswered for `interval`."""
        return self._deadline is not None and now >= self._deadline

    @property
    def exhausted(self) -> bool:
        """Whether every allowed hello was sent (the next timeout is fatal)."""
        return self._attempts >= self.max_attempts

    @property
    def attempts(self) -> int:
        """Hellos sent since the last restart."""
        return self._attempts

    def learn(self, capabilities: Iterable[Capability]) -> None:
        """Remember capability lines (`Cap:NAME:1`, in an M115 reply or an ok's firmware info)."""
        self._capabilities.extend(capabilities)

    @property
    def capabilities(self) -> tuple[Capability, ...]:
        """The capability lines collected, in arrival order."""
        return tuple(self._capabilities)

    def capability_map(self) -> dict[str, bool]:
        """Capability name -> enabled (the last line for a name wins)."""
        return {cap.name: cap.enabled for cap in self._capabilities}
