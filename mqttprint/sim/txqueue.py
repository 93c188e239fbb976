"""Firmware -> host byte stream with release times (models USB adapter latency).

A strict FIFO: a line can be delayed (``ok_latency``), and every line queued after it waits
behind it, exactly like bytes stuck in an FTDI chip until its latency timer fires.
"""

from __future__ import annotations

from collections import deque


class TxQueue:
    """Timed FIFO of output lines; `drain` hands out what has been released by `now`."""

    def __init__(self) -> None:
        self._items: deque[tuple[float, bytes]] = deque()
        self._last_release = float("-inf")

    def emit(self, line: str, release: float) -> None:
        """Queue one line (``\\n`` appended); it becomes readable at `release` or later."""
        release = max(release, self._last_release)
        self._last_release = release
        self._items.append((release, line.encode("latin-1") + b"\n"))

    def drain(self, now: float) -> bytes:
        """Remove and return every byte released at or before `now`."""
        out = bytearray()
        while self._items and self._items[0][0] <= now:
            out += self._items.popleft()[1]
        return bytes(out)

    def next_release(self, now: float) -> float | None:
        """Release time of the first line not yet readable at `now` (None if none)."""
        for release, _ in self._items:
            if release > now:
                return release
        return None

    def drop_unreleased(self, now: float) -> None:
        """Forget lines still "in the adapter" (MCU reset); already released bytes stay."""
        kept = deque(item for item in self._items if item[0] <= now)
        self._items = kept
        self._last_release = kept[-1][0] if kept else float("-inf")

    def __len__(self) -> int:
        return len(self._items)
