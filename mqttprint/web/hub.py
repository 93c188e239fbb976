"""Server push for the dashboard: Server-Sent Events over the REST server, fed by the event bus.

Why SSE and how it stays bounded. Waitress serves every request on one thread of a fixed pool,
and an SSE response keeps its thread for as long as the page is open. So:

* the server gives streams their own threads (`rest.threads` + `rest.max_streams`, see
  rest/server.py) and this hub hands out at most `max_streams` stream slots; a page that gets no
  slot is answered 503 at once and polls `GET /web/api/state` instead. The REST API's own
  `rest.threads` are therefore never taken by pages, however many are open.
* the bus callback runs on a printer's serial thread: it only bumps a counter and wakes the
  streams (no JSON, no I/O), and ignores the per-line chatter of a print (LineSent, ok's), so
  open pages cannot slow a print.
* each stream sends at most one burst per `min_interval` for temperature and position reports
  (state changes, emergencies and job events go out at once, so they are on the page within
  milliseconds), re-reads the state once
  a second (progress, print time) and sends only what changed; a heartbeat every
  `heartbeat` seconds finds closed pages so their slots come back.
* printer events (EmergencySent, StateChanged, job events, ...) and terminal lines are kept in
  bounded rings; a stream that falls behind skips old entries, memory stays fixed.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional

from mqttprint.protocol.events import (
    BusyReported,
    CommandFinished,
    LineReceived,
    LineSent,
    PositionUpdate,
    ResendRequested,
    TemperatureUpdate,
)
from mqttprint.rest.shapes import json_text
from mqttprint.runtime.bus import BusMessage, EventBus

log = logging.getLogger(__name__)

#: Events that change nothing a page shows (a print produces thousands per minute).
QUIET_EVENTS: tuple[type, ...] = (LineSent, LineReceived, CommandFinished, BusyReported, ResendRequested)
#: Events whose effect the state frame already carries (not repeated as printer-event messages).
STATE_ONLY_EVENTS: tuple[type, ...] = (TemperatureUpdate, PositionUpdate)
EVENT_RING = 200
TERMINAL_RING = 500
#: Fields of an event worth showing on the page (strings and numbers only).
EVENT_FIELDS = ("command", "error", "text", "reason", "name", "outcome", "action")

FrameBuilder = Callable[[str], dict[str, Any]]


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Events message (`data` as one line of JSON)."""
    return f"event: {event}\ndata: {json_text(data)}\n\n".encode("utf-8")


def _event_payload(message: BusMessage) -> dict[str, Any]:
    event = message.event
    payload: dict[str, Any] = {"printer": message.printer_id, "type": type(event).__name__, "ts": message.wall_time}
    for name in EVENT_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            payload[name] = value
        elif value is not None and hasattr(value, "value"):  # enums (JobOutcome, PrinterState)
            payload[name] = str(value.value)
    new = getattr(event, "new", None)
    if new is not None:
        payload["state"] = getattr(new, "text", str(new))
    return payload


