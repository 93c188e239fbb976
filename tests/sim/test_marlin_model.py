"""The pure Marlin model, driven with a virtual clock (no threads, no wall time)."""

from __future__ import annotations

from functools import reduce

import pytest

from mqttprint.sim.config import SimConfig
from mqttprint.sim.eparser import EmergencyParser
from mqttprint.sim.marlin import MarlinSim

IDLE_TEMPS = " T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0"
KILLED = "Error:Printer halted. kill() called!"


# -- helpers ---------------------------------------------------------------------------------
def frame(number: int, command: str) -> bytes:
    """``N<n> <cmd>*<xor>\\n`` exactly as a host frames a line (reference §1.2)."""
    body = f"N{number} {command}"
    return f"{body}*{reduce(lambda a, b: a ^ b, body.encode('ascii'), 0)}\n".encode("ascii")


def booted(**config: object) -> MarlinSim:
    """A model at t=0 whose banner has already been read."""
    sim = MarlinSim(SimConfig(**config))  # type: ignore[arg-type]
    sim.read_output()
    return sim


def lines(sim: MarlinSim) -> list[str]:
    return sim.read_output().decode("latin-1").splitlines()


def send(sim: MarlinSim, data: bytes, now: float | None = None) -> list[str]:
    """Deliver bytes at `now` (default: the model's current time); return the reply lines."""
    sim.receive(data, sim.now if now is None else now)
    sim.advance(sim.now)
    return lines(sim)


def run(sim: MarlinSim, until: float) -> list[tuple[float, str]]:
    """Advance event by event up to `until`; (time, line) for every output line."""
    out = [(sim.now, line) for line in lines(sim)]
    for _ in range(100_000):
        due = sim.next_event_time()
        if due is None or due > until:
            break
        sim.advance(due)
        out += [(sim.now, line) for line in lines(sim)]
    else:
        raise AssertionError("model never went idle")
    sim.advance(until)
    out += [(sim.now, line) for line in lines(sim)]
    return out


def texts(timed: list[tuple[float, str]]) -> list[str]:
    return [line for _, line in timed]


def hello(sim: MarlinSim) -> None:
    assert send(sim, b"N0 M110 N0*125\n") == ["ok"]


# -- boot -------------------------------------------------------------------------------------
def test_power_up_banner_then_external_reset_banner() -> None:
    sim = MarlinSim()
    first = lines(sim)
    assert first[:3] == ["start", "PowerUp", "Marlin 2.1.2.1"]
    assert any(line.startswith("echo:") for line in first)
    send(sim, b"N0 M110 N0*125\n" + frame(1, "G1 X5"))
    sim.reset(1.0)
    again = lines(sim)
    assert again[:3] == ["start", " External Reset", "Marlin 2.1.2.1"]
    assert sim.last_line_number == 0
    assert sim.position == (0.0, 0.0, 0.0, 0.0)


def test_bytes_before_the_banner_are_discarded() -> None:
    sim = MarlinSim(SimConfig(boot_delay=1.0))
    assert sim.read_output() == b""
    sim.receive(b"M105\n", 0.5)
    sim.advance(0.9)
    assert sim.read_output() == b""
    assert sim.next_event_time() == 1.0
    sim.advance(1.0)
    out = lines(sim)
    assert out[0] == "start" and "ok" not in " ".join(out)
    assert sim.executed == []


# -- line layer --------------------------------------------------------------------------------
def test_m110_hello_and_numbered_lines() -> None:
    sim = booted()
    hello(sim)
    assert send(sim, frame(1, "M105")) == ["ok" + IDLE_TEMPS]
    m110 = b"N101 M110 N100"
    assert send(sim, m110 + b"*%d\n" % reduce(lambda a, b: a ^ b, m110, 0)) == ["ok"]
    assert sim.last_line_number == 100
    assert send(sim, frame(101, "G90")) == ["ok"]
    assert sim.executed == ["M110 N0", "M105", "M110 N100", "G90"]
    assert sim.executed_numbers == [0, 1, 101, 101]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (frame(5, "M105"), "Error:Line Number is not Last Line Number+1, Last Line: 0"),
        (b"N1 M105\n", "Error:No Checksum with line number, Last Line: 0"),
        (b"N1 M105*99\n", "Error:checksum mismatch, Last Line: 0"),
        (b"N1 G1 X" + b"1" * 100 + b"*12\n", "Error:No Checksum with line number, Last Line: 0"),
    ],
    ids=["sequence", "no-checksum", "mismatch", "over-95-chars"],
)
def test_error_triples(line: bytes, message: str) -> None:
    sim = booted()
    hello(sim)
    assert send(sim, line) == [message, "Resend: 1", "ok"]
    assert sim.executed == ["M110 N0"]
    assert sim.last_line_number == 0


