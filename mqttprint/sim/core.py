"""State of one boot of the simulated MCU, plus the services command handlers use.

`Firmware` is recreated on every reset (so a reset wipes exactly what an MCU reset wipes);
`Journal` and `FaultInjector` live across resets because they belong to the test bench, not
to the board. Pure: time is the `now` attribute the main loop sets before each step.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Generator

from mqttprint.sim.config import SimConfig
from mqttprint.sim.eparser import EmergencyParser
from mqttprint.sim.heaters import Heaters
from mqttprint.sim.lineproto import LineAssembler
from mqttprint.sim.planner import Motion, Planner
from mqttprint.sim.txqueue import TxQueue

KILLED_LINE = "Error:Printer halted. kill() called!"
M112_KILL_REASON = "M112 Shutdown"
BUSY_PROCESSING = "processing"
BUSY_PAUSED_FOR_USER = "paused for user"

#: What a blocking handler yields: the simulated time it wants to be resumed at, or None to be
#: resumed at the next event of any kind (planner block done, M108 received, ...).
Wake = float | None
#: A blocking handler: a generator that finishes when the command is done (its ok follows).
HandlerGen = Generator[Wake, None, None]


class _NoOk:
    """Sentinel returned by handlers that print their own ``ok`` (M105) or none at all (M112)."""

    def __repr__(self) -> str:
        return "NO_OK"


NO_OK = _NoOk()


@dataclass(frozen=True)
class QueuedCommand:
    """One accepted line in the command ring.

    stored: the line as Marlin keeps it (``N``/checksum still attached, comment stripped).
    text: normalised command (``"G1 X10"``). number/number_text: leading ``N`` (verbatim text
    for ADVANCED_OK) or None for un-numbered lines.
    """

    stored: bytes
    text: str
    number: int | None
    number_text: str | None


@dataclass
class Journal:
    """Inspection logs; survive resets so tests can see "before" and "after". Each keeps at most
    `limit` entries (0: unbounded): past it, the oldest half goes (`trim`)."""

    executed: list[str] = field(default_factory=list)
    executed_numbers: list[int | None] = field(default_factory=list)
    received_lines: list[bytes] = field(default_factory=list)
    emergency_seen: list[str] = field(default_factory=list)
    prompt_responses: list[int] = field(default_factory=list)
    rx_dropped: int = 0
    bootloader_discarded: int = 0
    limit: int = 0
    #: lines ever received (`received_lines` may have been trimmed)
    received_total: int = 0

    def receive(self, raw: bytes) -> None:
        self.received_lines.append(raw)
        self.received_total += 1
        self.trim()

    def execute(self, text: str, number: int | None) -> None:
        self.executed.append(text)
        self.executed_numbers.append(number)
        self.trim()

    def trim(self) -> None:
        """Drop the oldest half of any log over `limit` (parallel logs together), in place."""
        if not self.limit:
            return
        for logs in ((self.executed, self.executed_numbers), (self.received_lines,), (self.emergency_seen,),
                     (self.prompt_responses,)):
            if len(logs[0]) > self.limit:
                drop = len(logs[0]) - self.limit // 2
                for log in logs:
                    del log[:drop]


class FaultInjector:
    """Seeded fault decisions; one `random.Random` per fault kind so they do not interact."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        # String seeds are hashed with SHA-512 by `random`, so this is stable across runs.
        self._checksum_rng = random.Random(f"{config.seed}:checksum")
        self._ok_rng = random.Random(f"{config.seed}:ok")
        self.injected_checksum_errors = 0
        self.dropped_oks = 0

    def corrupt_line(self) -> bool:
        """Decide whether this valid numbered line is answered as a checksum mismatch."""
        rate = self._config.checksum_error_rate
        if rate <= 0.0 or self._checksum_rng.random() >= rate:
            return False
        self.injected_checksum_errors += 1
        return True

    def lose_ok(self) -> bool:
        """Decide whether this ``ok`` line is lost on the wire."""
        rate = self._config.drop_ok_rate
        if rate <= 0.0 or self._ok_rng.random() >= rate:
            return False
        self.dropped_oks += 1
        return True