class PushHub:
    """Bounded fan-out of printer state to dashboard pages."""

    def __init__(self, printer_ids: Iterable[str], build_frame: FrameBuilder, max_streams: int, *,
                 min_interval: float = 0.1, refresh: float = 1.0, heartbeat: float = 5.0) -> None:
        self.printer_ids = tuple(printer_ids)
        self.max_streams = max_streams
        self._build_frame = build_frame
        self.min_interval = min_interval
        self.refresh = refresh
        self.heartbeat = heartbeat
        self._changed = threading.Condition()
        self._generation = 0
        self._urgent = 0  # bumped by events people wait for (state, emergency, job): never throttled
        self._closed = threading.Event()
        self._slots = threading.BoundedSemaphore(max_streams) if max_streams > 0 else None
        self._open = 0
        # (seq, payload) rings; seq grows forever, so a stream knows what it has not sent yet.
        self._events: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=EVENT_RING)
        self._event_seq = 0
        self._terminal: dict[str, collections.deque[tuple[int, dict[str, Any]]]] = {
            pid: collections.deque(maxlen=TERMINAL_RING) for pid in self.printer_ids}
        self._terminal_seq = 0
        self._terminal_watchers: dict[str, int] = {pid: 0 for pid in self.printer_ids}
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._frames: dict[str, tuple[int, float, str]] = {}  # printer id -> (generation, built at, text)

    # ------------------------------------------------------------------ bus side (serial threads)
    def attach(self, bus: EventBus) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = bus.subscribe(self.on_message)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_message(self, message: BusMessage) -> None:
        """Bus callback: cheap bookkeeping and a wake-up; never blocks on a page."""
        event = message.event
        if isinstance(event, (LineSent, LineReceived)):
            if self._terminal_watchers.get(message.printer_id):
                self._record_terminal(message)
            return
        if isinstance(event, QUIET_EVENTS):
            return
        with self._changed:
            if not isinstance(event, STATE_ONLY_EVENTS):
                self._event_seq += 1
                self._events.append((self._event_seq, _event_payload(message)))
                self._urgent += 1
            self._generation += 1
            self._changed.notify_all()

    def _record_terminal(self, message: BusMessage) -> None:
        event = message.event
        line = {"dir": "send" if isinstance(event, LineSent) else "recv", "text": event.text}
        with self._changed:
            self._terminal_seq += 1
            self._terminal[message.printer_id].append((self._terminal_seq, line))
            self._generation += 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ page side (HTTP threads)
    def state(self) -> dict[str, Any]:
        """Every printer's frame now (the polling fallback and the first message of a stream)."""
        return {"printers": [self._build_frame(pid) for pid in self.printer_ids]}

    def frame_text(self, printer_id: str) -> str:
        """A printer's frame as JSON text, built once for all streams woken by the same change
        (and at most every `refresh / 2` seconds while nothing is published, for progress)."""
        with self._changed:
            generation = self._generation
            cached = self._frames.get(printer_id)
        now = time.monotonic()
        if cached is not None and cached[0] == generation and now - cached[1] < self.refresh / 2:
            return cached[2]
        text = json_text(self._build_frame(printer_id))
        with self._changed:
            self._frames[printer_id] = (generation, now, text)
        return text

    @property
    def open_streams(self) -> int:
        return self._open

    def open_stream(self, terminal_for: Optional[str] = None) -> Optional["Stream"]:
        """A stream for one page, or None when every slot is taken (or the hub is closed)."""
        if self._closed.is_set():
            return None
        if self._slots is None or not self._slots.acquire(blocking=False):
            return None
        if terminal_for not in self._terminal_watchers:
            terminal_for = None
        with self._changed:
            self._open += 1
            if terminal_for is not None:
                self._terminal_watchers[terminal_for] += 1
        return Stream(self, terminal_for)

    def _release(self, terminal_for: Optional[str]) -> None:
        with self._changed:
            self._open -= 1
            if terminal_for is not None:
                self._terminal_watchers[terminal_for] -= 1
        assert self._slots is not None
        self._slots.release()

    def close(self) -> None:
        """Server stopping: end every stream (their threads return to waitress at once)."""
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        self.detach()

    def _wait(self, seen: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen or self._closed.is_set(), timeout)
            return self._generation

    def _pause(self, urgent_seen: int, timeout: float) -> None:
        """The throttle after a burst: ends early for an urgent event (or when closing)."""
        with self._changed:
            self._changed.wait_for(lambda: self._urgent != urgent_seen or self._closed.is_set(), timeout)

    def _events_after(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        with self._changed:
            items = [payload for number, payload in self._events if number > seq]
            return self._event_seq, items

    def _terminal_after(self, printer_id: str, seq: int) -> tuple[int, list[dict[str, Any]]]:
        with self._changed:
            items = [line for number, line in self._terminal[printer_id] if number > seq]
            return self._terminal_seq, items


class Stream:
    """One page's SSE body: a WSGI iterable whose `close()` (always called by the server, also
    when the page went away) gives the slot back."""

    def __init__(self, hub: PushHub, terminal_for: Optional[str]) -> None:
        self._hub = hub
        self._terminal_for = terminal_for
        self._released = False
        self._lock = threading.Lock()
        self._body = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._body)

    def close(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._body.close()
        self._hub._release(self._terminal_for)

    def _generate(self) -> Iterator[bytes]:
        hub = self._hub
        with hub._changed:
            generation, event_seq, terminal_seq = hub._generation, hub._event_seq, hub._terminal_seq
        sent: dict[str, str] = {}
        # `retry`: the browser's reconnect delay; the first message is the whole state.
        chunks = [b"retry: 1000\n\n", sse("hello", {"printers": list(hub.printer_ids), "terminal": self._terminal_for})]
        last_write = last_read = 0.0
        while not hub._closed.is_set():
            now = time.monotonic()
            urgent = hub._urgent
            chunks.extend(self._changed_frames(sent))
            last_read = now
            event_seq, events = hub._events_after(event_seq)
            chunks.extend(sse("printer-event", payload) for payload in events)
            if self._terminal_for is not None:
                terminal_seq, lines = hub._terminal_after(self._terminal_for, terminal_seq)
                if lines:
                    chunks.append(sse("terminal", {"printer": self._terminal_for, "lines": lines}))
            if not chunks and now - last_write >= hub.heartbeat:
                chunks.append(b": ping\n\n")  # finds pages that went away
            if chunks:
                yield b"".join(chunks)
                chunks = []
                last_write = now
                # At most one burst per min_interval, however busy the printers are; a state
                # change or an emergency is not held back by it.
                hub._pause(urgent, hub.min_interval)
            timeout = max(0.0, min(hub.refresh - (time.monotonic() - last_read), hub.heartbeat))
            generation = hub._wait(generation, timeout)

    def _changed_frames(self, sent: dict[str, str]) -> list[bytes]:
        out = []
        for pid in self._hub.printer_ids:
            try:
                text = self._hub.frame_text(pid)
            except Exception:  # one broken frame must not end the page's stream
                log.exception("%s: building the dashboard frame failed", pid)
                continue
            if sent.get(pid) != text:
                sent[pid] = text
                out.append(f"event: printer\ndata: {text}\n\n".encode("utf-8"))
        return out
