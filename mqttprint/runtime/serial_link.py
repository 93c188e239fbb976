"""The serial link: one thread per printer owning the port and the protocol engine.

The only pyserial importer. Reads in bulk (whatever is waiting, not byte by byte), feeds the
engine, writes what flow control allows, and hands events to a callback. Other threads talk to
it through `call()` (a queue of intents run on the serial thread) and `emergency()` (written to
the port at once under the write lock, never waiting for the serial thread, a queue or an `ok`).
"""

from __future__ import annotations

import collections
import concurrent.futures
import errno
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import serial  # pyserial

from mqttprint.protocol import framing, gcode
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import LinkFault, NotOperational
from mqttprint.protocol.events import Event
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.states import Trigger
from mqttprint.runtime.port_detect import detect_port

log = logging.getLogger(__name__)
traffic_log = logging.getLogger("mqttprint.serial.traffic")

Intent = Callable[[Engine, float], Any]

#: Longest a read blocks when nothing arrives: ticks (timeouts, polls) happen at least this often.
READ_TIMEOUT = 0.02


class Port(Protocol):
    """What the link needs of a port (pyserial's Serial, or the in-process simulator)."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> Optional[int]: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to reach one printer."""

    port: str  # device path, "auto", "sim://marlin", "rfc2217://host:port", "socket://host:port"
    baudrate: int = 115200
    autoconnect: bool = True
    #: pulse DTR when opening to reset the board (AVR boards reset on open anyway; this forces it)
    reset_on_connect: bool = False
    reconnect_min: float = 0.5
    reconnect_max: float = 10.0
    #: longest the thread sleeps in a read when nothing is due (ticks happen at least this often)
    idle_read_timeout: float = 0.05


def open_port(url: str, baudrate: int, reset: bool) -> Port:
    """Open a port by URL. `sim://<name>` gives the in-process Marlin simulator."""
    if url.startswith("sim://"):
        from mqttprint.sim.inprocess_port import open_simulated_port

        try:
            return open_simulated_port(url, reset=reset)
        except (OSError, ValueError) as exc:
            raise LinkFault(f"cannot open {url}: {exc}") from exc
    if url == "auto":
        found = detect_port()
        if found is None:
            raise LinkFault("no serial port found (looked in /dev/serial/by-id, /dev/ttyUSB*, /dev/ttyACM*)")
        url = found
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=READ_TIMEOUT, write_timeout=5.0, do_not_open=True)
        if hasattr(port, "exclusive"):
            try:
                port.exclusive = True  # two hosts on one printer corrupt each other's line numbers
            except (ValueError, AttributeError):
                pass
        if not reset:
            # Keep DTR low while opening so boards that reset on DTR are left alone where the
            # adapter allows it (pyserial issue #729: some still pulse it briefly).
            port.dtr = False
        port.open()
        if reset and hasattr(port, "dtr"):
            port.dtr = True
            time.sleep(0.1)
            port.dtr = False
        return port
    except (OSError, ValueError) as exc:
        raise LinkFault(f"cannot open {url}: {exc}") from exc


