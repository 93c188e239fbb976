"""Shared test helpers: the one place for waiting, job sources, bus recording and simulator holds.

Submodules: `tests.helpers.broker` (a private mosquitto on a free port), `tests.helpers.mqtt`
(a recording paho client and a running gateway), `tests.helpers.rest` (a gateway behind real
HTTP and a small client). Nothing here sleeps hoping a job still runs: tests that need a job
"in the middle" stall it at a known line count with `hold_output` (the simulator keeps its
``ok``s back) and let it go with `release_output`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Optional, Protocol

from mqttprint.runtime.bus import BusMessage, EventBus

#: How long a wait may take before the test fails. Generous on purpose: a loaded 2-core CI
#: machine can be many times slower than a developer's laptop, and a passing wait returns early.
DEFAULT_TIMEOUT = 15.0


def wait_for(predicate: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = "condition", *,
             interval: float = 0.005) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port nobody listens on right now (every test server takes one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    """Collects every message published on an `EventBus`."""

    def __init__(self, bus: EventBus) -> None:
        self.messages: list[BusMessage] = []
        self._lock = threading.Lock()
        bus.subscribe(self._add)

    def _add(self, message: BusMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def events(self, kind: type) -> list:
        """The recorded events of one type, in order."""
        with self._lock:
            return [m.event for m in self.messages if isinstance(m.event, kind)]


class ListJob:
    """A job source over a list of lines (what the engine and the printer service stream)."""

    def __init__(self, lines: list[str], name: str = "test.gcode") -> None:
        self.name = name
        self._lines = list(lines)
        self._next = 0

    def next_line(self) -> Optional[str]:
        if self._next >= len(self._lines):
            return None
        self._next += 1
        return self._lines[self._next - 1]


def moves(count: int, feed: int = 9000) -> list[str]:
    """`count` unique G1 lines (E grows), as the simulator normalises them: a duplicate or a gap
    shows in its `executed` log."""
    return [f"G1 X{(i % 180) + 0.25:.2f} Y{(i * 13) % 180:.2f} E{i * 0.02:.3f} F{feed}" for i in range(count)]


class HoldableSimulator(Protocol):
    """`SimulatedPort` (sim://) and `PtySimulator` both offer these test-bench controls."""

    def hold_output(self, after_lines: int = 0) -> None: ...

    def release_output(self) -> None: ...

    @property
    def output_held(self) -> bool: ...


def wait_held(simulator: HoldableSimulator, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until an armed `hold_output` has taken effect (its line count was reached)."""
    wait_for(lambda: simulator.output_held, timeout, "the simulator to reach its hold")


def stall_after(simulator: HoldableSimulator, lines: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Let the simulator receive `lines` more lines, then keep its output (every ``ok``) back until
    `simulator.release_output()`: a streaming job stops at that point however fast the host is.
    Returns once the hold has taken effect (so call it while something streams; otherwise arm
    with `simulator.hold_output(after_lines=...)`, start the job, then `wait_held`)."""
    simulator.hold_output(after_lines=lines)
    wait_held(simulator, timeout)
