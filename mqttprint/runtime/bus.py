"""A typed event bus: the printers' links publish, transports subscribe.

Callbacks run on the publisher's thread (the one I/O loop that services every printer, or an
emergency's caller), so they must not block — a blocking callback would stall every printer:
transports copy what they need and hand it to their own thread. A failing subscriber is logged
and never disturbs the publisher or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One event of one printer. `event` is a protocol event or a runtime event dataclass."""

    printer_id: str
    event: Any
    wall_time: float


Subscriber = Callable[[BusMessage], None]


class EventBus:
    """Thread-safe publish/subscribe with optional per-subscriber type filters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[tuple[Subscriber, Optional[tuple[type, ...]]], ...] = ()

    def subscribe(self, callback: Subscriber, types: Optional[tuple[type, ...]] = None) -> Callable[[], None]:
        """Call `callback` for every message (or only those whose event is one of `types`).
        Returns a function that unsubscribes."""
        entry = (callback, types)
        with self._lock:
            self._subscribers = self._subscribers + (entry,)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not entry)

        return unsubscribe

    def publish(self, message: BusMessage) -> None:
        """Deliver a message to every matching subscriber, in subscription order."""
        for callback, types in self._subscribers:  # the tuple is swapped, never mutated: no lock needed
            if types is not None and not isinstance(message.event, types):
                continue
            try:
                callback(message)
            except Exception:  # a subscriber's bug must not stop the serial thread
                log.exception("event subscriber %r failed on %s", callback, type(message.event).__name__)
