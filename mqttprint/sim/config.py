"""Configuration knobs of the built-in Marlin simulator.

Every knob maps to a Marlin build option or to a fault a host must survive on real hardware;
the defaults reproduce a stock Marlin 2.1.2.1 build on a classic 128-byte-RX UART board.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimConfig:
    """Immutable simulator configuration (see `mqttprint.sim.marlin.MarlinSim`).

    Buffers
        rx_buffer_size: bytes in the UART RX ring; like Marlin's ring buffer one slot stays
            empty, so at most ``rx_buffer_size - 1`` bytes wait there. Extra bytes are dropped.
        bufsize: command ring slots (Marlin ``BUFSIZE``); the executing command keeps its slot.
        planner_blocks: Marlin ``BLOCK_BUFFER_SIZE``; one block is always kept free, so
            ``planner_blocks - 1`` moves can be queued.
        max_cmd_size: Marlin ``MAX_CMD_SIZE``; ``max_cmd_size - 1`` characters of a line are kept.

    Protocol options
        emergency_parser: ``EMERGENCY_PARSER`` (M108/M112/M410/M524/M876 caught byte-by-byte).
        advanced_ok: ``ADVANCED_OK`` (``ok N<n> P<planner free> B<ring free>``).
        ok_after_resend: False reproduces 2.0.9.x-era builds that send ``Resend:`` with no ``ok``.
        host_action_commands / prompt_support / sdcard / autoreport_temp / autoreport_pos:
            capabilities announced by M115 and honoured by the command handlers.

    Fault injection (reproducible through ``seed``)
        checksum_error_rate: probability that a valid numbered line is answered as corrupted
            (error triple; the line is neither accepted nor executed).
        drop_ok_rate: probability that an ``ok`` line is silently lost - any line starting with
            ``ok``: command acks, M105's ``ok T:...`` and the ``ok`` after ``Resend:``.
        ok_latency: seconds every ``ok`` line spends "in the USB adapter" (FTDI latency timer);
            output is a FIFO, so lines queued after a delayed ``ok`` wait behind it.

    Timing (simulated seconds)
        move_timing: True makes G0/G1 take distance/feedrate and fill the planner, and G28
            take ``homing_time``; False completes moves and homing instantly.
        heating_rate: maximum heating/cooling slope in degrees per second.
        keepalive_interval: ``M113`` default (``echo:busy: processing`` period); 0 disables.
        residency_time: ``TEMP_RESIDENCY_TIME``/``TEMP_BED_RESIDENCY_TIME`` for M109/M190.
        boot_delay: time between reset and the ``start`` banner (bootloader); bytes received
            before the banner are discarded like a bootloader would.
        homing_time: duration of G28 when ``move_timing`` is on.

    Inspection
        journal_limit: most entries each inspection log (`executed`, `received_lines`, ...)
            keeps; beyond it the oldest half is dropped, so a long demo or soak run stays flat
            in memory (a print adds ~2.5 MB a minute otherwise). 0 keeps everything.

    Filament sensor
        runout_after_line: when > 0, the filament "runs out" just before the first host line
            numbered at least this is executed (once per boot): Marlin's runout with
            ``FILAMENT_RUNOUT_SCRIPT "M600"`` - ``//action:paused filament_runout 0``, then an
            injected M600 ahead of the host's queued lines.
        time_scale: simulated seconds per real second for the in-process port (``sim://``; the
            pty simulator runs in real time); 10 makes a 100 s print take 10 s. Host timeouts
            stay in real time.
    """

    rx_buffer_size: int = 128
    bufsize: int = 4
    planner_blocks: int = 16
    max_cmd_size: int = 96
    emergency_parser: bool = True
    advanced_ok: bool = False
    ok_after_resend: bool = True
    checksum_error_rate: float = 0.0
    drop_ok_rate: float = 0.0
    seed: int = 0
    move_timing: bool = False
    heating_rate: float = 100.0
    keepalive_interval: float = 2.0
    residency_time: float = 10.0
    ok_latency: float = 0.0
    boot_delay: float = 0.0
    homing_time: float = 0.5
    firmware_name: str = "Marlin"
    version: str = "2.1.2.1"
    machine_type: str = "3D Printer"
    uuid: str = "cede2a2f-41a2-4748-9b12-c55c62f367ff"
    autoreport_temp: bool = True
    autoreport_pos: bool = True
    host_action_commands: bool = True
    prompt_support: bool = True
    sdcard: bool = False
    journal_limit: int = 100_000
    runout_after_line: int = 0
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.rx_buffer_size < 2:
            raise ValueError("rx_buffer_size must be >= 2 (one ring slot always stays empty)")
        if self.bufsize < 1:
            raise ValueError("bufsize must be >= 1")
        if self.planner_blocks < 2:
            raise ValueError("planner_blocks must be >= 2 (one block always stays empty)")
        if self.max_cmd_size < 2:
            raise ValueError("max_cmd_size must be >= 2")
        for name in ("checksum_error_rate", "drop_ok_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        for name in ("heating_rate", "time_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.journal_limit < 0:
            raise ValueError("journal_limit must be >= 0 (0: unbounded)")
        if self.runout_after_line < 0:
            raise ValueError("runout_after_line must be >= 0 (0 = no runout)")
        for name in ("keepalive_interval", "residency_time", "ok_latency", "boot_delay", "homing_time"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @property
    def rx_capacity(self) -> int:
        """Bytes the RX ring can hold (one slot is sacrificed to tell full from empty)."""
        return self.rx_buffer_size - 1

    @property
    def planner_capacity(self) -> int:
        """Moves the planner can hold (``BLOCK_BUFFER_SIZE - 1``)."""
        return self.planner_blocks - 1

    @property
    def full_version(self) -> str:
        """``Marlin 2.1.2.1``: the banner line and the start of FIRMWARE_NAME."""
        return f"{self.firmware_name} {self.version}"
