"""The pty adapter, exercised by a host that uses nothing but os.open + termios."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path
from collections.abc import Iterator

import pytest

from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator

pytestmark = pytest.mark.integration

SAFETY_TIMEOUT = 5.0  # only bounds a hang; no assertion depends on it


def open_host(path: str | Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


def read_until(fd: int, marker: bytes) -> bytes:
    """Read until `marker` has been received (or EOF); fails the test on a hang."""
    buf = b""
    deadline = time.monotonic() + SAFETY_TIMEOUT
    while marker not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} from the simulator; got {buf!r}")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PtySimulator]:
    simulator = PtySimulator(SimConfig(), link=tmp_path / "printer")
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def test_host_talks_ping_pong_through_the_symlink(sim: PtySimulator, tmp_path: Path) -> None:
    link = tmp_path / "printer"
    assert os.readlink(link) == sim.slave_path
    fd = open_host(link)
    try:
        os.write(fd, b"N0 M110 N0*125\n")
        assert read_until(fd, b"ok\n") == b"ok\n"  # raw mode: no echo of the command
        os.write(fd, b"M105\n")
        assert read_until(fd, b"\n") == b"ok T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0\n"
    finally:
        os.close(fd)
    with sim.lock:
        assert sim.model.executed == ["M110 N0", "M105"]


def test_reset_prints_the_banner(sim: PtySimulator) -> None:
    fd = open_host(sim.slave_path)
    try:
        os.write(fd, b"M105\n")
        read_until(fd, b"ok")
        sim.reset()
        banner = read_until(fd, b"//action:prompt_end\n").decode().splitlines()
        assert banner[:3] == ["start", " External Reset", "Marlin 2.1.2.1"]
    finally:
        os.close(fd)


def test_host_can_close_and_reopen_the_port(sim: PtySimulator) -> None:
    for _ in range(2):
        fd = open_host(sim.slave_path)
        try:
            os.write(fd, b"M114\n")
            assert read_until(fd, b"ok\n") == b"X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0\nok\n"
        finally:
            os.close(fd)


def test_unplug_breaks_host_io_and_replug_restores_it(sim: PtySimulator, tmp_path: Path) -> None:
    link = tmp_path / "printer"
    fd = open_host(link)
    try:
        os.write(fd, b"M105\n")
        read_until(fd, b"ok")
        sim.unplug()
        assert not os.path.lexists(link)
        assert read_until(fd, b"never") == b""  # EOF: the device is gone
        with pytest.raises(OSError) as info:
            os.write(fd, b"M105\n")
        assert info.value.errno == errno.EIO
    finally:
        os.close(fd)
    sim.replug()
    assert os.readlink(link) == sim.slave_path
    fd = open_host(link)
    try:
        os.write(fd, b"M105\n")
        assert read_until(fd, b"\n") == b"ok T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0\n"
    finally:
        os.close(fd)


def test_cli_main_prints_the_slave_path_and_stops_on_sigterm(tmp_path: Path) -> None:
    link = tmp_path / "cli-printer"
    code = "import sys; from mqttprint.sim.pty_link import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--link", str(link), "--advanced-ok"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        slave = proc.stdout.readline().strip()
        assert slave.startswith("/dev/") and os.readlink(link) == slave
        fd = open_host(link)
        try:
            os.write(fd, b"N0 M110 N0*125\n")
            assert read_until(fd, b"\n") == b"ok N0 P15 B3\n"
        finally:
            os.close(fd)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SAFETY_TIMEOUT) == 0
        assert not os.path.lexists(link)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