def test_error_flushes_the_rx_ring() -> None:
    sim = booted(keepalive_interval=0)
    hello(sim)
    # G4 blocks and three more commands fill the 4-slot ring, so the next lines wait in RX.
    send(sim, frame(1, "G4 S5") + frame(2, "G90") + frame(3, "G90") + frame(4, "G90"))
    send(sim, b"N5 G90*1\n" + frame(6, "M114") + b"M105\n")
    assert sim.rx_waiting > 0
    out = texts(run(sim, 6.0))
    assert out == ["ok", "ok", "ok", "ok", "Error:checksum mismatch, Last Line: 4", "Resend: 5", "ok"]
    assert sim.rx_waiting == 0
    assert "M114" not in sim.executed and "M105" not in sim.executed
    assert b"M105" not in sim.received_lines


def test_resend_cascade_with_several_lines_in_flight() -> None:
    sim = booted()
    hello(sim)
    corrupt = frame(2, "G1 X2").replace(b"X2", b"X3")
    out = send(sim, frame(1, "G1 X1") + corrupt + frame(3, "G1 X3") + frame(4, "G1 X4"))
    assert out == [
        "ok",
        "Error:checksum mismatch, Last Line: 1",
        "Resend: 2",
        "ok",
        "Error:Line Number is not Last Line Number+1, Last Line: 1",
        "Resend: 2",
        "ok",
        "Error:Line Number is not Last Line Number+1, Last Line: 1",
        "Resend: 2",
        "ok",
    ]
    assert send(sim, frame(2, "G1 X2") + frame(3, "G1 X3") + frame(4, "G1 X4")) == ["ok"] * 3
    assert sim.executed_numbers == [0, 1, 2, 3, 4]
    assert sim.position[0] == 4.0


def test_empty_and_comment_lines_get_no_reply() -> None:
    sim = booted()
    assert send(sim, b"\n\r\n; layer 2\n   \n") == []
    assert send(sim, b"M105 ; ask\n") == ["ok" + IDLE_TEMPS]
    assert sim.executed == ["M105"]
    assert sim.received_lines == [b"; layer 2", b"   ", b"M105 ; ask"]


def test_legacy_no_ok_after_resend() -> None:
    sim = booted(ok_after_resend=False)
    out = send(sim, b"N7 M105*1\n")
    assert out == ["Error:Line Number is not Last Line Number+1, Last Line: 0", "Resend: 1"]


# -- commands ----------------------------------------------------------------------------------
def test_m105_and_m114_exact_formats() -> None:
    sim = booted()
    assert send(sim, b"M105\n") == ["ok T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0"]
    assert send(sim, b"G1 X10 Y20 Z0.3 F3000\nM114\n") == [
        "ok",
        "X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120",
        "ok",
    ]
    send(sim, b"G91\nG1 X1 E2\nG90\nG92 X0\n")
    assert send(sim, b"M114\n") == ["X:0.00 Y:20.00 Z:0.30 E:2.00 Count X:880 Y:1600 Z:120", "ok"]


def test_m115_reports_firmware_and_capabilities_in_marlin_order() -> None:
    out = send(booted(), b"M115\n")
    assert out[0].startswith("FIRMWARE_NAME:Marlin 2.1.2.1 (")
    assert " SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0" in out[0]
    assert " MACHINE_TYPE:3D Printer EXTRUDER_COUNT:1" in out[0]
    assert out[-1] == "ok"
    caps = out[1:-1]
    assert all(line.startswith("Cap:") for line in caps)
    wanted = [
        "Cap:AUTOREPORT_POS:1",
        "Cap:AUTOREPORT_TEMP:1",
        "Cap:EMERGENCY_PARSER:1",
        "Cap:HOST_ACTION_COMMANDS:1",
        "Cap:PROMPT_SUPPORT:1",
    ]
    assert [caps.index(cap) for cap in wanted] == sorted(caps.index(cap) for cap in wanted)
    assert "Cap:EMERGENCY_PARSER:0" in send(booted(emergency_parser=False), b"M115\n")


def test_unknown_command_is_an_echo_plus_ok() -> None:
    assert send(booted(), b"G999 X1\n") == ['echo:Unknown command: "G999 X1"', "ok"]


def test_auto_reports_run_on_their_timers_even_while_blocked() -> None:
    sim = booted()
    assert send(sim, b"M155 S2\nM154 S3\n") == ["ok", "ok"]
    timed = run(sim, 6.0)
    assert timed == [
        (2.0, IDLE_TEMPS),
        (3.0, "X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0"),
        (4.0, IDLE_TEMPS),
        (6.0, IDLE_TEMPS),
        (6.0, "X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0"),
    ]
    send(sim, b"M154 S0\nG4 S3\n")
    blocked = run(sim, 10.0)
    assert (8.0, IDLE_TEMPS) in blocked and (8.0, "echo:busy: processing") in blocked
    assert (9.0, "ok") in blocked and (10.0, IDLE_TEMPS) in blocked


