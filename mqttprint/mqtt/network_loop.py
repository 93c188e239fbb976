"""One network thread for every MQTT connection of the gateway, over paho's external-loop API.

paho's `loop_start()` gives each client a thread of its own. The gateway keeps one connection per
printer (each carries its printer's last will) plus its own, so that was a thread per printer. Here
one thread polls every connection's socket and drives paho through `loop_read`, `loop_write` and
`loop_misc` (keepalive, once a second). Opening a connection blocks (DNS, TCP connect, TLS
handshake, up to paho's connect timeout), so each connect runs on a short-lived thread of its own:
a broker slow to accept never stalls the traffic of the connections that are up, nor another
connection's connect. Once connected, the gateway holds one network thread however many
connections it has. Reconnects back off from
`reconnect_min` to `reconnect_max` seconds, doubling, and start again from the minimum once the
broker accepted the connection.

This module does not import paho: a connection is anything with the `Connection` methods
(`mqtt.client.MqttClient` is the one the gateway uses).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, Protocol

from mqttprint.runtime.io_loop import drain_pipe

log = logging.getLogger(__name__)

#: keepalive and back-off bookkeeping happen at least this often (seconds)
MISC_INTERVAL = 1.0
POLL_IN = select.POLLIN | select.POLLPRI
POLL_TROUBLE = select.POLLERR | select.POLLHUP | select.POLLNVAL


class Connection(Protocol):
    """What the loop needs of one MQTT connection (methods are called on the loop's threads)."""

    name: str

    def io_fileno(self) -> Optional[int]:
        """The socket's descriptor, or None while there is no socket."""

    def io_wants_write(self) -> bool:
        """Whether bytes wait to be written."""

    def io_pending(self) -> bool:
        """Whether bytes were already read off the socket but not processed (TLS records)."""

    def io_read(self) -> None:
        """Read and handle what arrived (callbacks run here)."""

    def io_write(self) -> None:
        """Write what waits."""

    def io_misc(self) -> None:
        """Keepalive: ping when idle, drop a connection whose broker stopped answering."""

    def io_connect(self) -> None:
        """Open the socket and queue the CONNECT (blocking; raises OSError/ValueError on failure)."""

    def io_disconnect(self) -> None:
        """Queue a DISCONNECT (the connection then closes without its last will)."""


@dataclass(eq=False)
class _Entry:
    connection: Connection
    wanted: bool = True
    connecting: bool = False
    #: monotonic time of the next connect attempt; None while a socket is open
    next_attempt: Optional[float] = 0.0
    delay: float = 0.0
    failures: int = 0
    gone: threading.Event = field(default_factory=threading.Event)
    #: the descriptor and event mask registered with the poller (network thread only)
    fd: Optional[int] = None
    mask: int = 0
    #: a DISCONNECT was queued for it (network thread only)
    disconnecting: bool = False


class NetworkLoop:
    """The network thread shared by every connection added to it (plus a short-lived thread per
    connect under way).

    Thread-safe: `add`, `remove`, `wake` and `accepted` may be called from any thread, the
    connections' callbacks included. Those callbacks run on the network thread and must not block.
    """

    def __init__(self, name: str = "mqtt-network", reconnect_min: float = 1.0, reconnect_max: float = 30.0) -> None:
        self.name = name
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        #: connections to look at again (they queued bytes, connected, were added or removed)
        self._dirty: set[_Entry] = set()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # The network thread's own state: one poller kept across iterations (a wake-up looks at
        # the connections that changed, not at all of them), the connections without a socket,
        # and those whose TLS layer holds bytes already read.
        self._poller = select.poll()
        self._poller.register(self._wake_r, POLL_IN)
        self._by_fd: dict[int, _Entry] = {}
        self._closed_entries: set[_Entry] = set()
        self._pending: set[_Entry] = set()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ any thread
    def add(self, connection: Connection) -> None:
        """Serve `connection`: connect at once, keep it connected until `remove()`."""
        with self._lock:
            entry = _Entry(connection, delay=self.reconnect_min)
            self._entries[id(connection)] = entry
            self._dirty.add(entry)
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self.wake()

    def remove(self, connection: Connection, timeout: float = 2.0) -> None:
        """Disconnect `connection` cleanly (a DISCONNECT, so no last will) and forget it. Waits up
        to `timeout` for its socket to close, except on the network thread itself (a callback that
        drops another connection), where the loop finishes the job after the callback returns."""
        with self._lock:
            entry = self._entries.get(id(connection))
            if entry is None:
                return
            entry.wanted = False
            self._dirty.add(entry)
        self.wake()
        if threading.current_thread() is self._thread:
            return
        if not entry.gone.wait(timeout):
            log.debug("%s: socket still open after %g s; forgetting it", connection.name, timeout)
            with self._lock:
                if self._entries.get(id(connection)) is entry:
                    del self._entries[id(connection)]

    def accepted(self, connection: Connection) -> None:
        """The broker accepted the connection: the next reconnect starts from the shortest wait."""
        with self._lock:
            entry = self._entries.get(id(connection))
            if entry is not None:
                entry.delay = self.reconnect_min
                entry.failures = 0

    def wake(self, connection: Optional[Connection] = None) -> None:
        """Make the network thread look again, at `connection` in particular (it queued bytes to
        write, it is being removed)."""
        if connection is not None:
            with self._lock:
                entry = self._entries.get(id(connection))
                if entry is not None:
                    self._dirty.add(entry)
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the thread is about to wake anyway

    def alive(self) -> bool:
        """Whether the network thread runs (or nothing was added yet)."""
        if self._thread is None:
            return not self._stopping
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """End the network thread (connections should have been removed first)."""
        with self._lock:
            self._stopping = True
        self.wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ------------------------------------------------------------------ the network thread
    def _run(self) -> None:
        next_misc = time.monotonic() + MISC_INTERVAL
        while not self._stopping:
            try:
                next_misc = self._cycle(next_misc)
            except Exception:  # thread boundary: one connection's bug must not end every connection
                log.exception("MQTT network loop iteration failed")
                time.sleep(0.05)

    def _cycle(self, next_misc: float) -> float:
        now = time.monotonic()
        full = now >= next_misc
        with self._lock:
            look = list(self._entries.values()) if full else list(self._dirty)
            self._dirty.clear()
        for entry in look:
            self._examine(entry)
        if full:  # keepalive for every connection, and a look at all of them (a missed change costs 1 s)
            for entry in look:
                if entry.fd is not None:
                    self._guard(entry, entry.connection.io_misc)
                    self._examine(entry)
            next_misc = now + MISC_INTERVAL
        wake_at = next_misc
        for entry in list(self._closed_entries):
            wake_at = min(wake_at, self._closed(entry, now))
        timeout_ms = 0 if self._pending else max(0, int((wake_at - now) * 1000) + 1)
        ready = self._poller.poll(timeout_ms)
        served: set[_Entry] = set()
        for fd, mask in ready:
            if fd == self._wake_r:
                drain_pipe(self._wake_r)
                continue
            entry = self._by_fd.get(fd)
            if entry is not None and entry not in served:
                served.add(entry)
                self._serve(entry, mask)
        for entry in self._pending - served:  # TLS bytes already read off the socket
            served.add(entry)
            self._serve(entry, select.POLLIN)
        self._pending.clear()
        for entry in served:
            self._examine(entry)
            if entry.fd is not None and entry.connection.io_pending():
                self._pending.add(entry)
        return next_misc

    def _examine(self, entry: _Entry) -> None:
        """Bring the poller in line with `entry`'s socket: registered, with write interest when
        bytes wait; unregistered once paho closed it."""
        if entry.connecting:
            return
        fd = entry.connection.io_fileno()
        if fd is not None and fd < 0:
            fd = None
        if fd != entry.fd:
            self._forget_fd(entry)
            if fd is not None:
                holder = self._by_fd.get(fd)
                if holder is not None:  # the kernel reused a closed socket's number
                    self._forget_fd(holder)
                    self._closed_entries.add(holder)
                mask = POLL_IN | (select.POLLOUT if entry.connection.io_wants_write() else 0)
                self._poller.register(fd, mask)
                self._by_fd[fd] = entry
                entry.fd, entry.mask, entry.next_attempt = fd, mask, None
                self._closed_entries.discard(entry)
        if entry.fd is None:
            self._closed_entries.add(entry)
            return
        if not entry.wanted and not entry.disconnecting:
            entry.disconnecting = True
            self._guard(entry, entry.connection.io_disconnect)  # queues DISCONNECT; paho closes once written
        mask = POLL_IN | (select.POLLOUT if entry.connection.io_wants_write() else 0)
        if mask != entry.mask:
            self._poller.modify(entry.fd, mask)
            entry.mask = mask

    def _forget_fd(self, entry: _Entry) -> None:
        if entry.fd is not None and self._by_fd.get(entry.fd) is entry:
            del self._by_fd[entry.fd]
            try:
                self._poller.unregister(entry.fd)
            except KeyError:
                pass
        entry.fd, entry.mask = None, 0

    def _serve(self, entry: _Entry, mask: int) -> None:
        connection = entry.connection
        if mask & (POLL_IN | POLL_TROUBLE):
            self._guard(entry, connection.io_read)
        if mask & select.POLLOUT and connection.io_fileno() is not None:
            self._guard(entry, connection.io_write)

    def _guard(self, entry: _Entry, step: object) -> None:
        try:
            step()  # type: ignore[operator]
        except Exception:  # one connection's failure (a callback bug paho re-raised) stays its own
            log.exception("%s: MQTT network step failed", entry.connection.name)

    def _closed(self, entry: _Entry, now: float) -> float:
        """A connection without a socket: done when unwanted, else its next connect. Returns when
        the loop must look again."""
        if entry.connecting:
            return now + MISC_INTERVAL
        if not entry.wanted:
            self._closed_entries.discard(entry)
            with self._lock:
                if self._entries.get(id(entry.connection)) is entry:
                    del self._entries[id(entry.connection)]
            entry.gone.set()
            return now + MISC_INTERVAL
        if entry.next_attempt is None:  # the socket just closed: wait before trying again
            entry.next_attempt = now + entry.delay
            entry.delay = min(entry.delay * 2, self.reconnect_max)
        if entry.next_attempt <= now:
            with self._lock:
                if not entry.wanted or entry.connecting or self._stopping:
                    return now + MISC_INTERVAL
                entry.connecting = True
            threading.Thread(target=self._connect, args=(entry,), name=f"{self.name}-connect", daemon=True).start()
            return now + MISC_INTERVAL
        return entry.next_attempt

    # ------------------------------------------------------------------ a connect's own thread
    def _connect(self, entry: _Entry) -> None:
        failure: Optional[BaseException] = None
        try:
            entry.connection.io_connect()
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS: try again later
            failure = exc
        except Exception as exc:  # thread boundary: a bug in one connect is logged and retried
            log.exception("%s: MQTT connect failed", entry.connection.name)
            failure = exc
        with self._lock:
            entry.connecting = False
            if failure is None:
                entry.next_attempt = None
            self._dirty.add(entry)
        self.wake()  # the new socket (or the next attempt's time) is the loop's to watch now
        if failure is None:
            return
        with self._lock:
            entry.failures += 1
            entry.next_attempt = time.monotonic() + entry.delay
            wait = entry.delay
            entry.delay = min(entry.delay * 2, self.reconnect_max)
        # The first failure in a row is worth a journal line; the retries every few seconds are not.
        level = logging.WARNING if entry.failures == 1 else logging.DEBUG
        log.log(level, "%s: cannot reach the MQTT broker (%s); retrying in %g s (then up to %g s apart)",
                entry.connection.name, failure, wait, self.reconnect_max)
