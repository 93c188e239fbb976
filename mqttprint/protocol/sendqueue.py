"""Send lanes, sent-line history and the in-flight window: the bookkeeping behind flow control.

Pure; no locks (only the serial thread touches an engine).

Lanes, highest priority first: resends (lines the firmware asked for again, with their
original numbers and bytes) > interactive (MQTT/REST commands, job scripts) > job (lines pulled
lazily from the job source) > poll (M105/M114 status polls, at most one of each kind queued).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Protocol

from mqttprint.protocol.events import Priority


class Flow(enum.Enum):
    """How many lines may be in flight."""

    PING_PONG = "ping-pong"  # one unacknowledged line, like OctoPrint and printcore
    WINDOW = "window"  # character counting against the firmware's receive buffer


class JobSource(Protocol):
    """Where job lines come from. `next_line()` returns the next command (comment-free,
    non-empty) or None at the end; it is called only when the line can be sent at once."""

    name: str

    def next_line(self) -> Optional[str]: ...


@dataclass(slots=True, eq=False)
class Command:
    """One command on its way to the printer (mutable bookkeeping, internal to the engine)."""

    command_id: int
    text: str
    priority: Priority
    code: str
    internal: bool = False
    tag: Optional[str] = None
    lines: list[str] = field(default_factory=list)
    error: str = ""
    sent_at: Optional[float] = None
    finished: bool = False


@dataclass(slots=True, eq=False)
class InFlight:
    """A line written and not yet acknowledged."""

    command: Command
    line_number: Optional[int]
    size: int


class History:
    """The last `size` numbered lines, kept with their exact bytes for resends."""

    def __init__(self, size: int) -> None:
        self._size = max(size, 8)
        self._lines: dict[int, tuple[bytes, Command]] = {}
        self._order: deque[int] = deque()

    def remember(self, line_number: int, data: bytes, command: Command) -> None:
        """Store a numbered line as written."""
        if line_number not in self._lines:
            self._order.append(line_number)
        self._lines[line_number] = (data, command)
        while len(self._order) > self._size:
            self._lines.pop(self._order.popleft(), None)

    def get(self, line_number: int) -> Optional[tuple[bytes, Command]]:
        """The bytes and command of a numbered line, or None when it fell out of the history."""
        return self._lines.get(line_number)

    def clear(self) -> None:
        """Forget everything (line numbers restart)."""
        self._lines.clear()
        self._order.clear()


class Lanes:
    """The queued (not yet written) commands of each priority, plus the resend queue."""

    def __init__(self) -> None:
        self.resends: deque[int] = deque()
        self.interactive: deque[Command] = deque()
        self.polls: deque[Command] = deque()
        self._poll_tags: set[str] = set()

    def add(self, command: Command) -> bool:
        """Queue a command; a poll whose tag is already queued is refused (returns False)."""
        if command.priority is Priority.POLL:
            if command.tag in self._poll_tags:
                return False
            if command.tag is not None:
                self._poll_tags.add(command.tag)
            self.polls.append(command)
        else:
            self.interactive.append(command)
        return True

    def poll_queued(self, tag: str) -> bool:
        """Whether a poll with this tag waits in the lane."""
        return tag in self._poll_tags

    def pop_interactive(self) -> Command:
        return self.interactive.popleft()

    def pop_poll(self) -> Command:
        command = self.polls.popleft()
        if command.tag is not None:
            self._poll_tags.discard(command.tag)
        return command

    def drain(self) -> list[Command]:
        """Remove and return every queued command (they will never be sent)."""
        dropped = list(self.interactive) + list(self.polls)
        self.interactive.clear()
        self.polls.clear()
        self._poll_tags.clear()
        self.resends.clear()
        return dropped

    def rewind(self, first: int, next_line: int) -> None:
        """Queue lines `first` .. `next_line - 1` for re-sending (a resend request), replacing any
        rewind still pending."""
        self.resends.clear()
        self.resends.extend(range(first, next_line))

    def drop_internal_interactive(self, tag: str) -> list[Command]:
        """Remove queued interactive commands carrying `tag` (e.g. a job's script lines)."""
        kept: deque[Command] = deque()
        dropped: list[Command] = []
        for command in self.interactive:
            (dropped if command.tag == tag else kept).append(command)
        self.interactive = kept
        return dropped


class Window:
    """Lines in flight, and whether another line of `size` bytes may be written now.

    Ping-pong allows one line. Window mode counts characters: the bytes of every
    unacknowledged line must fit the firmware's receive buffer minus one (Repetier-Host's
    rule; Marlin drops bytes that do not fit its 128-byte RX ring).
    """

    def __init__(self, flow: Flow, rx_buffer: int, max_lines: int = 32) -> None:
        self.flow = flow
        self.capacity = max(rx_buffer - 1, 16)
        self.max_lines = 1 if flow is Flow.PING_PONG else max_lines
        self.entries: deque[InFlight] = deque()
        self.bytes_in_flight = 0
        #: `ok`s still owed for error triples (`Error:` / `Resend:` / `ok`): they acknowledge no line
        self.error_oks = 0

    def can_send(self, size: int) -> bool:
        """Whether a line of `size` bytes may go out now."""
        if not self.entries:
            return True
        if len(self.entries) >= self.max_lines:
            return False
        return self.bytes_in_flight + size <= self.capacity

    def push(self, entry: InFlight) -> None:
        self.entries.append(entry)
        self.bytes_in_flight += entry.size

    def pop_oldest(self) -> Optional[InFlight]:
        if not self.entries:
            return None
        entry = self.entries.popleft()
        self.bytes_in_flight -= entry.size
        return entry

    def expect_error_ok(self) -> None:
        """An `Error:`/`Resend:` triple started: its `ok` acknowledges no line."""
        self.error_oks += 1

    def take_error_ok(self) -> bool:
        """If an `ok` is owed to an error triple, consume it and return True."""
        if self.error_oks <= 0:
            return False
        self.error_oks -= 1
        return True

    def forget_error_oks(self) -> None:
        """Stop waiting for error-triple `ok`s (the firmware does not send them, or it waits)."""
        self.error_oks = 0

    def remove_from(self, line_number: int) -> list[InFlight]:
        """Drop every numbered entry with a number >= `line_number` (lost to a resend request)."""
        kept: deque[InFlight] = deque()
        lost: list[InFlight] = []
        for entry in self.entries:
            if entry.line_number is not None and entry.line_number >= line_number:
                lost.append(entry)
            else:
                kept.append(entry)
        self.entries = kept
        self.bytes_in_flight = sum(e.size for e in kept)
        return lost

    def clear(self) -> list[InFlight]:
        """Forget everything in flight (reset, link loss); returns what was dropped."""
        dropped = list(self.entries)
        self.entries.clear()
        self.bytes_in_flight = 0
        self.error_oks = 0
        return dropped

    @property
    def oldest(self) -> Optional[InFlight]:
        return self.entries[0] if self.entries else None
