"""The serial link: one printer's port and protocol engine, serviced by the process's I/O loop.

The only pyserial importer: pyserial opens and configures every port; the one I/O loop
(runtime/io_loop.py) reads and writes a local tty/pty through its fd, other URL ports through
pyserial (runtime/port_channels.py). Reads in bulk, feeds the engine, writes what flow control
allows, hands events to a callback. Other threads use `call()` (intents run on the loop thread)
and `emergency()` (written at once from the caller's thread under the write lock, never waiting).
"""

from __future__ import annotations

import collections
import concurrent.futures
import errno
import logging
import queue
import threading
import time
from typing import Any, Callable, Optional, Union

import serial  # pyserial

from mqttprint.protocol import framing, gcode
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import LinkFault, NotOperational
from mqttprint.protocol.events import Event
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.states import Trigger
from mqttprint.runtime.io_loop import IoLoop, shared_loop
from mqttprint.runtime.link_settings import LinkSettings, Port
from mqttprint.runtime.port_channels import FdChannel, PortChannel, ThreadedChannel
from mqttprint.runtime.port_detect import detect_port

log = logging.getLogger(__name__)
traffic_log = logging.getLogger("mqttprint.serial.traffic")

__all__ = ["LinkSettings", "Port", "SerialLink", "channel_for", "open_port"]
Intent = Callable[[Engine, float], Any]
Channel = Union[FdChannel, PortChannel, ThreadedChannel]
_NEVER = float("inf")
IDLE_TICK = 0.5  #: longest an open link goes without a tick when no engine deadline is due
READ_TIMEOUT = 0.02  #: pyserial's read timeout (ports read through pyserial: rfc2217://, socket://)


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
        if not reset:  # DTR low while opening: boards that reset on DTR are left alone where the
            port.dtr = False  # adapter allows it (pyserial issue #729: some still pulse it briefly)
        port.open()
        if reset and hasattr(port, "dtr"):
            port.dtr = True
            time.sleep(0.1)
            port.dtr = False
        return port
    except (OSError, ValueError) as exc:
        raise LinkFault(f"cannot open {url}: {exc}") from exc


def channel_for(port: Port, name: str) -> Channel:
    """How the loop reaches an open port: its fd for a local tty/pty opened by pyserial (exactly
    `serial.Serial`: URL handlers such as spy:// subclass it to see every byte), the port's own
    readiness fd for the in-process simulator, else a reader thread (rfc2217://, socket://, ...)."""
    if type(port) is serial.Serial:
        return FdChannel(port, port.fileno())
    if getattr(port, "signals_readiness", False):
        return PortChannel(port)
    return ThreadedChannel(port, name)


