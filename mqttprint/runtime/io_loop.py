"""One I/O loop per process: a selector over every printer's port, the engines' deadlines as timeouts.

Every `SerialLink` registers here instead of owning a thread (Klipper drives its I/O from one
reactor the same way; the sans-I/O engine makes it possible). The loop thread waits in one
`epoll()` for any port to become readable (or writable, when a write was cut short by EAGAIN),
for the earliest deadline of any link, or for a wake-up (an intent or an emergency from another
thread); then it services exactly the links that have something to do. One link's failure (an
exception in its engine, a port error) is that link's: it is reset and reconnects, the others
carry on.

The loop needs nothing of a link but the `LoopClient` protocol below, so it knows no ports or
engines. Thread count: one loop thread however many printers (ports without a usable file
descriptor, such as `rfc2217://`, add a reader thread each: runtime/port_channels.py).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Any, Callable, Optional, Protocol

log = logging.getLogger(__name__)

#: Longest the loop sleeps with nothing due: how often it proves itself alive to the watchdog.
MAX_SLEEP = 0.5
_NEVER = float("inf")
_READ = select.POLLIN
_WRITE = select.POLLOUT
#: Hang-up and error count as readable: the link's read then finds out what happened.
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


class LoopClient(Protocol):
    """What the loop needs of a link. Every method runs on the loop thread."""

    name: str
    #: monotonic time at which the link wants `service()` even without I/O (inf: never)
    due: float
    #: set by other threads when the link has intents/emergencies to run (cleared by the loop)
    woken: bool
    #: the loop's bookkeeping: the iteration that last serviced the link
    serviced: int

    def service(self, now: float, readable: bool, writable: bool) -> None: ...
    def service_failed(self, exc: BaseException) -> None: ...


class IoLoop:
    """A poll-driven loop servicing many links from one thread."""

    def __init__(self, name: str = "mqttprint-io", clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()  # guards _clients and _thread
        self._clients: list[LoopClient] = []
        # epoll directly (not `selectors`): its Python-level wrapper is a measurable share of a
        # line's cost at 0 ms round trip. poll() where there is no epoll.
        self._epoll = getattr(select, "epoll", None)
        self._poller: Any = self._epoll() if self._epoll is not None else select.poll()
        self._fds: dict[int, LoopClient] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poller.register(self._wake_r, _READ)
        self._wake_pending = False
        self._thread: Optional[threading.Thread] = None
        self._next_due = 0.0
        self.alive_at = clock()
        self.iterations = 0

    # ------------------------------------------------------------------ membership
    def add(self, client: LoopClient) -> None:
        """Service `client` from now on (starts the loop thread if it is not running)."""
        with self._lock:
            if client not in self._clients:
                self._clients = self._clients + [client]
            if self._thread is None or not self._thread.is_alive():
                self.alive_at = self._clock()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._next_due = 0.0
        self.wake()

    def remove(self, client: LoopClient) -> None:
        """Stop servicing `client` (its fds must already be unwatched). The thread ends with the last."""
        with self._lock:
            self._clients = [c for c in self._clients if c is not client]
        self.wake()

    def clients(self) -> list[LoopClient]:
        return list(self._clients)

    def on_loop_thread(self) -> bool:
        """Whether the caller is the loop thread (an intent then runs inline instead of waiting on itself)."""
        return threading.current_thread() is self._thread

    def running(self, max_silence: float) -> bool:
        """Whether the loop thread is alive and completed an iteration within `max_silence` s."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._clock() - self.alive_at < max_silence

    @property
    def thread(self) -> Optional[threading.Thread]:
        return self._thread

    # ------------------------------------------------------------------ file descriptors (loop thread)
    def watch(self, fd: int, client: LoopClient, write: bool = False) -> None:
        """Poll `fd` for reading (and writing when `write`) on behalf of `client`."""
        mask = _READ | _WRITE if write else _READ
        if fd in self._fds:
            self._poller.modify(fd, mask)
        else:
            self._poller.register(fd, mask)
        self._fds[fd] = client

    def unwatch(self, fd: int) -> None:
        """Stop polling `fd` (before it is closed: a closed fd's number is reused)."""
        if self._fds.pop(fd, None) is not None:
            try:
                self._poller.unregister(fd)
            except (KeyError, OSError):
                pass

    # ------------------------------------------------------------------ wake-ups (any thread)
    def wake(self) -> None:
        """Make the loop look at woken links now (one byte in the wake pipe, at most one pending)."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:  # the pipe is full: the loop is being woken anyway
            pass

    def _drain_wake(self) -> None:
        drain_pipe(self._wake_r)
        # Cleared after reading: a wake() in between found it set and wrote nothing, but its link's
        # `woken` flag was set before, and the links are scanned after this.
        self._wake_pending = False

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._clients:
                    self._thread = None  # add() starts a new thread
                    return
            try:
                self._iterate()
            except Exception:  # a bug in the loop itself must not stop every printer: log, go on
                log.exception("I/O loop iteration failed")
                time.sleep(0.01)

    def _iterate(self) -> None:
        now = self._clock()
        self.alive_at = now
        self.iterations += 1
        stamp = self.iterations
        timeout = min(max(0.0, self._next_due - now), MAX_SLEEP)
        ready = self._poller.poll(timeout if self._epoll is not None else timeout * 1000)
        now = self._clock()
        fds = self._fds
        for fd, mask in ready:
            client = fds.get(fd)
            if client is None:
                if fd == self._wake_r:
                    self._drain_wake()
                continue
            client.serviced = stamp
            client.woken = False
            try:
                client.service(now, bool(mask & _READABLE), bool(mask & _WRITE))
            except Exception as exc:  # this printer's failure, not the others'
                self._failed(client, exc)
        next_due = _NEVER
        for client in self._clients:
            if client.serviced != stamp and (client.woken or client.due <= now):
                client.serviced = stamp
                client.woken = False
                try:
                    client.service(now, False, False)
                except Exception as exc:
                    self._failed(client, exc)
            if client.due < next_due:
                next_due = client.due
        self._next_due = next_due

    @staticmethod
    def _failed(client: LoopClient, exc: Exception) -> None:
        try:
            client.service_failed(exc)
        except Exception:
            log.exception("%s: recovering from a failure failed too", client.name)


def drain_pipe(fd: int) -> None:
    """Read a non-blocking wake-up pipe empty (the bytes carry no meaning, only the wake-up)."""
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


_shared: Optional[IoLoop] = None
_shared_lock = threading.Lock()


def shared_loop() -> IoLoop:
    """The process's I/O loop (created on first use; its thread runs while any link is registered)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = IoLoop()
        return _shared
