"""The printer runtime over real pseudo-terminals and the in-process sim:// port.

The simulator runs in another process (`mqttprint simulate`) or on its own thread behind a real
pty (PtySimulator, which lets the test unplug the port or reset the board), or in-process (sim://).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import FirmwareReset, JobEnded, JobOutcome, StateChanged
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings
from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator
from tests.helpers import ListJob, Recorder, stall_after, wait_for

pytestmark = pytest.mark.integration


def make_service(port: str, **params: object) -> tuple[PrinterService, Recorder]:
    bus = EventBus()
    recorder = Recorder(bus)
    defaults: dict[str, object] = {"position_interval": 0, "ok_timeout": 5.0}
    defaults.update(params)
    service = PrinterService("p", LinkSettings(port=port, reconnect_min=0.1, reconnect_max=0.5), EngineParams(**defaults), bus)  # type: ignore[arg-type]
    service.start()
    return service, recorder


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[str]:
    """`mqttprint simulate --link` in another process; yields the link path."""
    link = tmp_path / "printer"
    proc = subprocess.Popen([sys.executable, "-m", "mqttprint", "simulate", "--link", str(link)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(link.exists, 10, "the simulator's pty link")
        yield str(link)
    finally:
        proc.terminate()
        proc.wait(10)


def test_handshake_and_replies_over_pty_to_simulator_process(sim_process: str) -> None:
    service, recorder = make_service(sim_process)
    try:
        wait_for(lambda: service.snapshot().state is PrinterState.OPERATIONAL, what="operational")
        snapshot = service.snapshot()
        assert snapshot.firmware is not None and snapshot.firmware.name.startswith("Marlin")
        assert snapshot.capabilities.get("EMERGENCY_PARSER") is True
        [m115] = service.submit("M115")
        result = m115.result(5)
        assert result.ok and result.lines[0].startswith("FIRMWARE_NAME:Marlin")
        assert any(line == "Cap:EMERGENCY_PARSER:1" for line in result.lines)
        [m105] = service.submit("M105")
        assert m105.result(5).lines[0].startswith("ok T:")
        wait_for(lambda: "T0" in service.snapshot().temperatures, what="auto-reported temperatures")
    finally:
        service.stop()


def test_commands_from_eight_threads_nothing_lost_nothing_doubled(sim_process: str) -> None:
    service, _ = make_service(sim_process)
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        results: dict[str, object] = {}
        errors: list[BaseException] = []

        def worker(thread_no: int) -> None:
            try:
                for i in range(25):
                    # M118 echoes its text: each reply proves which command it answers.
                    [handle] = service.submit(f"M118 t{thread_no}c{i}")
                    results[f"t{thread_no}c{i}"] = handle
            except BaseException as exc:  # collected and re-raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(results) == 200
        for tag, handle in results.items():
            result = handle.result(20)  # type: ignore[attr-defined]
            assert result.ok, (tag, result)
            assert [line for line in result.lines if tag in line] == [line for line in result.lines if line.endswith(tag)]
            assert sum(1 for line in result.lines if line.endswith(tag)) == 1, (tag, result.lines)
    finally:
        service.stop()


def test_replies_captured_mid_stream_sim_url() -> None:
    service, recorder = make_service("sim://marlin")
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        model = service.link.port.model  # type: ignore[union-attr]
        lines = [f"G1 X{i % 100} Y{(i * 3) % 100} F6000" for i in range(3000)]
        service.start_job(ListJob(lines))
        stall_after(service.link.port, 200)  # type: ignore[arg-type]  # mid-job whatever the host's speed
        [m114] = service.submit("M114")
        [m105] = service.submit("M105")
        [m115] = service.submit("M115")
        service.link.port.release_output()  # type: ignore[union-attr]
        position = m114.result(10)
        assert position.ok and position.lines[0].startswith("X:") and "Count" in position.lines[0]
        assert m105.result(10).lines[0].startswith("ok T:")
        assert m115.result(10).lines[0].startswith("FIRMWARE_NAME:")
        wait_for(lambda: bool(recorder.events(JobEnded)), timeout=60, what="job end")
        assert recorder.events(JobEnded)[0].outcome is JobOutcome.DONE
        with model_lock(service):
            assert [c for c in model.executed if c.startswith("G1 ")] == lines
            # answered while the job was streaming: executed before its last line
            assert model.executed.index("M115") < model.executed.index(lines[-1])
    finally:
        service.stop()


class model_lock:
    """Hold the in-process simulator's lock while reading its model."""

    def __init__(self, service: PrinterService) -> None:
        self.lock = service.link.port.lock  # type: ignore[union-attr]

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_invalid_and_not_operational_are_rejected_before_sending() -> None:
    service, _ = make_service("sim://marlin", temperature_interval=0)
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        service.disconnect()
        with pytest.raises(NotOperational):
            service.submit("G28")  # disconnected
        service.connect()
        wait_for(lambda: service.snapshot().operational, what="operational again")
        before = len(service.link.port.model.executed)  # type: ignore[union-attr]
        for bad in ("G1 X1\x00", "N12 G1 X1", "G1 X" + "9" * 120, "M110 N5", "G1 X1\nG1 \x1b"):
            with pytest.raises(InvalidCommand):
                service.submit(bad)
        time.sleep(0.1)
        assert len(service.link.port.model.executed) == before  # type: ignore[union-attr]
    finally:
        service.stop()