class SerialLink:
    """Owns one printer's port and engine; the process's I/O loop services it (`LoopClient`)."""

    def __init__(
        self,
        name: str,
        settings: LinkSettings,
        params: EngineParams,
        on_events: Callable[[list[Event]], None],
        on_connection: Callable[[Optional[str], Optional[int]], None] = lambda port, baud: None,
        clock: Callable[[], float] = time.monotonic,
        loop: Optional[IoLoop] = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.engine = Engine(params)
        self._on_events = on_events
        self._on_connection = on_connection
        self._clock = clock
        self._loop = loop if loop is not None else shared_loop()
        self._inbox: queue.SimpleQueue[tuple[Intent, concurrent.futures.Future[Any]]] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._channel: Optional[Channel] = None
        self._pending = b""  # bytes the kernel did not take yet (EAGAIN); write lock
        self._line_open = False  # the last byte written was not "\n": a line is half on the wire
        self._write_watched = False  # the loop polls the fd for writability (loop thread only)
        self._port_url, self._baudrate = settings.port, settings.baudrate
        self._want_open = settings.autoconnect
        self._force_reset = False
        self._next_attempt = 0.0
        self._backoff = settings.reconnect_min
        self._attempt = 0  # numbers open attempts: a result that arrives after a newer request is dropped
        self._opening = self._stopping = self._registered = False
        self._halted = False  # set by an M112 fast-path write: nothing queued may follow it
        self._ahead: Optional[bytes] = None  # the engine's line ahead (loop thread only)
        self._fast_emergencies: collections.deque[tuple[str, Optional[Callable[[int], None]], concurrent.futures.Future[Any]]] = collections.deque()
        self.last_error = ""
        self.due, self.woken, self.serviced = 0.0, False, 0  # LoopClient bookkeeping (io_loop.py)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Join the process's I/O loop (the port opens from there)."""
        self._registered = self.woken = True
        self._loop.add(self)

    def stop(self, timeout: float = 3.0) -> None:
        """Close the port (a running print is reported as interrupted) and leave the loop."""
        if not self._registered:
            return
        self._stopping = True

        def shutdown(engine: Engine, now: float) -> None:
            self._want_open = False
            if self._channel is not None:
                # A print cut short by a shutdown is reported as interrupted, never silently lost.
                reason = "mqttprint stopped while printing: the print was interrupted" if engine.job is not None else ""
                self._close(now, reason)
            self._leave_loop()

        try:
            self.call(shutdown).result(timeout)
        except Exception:  # the loop did not answer: leave it anyway and close the port here
            log.exception("%s: stopping through the I/O loop failed; closing the port directly", self.name)
            self._leave_loop()
            if self._channel is not None:
                self._close(self._clock(), "")

    def _leave_loop(self) -> None:
        self._registered = False
        self._loop.remove(self)

    def running(self, max_silence: float) -> bool:
        """Whether a live I/O loop services this link: it iterated within `max_silence` s and this
        link has not been due for longer than that without being serviced (per printer health)."""
        return self._registered and self._loop.running(max_silence) and self.due > self._clock() - max_silence

    @property
    def port(self) -> Optional[Port]:
        """The open port object (tests reach the in-process simulator through it)."""
        channel = self._channel
        return None if channel is None else channel.port

    # ------------------------------------------------------------------ cross-thread API
    def call(self, intent: Intent) -> concurrent.futures.Future[Any]:
        """Run `intent(engine, now)` on the loop thread; its result/exception lands in the future.
        Called on the loop thread itself (from an event callback), it runs at once."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._loop.on_loop_thread():
            self._run_intent(intent, future)
        else:
            self._inbox.put((intent, future))
        self.woken = True
        self._loop.wake()
        return future

    def connect(self, port: Optional[str] = None, baudrate: Optional[int] = None) -> None:
        """(Re)open the port: closes it first if open, resets the board where the port allows."""

        def reopen(engine: Engine, now: float) -> None:
            if self._channel is not None:
                self._close(now, "")
            if port:
                self._port_url = port
            if baudrate:
                self._baudrate = baudrate
            self._want_open = True
            self._force_reset = True
            self._opening = False
            self._attempt += 1  # an open still under way is stale now
            self._next_attempt = 0.0
            self._backoff = self.settings.reconnect_min
            self.last_error = ""
            self._emit()  # the snapshot shows the closed link before the caller reads it

        self.call(reopen).result(timeout=10)

    def disconnect(self) -> None:
        """Close the port and stay closed until `connect()`."""

        def close(engine: Engine, now: float) -> None:
            self._want_open = False
            self._opening = False
            self._attempt += 1
            if self._channel is not None:
                self._close(now, "")

        self.call(close).result(timeout=10)

    def emergency(
        self, command: str, on_recorded: Optional[Callable[[int], None]] = None
    ) -> concurrent.futures.Future[Any]:
        """Write an emergency command NOW from the caller's thread (under the write lock, waiting
        on EAGAIN: a bare os.write could lose it, measured-peers.md), then let the engine record it.
        A line the loop left half-written is finished first (else the firmware sees one garbled
        line); after an M112 nothing the loop had not written follows. Returns the bookkeeping's future."""
        line = gcode.emergency_line(command)
        key = gcode.code_key(line)
        data = framing.encode_plain(line)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._write_lock:
            channel = self._channel
            if channel is None:
                raise NotOperational("printer is not connected: the emergency command could not be written")
            if key == "M112":
                self._halted = True
            # Recorded BEFORE the write: the loop registers it before feeding bytes read after this,
            # so its `ok` is never mistaken for a stray one (the window would wait for one forever).
            self._fast_emergencies.append((line, on_recorded, future))
            try:
                end = self._pending.find(b"\n") + 1 or len(self._pending) if self._line_open else 0
                out, self._pending = self._pending[:end] + data, b"" if key == "M112" else self._pending[end:]
                rest = channel.write_all(out)  # what a full port did not take in time: the loop writes it first
                written = len(out) - len(rest)
                self._line_open = out[written - 1] != 0x0A if written else end > 0
                self._pending = rest + self._pending
            except OSError as exc:  # the loop finds the port gone on its next read or write
                log.error("%s: emergency write failed: %s", self.name, exc)
        if traffic_log.isEnabledFor(logging.DEBUG):
            traffic_log.debug("%s >>! %s", self.name, line)
        self.woken = True
        self._loop.wake()
        return future

    def _record_emergencies(self) -> None:
        """Loop thread: hand fast-path emergency writes to the engine (in write order)."""
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

    # ------------------------------------------------------------------ serviced by the loop
    def service(self, now: float, readable: bool, writable: bool) -> None:
        """LoopClient: read what waits, run intents, feed the engine, write what flow control allows."""
        channel = self._channel
        if channel is None:
            self._process_inbox()
            if (self._channel is None and self._want_open and not self._opening and not self._stopping
                    and self._clock() >= self._next_attempt):
                self._open(now)
            self._emit()
            self._update_due(now)
            return
        data = b""
        ahead, self._ahead = self._ahead, None
        try:
            if writable:
                self._flush_pending(channel)
            if readable:
                data = channel.read_available()
        except OSError as exc:  # the port vanished
            self._lost(f"serial port lost: {exc}")
            self._update_due(now)
            return
        # Ping-pong fast path (Engine.line_ahead): a plain `ok` sends the next job line at once.
        if ahead is not None and data in (b"ok\n", b"ok\r\n") and self._write(ahead):
            self.engine.commit_ahead(ahead, now)
        if self._fast_emergencies:
            self._record_emergencies()
            if self._pending:  # a full port left part of the emergency: write it when writable
                self._watch_writable(channel, True)
        if not self._inbox.empty():
            self._process_inbox()
            if self._channel is not channel:  # an intent closed or reopened the port
                self._emit()
                self._update_due(now)
                return
        engine = self.engine
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
        self._update_due(now)
        self._ahead = engine.line_ahead()

    def service_failed(self, exc: BaseException) -> None:
        """LoopClient: a bug in this printer's engine or callbacks: reset its link, not the loop."""
        log.error("%s: serial link failed; closing the port and reconnecting", self.name, exc_info=exc)
        if self._channel is not None:
            self._lost(f"internal error: {exc}")
        self._emit()
        now = self._clock()
        self._update_due(now)
        self.due = max(self.due, now + self.settings.idle_read_timeout)  # never spin on a repeating failure

    def _update_due(self, now: float) -> None:
        if self._channel is None:
            self.due = self._next_attempt if self._want_open and not self._opening and not self._stopping else _NEVER
            return
        deadline = self.engine.next_deadline()
        if deadline is None:
            self.due = now + IDLE_TICK
        elif deadline <= now:  # due but held back (a poll behind G28): look again soon, never spin
            self.due = now + self.settings.idle_read_timeout
        else:
            self.due = min(deadline, now + IDLE_TICK)

    def _write(self, data: bytes, bypass_halt: bool = False) -> bool:
        """Loop thread: write now what the kernel takes, the rest when the fd is writable again."""
        watch_write = False
        with self._write_lock:
            channel = self._channel
            if channel is None or (self._halted and not bypass_halt):
                return False
            try:
                if self._pending:
                    self._pending += data  # behind what is still waiting: order is kept
                else:
                    rest = channel.write_now(data)
                    if rest:  # EAGAIN or a short write: the rest when the fd is writable
                        self._line_open = len(rest) < len(data) and data[len(data) - len(rest) - 1] != 0x0A
                        self._pending = rest
                watch_write = bool(self._pending)
            except OSError as exc:
                write_error: Optional[str] = f"serial write failed: {exc}"
            else:
                write_error = None
        if write_error:
            self._lost(write_error)
            return False
        if watch_write:
            self._watch_writable(channel, True)
        if traffic_log.isEnabledFor(logging.DEBUG):
            traffic_log.debug("%s >> %r", self.name, data)
        return True

    def _flush_pending(self, channel: Channel) -> None:
        """Loop thread, fd writable: write what an earlier EAGAIN left (raises OSError when lost)."""
        with self._write_lock:
            data = self._pending
            if data:
                rest = self._pending = channel.write_now(data)
                if len(rest) < len(data):
                    self._line_open = data[len(data) - len(rest) - 1] != 0x0A  # 0x0A: b"\n"
            done = not self._pending
        if done:
            self._watch_writable(channel, False)

    def _watch_writable(self, channel: Channel, want: bool) -> None:
        """Loop thread: poll the fd for writability exactly while bytes wait in `_pending`."""
        if want != self._write_watched:
            self._write_watched = want
            self._loop.watch(channel.fd, self, write=want)

    def _run_intent(self, intent: Intent, future: concurrent.futures.Future[Any]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(intent(self.engine, self._clock()))
        except Exception as exc:  # handed to the caller through the future, never swallowed
            future.set_exception(exc)

    def _process_inbox(self) -> None:
        while not self._inbox.empty():
            try:
                intent, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._run_intent(intent, future)

    # ------------------------------------------------------------------ open / close
    def _open(self, now: float) -> None:
        """Open the port on a short-lived thread: opening (a DTR reset's 0.1 s, a network URL's
        connect) must not hold up the other printers; the result comes back as an intent."""
        engine = self.engine
        if engine.allowed(Trigger.OPEN):
            engine.open_requested(now)
        reset, self._force_reset = self._force_reset or self.settings.reset_on_connect, False
        self._attempt += 1
        attempt, url, baudrate = self._attempt, self._port_url, self._baudrate
        self._opening = True

        def open_in_background() -> None:
            channel: Optional[Channel] = None
            try:
                port = open_port(url, baudrate, reset)
                try:
                    channel = channel_for(port, self.name)
                except Exception:
                    port.close()
                    raise
                error = ""
            except LinkFault as exc:
                error = str(exc)
            except Exception as exc:  # any other failure to open is this printer's link fault
                error = f"cannot open {url}: {exc}"
            if self._stopping:
                if channel is not None:
                    channel.close()
                return
            self.call(lambda engine, now: self._opened(attempt, channel, error, now))

        threading.Thread(target=open_in_background, name=f"serial-open-{self.name}", daemon=True).start()

    def _opened(self, attempt: int, channel: Optional[Channel], error: str, now: float) -> None:
        if attempt != self._attempt or not self._want_open or self._stopping:
            if channel is not None:
                channel.close()  # a newer connect/disconnect superseded this attempt
            return
        self._opening = False
        engine = self.engine
        if channel is None:
            # Say it once per distinct error (a missing /dev/ttyNOPE must not fail silently, nor
            # fill the journal on every retry).
            if error != self.last_error:
                log.warning("%s: %s (retrying with back-off up to %g s)", self.name, error, self.settings.reconnect_max)
            else:
                log.debug("%s: %s", self.name, error)
            self.last_error = error
            engine.connection_closed(now, error)
            self._emit()
            self._next_attempt = now + self._backoff
            self._backoff = min(self._backoff * 2, self.settings.reconnect_max)
            return
        with self._write_lock:
            self._channel = channel
            self._halted = False
            self._pending = b""
            self._line_open = self._write_watched = False
        self._loop.watch(channel.fd, self)
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
            channel, self._channel = self._channel, None
            self._pending = b""
        if channel is not None:
            self._loop.unwatch(channel.fd)  # before closing: a closed fd's number is reused
            try:
                channel.close()
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
