"""Expose the Marlin model on a pseudo-terminal, so any serial host can talk to it.

Threads and OS calls live here (the model stays pure). One I/O thread owns the master fd: it
selects on the master plus a wake-up pipe, feeds received bytes to the model at
``time.monotonic()``, advances it to the next event and writes the output back.

Linux pty facts this relies on (checked on a real kernel):
* while no process has the slave open, ``read(master)`` fails with EIO and select reports the
  master readable - the loop then polls slowly instead of spinning;
* bytes written to the master while nobody holds the slave are queued and would reach the next
  opener as stale garbage, so output is discarded until a host has the port open (bytes sent
  to a serial port nobody listens to are lost too);
* closing the master makes the host's ``read`` return b"" and ``write`` fail with EIO - what a
  host sees when a USB printer is unplugged.

Locking: every model access happens under `PtySimulator.lock`. Tests that inspect
``sim.model`` from another thread must hold it too (``with sim.lock: sim.model.executed``).
"""

from __future__ import annotations

import argparse
import errno
import os
import queue
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence

from mqttprint.sim import options
from mqttprint.sim.config import SimConfig
from mqttprint.sim.marlin import MarlinSim

_POLL_CLOSED = 0.02  # seconds between checks while no host has the slave open
_MAX_WAIT = 0.05  # upper bound of one select, so timers are never late by more than this
_MAX_PENDING_OUT = 1 << 16  # bytes kept while the host does not read; beyond that they are lost