class SerialLink:
    """Owns one printer's port and engine on a dedicated thread."""

    def __init__(
        self,
        name: str,
        settings: LinkSettings,
        params: EngineParams,
        on_events: Callable[[list[Event]], None],
        on_connection: Callable[[Optional[str], Optional[int]], None] = lambda port, baud: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings
        self.engine = Engine(params)
        self._on_events = on_events
        self._on_connection = on_connection
        self._clock = clock
        self._inbox: queue.SimpleQueue[tuple[Intent, concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._port: Optional[Port] = None
        self._port_url = settings.port
        self._baudrate = settings.baudrate
        self._want_open = settings.autoconnect
        self._force_reset = False
        self._next_attempt = 0.0
        self._backoff = settings.reconnect_min
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._halted = False  # set by an M112 fast-path write: nothing queued may follow it
        self._fast_emergencies: collections.deque[tuple[str, Optional[Callable[[int], None]], concurrent.futures.Future[Any]]] = collections.deque()
        self._thread = threading.Thread(target=self._run, name=f"serial-{name}", daemon=True)
        self.last_error = ""
        self.alive_at = clock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the serial thread."""
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Close the port and stop the thread."""
        self._stopping.set()
        self._wake_thread()
        self._thread.join(timeout)

    def running(self, max_silence: float) -> bool:
        """Whether the serial thread is alive and looped within `max_silence` seconds."""
        return self._thread.is_alive() and self._clock() - self.alive_at < max_silence

    @property
    def port(self) -> Optional[Port]:
        """The open port object (tests reach the in-process simulator through it)."""
        return self._port

    @property
    def port_url(self) -> str:
        return self._port_url

    @property
    def baudrate(self) -> int:
        return self._baudrate

    # ------------------------------------------------------------------ cross-thread API
    def call(self, intent: Intent) -> concurrent.futures.Future[Any]:
        """Run `intent(engine, now)` on the serial thread; its result/exception lands in the future."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._inbox.put((intent, future))
        self._wake_thread()
        return future

    def connect(self, port: Optional[str] = None, baudrate: Optional[int] = None) -> None:
        """(Re)open the port: closes it first if open, resets the board where the port allows."""

        def reopen(engine: Engine, now: float) -> None:
            if self._port is not None:
                self._close(now, "")
            if port:
                self._port_url = port
            if baudrate:
                self._baudrate = baudrate
            self._want_open = True
            self._force_reset = True
            self._next_attempt = 0.0
            self._backoff = self.settings.reconnect_min
            self.last_error = ""
            self._emit()  # the snapshot shows the closed link before the caller reads it

        self.call(reopen).result(timeout=10)

    def disconnect(self) -> None:
        """Close the port and stay closed until `connect()`."""

        def close(engine: Engine, now: float) -> None:
            self._want_open = False
            if self._port is not None:
                self._close(now, "")

        self.call(close).result(timeout=10)

    def emergency(
        self, command: str, on_recorded: Optional[Callable[[int], None]] = None
    ) -> concurrent.futures.Future[Any]:
        """Write an emergency command NOW from the caller's thread, then let the engine record it.

        The line goes out un-numbered through the port object under the write lock: pyserial's
        `write()` retries EAGAIN (a bare os.write would lose the bytes, measured-peers.md), and
        the serial thread never holds the lock for more than one write. Returns the future of
        the engine's (command id, follow-up bytes) bookkeeping.
        """
        line = gcode.emergency_line(command)
        data = framing.encode_plain(line)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._write_lock:
            port = self._port
            if port is None:
                raise NotOperational("printer is not connected: the emergency command could not be written")
            if gcode.code_key(line) == "M112":
                self._halted = True
            # Recorded BEFORE the write: the serial thread registers it before it feeds any
            # bytes read after this point, so the firmware's `ok` for it is never mistaken for
            # a stray one (which would leave the window waiting for an `ok` that never comes).
            self._fast_emergencies.append((line, on_recorded, future))
            try:
                port.write(data)
            except OSError as exc:
                log.error("%s: emergency write failed: %s", self.name, exc)
        if traffic_log.isEnabledFor(logging.DEBUG):
            traffic_log.debug("%s >>! %s", self.name, line)
        self._wake_thread()
        return future

    def _record_emergencies(self) -> None:
        """Serial thread: hand fast-path emergency writes to the engine (in write order)."""
        while self._fast_emergencies:
            line, on_recorded, future = self._fast_emergencies.popleft()
            try:
                command_id, follow_up = self.engine.emergency(line, self._clock(), already_written=True)
            except Exception as exc:  # handed to the caller through the future
                future.set_exception(exc)
                continue
            if on_recorded is not None:
                on_recorded(command_id)
            if follow_up:
                self._write(follow_up, bypass_halt=True)
            if gcode.code_key(line) == "M112":
                self._halted = False  # the engine is in Error now and sends nothing more
            future.set_result(command_id)

    # ------------------------------------------------------------------ the thread
    def _wake_thread(self) -> None:
        self._wake.set()
        port = self._port
        cancel = getattr(port, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except (OSError, AttributeError):
                pass

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.alive_at = self._clock()
                try:
                    if self._port is None:
                        self._run_offline()
                    else:
                        self._run_online()
                except Exception as exc:  # a bug must not kill the printer's only thread: reset the link
                    log.exception("%s: serial loop failed; closing the port and reconnecting", self.name)
                    if self._port is not None:
                        self._lost(f"internal error: {exc}")
                    self._emit()
        finally:
            if self._port is not None:
                # A print cut short by a shutdown is reported as interrupted, never silently lost.
                reason = "mqttprint stopped while printing: the print was interrupted" if self.engine.job is not None else ""
                self._close(self._clock(), reason)

    def _run_offline(self) -> None:
        now = self._clock()
        if self._want_open and now >= self._next_attempt:
            self._open(now)
            return
        wait = self._next_attempt - now if self._want_open else 0.5
        self._wake.wait(max(0.0, min(wait, 0.5)))
        self._wake.clear()
        self._process_inbox()
        self._emit()

    def _run_online(self) -> None:
        engine = self.engine
        self._record_emergencies()
        self._process_inbox()
        port = self._port
        if port is None:
            return
        now = self._clock()
        deadline = engine.next_deadline()
        timeout = self.settings.idle_read_timeout if deadline is None else max(0.0, min(deadline - now, self.settings.idle_read_timeout))
        try:
            data = self._read(port, timeout)
        except OSError as exc:  # SerialException is an OSError: the port vanished
            self._lost(f"serial port lost: {exc}")
            return
        self._record_emergencies()
        now = self._clock()
        events: list[Event] = []
        if data:
            if traffic_log.isEnabledFor(logging.DEBUG):
                traffic_log.debug("%s << %r", self.name, data)
            events = engine.receive_data(data, now)
        events += engine.tick(now)
        out = engine.data_to_send(now)
        if out:
            self._write(out)  # on failure the link is closed and the events say so
        events += engine.drain_events()
        if events:
            self._on_events(events)

    def _read(self, port: Port, timeout: float) -> bytes:
        waiting = port.in_waiting
        if waiting:
            return port.read(waiting)
        if self._wake.is_set():
            self._wake.clear()
            return b""
        # The read timeout is fixed at open (changing pyserial's `timeout` reconfigures the tty
        # with termios calls every time); new intents interrupt the read through cancel_read().
        first = port.read(1)
        if not first:
            return b""
        waiting = port.in_waiting
        return first + port.read(waiting) if waiting else first

    def _write(self, data: bytes, bypass_halt: bool = False) -> bool:
        with self._write_lock:
            port = self._port
            if port is None or (self._halted and not bypass_halt):
                return False
            try:
                port.write(data)
            except OSError as exc:
                write_error: Optional[str] = f"serial write failed: {exc}"
            else:
                write_error = None
        if write_error:
            self._lost(write_error)
            return False
        if traffic_log.isEnabledFor(logging.DEBUG):
            traffic_log.debug("%s >> %r", self.name, data)
        return True

    def _process_inbox(self) -> None:
        while True:
            try:
                intent, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(intent(self.engine, self._clock()))
            except Exception as exc:  # handed to the caller through the future, never swallowed
                future.set_exception(exc)
        # intents may have produced events (state changes, finished commands)

    def _open(self, now: float) -> None:
        engine = self.engine
        if engine.allowed(Trigger.OPEN):
            engine.open_requested(now)
        reset, self._force_reset = self._force_reset or self.settings.reset_on_connect, False
        try:
            port = open_port(self._port_url, self._baudrate, reset)
        except LinkFault as exc:
            # Say it once per distinct error (a missing /dev/ttyNOPE must not fail silently, nor
            # fill the journal on every retry).
            if str(exc) != self.last_error:
                log.warning("%s: %s (retrying with back-off up to %g s)", self.name, exc, self.settings.reconnect_max)
            else:
                log.debug("%s: %s", self.name, exc)
            self.last_error = str(exc)
            engine.connection_closed(now, str(exc))
            self._emit()
            self._next_attempt = now + self._backoff
            self._backoff = min(self._backoff * 2, self.settings.reconnect_max)
            return
        with self._write_lock:
            self._port = port
            self._halted = False
        self._backoff = self.settings.reconnect_min
        self.last_error = ""
        log.info("%s: opened %s at %d baud", self.name, self._port_url, self._baudrate)
        self._on_connection(self._port_url, self._baudrate)
        engine.connection_opened(self._clock())
        self._emit()

    def _lost(self, reason: str) -> None:
        log.warning("%s: %s", self.name, reason)
        self.last_error = reason
        now = self._clock()
        self._close(now, reason)
        self._next_attempt = now + self._backoff
        self._backoff = min(self._backoff * 2, self.settings.reconnect_max)

    def _close(self, now: float, error: str) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.ENODEV, errno.EBADF):
                    log.debug("%s: close failed: %s", self.name, exc)
        self.engine.connection_closed(now, error)
        self._on_connection(None, None)
        self._emit()

    def _emit(self) -> None:
        events = self.engine.drain_events()
        if events:
            self._on_events(events)
