"""The one I/O loop: many printers on one thread, one printer's failure stays its own, fd loss.

Real parts: in-process sim:// ports (selectable through their readiness pipe) and a simulator
behind a real pty (PtySimulator, which can unplug the port). Waits are on events and line
counts, never on the host's speed.
"""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from mqttprint.protocol.events import JobEnded, JobOutcome
from mqttprint.protocol.params import EngineParams
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.io_loop import IoLoop, shared_loop
from mqttprint.runtime.port_channels import FdChannel, PortChannel, ThreadedChannel
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings, SerialLink, channel_for, open_port
from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator
from tests.helpers import ListJob, Recorder, moves, wait_for

pytestmark = pytest.mark.integration


def start_printer(name: str, port: str) -> tuple[PrinterService, Recorder]:
    bus = EventBus()
    recorder = Recorder(bus)
    settings = LinkSettings(port=port, reconnect_min=0.1, reconnect_max=0.3)
    service = PrinterService(name, settings, EngineParams(position_interval=0, ok_timeout=5.0), bus)
    service.start()
    return service, recorder


def executed_moves(service: PrinterService) -> list[str]:
    port = service.link.port
    with port.lock:  # type: ignore[union-attr]
        return [c for c in port.model.executed if c.startswith("G1 X")]  # type: ignore[union-attr]


def gateway_threads() -> list[str]:
    """Threads of the gateway side (the simulators' own time threads are the printers', not ours)."""
    return sorted(t.name for t in threading.enumerate() if t.name != "mqttprint-sim-port")


def settled_threads() -> list[str]:
    # A port opens on a short-lived thread; wait until every such opener has finished.
    wait_for(lambda: not [n for n in gateway_threads() if n.startswith("serial-open-")], what="openers done")
    return gateway_threads()


def test_many_printers_one_loop_thread_every_job_exactly_once() -> None:
    first, _ = start_printer("p0", "sim://marlin?checksum_error_rate=0.02&seed=1")
    printers = [(first, _)]
    try:
        wait_for(lambda: first.snapshot().operational, what="p0 operational")
        with_one = settled_threads()
        for i in range(1, 8):
            printers.append(start_printer(f"p{i}", f"sim://marlin?checksum_error_rate=0.02&seed={i + 1}"))
        wait_for(lambda: all(s.snapshot().operational for s, _ in printers), what="all operational")
        assert settled_threads() == with_one  # eight printers, the same threads as one
        assert [t for t in with_one if t == shared_loop().name] == [shared_loop().name]
        lines = moves(400)
        for service, _ in printers:
            service.start_job(ListJob(lines))
        for service, recorder in printers:
            wait_for(lambda: recorder.events(JobEnded), what=f"{service.printer_id}'s job ended")
            assert recorder.events(JobEnded)[0].outcome is JobOutcome.DONE
            assert executed_moves(service) == lines  # in order, no line twice, none missing
        assert all(s.link.running(5.0) for s, _ in printers)
    finally:
        for service, _ in printers:
            service.stop()


def test_one_printers_engine_failure_never_stops_the_others() -> None:
    broken, _ = start_printer("broken", "sim://marlin")
    healthy = [start_printer(f"ok{i}", "sim://marlin") for i in range(2)]
    try:
        wait_for(lambda: broken.snapshot().operational and all(s.snapshot().operational for s, _ in healthy),
                 what="all operational")

        def explode(data: bytes, now: float) -> list:
            raise RuntimeError("engine bug")

        broken.link.engine.receive_data = explode  # type: ignore[method-assign]
        broken.submit("M105")  # its reply makes the engine raise on the loop thread
        wait_for(lambda: "internal error: engine bug" in broken.link.last_error, what="the broken link reset")
        lines = moves(300)
        for service, _ in healthy:
            service.start_job(ListJob(lines))
        for service, recorder in healthy:
            wait_for(lambda: recorder.events(JobEnded), what="the healthy printers' jobs")
            assert recorder.events(JobEnded)[0].outcome is JobOutcome.DONE
            assert executed_moves(service) == lines
            [m105] = service.submit("M105")
            assert m105.result(10).ok
        assert broken.link.running(5.0)  # reset, reconnecting: still serviced
        del broken.link.engine.receive_data  # the bug is gone: the printer comes back by itself
        wait_for(lambda: broken.snapshot().operational, what="the broken printer back")
    finally:
        broken.stop()
        for service, _ in healthy:
            service.stop()


def test_a_lost_port_is_that_printers_alone_and_it_comes_back(tmp_path: Path) -> None:
    link = tmp_path / "printer"
    simulator = PtySimulator(SimConfig(), link=str(link))
    simulator.start()
    unplugged, _ = start_printer("pty", str(link))
    other, other_events = start_printer("sim", "sim://marlin?move_timing=1")
    try:
        wait_for(lambda: unplugged.snapshot().operational and other.snapshot().operational, what="both operational")
        lines = moves(150, feed=60000)
        other.start_job(ListJob(lines))
        wait_for(lambda: len(executed_moves(other)) >= 10, what="the other printer streaming")
        simulator.unplug()  # the pty vanishes: reads fail with EIO, the fd is gone
        wait_for(lambda: not unplugged.snapshot().operational and unplugged.link.last_error, what="the pty printer offline")
        wait_for(lambda: other_events.events(JobEnded), what="the other printer's job")
        assert other_events.events(JobEnded)[0].outcome is JobOutcome.DONE
        assert executed_moves(other) == lines
        simulator.replug()
        wait_for(lambda: unplugged.snapshot().operational, what="the pty printer back")
        [m105] = unplugged.submit("M105")
        assert m105.result(10).ok
    finally:
        unplugged.stop()
        other.stop()
        simulator.stop()


