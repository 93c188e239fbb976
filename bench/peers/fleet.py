"""N printers in this process, each a `PrinterService` on its own responder pty (shared by
bench/peers/scale.py and bench/peers/profile_serial.py).

`fleet()` starts the responders (one `bench/responder.py` per printer, or one
`bench/peers/multi_responder.py` serving every pty), builds one service per pty as the daemon
does, waits for every handshake, and stops everything on the way out.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stream import start_responder

from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings


class EndlessJob:
    """Unique ~32-byte G1 lines, generated lazily (N printers x a long job would not fit a list)."""

    def __init__(self, offset: int) -> None:
        self.name = "scale.gcode"
        self._i = offset * 1_000_000

    def next_line(self) -> str | None:
        i = self._i
        self._i += 1
        return f"G1 X{(i % 200) + 0.123:.3f} Y{(i * 7) % 200 + 0.5:.3f} E{(i % 100000) * 0.01:.4f}"


@dataclass
class Fleet:
    services: list[PrinterService]
    responders: list[subprocess.Popen]

    def start_jobs(self) -> None:
        """Every printer streams its own endless job."""
        for i, service in enumerate(self.services):
            service.start_job(EndlessJob(i))

    def lines_sent(self) -> list[int]:
        """Job lines each printer has written so far."""
        return [s.link.engine.job_lines_sent for s in self.services]


def _responders(n: int, delay_ms: float, shared: bool) -> tuple[list[subprocess.Popen], list[str]]:
    if shared:
        proc = subprocess.Popen([sys.executable, str(HERE / "multi_responder.py"), "--ptys", str(n),
                                 "--ok-delay-ms", str(delay_ms)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return [proc], [proc.stdout.readline().strip() for _ in range(n)]
    procs, paths = [], []
    for _ in range(n):
        proc, path = start_responder(delay_ms)
        procs.append(proc)
        paths.append(path)
    return procs, paths


@contextmanager
def fleet(n: int, flow: str, delay_ms: float = 0.0, shared_responder: bool = False,
          bus: EventBus | None = None) -> Iterator[Fleet]:
    """N operational printers (handshake done, no polls) on their responders."""
    responders, paths = _responders(n, delay_ms, shared_responder)
    services = [PrinterService(f"p{i}", LinkSettings(port=path, baudrate=115200),
                               EngineParams(flow=Flow(flow), temperature_interval=0, position_interval=0, ok_timeout=30),
                               bus or EventBus())
                for i, path in enumerate(paths)]
    try:
        for service in services:
            service.start()
        deadline = time.monotonic() + 30
        while not all(s.snapshot().operational for s in services):
            if time.monotonic() > deadline:
                raise RuntimeError("not every printer finished its handshake")
            time.sleep(0.02)
        yield Fleet(services, responders)
    finally:
        for service in services:
            service.stop()
        for proc in responders:
            proc.send_signal(signal.SIGTERM)
        for proc in responders:
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
