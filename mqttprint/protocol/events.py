"""Events the engine emits. Frozen dataclasses; transports and the printer model consume them.

Pure data; stdlib only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from mqttprint.protocol.replies import Capability, FirmwareInfo, HeaterReading, Position
from mqttprint.protocol.states import PrinterState


class Priority(enum.IntEnum):
    """Send lanes, highest first. EMERGENCY never waits in a lane: it is written at once."""

    EMERGENCY = 0
    INTERACTIVE = 1
    JOB = 2
    POLL = 3


class JobOutcome(enum.Enum):
    """How a job ended."""

    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The printer moved from `old` to `new`. `error` names the reason when `new` is an error state."""

    old: PrinterState
    new: PrinterState
    error: str = ""


@dataclass(frozen=True, slots=True)
class LineSent:
    """Bytes written for one line (for the optional terminal topic and traffic logs)."""

    text: str
    line_number: Optional[int]
    priority: Priority


@dataclass(frozen=True, slots=True)
class LineReceived:
    """One line received from the firmware, verbatim."""

    text: str


@dataclass(frozen=True, slots=True)
class TemperatureUpdate:
    """A temperature report. Keys as in `replies.Temperatures` (T0, T1, B, C, ...)."""

    heaters: Mapping[str, HeaterReading]
    time: float


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position report from the firmware (never computed from sent G-code)."""

    position: Position
    time: float


@dataclass(frozen=True, slots=True)
class FirmwareIdentified:
    """M115 answer complete: firmware info and every capability reported."""

    info: FirmwareInfo
    capabilities: tuple[Capability, ...]


@dataclass(frozen=True, slots=True)
class CommandFinished:
    """A submitted command was acknowledged (ok) or failed (error, reset, emergency, link loss).

    `lines` are the firmware's reply lines that belong to this command (e.g. the M114 position
    line, the `ok T:...` of M105, `echo:Unknown command`), without busy/keepalive chatter.
    """

    command_id: int
    command: str
    ok: bool
    lines: tuple[str, ...]
    error: str
    sent_at: Optional[float]
    finished_at: float

    @property
    def duration(self) -> Optional[float]:
        """Seconds from writing the command to its `ok` (None if it was never written)."""
        return None if self.sent_at is None else self.finished_at - self.sent_at


@dataclass(frozen=True, slots=True)
class ResendRequested:
    """The firmware asked for line `line_number` again; `rewound` is False for an ignored duplicate."""

    line_number: int
    rewound: bool


@dataclass(frozen=True, slots=True)
class FirmwareErrorReported:
    """An error line from the firmware. `fatal` errors end any job and put the printer in Error."""

    text: str
    fatal: bool


@dataclass(frozen=True, slots=True)
class FirmwareReset:
    """The firmware rebooted unexpectedly (`start` while connected). Any job is lost."""

    during_job: bool


@dataclass(frozen=True, slots=True)
class EmergencySent:
    """An emergency command was written out of band."""

    command: str
    time: float


@dataclass(frozen=True, slots=True)
class HostActionReceived:
    """`//action:<name> <params>` from the firmware."""

    name: str
    params: str


@dataclass(frozen=True, slots=True)
class CommunicationTimeout:
    """No `ok` in time. `consecutive` counts timeouts without any reply in between."""

    consecutive: int
    action: str  # "resend", "heatup_done", "long_running", "tickle", "release", "give_up"


@dataclass(frozen=True, slots=True)
class BusyReported:
    """A busy/keepalive line: the firmware is alive and working on a long command."""

    reason: str


@dataclass(frozen=True, slots=True)
class SdStatusUpdate:
    """SD card status line."""

    printing: bool
    position: Optional[int]
    size: Optional[int]
    event: str


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A job began streaming."""

    name: str


@dataclass(frozen=True, slots=True)
class JobPaused:
    """Job lines stopped flowing (all in-flight job lines acknowledged)."""

    name: str


@dataclass(frozen=True, slots=True)
class JobResumed:
    """Job lines flow again."""

    name: str


@dataclass(frozen=True, slots=True)
class JobEnded:
    """A job ended: done, cancelled or failed (with the reason)."""

    name: str
    outcome: JobOutcome
    reason: str
    lines_sent: int


Event = Union[
    StateChanged,
    LineSent,
    LineReceived,
    TemperatureUpdate,
    PositionUpdate,
    FirmwareIdentified,
    CommandFinished,
    ResendRequested,
    FirmwareErrorReported,
    FirmwareReset,
    EmergencySent,
    HostActionReceived,
    CommunicationTimeout,
    BusyReported,
    SdStatusUpdate,
    JobStarted,
    JobPaused,
    JobResumed,
    JobEnded,
]
