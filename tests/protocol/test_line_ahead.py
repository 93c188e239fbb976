"""The ping-pong fast path (`Engine.line_ahead` / `commit_ahead`): writing the next job line the
moment a plain `ok` arrives, before the engine has processed that `ok`, must put exactly the bytes
on the wire that the ordinary order (process the `ok`, then `data_to_send`) would, under checksum
errors, resends, dropped `ok`s and busy keepalives. Two engine/simulator pairs with the same seed
run side by side in memory (virtual clock): one with the fast path, one without."""

from __future__ import annotations

from typing import Optional

import pytest

from mqttprint.protocol.events import JobEnded, JobOutcome, LineReceived, LineSent
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow
from mqttprint.protocol.states import PrinterState
from mqttprint.sim.config import SimConfig
from tests.helpers import ListJob
from tests.protocol.test_engine_sim_pair import Pair, executed_job_lines, job_lines


class Shell(Pair):
    """The serial link's order of calls, in memory: read, [fast write + commit], receive, tick,
    send, then offer the line ahead for the next read."""

    def __init__(self, params: EngineParams, sim_config: SimConfig, fast: bool) -> None:
        super().__init__(params, sim_config)
        self.fast = fast
        self.wire = bytearray()  # every byte written, in order
        self.fast_writes = 0
        self.ahead: Optional[bytes] = None

    def _write(self, data: bytes) -> None:
        self.wire += data
        self.sim.receive(data, self.now)

    def step(self) -> bool:
        self.sim.advance(self.now)
        data = self.sim.read_output()
        ahead, self.ahead = self.ahead, None
        if ahead is not None and data in (b"ok\n", b"ok\r\n"):
            self._write(ahead)
            self.engine.commit_ahead(ahead, self.now)
            self.fast_writes += 1
        if data:
            self.events += self.engine.receive_data(data, self.now)
        self.events += self.engine.tick(self.now)
        out = self.engine.data_to_send(self.now)
        if out:
            self._write(out)
        self.events += self.engine.drain_events()
        if self.fast:
            self.ahead = self.engine.line_ahead()
        return bool(out or data)


def print_job(lines: list[str], sim_config: SimConfig, fast: bool) -> Shell:
    shell = Shell(EngineParams(flow=Flow.PING_PONG, ok_timeout=5.0, position_interval=0, temperature_interval=0,
                               emit_traffic=True), sim_config, fast)
    shell.run(lambda: shell.engine.state is PrinterState.OPERATIONAL, max_time=60)
    shell.engine.start_job(ListJob(lines), shell.now)
    shell.run(lambda: any(isinstance(e, JobEnded) for e in shell.events))
    return shell


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("faults", [
    {},
    {"checksum_error_rate": 0.03},
    {"checksum_error_rate": 0.02, "drop_ok_rate": 0.002},
])
def test_fast_path_writes_exactly_what_the_ordinary_order_writes(seed: int, faults: dict) -> None:
    lines = job_lines(3000)
    config = SimConfig(seed=seed, **faults)
    ordinary = print_job(lines, config, fast=False)
    fast = print_job(lines, config, fast=True)
    for shell in (ordinary, fast):
        (ended,) = [e for e in shell.events if isinstance(e, JobEnded)]
        assert ended.outcome is JobOutcome.DONE
        assert executed_job_lines(shell.sim) == lines  # exactly once, in order
    assert fast.fast_writes > len(lines) // 2  # the fast path really carried the job
    assert ordinary.fast_writes == 0
    assert bytes(fast.wire) == bytes(ordinary.wire)
    # B/terminal's view: the same lines, in the wire's order (an `ok` before the line it let go)
    assert traffic(fast) == traffic(ordinary)


def traffic(shell: Shell) -> list[str]:
    return [(">> " + e.text) if isinstance(e, LineSent) else ("<< " + e.text) for e in shell.events
            if isinstance(e, (LineSent, LineReceived))]


def test_nothing_is_offered_ahead_outside_ping_pong_printing() -> None:
    shell = Shell(EngineParams(flow=Flow.WINDOW, position_interval=0, temperature_interval=0), SimConfig(), fast=True)
    shell.run(lambda: shell.engine.state is PrinterState.OPERATIONAL, max_time=60)
    assert shell.engine.line_ahead() is None  # operational, no job
    shell.engine.start_job(ListJob(job_lines(200)), shell.now)
    shell.run(lambda: any(isinstance(e, JobEnded) for e in shell.events))
    assert shell.fast_writes == 0  # window mode never takes the fast path


def test_a_line_ahead_that_is_no_longer_next_is_refused() -> None:
    shell = Shell(EngineParams(flow=Flow.PING_PONG, position_interval=0, temperature_interval=0), SimConfig(),
                  fast=True)
    shell.run(lambda: shell.engine.state is PrinterState.OPERATIONAL, max_time=60)
    shell.engine.start_job(ListJob(job_lines(50)), shell.now)
    shell.run(lambda: shell.ahead is not None)
    ahead = shell.ahead
    assert ahead is not None
    assert shell.engine.line_ahead() is not None  # a newer offer replaces the old one
    with pytest.raises(RuntimeError):
        shell.engine.commit_ahead(ahead, shell.now)  # not the bytes offered last
    with pytest.raises(RuntimeError):
        shell.engine.commit_ahead(b"N1 G28*18\n", shell.now)
