"""The simulator's inspection journal is bounded (issue 12 item 15): long demos stay flat."""

from __future__ import annotations

from mqttprint.sim.config import SimConfig
from mqttprint.sim.inprocess_port import parse_sim_url
from tests.sim.test_marlin_model import booted, frame, send


def test_journal_keeps_at_most_the_limit_and_the_newest() -> None:
    sim = booted(journal_limit=100)
    for n in range(1, 1001):
        assert send(sim, frame(n, f"M117 L{n}"))[-1].startswith("ok")
    assert len(sim.executed) <= 100 and len(sim.received_lines) <= 100
    assert sim.executed[-1] == "M117 L1000" and len(sim.executed) == len(sim.executed_numbers)
    assert sim.executed_numbers[-1] == 1000


def test_hold_output_counts_lines_past_a_trim() -> None:
    sim = booted(journal_limit=10)
    for n in range(1, 31):
        send(sim, frame(n, "G91"))
    sim.hold_output(after_lines=2)
    assert send(sim, frame(31, "G91")) and not sim.output_held
    send(sim, frame(32, "G91"))
    assert sim.output_held


def test_default_is_bounded_and_zero_is_unbounded() -> None:
    assert SimConfig().journal_limit == 100_000
    assert parse_sim_url("sim://marlin?journal_limit=0")[1].journal_limit == 0