def test_g28_busy_lines_then_position_then_ok() -> None:
    sim = booted(move_timing=True, homing_time=5.0)
    send(sim, b"G1 X10 Y10\n")
    sim.advance(10.0)
    lines(sim)
    sim.receive(b"G28\n", 10.0)
    assert run(sim, 20.0) == [
        (12.0, "echo:busy: processing"),
        (14.0, "echo:busy: processing"),
        (15.0, "X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0"),
        (15.0, "ok"),
    ]
    assert send(booted(), b"G28 X\n") == ["X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0", "ok"]


def test_m109_waits_with_w_countdown_until_residency_is_over() -> None:
    sim = booted(residency_time=3.0, keepalive_interval=0)
    sim.receive(b"M109 S200\n", 0.0)
    timed = run(sim, 30.0)
    assert timed[-1][1] == "ok"
    waits = [line for _, line in timed[:-1]]
    assert all(line.startswith(" T:") and "/200.00" in line and " W:" in line for line in waits)
    assert waits[0] == " T:21.37 /200.00 B:21.20 /0.00 @:127 B@:0 W:?"
    countdown = [line.rsplit(" W:", 1)[1] for line in waits]
    numeric = [int(w) for w in countdown if w != "?"]
    assert countdown[: countdown.count("?")] == ["?"] * countdown.count("?")
    assert numeric == sorted(numeric, reverse=True) and numeric[0] <= 3
    assert [t for t, _ in timed[:-1]] == [float(i) for i in range(len(waits))]
    assert sim.temperatures["T0"][0] == pytest.approx(200.0, abs=1.0)


def test_m108_via_emergency_parser_breaks_m109_and_still_costs_an_ok() -> None:
    sim = booted()
    sim.receive(b"M109 S200\n", 0.0)
    assert run(sim, 0.5) == [(0.0, " T:21.37 /200.00 B:21.20 /0.00 @:127 B@:0 W:?")]
    assert send(sim, b"M108\n", 0.5) == ["ok", "ok"]
    assert sim.emergency_seen == ["M108"]
    assert sim.executed == ["M109 S200", "M108"]
    assert sim.temperatures["T0"][1] == 200.0


def test_m410_via_emergency_parser_flushes_the_planner() -> None:
    sim = booted(move_timing=True)
    send(sim, b"".join(b"G1 X%d F600\n" % (10 * i) for i in range(1, 6)))
    assert sim.planner_queued == 5
    assert send(sim, b"M410\n", 1.0) == ["ok"]
    assert sim.emergency_seen == ["M410"] and sim.planner_queued == 0
    assert sim.position[0] == pytest.approx(10.0)  # stopped at the end of the first 1 s move


def test_emergency_m112_gets_through_full_command_ring_and_full_rx_ring() -> None:
    sim = booted(move_timing=True)
    hello(sim)
    burst = b"".join(frame(n, f"G1 X{100 * (n % 2)} F6000") for n in range(1, 60))
    sim.receive(burst, 0.1)
    assert sim.planner_queued == 15 and sim.queued_commands == 4
    assert sim.rx_waiting == 127 and sim.rx_dropped > 0
    executed = list(sim.executed)
    lines(sim)
    sim.receive(frame(60, "M112"), 0.2)
    assert sim.emergency_seen == ["M112"] and sim.killed
    assert lines(sim) == ["echo:M112 Shutdown", KILLED]
    sim.receive(b"M105\n", 1.0)
    assert run(sim, 100.0) == []
    assert sim.executed == executed
    assert sim.next_event_time() is None


def test_emergency_parser_grammar() -> None:
    def fired(data: bytes) -> list[str]:
        parser = EmergencyParser()
        return [hit for hit in map(parser.feed, data) if hit is not None]

    assert fired(b"N12 M112*34\n") == ["M112"]
    assert fired(b"  M112\r") == ["M112"]
    assert fired(b"M1120\n") == ["M112"]  # Marlin ignores what follows the code
    assert fired(b"M876 S1\nM876\nM11\nG1 M112\nm112\n") == ["M876 S1"]
    assert fired(b"M108\nM410\nM524\n") == ["M108", "M410", "M524"]


def test_without_emergency_parser_numbered_m112_waits_its_turn() -> None:
    sim = booted(emergency_parser=False)
    hello(sim)
    send(sim, frame(1, "G4 S3") + frame(2, "M112"))
    assert not sim.killed and sim.emergency_seen == []
    assert texts(run(sim, 5.0)) == ["echo:busy: processing", "ok", "echo:M112 Shutdown", KILLED]
    assert sim.killed and sim.executed[-1] == "M112"


