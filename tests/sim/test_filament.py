"""The simulator's filament sensor and M600 (the lines a host sees, in Marlin's order)."""

from __future__ import annotations

import functools

from mqttprint.sim.config import SimConfig
from mqttprint.sim.marlin import MarlinSim


class Board:
    def __init__(self, config: SimConfig) -> None:
        self.sim = MarlinSim(config, now=0.0)
        self.now = 0.0
        self.run()

    def run(self, data: bytes = b"", seconds: float = 0.5) -> list[str]:
        self.now += seconds
        if data:
            self.sim.receive(data, self.now)
        self.sim.advance(self.now)
        return self.sim.read_output().decode().splitlines()


def numbered(n: int, command: str) -> bytes:
    body = f"N{n} {command}"
    return f"{body}*{functools.reduce(lambda a, b: a ^ b, body.encode(), 0)}\n".encode()


def test_m600_parks_asks_twice_and_resumes_with_one_ok() -> None:
    board = Board(SimConfig())
    assert board.run(b"M600\n")[:2] == ["//action:paused", "//action:prompt_end"]
    assert "echo:busy: paused for user" in board.run(seconds=3)
    assert board.run(b"M876 S0\n")[-2:] == ["//action:prompt_button Continue", "//action:prompt_show"]
    assert "ok" not in board.run(b"M876 S0\n")  # PurgeMore: asked again, M600 not done
    done = board.run(b"M876 S1\n")
    assert done[-6:] == ["//action:prompt_end", "//action:resumed", "ok", "ok", "ok", "ok"]  # M600 + three M876 copies


def test_runout_before_a_numbered_line_injects_m600_ahead_of_the_queue() -> None:
    board = Board(SimConfig(runout_after_line=3))
    out = board.run(numbered(1, "G1 X1") + numbered(2, "G1 X2") + numbered(3, "G1 X3"))
    assert out[:3] == ["ok", "ok", "//action:paused filament_runout 0"]
    assert board.sim.executed == ["G1 X1", "G1 X2"]  # N3 waits behind the runout's M600
    board.run(b"M876 S1\n")
    out = board.run(b"M876 S1\n")
    assert "//action:resumed" in out and board.sim.executed[2] == "G1 X3"
    assert board.sim.prompt_responses == [1, 1]


def test_inject_runout_while_idle() -> None:
    board = Board(SimConfig())
    board.sim.inject_runout()
    assert board.run()[:2] == ["//action:paused filament_runout 0", "//action:paused"]