class Firmware:
    """Everything an MCU reset wipes, and the helpers handlers call to act on it."""

    def __init__(
        self,
        config: SimConfig,
        tx: TxQueue,
        heaters: Heaters,
        journal: Journal,
        faults: FaultInjector,
        now: float,
        reset_cause: str,
    ) -> None:
        self.config = config
        self.tx = tx
        self.heaters = heaters
        self.journal = journal
        self.faults = faults
        self.now = now
        self.reset_cause = reset_cause
        self.boot_at = now + config.boot_delay
        self.booted = False
        self.killed = False
        # Character and line layers.
        self.rx = bytearray()
        self.ep = EmergencyParser()
        self.assembler = LineAssembler(config.max_cmd_size)
        self.last_n = 0
        # Command ring; ring[0] is the executing command while `current` is set.
        self.ring: deque[QueuedCommand] = deque()
        self.current: HandlerGen | None = None
        self.current_wake: Wake = None
        self.wake_requested = False  # an emergency changed a flag a blocked handler polls
        # Machine state.
        self.motion = Motion.power_up()
        self.planner = Planner(config.planner_capacity)
        self.quickstops = 0
        self.fan_speed = 0
        self.wait_for_heatup = False
        self.wait_for_user = False
        self.prompt_reason: str | None = None
        self.prompt_choice: int | None = None  # the last M876 answer, for handlers that wait for one
        self.runout_fired = False
        self.runout_requested = False
        self.injected = False  # `current` runs a firmware-injected command (no ring slot, no ok)
        self.sd_abort_requested = False
        # Timers (absolute simulated times; None = off).
        self.keepalive_interval = config.keepalive_interval
        self.busy_state = BUSY_PROCESSING
        self.next_keepalive: float | None = None
        self.temp_report_interval = 0.0
        self.next_temp_report: float | None = None
        self.pos_report_interval = 0.0
        self.next_pos_report: float | None = None

    # -- output -------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        """Print one line now (no-op once killed: a halted Marlin is silent)."""
        if not self.killed:
            self.tx.emit(line, self.now)

    def emit_ok(self, line: str = "ok") -> None:
        """Print an ``ok``-line through the lossy, latent path (drop_ok_rate, ok_latency)."""
        if self.killed or self.faults.lose_ok():
            return
        self.tx.emit(line, self.now + self.config.ok_latency)

    def ack(self, entry: QueuedCommand) -> None:
        """``ok_to_send()``: plain ``ok`` or ADVANCED_OK ``ok N<n> P<p> B<b>``.

        Called while `entry` still occupies its ring slot, so an idle ring reports
        ``B<bufsize-1>`` exactly like Marlin.
        """
        if not self.config.advanced_ok:
            self.emit_ok("ok")
            return
        parts = ["ok"]
        if entry.number_text is not None:
            parts.append(f"N{entry.number_text}")
        parts.append(f"P{self.planner.free}")
        parts.append(f"B{self.config.bufsize - len(self.ring)}")
        self.emit_ok(" ".join(parts))

    def request_resend(self) -> None:
        """``flush_and_request_resend()``: ``Resend: <last+1>`` then (2.1) an unconditional ok."""
        self.emit(f"Resend: {self.last_n + 1}")
        if self.config.ok_after_resend:
            self.emit_ok("ok")

    # -- machine actions ------------------------------------------------------------------
    def kill(self, lcd_reason: str | None) -> None:
        """Marlin ``kill()``: optional ``echo:<reason>``, the halted line, then silence."""
        if self.killed:
            return
        if lcd_reason:
            self.emit(f"echo:{lcd_reason}")
        self.emit(KILLED_LINE)
        self.killed = True
        self.heaters.all_off(self.now)
        self.planner.clear(self.now)
        self.ring.clear()
        self.rx.clear()
        self.current = None
        self.current_wake = None
        self.next_keepalive = self.next_temp_report = self.next_pos_report = None

    def quickstop(self) -> None:
        """M410: drop all planned moves; position re-synced from where the steppers stopped."""
        stopped = self.planner.clear(self.now)
        if stopped is not None:
            self.motion.position = self.motion.logical_from_machine(stopped)
        self.quickstops += 1
        self.wake_requested = True

    def release_waits(self) -> None:
        """M108: ``wait_for_heatup = wait_for_user = false``."""
        self.wait_for_heatup = False
        self.wait_for_user = False
        self.wake_requested = True

    def prompt_response(self, choice: int) -> None:
        """M876 S<choice>: answer the open host prompt (a "continue" prompt releases M0/M1)."""
        self.journal.prompt_responses.append(choice)
        self.prompt_choice = choice
        if self.prompt_reason == "user_continue":
            self.wait_for_user = False
        self.prompt_reason = None
        self.wake_requested = True

    def show_prompt(self, text: str, buttons: list[str], reason: str) -> None:
        """``hostui.prompt_do``: prompt_end, prompt_begin, buttons, prompt_show."""
        self.prompt_reason = reason
        if not (self.config.host_action_commands and self.config.prompt_support):
            return
        self.emit("//action:prompt_end")
        self.emit(f"//action:prompt_begin {text}")
        for button in buttons:
            self.emit(f"//action:prompt_button {button}")
        self.emit("//action:prompt_show")

    def set_temp_report(self, interval: float) -> None:
        """M155 S<interval> (0 = off); the first report comes one interval from now."""
        self.temp_report_interval = max(0.0, interval)
        self.next_temp_report = self.now + interval if interval > 0 else None

    def set_pos_report(self, interval: float) -> None:
        """M154 S<interval> (0 = off)."""
        self.pos_report_interval = max(0.0, interval)
        self.next_pos_report = self.now + interval if interval > 0 else None