class PtySimulator:
    """A simulated Marlin board behind ``/dev/pts/N`` (optionally symlinked at `link`)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        link: str | os.PathLike[str] | None = None,
        reset_on_open: bool = False,
    ) -> None:
        """`reset_on_open` emulates the DTR auto-reset of AVR boards: whenever a host opens the
        slave, the board reboots (banner; bytes sent during `boot_delay` are lost). Off by
        default, like a native-USB board that stays up when the port is opened."""
        self.config = config or SimConfig()
        self.link = os.fspath(link) if link is not None else None
        self.reset_on_open = reset_on_open
        self.lock = threading.RLock()
        self.model = MarlinSim(self.config, now=time.monotonic())
        self._master: int | None = None
        self._slave_path: str | None = None
        self._host_connected = False
        self._pending_out = bytearray()
        self._requests: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public API -------------------------------------------------------------------------------
    @property
    def slave_path(self) -> str:
        """Path a host opens (``/dev/pts/N``); the symlink `link` points here when given."""
        if self._slave_path is None:
            raise RuntimeError("PtySimulator not started (or unplugged)")
        return self._slave_path

    @property
    def host_connected(self) -> bool:
        """Whether a host currently holds the slave open (as far as the I/O loop has seen)."""
        return self._host_connected

    def start(self) -> None:
        """Create the pty (and symlink) and start the I/O thread."""
        if self._thread is not None:
            return
        if self._wake_r < 0:
            self._wake_r, self._wake_w = os.pipe()
        with self.lock:
            # Output printed before any host could listen (the power-up banner) is lost, as on
            # a board that booted before the port was opened; keeps what a host sees deterministic.
            self.model.read_output()
        self._open_pty()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mqttprint-sim-pty", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, close the pty, remove the symlink. Idempotent."""
        thread = self._thread
        if thread is not None:
            self._stopping.set()
            self._poke()
            thread.join(timeout=5)
            self._thread = None
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def reset(self) -> None:
        """Simulated DTR pulse / power cycle: the model reboots and prints its banner."""
        with self.lock:
            self.model.reset(time.monotonic())
        self._poke()

    def unplug(self) -> None:
        """The USB cable is pulled: the master closes (host I/O fails) and the symlink goes."""
        self._in_loop(self._close_pty)

    def replug(self) -> None:
        """Plug back in: a new pty (new slave path), symlink re-pointed, board power-cycled."""

        def plug() -> None:
            if self._master is None:
                with self.lock:
                    self.model.reset(time.monotonic())
                    self.model.release_output()  # a new connection: nothing held is delivered
                    self.model.read_output()  # nobody can be listening yet (see start())
                self._open_pty()

        self._in_loop(plug)

    def hold_output(self, after_lines: int = 0) -> None:
        """Keep the firmware's output back after `after_lines` more lines (`MarlinSim.hold_output`);
        re-arming a hold that is in effect first hands out what it kept back."""
        with self.lock:
            self.model.hold_output(after_lines)
        self._poke()

    def release_output(self) -> None:
        """Hand out what `hold_output` kept back (the I/O loop writes it at once)."""
        with self.lock:
            self.model.release_output()
        self._poke()

    @property
    def output_held(self) -> bool:
        """True while the firmware's output is held back."""
        with self.lock:
            return self.model.output_held

    def __enter__(self) -> PtySimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- pty management (I/O thread, or caller before start/after stop) -------------------------
    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw slave: no echo (a host would read its own commands back), no CR/LF mangling.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._slave_path = os.ttyname(slave)
        # Our slave fd is closed right away: only the host should hold the slave, so the
        # master reports EIO exactly when no host is connected.
        os.close(slave)
        self._master = master
        self._host_connected = False
        self._pending_out.clear()
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(self._slave_path, tmp)
            os.replace(tmp, self.link)  # atomic re-point: hosts never see a missing link mid-swap

    def _close_pty(self) -> None:
        if self._master is not None:
            os.close(self._master)
            self._master = None
        self._slave_path = None
        self._host_connected = False
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    def _in_loop(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the I/O thread (fd changes must not race a select on the same fd)."""
        if self._thread is None or not self._thread.is_alive():
            fn()
            return
        done = threading.Event()
        self._requests.put((fn, done))
        self._poke()
        if not done.wait(timeout=5):
            raise TimeoutError("pty simulator I/O thread did not respond")

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except OSError:
            pass  # pipe already closed: the loop is gone anyway

    # -- I/O loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._serve_requests()
            master = self._master
            timeout = self._wait_time()
            readers = [self._wake_r] + ([master] if master is not None else [])
            writers = [master] if master is not None and self._pending_out and self._host_connected else []
            try:
                readable, writable, _ = select.select(readers, writers, [], timeout)
            except (OSError, ValueError):
                continue  # fd closed under us by a request; the next round uses the new state
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
            data = b""
            was_connected = self._host_connected
            if master is not None:
                if master in readable:
                    data = self._read_master(master)
                elif not readable:
                    self._host_connected = True  # a timed-out select means no hangup: host is there
            with self.lock:
                now = time.monotonic()
                if self._host_connected and not was_connected and self.reset_on_open:
                    self.model.reset(now)
                if data:
                    self.model.receive(data, now)
                self.model.advance(now)
                out = self.model.read_output()
            if out and self._host_connected:
                self._pending_out += out
                del self._pending_out[:-_MAX_PENDING_OUT]
            if master is not None and self._pending_out and (writable or out):
                self._write_master(master)

    def _serve_requests(self) -> None:
        while True:
            try:
                fn, done = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            finally:
                done.set()

    def _wait_time(self) -> float:
        if self._master is not None and not self._host_connected:
            return _POLL_CLOSED
        with self.lock:
            next_event = self.model.next_event_time()
        if next_event is None:
            return _MAX_WAIT
        return min(_MAX_WAIT, max(0.0, next_event - time.monotonic()))

    def _read_master(self, master: int) -> bytes:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            # No host holds the slave: forget queued output and poll gently.
            self._host_connected = False
            self._pending_out.clear()
            self._stopping.wait(_POLL_CLOSED)
            return b""
        self._host_connected = True
        return data

    def _write_master(self, master: int) -> None:
        try:
            written = os.write(master, self._pending_out)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            self._host_connected = False
            self._pending_out.clear()
            return
        del self._pending_out[:written]


def build_parser() -> argparse.ArgumentParser:
    """``python -m mqttprint.sim.pty_link``: the same options as ``mqttprint simulate``."""
    return options.add_arguments(argparse.ArgumentParser(
        prog="mqttprint simulate", description="Run the built-in Marlin simulator on a pty."))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and `serve`."""
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """``mqttprint simulate``: print the slave path, serve until SIGINT/SIGTERM."""
    try:
        config = options.config_from_args(args)
    except ValueError as exc:
        print(f"mqttprint simulate: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = PtySimulator(config, link=args.link, reset_on_open=args.reset_on_open)
    sim.start()
    try:
        print(sim.slave_path, flush=True)
        if args.link:
            print(f"{args.link} -> {sim.slave_path}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover - manual use
    raise SystemExit(main())
