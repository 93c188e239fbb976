"""`sim://marlin`: the pyserial-like in-process port."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from mqttprint.sim.config import SimConfig
from mqttprint.sim.inprocess_port import PortNotOpenError, SimulatedPort, open_simulated_port

SAFETY_TIMEOUT = 5.0  # bounds a hang only


def read_until(port: SimulatedPort, marker: bytes) -> bytes:
    buf = b""
    for _ in range(1000):
        if marker in buf:
            return buf
        chunk = port.read(4096)
        if not chunk:
            raise AssertionError(f"timed out waiting for {marker!r}; got {buf!r}")
        buf += chunk
    raise AssertionError("too much output")


@pytest.fixture
def port() -> Iterator[SimulatedPort]:
    p = SimulatedPort(SimConfig(), timeout=SAFETY_TIMEOUT)
    p.open()
    read_until(p, b"//action:prompt_end\n")  # the power-up banner
    try:
        yield p
    finally:
        p.close()


def test_identity_and_round_trip(port: SimulatedPort) -> None:
    assert port.name == port.port == "sim://marlin" and port.is_open
    assert port.write(b"N0 M110 N0*125\n") == 15
    assert port.readline() == b"ok\n"
    port.write(b"M105\n")
    assert port.read(3) == b"ok "
    assert port.readline() == b"T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0\n"
    with port.lock:
        assert port.model.executed == ["M110 N0", "M105"]


def test_read_times_out_empty_and_buffers_are_resettable(port: SimulatedPort) -> None:
    port.timeout = 0.05
    assert port.read(10) == b""
    port.write(b"M114\n")
    assert port.in_waiting > 0
    port.reset_input_buffer()
    assert port.in_waiting == 0
    port.reset_output_buffer()
    port.flush()


def test_time_driven_output_arrives_without_writes() -> None:
    with SimulatedPort(SimConfig(residency_time=0.2), timeout=SAFETY_TIMEOUT) as p:
        p.reset_input_buffer()
        p.write(b"M109 S60\n")
        out = read_until(p, b"ok\n").decode().splitlines()
        assert out[0].endswith(" W:?") and out[-1] == "ok"


def test_m112_mid_stream_kills_and_silences() -> None:
    with SimulatedPort(SimConfig(move_timing=True), timeout=SAFETY_TIMEOUT) as p:
        read_until(p, b"//action:prompt_end\n")
        p.write(b"".join(b"G1 X%d F600\n" % (50 * (i % 2)) for i in range(1, 40)))
        p.write(b"M112\n")
        out = read_until(p, b"kill() called!\n").decode().splitlines()
        assert out[-2:] == ["echo:M112 Shutdown", "Error:Printer halted. kill() called!"]
        with p.lock:
            assert p.model.killed and p.model.emergency_seen == ["M112"]
            executed = len(p.model.executed)
        p.timeout = 0.1
        p.write(b"M105\n")
        assert p.read(100) == b""
        with p.lock:
            assert len(p.model.executed) == executed


def test_dtr_falling_edge_reboots_the_board(port: SimulatedPort) -> None:
    port.write(b"N0 M110 N0*125\nN1 G90*17\n")
    read_until(port, b"ok\nok\n")
    port.dtr = True
    port.dtr = False
    banner = read_until(port, b"//action:prompt_end\n").decode().splitlines()
    assert banner[:2] == ["start", " External Reset"]
    with port.lock:
        assert port.model.last_line_number == 0


def test_unplug_fails_io_until_replug(port: SimulatedPort) -> None:
    port.unplug()
    assert port.is_open  # the host has to find out through an I/O error
    for action in (lambda: port.read(1), lambda: port.write(b"M105\n"), lambda: port.in_waiting):
        with pytest.raises(OSError) as info:
            action()
        assert info.value.errno == errno.EIO
    port.close()
    with pytest.raises(FileNotFoundError):
        port.open()
    port.replug()
    port.open()
    assert read_until(port, b"\n").startswith(b"start\nPowerUp\n")


def test_io_on_a_closed_port_fails() -> None:
    p = SimulatedPort()
    with pytest.raises(PortNotOpenError):
        p.write(b"M105\n")
    p.unplug(errno.ENODEV)
    with pytest.raises(FileNotFoundError):
        p.open()


def test_read_until_and_readline_limits(port: SimulatedPort) -> None:
    port.write(b"M114\n")
    assert port.read_until(b"Y:") == b"X:0.00 Y:"
    assert port.readline(4) == b"0.00"
    assert port.readline() == b" Z:0.00 E:0.00 Count X:0 Y:0 Z:0\n"
    assert port.read_until(b"ok\n") == b"ok\n"
    port.timeout = 0.05
    assert port.readline() == b""


def test_open_simulated_port_from_url_with_knobs() -> None:
    port = open_simulated_port("sim://p1?advanced_ok=1&move_timing=true&seed=4&ok_latency=0", reset=True)
    try:
        assert port.name == "sim://p1" and port.is_open and port.timeout == 0.02
        assert port.config.advanced_ok and port.config.move_timing and port.config.seed == 4
        port.timeout = SAFETY_TIMEOUT
        banner = read_until(port, b" External Reset\n")
        if not banner.endswith(b"//action:prompt_end\n"):
            banner += read_until(port, b"//action:prompt_end\n")
        assert banner.startswith(b"start\nPowerUp\n")  # power-up on open, then the DTR pulse
        assert banner.count(b"start\n") == 2
        port.write(b"N0 M110 N0*125\n")
        assert port.readline() == b"ok N0 P15 B3\n"
    finally:
        port.close()
    for bad in ("sim://marlin?no_such_knob=1", "sim://marlin?advanced_ok=maybe", "serial:///dev/ttyACM0"):
        with pytest.raises(ValueError):
            open_simulated_port(bad)
