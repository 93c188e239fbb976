"""Print jobs through the registry, with the simulator: exactly-once streaming, pause/resume/cancel,
emergency, reset and unplug mid-job, uploads and file rules."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Iterator

import pytest

from mqttprint.config import parse_config
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import JobEnded, JobOutcome
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry, Context, NotFound, Request
from mqttprint.runtime.file_store import FileStore, FileTooLarge, sanitize_name
from mqttprint.runtime.job_actions import JobsService, register_job_actions
from mqttprint.runtime.printer_actions import register_printer_actions
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.daemon import engine_params, link_settings
from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator
from tests.helpers import Recorder, stall_after, wait_for, wait_held

pytestmark = pytest.mark.integration


class Harness:
    def __init__(self, tmp_path: Path, port: str, **printer: object) -> None:
        spec = {"id": "p", "port": port, "ok_timeout": 3, "position_interval": 0,
                "pause_script": ["G91", "G1 Z5", "G90"], "resume_script": ["G91", "G1 Z-5", "G90"],
                "cancel_script": ["M104 S0", "M140 S0", "M84"]}
        spec.update(printer)
        self.config = parse_config({"printers": [spec], "storage": {"dir": str(tmp_path)}})
        self.bus = EventBus()
        self.recorder = Recorder(self.bus)
        pc = self.config.printers[0]
        self.printer = PrinterService("p", link_settings(pc), engine_params(pc, self.config), self.bus)
        self.store = FileStore(tmp_path / "uploads", 50 * 1024 * 1024)
        self.jobs = JobsService(self.config, self.store, {"p": self.printer}, self.bus, progress_interval=0.2)
        self.registry = CommandRegistry(Context({"p": self.printer}, "p"))
        register_printer_actions(self.registry)
        register_job_actions(self.registry, self.jobs)
        self.printer.start()
        self.jobs.start()
        wait_for(lambda: self.printer.snapshot().operational, what="operational")

    def do(self, action_name: str, **args: object) -> object:
        return self.registry.dispatch(Request(action_name, args, "p", "test")).data

    def upload(self, name: str, lines: list[str]) -> None:
        body = "; generated\n" + "\n".join(f"{line} ; c" if i % 7 == 0 else line for i, line in enumerate(lines)) + "\n\n"
        self.do("files.upload", name=name, stream=io.BytesIO(body.encode()))

    def model(self):  # type: ignore[no-untyped-def]
        return self.printer.link.port.model  # type: ignore[union-attr]

    def executed_moves(self) -> list[str]:
        with self.printer.link.port.lock:  # type: ignore[union-attr]
            return [c for c in self.model().executed if c.startswith("G1 X")]

    def ended(self) -> list[JobEnded]:
        return self.recorder.events(JobEnded)

    def close(self) -> None:
        self.jobs.stop()
        self.printer.stop()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, "sim://marlin?checksum_error_rate=0.02&seed=11")
    yield h
    h.close()


def moves(count: int) -> list[str]:
    return [f"G1 X{(i % 180) + 0.25:.2f} Y{(i * 13) % 180:.2f} E{i * 0.02:.3f} F9000" for i in range(count)]


def test_job_completes_exactly_once_in_order_despite_resends(harness: Harness) -> None:
    lines = moves(3000)
    harness.upload("cube.gcode", lines)
    assert harness.do("files.get", name="cube.gcode")["lines"] == 3000  # type: ignore[index]
    harness.do("job.start", file="cube.gcode")
    wait_for(lambda: bool(harness.ended()), timeout=60, what="job end")
    assert harness.ended()[0].outcome is JobOutcome.DONE
    assert harness.executed_moves() == lines
    assert harness.model().injected_checksum_errors > 10
    info = harness.do("job.status")
    assert info["progress"]["completion"] == 100.0 and info["state"] == "Operational"  # type: ignore[index]
    assert info["job"]["file"]["name"] == "cube.gcode"  # type: ignore[index]


def test_pause_resume_cancel_at_random_points(harness: Harness) -> None:
    lines = moves(4000)
    harness.upload("long.gcode", lines)
    rng = random.Random(5)
    port = harness.printer.link.port
    harness.do("job.start", file="long.gcode")
    for _ in range(3):
        # The simulator keeps its oks back after a random number of further lines: the job is
        # mid-stream when the pause arrives, however fast this machine is.
        stall_after(port, rng.randint(20, 600))  # type: ignore[arg-type]
        harness.do("job.pause", action="pause")
        port.release_output()  # type: ignore[union-attr]
        wait_for(lambda: harness.printer.snapshot().state is PrinterState.PAUSED, what="paused")
        sent = harness.printer.link.engine.job_lines_sent
        [m114] = harness.printer.submit("M114")  # interactive commands still flow while paused
        assert m114.result(10).ok
        assert harness.printer.link.engine.job_lines_sent == sent  # no job line while paused
        harness.do("job.pause", action="resume")
        wait_for(lambda: harness.printer.snapshot().state is PrinterState.PRINTING, what="printing again")
    stall_after(port, rng.randint(20, 600))  # type: ignore[arg-type]
    harness.do("job.cancel")
    port.release_output()  # type: ignore[union-attr]
    wait_for(lambda: bool(harness.ended()), what="cancelled")
    assert harness.ended()[0].outcome is JobOutcome.CANCELLED
    executed = harness.executed_moves()
    assert executed == lines[: len(executed)]  # in order, no duplicates, no gaps
    assert len(executed) < len(lines)
    with harness.printer.link.port.lock:  # type: ignore[union-attr]
        tail = harness.model().executed[-3:]
        pause_moves = [c for c in harness.model().executed if c in ("G1 Z5", "G1 Z-5")]
    assert tail == ["M104 S0", "M140 S0", "M84"]  # the cancel script ran last
    assert pause_moves == ["G1 Z5", "G1 Z-5"] * 3  # park and return, once per pause


def test_job_rules_and_409s(harness: Harness) -> None:
    with pytest.raises(NotOperational):
        harness.do("job.pause")
    with pytest.raises(NotOperational):
        harness.do("job.cancel")
    with pytest.raises(NotOperational):
        harness.do("job.restart")
    with pytest.raises(InvalidCommand):
        harness.do("job.start")  # nothing selected
    harness.upload("a.gcode", moves(2000))
    port = harness.printer.link.port
    port.hold_output(after_lines=50)  # type: ignore[union-attr]  # the job stays in progress until released
    harness.do("files.select", name="a.gcode", print=True)
    wait_held(port)  # type: ignore[arg-type]
    with pytest.raises(NotOperational):
        harness.do("job.start")  # already printing
    with pytest.raises(NotOperational):
        harness.do("files.delete", name="a.gcode")  # in use
    with pytest.raises(NotOperational):
        harness.do("files.upload", name="a.gcode", stream=io.BytesIO(b"G28\n"))  # overwrite while printing
    with pytest.raises(InvalidCommand):
        harness.do("job.pause", action="sideways")
    harness.do("job.pause", action="toggle")
    port.release_output()  # type: ignore[union-attr]
    wait_for(lambda: harness.printer.snapshot().state is PrinterState.PAUSED, what="paused")
    port.hold_output(after_lines=50)  # type: ignore[union-attr]
    harness.do("job.restart")
    wait_held(port)  # type: ignore[arg-type]
    assert harness.printer.snapshot().state is PrinterState.PRINTING
    harness.do("job.cancel")
    port.release_output()  # type: ignore[union-attr]
    wait_for(lambda: harness.printer.snapshot().state is PrinterState.OPERATIONAL, what="operational")
    harness.do("files.delete", name="a.gcode")
    with pytest.raises(NotFound):
        harness.do("files.get", name="a.gcode")


def test_m112_mid_job_sends_nothing_more(harness: Harness) -> None:
    harness.upload("b.gcode", moves(5000))
    port = harness.printer.link.port
    wire: list[bytes] = []
    original_write = port.write  # type: ignore[union-attr]

    def logging_write(data: bytes) -> int:  # every byte the host puts on the wire, in order
        wire.append(bytes(data))
        return original_write(data)

    port.write = logging_write  # type: ignore[union-attr, method-assign]
    harness.do("job.start", file="b.gcode")
    stall_after(port, 500)  # type: ignore[arg-type]  # mid-job whatever the host's speed
    harness.do("printer.emergency", command="M112")
    wait_for(lambda: harness.model().emergency_seen == ["M112"], what="M112 at the firmware")
    port.release_output()  # type: ignore[union-attr]
    wait_for(lambda: bool(harness.ended()), what="job failed")
    assert harness.ended()[0].outcome is JobOutcome.FAILED
    wait_for(lambda: harness.printer.snapshot().state is PrinterState.ERROR, what="error state")
    stream = b"".join(wire)
    first_m112 = stream.index(b"M112\n")
    after = stream[first_m112:].split(b"\n")
    assert not [line for line in after if b"G1 X" in line], after  # no job line after the M112
    assert harness.model().emergency_seen == ["M112"]
    assert harness.printer.snapshot().state is PrinterState.ERROR


def test_unplug_mid_job_fails_it_and_nothing_resumes(tmp_path: Path) -> None:
    link = tmp_path / "printer"
    simulator = PtySimulator(SimConfig(), link=str(link))
    simulator.start()
    h = Harness(tmp_path, str(link))
    try:
        h.upload("c.gcode", moves(20000))
        h.do("job.start", file="c.gcode")
        stall_after(simulator, 300)  # mid-job whatever the host's speed
        simulator.unplug()
        wait_for(lambda: bool(h.ended()), what="job failed")
        assert h.ended()[0].outcome is JobOutcome.FAILED
        simulator.replug()
        wait_for(lambda: h.printer.snapshot().operational, what="reconnected")
        time.sleep(0.2)
        assert h.printer.snapshot().state is PrinterState.OPERATIONAL  # the job did not silently resume
    finally:
        h.close()
        simulator.stop()


@pytest.mark.parametrize("name,expected", [
    ("my part.gcode", "my_part.gcode"), ("../../etc/x.gcode", "x.gcode"), ("a/b\\c.GCO", "c.GCO"), (".hidden.g", "hidden.g"),
])
def test_sanitize_name(name: str, expected: str) -> None:
    assert sanitize_name(name) == expected


@pytest.mark.parametrize("bad", ["", "x.stl", "..", "a\x00.gcode", "x" * 300 + ".gcode", "/"])
def test_sanitize_rejects(bad: str) -> None:
    with pytest.raises(InvalidCommand):
        sanitize_name(bad)


def test_store_limits_and_traversal(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "u", max_bytes=1000)
    with pytest.raises(FileTooLarge):
        store.save("big.gcode", io.BytesIO(b"G1 X1\n" * 500))
    assert store.list() == []
    store.save("ok.gcode", io.BytesIO(b"G28\n; c\n\nG1 X1"))
    assert store.get("ok.gcode").lines == 2
    for bad in ("../ok.gcode", "u/ok.gcode", "OK.gcode"):
        with pytest.raises(NotFound):
            store.path_of(bad)


def test_selected_thumbnail_follows_selection_and_reupload(harness: Harness) -> None:
    """Real slicer files (tests/fixtures/gcode/README.md): BambuStudio 01.09.07.52 has a 50x50 PNG,
    the PrusaSlicer 2.5.0 CLI file none."""
    from mqttprint.runtime.jobs import SelectedFileChanged

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
    bambu = (fixtures / "bambustudio-01.09.07.52_square_ring.gcode").read_bytes()
    prusa = (fixtures / "prusaslicer-2.5.0_box8x8x2.gcode").read_bytes()
    harness.do("files.upload", name="part.gcode", stream=io.BytesIO(bambu))
    harness.do("files.select", name="part.gcode")
    changes = harness.recorder.events(SelectedFileChanged)
    assert changes[-1].file == "part.gcode" and changes[-1].thumbnail.startswith(b"\x89PNG")
    harness.do("files.upload", name="part.gcode", stream=io.BytesIO(prusa))  # replaced: no thumbnail now
    changes = harness.recorder.events(SelectedFileChanged)
    assert changes[-1].file == "part.gcode" and changes[-1].thumbnail == b""
    harness.do("files.unselect")
    assert harness.recorder.events(SelectedFileChanged)[-1] == SelectedFileChanged(None, b"")
