"""The printer's state as transports see it: an immutable snapshot, reduced from engine events.

Pure: `reduce(snapshot, event, wall_time)` returns a new snapshot (or the same one when the event
changes nothing). The serial thread reduces; MQTT and REST read the latest snapshot without locks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

from mqttprint.protocol.events import (
    Event,
    FirmwareIdentified,
    JobEnded,
    JobPaused,
    JobResumed,
    JobStarted,
    PositionUpdate,
    SdStatusUpdate,
    StateChanged,
    TemperatureUpdate,
)
from mqttprint.protocol.replies import FirmwareInfo, HeaterReading, Position
from mqttprint.protocol.states import PrinterState, octoprint_flags

_EMPTY: Mapping[str, HeaterReading] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class JobInfo:
    """The current (or last) job as far as the printer link knows it."""

    name: str
    started_at: float
    lines_sent: int = 0
    outcome: Optional[str] = None  # None while running; "done", "cancelled", "failed" after
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PrinterSnapshot:
    """Everything known about one printer at one moment. `*_time` are wall-clock seconds."""

    printer_id: str
    state: PrinterState = PrinterState.OFFLINE
    error: str = ""
    port: Optional[str] = None
    baudrate: Optional[int] = None
    temperatures: Mapping[str, HeaterReading] = field(default_factory=lambda: _EMPTY)
    temperature_time: Optional[float] = None
    position: Optional[Position] = None
    position_time: Optional[float] = None
    firmware: Optional[FirmwareInfo] = None
    capabilities: Mapping[str, bool] = field(default_factory=dict)
    sd_ready: bool = False
    job: Optional[JobInfo] = None
    updated: float = 0.0

    @property
    def state_text(self) -> str:
        """OctoPrint's state string."""
        return self.state.text

    @property
    def flags(self) -> dict[str, bool]:
        """OctoPrint's 11 state flags."""
        return octoprint_flags(self.state, self.sd_ready)

    @property
    def operational(self) -> bool:
        """Whether the printer accepts commands."""
        return self.flags["operational"]


def reduce(snapshot: PrinterSnapshot, event: Event, wall_time: float) -> PrinterSnapshot:
    """Apply one engine event to a snapshot."""
    kind = type(event)
    if kind is TemperatureUpdate:
        merged = dict(snapshot.temperatures)
        merged.update(event.heaters)  # type: ignore[union-attr]
        return dataclasses.replace(snapshot, temperatures=MappingProxyType(merged), temperature_time=wall_time, updated=wall_time)
    if kind is PositionUpdate:
        return dataclasses.replace(snapshot, position=event.position, position_time=wall_time, updated=wall_time)  # type: ignore[union-attr]
    if kind is StateChanged:
        changes: dict[str, object] = {"state": event.new, "error": event.error, "updated": wall_time}  # type: ignore[union-attr]
        if event.new in (PrinterState.OFFLINE, PrinterState.OFFLINE_AFTER_ERROR, PrinterState.CONNECTING):  # type: ignore[union-attr]
            changes["sd_ready"] = False
        return dataclasses.replace(snapshot, **changes)  # type: ignore[arg-type]
    if kind is FirmwareIdentified:
        caps = {cap.name: cap.enabled for cap in event.capabilities}  # type: ignore[union-attr]
        return dataclasses.replace(
            snapshot, firmware=event.info, capabilities=MappingProxyType(caps), updated=wall_time  # type: ignore[union-attr]
        )
    if kind is SdStatusUpdate:
        if event.event in ("card_ok", "no_card"):  # type: ignore[union-attr]
            return dataclasses.replace(snapshot, sd_ready=event.event == "card_ok", updated=wall_time)  # type: ignore[union-attr]
        return snapshot
    if kind is JobStarted:
        return dataclasses.replace(snapshot, job=JobInfo(event.name, wall_time), updated=wall_time)  # type: ignore[union-attr]
    if kind is JobEnded and snapshot.job is not None:
        job = dataclasses.replace(
            snapshot.job, lines_sent=event.lines_sent, outcome=event.outcome.value, reason=event.reason  # type: ignore[union-attr]
        )
        return dataclasses.replace(snapshot, job=job, updated=wall_time)
    if kind in (JobPaused, JobResumed):
        return dataclasses.replace(snapshot, updated=wall_time)
    return snapshot


def connection_changed(snapshot: PrinterSnapshot, port: Optional[str], baudrate: Optional[int], wall_time: float) -> PrinterSnapshot:
    """Record which port/baud rate the link uses (or None when closed)."""
    return dataclasses.replace(snapshot, port=port, baudrate=baudrate, updated=wall_time)
