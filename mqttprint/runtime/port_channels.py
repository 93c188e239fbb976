"""How the I/O loop reaches one open port: a selectable fd, non-blocking reads and writes.

Three kinds, picked by `serial_link.channel_for()`:
* `FdChannel`: a local tty or pty opened by pyserial (which configured it and left the fd
  non-blocking). The loop selects and reads/writes the fd itself: one system call per read or
  write, none of pyserial's per-call timeout bookkeeping.
* `PortChannel`: a port object that offers a selectable `fileno()` signalling "data waiting" but
  does its own I/O (the in-process `sim://` simulator: a pipe it writes a byte to).
* `ThreadedChannel`: any other pyserial URL (`rfc2217://`, `socket://`, `loop://`, ...) without a
  usable fd: one reader thread per port hands what it reads to the loop through a pipe; writes go
  through pyserial. These ports cost a thread each.

Writes from the loop never block: what the kernel does not take now is returned and the loop
selects the fd for writing. Emergency writes (`write_all`, the caller's thread, under the link's
write lock) wait on EAGAIN for the fd to take the bytes (up to `EMERGENCY_WAIT`, then the loop
finishes them first): a bare `os.write` on a non-blocking fd can fail with EAGAIN even with an
empty buffer (shared/reference/measured-peers.md) and lose the line.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import Any, Optional

#: Longest an emergency write waits in the caller's thread (holding the link's write lock) for a
#: full port to take its bytes; what it has not taken by then is the first thing the loop writes
#: when the port takes bytes again. Bounded so a stuck port never holds the loop up for long.
EMERGENCY_WAIT = 0.05


class PortLost(OSError):
    """The port vanished (unplugged, hung up): a link fault."""


def _close_quietly(port: Any) -> None:
    try:
        port.close()
    except OSError:
        pass


def _write_all_fd(fd: int, data: bytes, timeout: float) -> bytes:
    """Write to a non-blocking fd, waiting for writability on EAGAIN; returns what it did not take in time."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    poller: Optional[select.poll] = None
    while view:
        try:
            view = view[os.write(fd, view):]
            continue
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(view)
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
        poller.poll(remaining * 1000)
    return b""


class FdChannel:
    """A local tty/pty: the loop reads and writes its file descriptor directly."""

    threaded = False

    def __init__(self, port: Any, fd: int) -> None:
        self.port = port
        self.fd = fd

    def read_available(self) -> bytes:
        """What is waiting (the selector said readable). Raises PortLost when the device is gone."""
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        if not data:
            # Readable but nothing to read: the device was disconnected (pyserial says the same).
            raise PortLost(errno.EIO, "device reports readiness to read but returned no data (disconnected?)")
        return data

    def write_now(self, data: bytes) -> bytes:
        """Write what the kernel takes now; returns the rest (empty when all went out)."""
        try:
            written = os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            return data
        return data[written:]

    def write_all(self, data: bytes, timeout: float = EMERGENCY_WAIT) -> bytes:
        """Write, waiting on EAGAIN up to `timeout` (emergency path, caller's thread); returns the rest."""
        return _write_all_fd(self.fd, data, timeout)

    def close(self) -> None:
        _close_quietly(self.port)


class PortChannel:
    """A port with its own I/O and a selectable `fileno()` that is readable while data waits."""

    threaded = False

    def __init__(self, port: Any) -> None:
        self.port = port
        self.fd: int = port.fileno()

    def read_available(self) -> bytes:
        waiting = self.port.in_waiting
        return self.port.read(waiting) if waiting else b""

    def write_now(self, data: bytes) -> bytes:
        self.port.write(data)
        return b""

    def write_all(self, data: bytes, timeout: float = EMERGENCY_WAIT) -> bytes:
        self.port.write(data)  # pyserial/the simulator: blocking, every byte
        return b""

    def close(self) -> None:
        _close_quietly(self.port)


class ThreadedChannel:
    """A port without a usable fd: a reader thread reads it and signals the loop through a pipe."""

    threaded = True

    def __init__(self, port: Any, name: str) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._received = bytearray()
        self._error: Optional[BaseException] = None
        self._closed = False
        self._signal_r, self._signal_w = os.pipe()
        os.set_blocking(self._signal_r, False)
        os.set_blocking(self._signal_w, False)
        self.fd = self._signal_r
        self._thread = threading.Thread(target=self._read_forever, name=f"serial-read-{name}", daemon=True)
        self._thread.start()

    def _signal(self) -> None:
        try:
            os.write(self._signal_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def _read_forever(self) -> None:
        port = self.port
        while not self._closed:
            try:
                # Blocks up to the port's read timeout for the first byte, then takes what waits.
                data = port.read(max(1, port.in_waiting))
            except Exception as exc:  # handed to the loop: the link reports it and reconnects
                if not self._closed:
                    with self._lock:
                        self._error = exc
                    self._signal()
                return
            if data:
                with self._lock:
                    self._received += data
                self._signal()

    def read_available(self) -> bytes:
        try:
            while os.read(self._signal_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            data, self._received = bytes(self._received), bytearray()
            error = self._error
        if not data and error is not None:
            raise PortLost(errno.EIO, f"port read failed: {error}")
        return data

    def write_now(self, data: bytes) -> bytes:
        self.port.write(data)  # pyserial: blocking, up to its write timeout
        return b""

    def write_all(self, data: bytes, timeout: float = EMERGENCY_WAIT) -> bytes:
        self.port.write(data)  # pyserial/the simulator: blocking, every byte
        return b""

    def close(self) -> None:
        self._closed = True
        _close_quietly(self.port)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        for fd in (self._signal_r, self._signal_w):
            try:
                os.close(fd)
            except OSError:
                pass