def test_inject_fault_and_host_action() -> None:
    sim = booted()
    sim.inject_host_action("paused")
    sim.inject_host_action("prompt_begin", "Filament runout")
    assert lines(sim) == ["//action:paused", "//action:prompt_begin Filament runout"]
    sim.inject_fault("thermal_runaway")
    assert lines(sim) == ["Error:Thermal Runaway, system stopped! Heater_ID: 0", KILLED]
    assert sim.killed and send(sim, b"M105\n") == []
    sim.reset(1.0)
    assert not sim.killed and lines(sim)[0] == "start"


def test_m118_m113_and_m0_with_prompt_answered_by_m876() -> None:
    sim = booted()
    out = send(sim, b"M118 A1 action:cancel\nM118 E1 hello\n")
    assert out == ["//action:cancel", "ok", "echo:hello", "ok"]
    assert send(sim, b"M113\nM113 S1\n") == ["echo:M113 S2", "ok", "ok"]
    sim.receive(b"M0 Change nozzle\n", 0.0)
    assert texts(run(sim, 1.0)) == [
        "//action:prompt_end",
        "//action:prompt_begin Change nozzle",
        "//action:prompt_button Continue",
        "//action:prompt_show",
        "echo:busy: paused for user",
    ]
    # The host answered the dialog itself, so no prompt_end follows; M0's ok, then M876's.
    assert send(sim, b"M876 S0\n", 1.5) == ["ok", "ok"]
    assert sim.emergency_seen == ["M876 S0"] and sim.prompt_responses == [0]


# -- flow control knobs ------------------------------------------------------------------------
def test_planner_full_withholds_the_ok_of_the_next_move() -> None:
    sim = booted(move_timing=True)
    replies = [send(sim, b"G1 X%d F6000\n" % (i % 2 * 100)) for i in range(1, 17)]
    assert replies[:15] == [["ok"]] * 15 and replies[15] == []
    assert texts(run(sim, 1.0)) == ["ok"]  # the first 1 s block finished: slot free
    assert sim.planner_queued == 15


def test_advanced_ok_format() -> None:
    sim = booted(advanced_ok=True, move_timing=True)
    assert send(sim, b"N0 M110 N0*125\n") == ["ok N0 P15 B3"]
    assert send(sim, b"G1 X10\n") == ["ok P14 B3"]
    assert send(sim, frame(1, "M105")) == ["ok T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0"]


def test_ok_latency_delays_ok_lines_and_what_follows_them() -> None:
    sim = booted(ok_latency=0.016)
    sim.receive(b"M105\nM118 after\n", 1.0)
    assert sim.read_output() == b""
    assert sim.next_event_time() == pytest.approx(1.016)
    sim.advance(1.016)
    assert lines(sim) == ["ok" + IDLE_TEMPS, "after", "ok"]


def _streaming_transcript(**config: object) -> tuple[bytes, list[int | None], MarlinSim]:
    """A well-behaved ping-pong host (rewinds on ``Resend:``) talking to a faulty sim."""
    sim = booted(**config)
    transcript = bytearray()
    n, now = 0, 0.0
    for _ in range(1000):
        if n > 40:
            break
        now += 0.01
        sim.receive(frame(n, "M110 N0" if n == 0 else f"G1 X{n}"), now)
        sim.advance(now)
        out = sim.read_output()
        transcript += out
        resend = [line for line in out.decode().splitlines() if line.startswith("Resend:")]
        n = int(resend[-1].split()[1]) if resend else n + 1
    return bytes(transcript), list(sim.executed_numbers), sim


def test_checksum_error_injection_is_seeded_and_never_executes_the_line() -> None:
    first, numbers, sim = _streaming_transcript(checksum_error_rate=0.2, seed=3)
    again, _, _ = _streaming_transcript(checksum_error_rate=0.2, seed=3)
    other, _, _ = _streaming_transcript(checksum_error_rate=0.2, seed=4)
    assert first == again and first != other
    assert sim.injected_checksum_errors > 0
    assert first.count(b"Error:checksum mismatch") == sim.injected_checksum_errors
    assert numbers == list(range(0, 41))


def test_drop_ok_is_seeded_and_commands_still_execute() -> None:
    def play(seed: int) -> tuple[list[str], MarlinSim]:
        sim = booted(drop_ok_rate=0.3, seed=seed)
        return send(sim, b"G90\n" * 30), sim

    out, sim = play(7)
    assert out == play(7)[0] and out != play(8)[0]
    assert sim.dropped_oks > 0 and out.count("ok") == 30 - sim.dropped_oks
    assert sim.executed == ["G90"] * 30


def test_rx_ring_drops_bytes_while_the_command_ring_is_full() -> None:
    sim = booted()
    send(sim, b"G4 S1\nG90\nG90\nG90\n")
    sim.receive(b"x" * 200, 0.5)
    assert sim.rx_waiting == 127 and sim.rx_dropped == 73
