"""Typed firmware replies: one frozen dataclass per kind of line a printer sends.

`mqttprint.protocol.parser.parse_reply` turns one received text line into one of these.
Pure data; stdlib only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union


class ErrorKind(enum.Enum):
    """What an `Error:`/`!!` line is about; decides recoverable vs fatal handling."""

    LINE_NUMBER = "line_number"  # "Line Number is not Last Line Number+1" / "out of sequence" / "expected line"
    CHECKSUM = "checksum"  # "checksum mismatch" / "Wrong checksum" / "format error"
    MISSING_CHECKSUM = "missing_checksum"  # "No Checksum with line number" / "Missing checksum"
    MISSING_LINE_NUMBER = "missing_line_number"  # Prusa "No Line Number with checksum"
    KILLED = "killed"  # "Printer halted. kill() called!", Klipper shutdown, "fatal:"
    THERMAL = "thermal"  # Thermal Runaway, Heating failed, MINTEMP/MAXTEMP, Thermal Malfunction
    STOPPED = "stopped"  # "Printer stopped due to errors ... M999"
    UNKNOWN_COMMAND = "unknown_command"  # RRF "Warning: ... not supported" style, never fatal
    SD = "sd"  # SD card errors (volume.init failed, open failed, ...), never fatal
    OTHER = "other"


#: Kinds that only mean "a line was garbled in transit": the firmware asks for a resend.
COMMUNICATION_ERROR_KINDS = frozenset(
    {ErrorKind.LINE_NUMBER, ErrorKind.CHECKSUM, ErrorKind.MISSING_CHECKSUM, ErrorKind.MISSING_LINE_NUMBER}
)


@dataclass(frozen=True, slots=True)
class HeaterReading:
    """One sensor of a temperature report. `target`/`power` are None when the firmware omitted them."""

    actual: float
    target: Optional[float] = None
    power: Optional[int] = None


@dataclass(frozen=True, slots=True)
class Temperatures:
    """A temperature report (M105 answer, M155 auto-report, M109/M190 wait line).

    `heaters` keys are canonical: "T0", "T1", ... for hotends ("T" alone becomes "T0" unless
    explicit T<n> fields are present, in which case the bare "T" duplicate is dropped), "B" bed,
    "C" chamber, other words (Prusa "P" PINDA, "A" ambient, "M" board, "L" cooler) kept as sent.
    `wait_seconds` is the `W:` residency countdown: an int, "?" before the window is reached, or None.
    """

    heaters: Mapping[str, HeaterReading]
    wait_seconds: Union[int, str, None] = None


@dataclass(frozen=True, slots=True)
class Position:
    """A position report (M114 answer, M154 auto-report, G28's closing report). Logical mm."""

    x: float
    y: float
    z: float
    e: Optional[float] = None
    #: further axes/extruders as reported, e.g. {"e0": 1.0, "e1": 0.0} or {"a": 3.0}
    extra: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Capability:
    """One `Cap:NAME:0|1` line. `name` upper-cased."""

    name: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class FirmwareInfo:
    """The M115 first line (`FIRMWARE_NAME:... KEY:value ...`), split into fields.

    `name` is FIRMWARE_NAME (e.g. "Marlin 2.1.2.1 (Jun 12 2023 10:00:00)", "Klipper",
    "RepRapFirmware for Duet 3 MB6HC"); `fields` holds every KEY:value including FIRMWARE_NAME.
    `capabilities` holds Cap: entries glued to the same line (Prusa quirk, see reference §5.3).
    """

    name: str
    fields: Mapping[str, str]
    capabilities: tuple[Capability, ...] = ()

    @property
    def extruder_count(self) -> int:
        """EXTRUDER_COUNT (at least 1; 1 when missing or malformed)."""
        try:
            return max(1, int(self.fields.get("EXTRUDER_COUNT", "1")))
        except ValueError:
            return 1


@dataclass(frozen=True, slots=True)
class Ok:
    """An acknowledgement. Everything the `ok` line carried besides the bare `ok` is parsed too.

    ADVANCED_OK `ok N12 P15 B3` fills line_number / planner_free / buffer_free.
    `ok T:..` (Marlin M105) fills temperatures; Smoothie `ok C: X:..` fills position;
    Klipper `ok FIRMWARE_NAME:..` fills firmware. `text` is whatever followed `ok` (stripped).
    """

    text: str = ""
    line_number: Optional[int] = None
    planner_free: Optional[int] = None
    buffer_free: Optional[int] = None
    temperatures: Optional[Temperatures] = None
    position: Optional[Position] = None
    firmware: Optional[FirmwareInfo] = None


@dataclass(frozen=True, slots=True)
class Resend:
    """`Resend: N` / `Resend:N` / `rs N12` / `rs 12`: the firmware wants line N again."""

    line_number: int


@dataclass(frozen=True, slots=True)
class Busy:
    """Keepalive while a long command runs: `echo:busy: processing`, `busy:processing`, ..."""

    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """`wait`: the firmware's command ring has been idle (Marlin NO_TIMEOUTS, Repetier)."""


@dataclass(frozen=True, slots=True)
class Start:
    """`start`: the firmware (re)booted. Line numbers restart; any job is lost."""


@dataclass(frozen=True, slots=True)
class FirmwareError:
    """An error line (`Error:...`, `!! ...`, Smoothie `Error: ...`, RRF `Error: ...`).

    `fatal` is True when the firmware is halted or stopped and will not continue without a
    reset/M999 (kill(), thermal faults, Klipper shutdown, Smoothie HALT). `text` is the message
    without the `Error:`/`!!` prefix.
    """

    text: str
    kind: ErrorKind
    fatal: bool
    #: the line number quoted by `Last Line: <n>` in communication errors, when present
    last_line: Optional[int] = None


@dataclass(frozen=True, slots=True)
class SdStatus:
    """SD status: `SD printing byte 12/345`, `Not SD printing`, `Done printing file`, card lines."""

    printing: bool
    position: Optional[int] = None
    size: Optional[int] = None
    #: "printing", "not_printing", "done", "card_ok", "no_card", "file_opened", "file_selected"
    event: str = "printing"
    #: the file name of a `File opened: <name> Size: <n>` line (lets the host learn which file an
    #: LCD-started print runs); None for every other event
    filename: Optional[str] = None


@dataclass(frozen=True, slots=True)
class HostAction:
    """`//action:<name> [params]` (also `// action:` as Klipper prints it)."""

    name: str
    params: str = ""


@dataclass(frozen=True, slots=True)
class Echo:
    """Informational `echo:` text (prefix removed), Klipper `// ...` info, RRF `Warning:` lines."""

    text: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """Anything else, kept verbatim (boot banner lines, settings dumps, plugin chatter)."""

    text: str


Reply = Union[
    Ok,
    Resend,
    Busy,
    Wait,
    Start,
    FirmwareError,
    Temperatures,
    Position,
    Capability,
    FirmwareInfo,
    SdStatus,
    HostAction,
    Echo,
    Unknown,
]