def test_port_unplugged_and_replugged_over_pty(tmp_path: Path) -> None:
    link = tmp_path / "printer"
    simulator = PtySimulator(SimConfig(), link=str(link))
    simulator.start()
    service, recorder = make_service(str(link))
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        simulator.unplug()
        wait_for(lambda: service.snapshot().state is PrinterState.OFFLINE_AFTER_ERROR, what="offline after unplug")
        assert "lost" in service.snapshot().error or "cannot open" in service.snapshot().error
        time.sleep(0.3)  # a few reconnect attempts fail while the port is gone
        simulator.replug()
        wait_for(lambda: service.snapshot().operational, what="operational after replug")
        [m114] = service.submit("M114")
        assert m114.result(5).ok
    finally:
        service.stop()
        simulator.stop()


def test_firmware_reset_mid_stream_ends_job_and_reconnects(tmp_path: Path) -> None:
    link = tmp_path / "printer"
    simulator = PtySimulator(SimConfig(), link=str(link))
    simulator.start()
    service, recorder = make_service(str(link))
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        service.start_job(ListJob([f"G1 X{i % 50} F6000" for i in range(5000)]))
        stall_after(simulator, 300)  # mid-job whatever the host's speed
        simulator.reset()
        simulator.release_output()
        wait_for(lambda: bool(recorder.events(FirmwareReset)), what="reset noticed")
        wait_for(lambda: bool(recorder.events(JobEnded)), what="job ended")
        assert recorder.events(JobEnded)[0].outcome is JobOutcome.FAILED
        wait_for(lambda: service.snapshot().operational, what="handshake after reset")
        sent_after = service.link.engine.job_lines_sent
        time.sleep(0.2)
        assert service.link.engine.job_lines_sent == sent_after  # nothing more of the job
        [m114] = service.submit("M114")
        assert m114.result(5).ok
    finally:
        service.stop()
        simulator.stop()


@pytest.mark.parametrize("flow", ["ping-pong", "window"])
def test_m112_with_full_buffers_reaches_firmware_first(flow: str) -> None:
    from mqttprint.protocol.sendqueue import Flow

    service, recorder = make_service("sim://marlin?move_timing=1", flow=Flow(flow))
    try:
        wait_for(lambda: service.snapshot().operational, what="operational")
        port = service.link.port
        model = port.model  # type: ignore[union-attr]
        service.start_job(ListJob([f"G1 X{(i % 2) * 150} Y{(i % 3) * 70} F3000" for i in range(5000)]))
        # Ping-pong keeps one line in flight, so only the planner can be full; window mode also
        # fills the firmware's command ring.
        ring = 3 if flow == "window" else 1
        wait_for(lambda: model.planner_queued >= 15 and model.queued_commands >= ring, what="full buffers")
        with port.lock:  # type: ignore[union-attr]
            executed_before = len(model.executed)
        handle = service.emergency("M112")
        wait_for(lambda: service.snapshot().state is PrinterState.ERROR, what="error state")
        with port.lock:  # type: ignore[union-attr]
            assert model.emergency_seen == ["M112"]
            assert model.killed
            assert len(model.executed) <= executed_before + 1  # at most the move being executed finished
        assert handle.result(5).ok
        assert "M112" in service.snapshot().error
        ended = recorder.events(JobEnded)
        assert ended and ended[0].outcome is JobOutcome.FAILED
        with pytest.raises(NotOperational):
            service.submit("G28")
        # connect from Error resets the board (a new simulated power-up) and handshakes again
        service.connect()
        wait_for(lambda: service.snapshot().operational, what="operational after reconnect")
        assert [e.new for e in recorder.events(StateChanged)][-1] is PrinterState.OPERATIONAL
    finally:
        service.stop()