def test_emergency_finishes_a_half_written_line_and_m112_drops_what_was_not_written() -> None:
    """EAGAIN left the loop mid-line: the emergency completes that line (the firmware would
    otherwise see one garbled line), writes itself, and after M112 nothing older follows."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    loop = IoLoop("test-io")
    link = SerialLink("t", LinkSettings(port="unused", autoconnect=False), EngineParams(), lambda events: None, loop=loop)
    try:
        link._channel = FdChannel(port=None, fd=write_end)
        os.write(write_end, b"N5 G1 ")  # what the kernel took of the loop's last write
        link._pending, link._line_open = b"X1*12\nN6 G1 X2*13\n", True
        link.emergency("M108")
        assert os.read(read_end, 100) == b"N5 G1 X1*12\nM108\n"
        assert link._pending == b"N6 G1 X2*13\n"  # written later, by the loop, when writable
        link._pending, link._line_open = b"G1 Y2*7\nN8 G1 X3*1\n", True
        link.emergency("M112")
        assert os.read(read_end, 100) == b"G1 Y2*7\nM112\n"
        assert link._pending == b"" and link._halted
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_write_the_kernel_cuts_short_goes_out_whole_and_in_order_once_writable() -> None:
    """A non-blocking write that meets a full buffer (EAGAIN) keeps the rest and the loop writes
    it when the fd is writable again: nothing lost, nothing reordered, no other printer waits."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filled = 0
    while True:  # fill the pipe: the next write gets EAGAIN
        try:
            filled += os.write(write_end, b"f" * 4096)
        except BlockingIOError:
            break
    loop = IoLoop("test-io-eagain")
    link = SerialLink("t", LinkSettings(port="unused", autoconnect=False), EngineParams(), lambda events: None, loop=loop)
    link._channel = FdChannel(port=SimpleNamespace(close=lambda: None), fd=write_end)
    link.start()
    lines = b"".join(b"N%d G1 X%d*1\n" % (i, i) for i in range(500))
    try:
        assert link.call(lambda engine, now: link._write(lines)).result(10)
        assert link._pending  # the kernel took none of it yet
        received = bytearray()
        while len(received) < filled + len(lines):
            received += os.read(read_end, 65536)  # the loop writes more as the pipe drains
        assert bytes(received[filled:]) == lines
        wait_for(lambda: link._pending == b"", what="the pending bytes written")
    finally:
        link.stop()
        os.close(read_end)
        os.close(write_end)


def test_each_kind_of_port_gets_its_channel(tmp_path: Path) -> None:
    """A local pty is read through its fd, sim:// through its readiness pipe, a URL port without
    an fd (pyserial's loop://) through a reader thread that signals a pipe."""
    link = tmp_path / "printer"
    with PtySimulator(SimConfig(), link=str(link)):
        pty = channel_for(open_port(str(link), 115200, False), "pty")
        assert isinstance(pty, FdChannel)
        pty.close()
    sim = channel_for(open_port("sim://marlin", 115200, False), "sim")
    assert isinstance(sim, PortChannel)
    sim.close()
    echo = channel_for(open_port("loop://", 115200, False), "loop")
    assert isinstance(echo, ThreadedChannel)
    try:
        assert echo.write_now(b"N1 M105*1\n") == b""
        poller = select.poll()
        poller.register(echo.fd, select.POLLIN)
        received = b""
        while received != b"N1 M105*1\n":
            assert poller.poll(15_000), "the reader thread never signalled"
            received += echo.read_available()
    finally:
        echo.close()
    assert not [t for t in threading.enumerate() if t.name == "serial-read-loop"]


def test_an_emergency_a_full_port_cannot_take_goes_first_once_it_drains() -> None:
    """The caller waits only briefly for a stuck port (it holds the write lock, and the loop must
    not stall behind it); what the port did not take is the first thing the loop writes."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    filled = 0
    while True:
        try:
            filled += os.write(write_end, b"f" * 4096)
        except BlockingIOError:
            break
    loop = IoLoop("test-io-full")
    link = SerialLink("t", LinkSettings(port="unused", autoconnect=False), EngineParams(), lambda events: None, loop=loop)
    link._channel = FdChannel(port=SimpleNamespace(close=lambda: None), fd=write_end)
    link._pending = b"N9 G1 X1*1\n"  # a whole line the loop still owes the port
    link.start()
    try:
        link.emergency("M108")  # returns although the port takes nothing
        assert link._pending == b"M108\nN9 G1 X1*1\n"
        received = bytearray()
        while len(received) < filled + len(b"M108\nN9 G1 X1*1\n"):
            received += os.read(read_end, 65536)
        assert bytes(received[filled:]) == b"M108\nN9 G1 X1*1\n"
    finally:
        link.stop()
        os.close(read_end)
        os.close(write_end)
