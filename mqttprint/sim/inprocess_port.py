"""`sim://marlin`: an in-process stand-in for a pyserial port, backed by the Marlin model.

Implements the subset of ``serial.Serial`` a host uses (no pyserial import: the runtime picks
this class for ``sim://`` URLs). Writes are fed to the model synchronously in the caller's
thread, so an ``ok`` for an instant command is readable the moment ``write()`` returns;
a background thread only advances simulated time to the model's next event (timers, moves,
heating, delayed ``ok`` lines) and sleeps on a condition variable in between.

Differences from pyserial, on purpose:
* ``read(size)`` waits up to ``timeout`` for the *first* byte, then returns what is available
  (up to `size`) instead of waiting for all `size` bytes.
* Selectable: `fileno()` is the read end of a pipe that is readable while bytes wait for
  `read()` (``signals_readiness``), so the runtime's one I/O loop selects it like a tty.
* Test hooks: `unplug` (I/O then fails with ``OSError(EIO)`` and ``is_open`` stays True, like
  a vanished USB device), `replug`, `pulse_reset`, `hold_output`/`release_output` (keep the
  firmware's ``ok``s back from a given line on), and `model` for inspection. Hold `lock`
  while inspecting the model from another thread.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from mqttprint.sim.config import SimConfig
from mqttprint.sim.marlin import MarlinSim

PORT_NAME = "sim://marlin"
#: Read timeout `open_simulated_port` sets, matching the runtime's pyserial ports.
DEFAULT_READ_TIMEOUT = 0.02
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_HOST_BUFFER_LIMIT = 1 << 16  # like a kernel tty buffer: beyond this, unread bytes are lost
_MAX_SLEEP = 0.5
_MIN_SLEEP = 0.0002


class PortNotOpenError(OSError):
    """I/O on a port that is not open (pyserial raises its own PortNotOpenError here)."""


class SimulatedPort:
    """pyserial-like port talking to a `MarlinSim` running in a background thread."""

    #: `fileno()` is readable exactly while data waits (the runtime selects it instead of reading in a thread)
    signals_readiness = True

    def __init__(
        self, config: SimConfig | None = None, *, timeout: float | None = None, name: str = PORT_NAME
    ) -> None:
        self.config = config or SimConfig()
        self.timeout = timeout
        self.write_timeout: float | None = None
        self.baudrate = 115200
        self.name = name
        self.port = name
        self.lock = threading.Condition(threading.RLock())
        self._model: MarlinSim | None = None
        self._host_rx = bytearray()  # firmware -> host bytes waiting for read()
        self._thread: threading.Thread | None = None
        self._open = False
        self._unplug_errno: int | None = None
        self._present = True  # False between unplug() and replug(): open() fails
        self._dtr = True
        self._rts = True
        self._cancel_read = False
        self._ready_r, self._ready_w = os.pipe()  # one byte in it while _host_rx has data (or I/O fails)
        os.set_blocking(self._ready_r, False)
        os.set_blocking(self._ready_w, False)
        self._ready_signalled = False
        self._epoch = time.monotonic()

    def _sim_now(self) -> float:
        """Simulated time: real time since the port object was made, times `time_scale`."""
        return self._epoch + (time.monotonic() - self._epoch) * self.config.time_scale

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True between open() and close(); deliberately stays True after `unplug`."""
        return self._open

    @property
    def model(self) -> MarlinSim:
        """The firmware model (hold `lock` when the port is open)."""
        if self._model is None:
            raise RuntimeError("port has never been opened")
        return self._model

    def open(self) -> None:
        """Power the board (model boots and prints its banner) and start the time thread."""
        if self._open:
            return
        if not self._present:
            raise FileNotFoundError(errno.ENOENT, "No such device (simulated printer unplugged)", PORT_NAME)
        with self.lock:
            self._model = MarlinSim(self.config, now=self._sim_now())
            self._host_rx.clear()
            self._unplug_errno = None
            self._open = True
            self._collect()
            self._update_ready()
        self._thread = threading.Thread(target=self._run, name="mqttprint-sim-port", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the time thread. Safe to call twice, and after `unplug`."""
        with self.lock:
            self._open = False
            self.lock.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def fileno(self) -> int:
        """A descriptor that selects readable while bytes wait for `read()` or I/O would fail.
        It lives as long as this object (a closed port's number is never reused under a selector)."""
        return self._ready_r

    def __del__(self) -> None:
        for fd in (getattr(self, "_ready_r", -1), getattr(self, "_ready_w", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self) -> SimulatedPort:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- I/O ------------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Deliver bytes to the firmware's UART now; returns the number of bytes written."""
        payload = bytes(data)
        with self.lock:
            self._check_io()
            self.model.receive(payload, self._sim_now())
            self._collect()
            self.lock.notify_all()  # new events may be due earlier than the thread's sleep
        return len(payload)

    def read(self, size: int = 1) -> bytes:
        """Wait up to `timeout` (None = forever, 0 = poll) for a byte; return up to `size`."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self.lock:
            self._check_io()
            while not self._host_rx:
                if self._cancel_read:
                    self._cancel_read = False
                    return b""
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return b""
                self.lock.wait(remaining)
                self._check_io()
            chunk = bytes(self._host_rx[:size])
            del self._host_rx[:size]
            self._update_ready()
            return chunk

    def readline(self, size: int = -1) -> bytes:
        """Read up to and including ``\\n`` (or until `timeout` ends / `size` bytes)."""
        return self.read_until(b"\n", None if size < 0 else size)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        """pyserial's ``read_until``: up to and including `expected`, `size` bytes, or timeout."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self.lock:
            self._check_io()
            while True:
                found = self._host_rx.find(expected)
                end = found + len(expected) if found >= 0 else None
                if size is not None and (end is None or end > size) and len(self._host_rx) >= size:
                    end = size
                if end is None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if (remaining is not None and remaining <= 0) or self._cancel_read:
                        self._cancel_read = False
                        end = len(self._host_rx)  # timeout: hand out the partial line
                if end is not None:
                    chunk = bytes(self._host_rx[:end])
                    del self._host_rx[:end]
                    self._update_ready()
                    return chunk
                self.lock.wait(remaining)
                self._check_io()

    @property
    def in_waiting(self) -> int:
        """Bytes readable without blocking."""
        with self.lock:
            self._check_io()
            return len(self._host_rx)

    @property
    def out_waiting(self) -> int:
        """Always 0: writes are delivered synchronously."""
        return 0

    def reset_input_buffer(self) -> None:
        """Discard bytes the host has not read yet."""
        with self.lock:
            self._check_io()
            self._collect()
            self._host_rx.clear()
            self._update_ready()

    def reset_output_buffer(self) -> None:
        """No-op: nothing is ever pending on the output side."""
        with self.lock:
            self._check_io()

    def flush(self) -> None:
        """No-op (writes are synchronous), but fails like real I/O after `unplug`."""
        with self.lock:
            self._check_io()

    def cancel_read(self) -> None:
        """Make a blocked `read`/`readline` return early (pyserial posix API)."""
        with self.lock:
            self._cancel_read = True
            self.lock.notify_all()

    # -- modem lines ----------------------------------------------------------------------------
    @property
    def dtr(self) -> bool:
        """DTR line; a True -> False transition resets the board (Arduino auto-reset circuit)."""
        return self._dtr

    @dtr.setter
    def dtr(self, value: bool) -> None:
        falling = self._dtr and not value
        self._dtr = bool(value)
        if falling and self._open:
            self.pulse_reset()

    @property
    def rts(self) -> bool:
        """RTS line (no effect on the simulated board)."""
        return self._rts

    @rts.setter
    def rts(self, value: bool) -> None:
        self._rts = bool(value)

    def pulse_reset(self) -> None:
        """Reset the board now: banner again, line numbers back to 0."""
        with self.lock:
            self._check_io()
            self.model.reset(self._sim_now())
            self._collect()
            self.lock.notify_all()

    # -- test hooks -----------------------------------------------------------------------------
    def unplug(self, errno_code: int = errno.EIO) -> None:
        """The device vanishes: every later I/O call raises ``OSError(errno_code)``."""
        with self.lock:
            self._unplug_errno = errno_code
            self._present = False
            self._update_ready()  # a selector wakes up and finds the error on its read
            self.lock.notify_all()

    def replug(self) -> None:
        """The device is back: a later `open()` works again (with a freshly booted board)."""
        with self.lock:
            self._present = True

    def hold_output(self, after_lines: int = 0) -> None:
        """Keep the firmware's output back after `after_lines` more lines (`MarlinSim.hold_output`);
        re-arming a hold that is in effect first hands out what it kept back."""
        with self.lock:
            self.model.hold_output(after_lines)
            self._collect()
            self.lock.notify_all()

    def release_output(self) -> None:
        """Hand out what `hold_output` kept back, now."""
        with self.lock:
            self.model.release_output()
            self._collect()
            self.lock.notify_all()

    @property
    def output_held(self) -> bool:
        """True while the firmware's output is held back."""
        with self.lock:
            return self.model.output_held

    # -- internals ------------------------------------------------------------------------------
    def _check_io(self) -> None:
        if self._unplug_errno is not None:
            name = errno.errorcode.get(self._unplug_errno, "EIO")
            raise OSError(self._unplug_errno, f"{name}: device vanished")
        if not self._open:
            raise PortNotOpenError(errno.EBADF, "Attempting to use a port that is not open")

    def _update_ready(self) -> None:
        """Lock held: the readiness pipe holds one byte exactly while data waits or I/O fails."""
        ready = bool(self._host_rx) or self._unplug_errno is not None
        if ready and not self._ready_signalled:
            os.write(self._ready_w, b"\0")
            self._ready_signalled = True
        elif not ready and self._ready_signalled:
            try:
                os.read(self._ready_r, 64)
            except BlockingIOError:
                pass
            self._ready_signalled = False

    def _collect(self) -> None:
        """Move released firmware output into the host-side buffer (lock held)."""
        out = self.model.read_output()
        if out:
            self._host_rx += out
            overflow = len(self._host_rx) - _HOST_BUFFER_LIMIT
            if overflow > 0:
                del self._host_rx[len(self._host_rx) - overflow :]  # newest bytes are lost
            self._update_ready()
            self.lock.notify_all()

    def _run(self) -> None:
        """Advance simulated time to each model event; sleep on the condition in between."""
        with self.lock:
            while self._open:
                if self._unplug_errno is None:
                    now = self._sim_now()
                    self.model.advance(now)
                    self._collect()
                    next_event = self.model.next_event_time()
                    sleep = _MAX_SLEEP if next_event is None else (next_event - self._sim_now()) / self.config.time_scale
                else:
                    sleep = _MAX_SLEEP  # an unplugged board is gone: nothing to simulate
                self.lock.wait(min(_MAX_SLEEP, max(_MIN_SLEEP, sleep)))


def parse_sim_url(url: str) -> tuple[str, SimConfig]:
    """``sim://<name>[?knob=value&...]`` -> (port name without query, `SimConfig`).

    Every `SimConfig` field can be set from the query, e.g.
    ``sim://marlin?move_timing=1&checksum_error_rate=0.01&seed=3``. Raises ValueError for a
    non-``sim`` URL, an unknown knob or a value of the wrong type.
    """
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"not a simulator URL: {url!r}")
    kinds = {f.name: str(f.type) for f in dataclasses.fields(SimConfig)}
    knobs: dict[str, object] = {}
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        kind = kinds.get(key)
        if kind is None:
            raise ValueError(f"unknown simulator option {key!r} in {url!r}")
        if kind == "bool":
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError(f"simulator option {key!r} expects a boolean, got {raw!r}")
            knobs[key] = raw.lower() in _TRUE
        elif kind == "int":
            knobs[key] = int(raw)
        elif kind == "float":
            knobs[key] = float(raw)
        else:
            knobs[key] = raw
    return f"sim://{parts.netloc}{parts.path}", SimConfig(**knobs)  # type: ignore[arg-type]


def open_simulated_port(
    url: str = PORT_NAME, *, reset: bool = False, timeout: float | None = DEFAULT_READ_TIMEOUT
) -> SimulatedPort:
    """Open the in-process simulator for a ``sim://`` URL (see `parse_sim_url`).

    The board powers up on open (``PowerUp`` banner); `reset` additionally pulses DTR, like a
    host that forces a reset on connect (``External Reset`` banner follows).
    """
    name, config = parse_sim_url(url)
    port = SimulatedPort(config, timeout=timeout, name=name)
    port.open()
    if reset:
        port.dtr = True
        port.dtr = False
    return port
