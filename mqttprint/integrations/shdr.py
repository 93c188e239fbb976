"""MTConnect SHDR for printers: the data items, their values from a printer snapshot, and the lines.

Pure: snapshots and wall-clock times in, strings out; no sockets, threads or clock reads. The
server around it is `mtconnect.py`; the matching Devices.xml comes from `mtconnect_devices.py`.

SHDR ("simple hierarchical data representation") as an agent reads it: one line per change set,
`<timestamp>|<key>|<value>[|<key>|<value>...]`; a condition takes a line of its own,
`<timestamp>|<key>|<level>|<native code>|<native severity>|<qualifier>|<message>`. Keys are
`<device>:<data item name>` (one device per printer, named by the printer id), so one adapter
serves every printer of the gateway.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol.states import JOB_ACTIVE_STATES, PrinterState

S = PrinterState
UNAVAILABLE = "UNAVAILABLE"
EVENT, SAMPLE, CONDITION = "EVENT", "SAMPLE", "CONDITION"


@dataclass(frozen=True, slots=True)
class DataItem:
    """One MTConnect data item of a printer device. `component` places it in Devices.xml."""

    name: str
    category: str
    type: str
    component: str  # "device", "controller", "path", "x", "y", "z", "tool0", "tool1", "bed", "chamber"
    sub_type: Optional[str] = None
    units: Optional[str] = None


#: Every data item a printer device has, in output order. Names are the SHDR keys.
ITEMS: tuple[DataItem, ...] = (
    DataItem("avail", EVENT, "AVAILABILITY", "device"),
    DataItem("estop", EVENT, "EMERGENCY_STOP", "device"),
    DataItem("mode", EVENT, "CONTROLLER_MODE", "controller"),
    DataItem("system", CONDITION, "SYSTEM", "controller"),
    DataItem("exec", EVENT, "EXECUTION", "path"),
    DataItem("program", EVENT, "PROGRAM", "path"),
    DataItem("line", EVENT, "LINE_NUMBER", "path", sub_type="INCREMENTAL"),
    DataItem("partcount", EVENT, "PART_COUNT", "path"),
    DataItem("Xact", SAMPLE, "POSITION", "x", sub_type="ACTUAL", units="MILLIMETER"),
    DataItem("Yact", SAMPLE, "POSITION", "y", sub_type="ACTUAL", units="MILLIMETER"),
    DataItem("Zact", SAMPLE, "POSITION", "z", sub_type="ACTUAL", units="MILLIMETER"),
    DataItem("tool0_temp", SAMPLE, "TEMPERATURE", "tool0", units="CELSIUS"),
    DataItem("tool1_temp", SAMPLE, "TEMPERATURE", "tool1", units="CELSIUS"),
    DataItem("bed_temp", SAMPLE, "TEMPERATURE", "bed", units="CELSIUS"),
    DataItem("chamber_temp", SAMPLE, "TEMPERATURE", "chamber", units="CELSIUS"),
)
CATEGORIES: Mapping[str, str] = {item.name: item.category for item in ITEMS}

#: Firmware sensor keys -> data item (`T` is what single-extruder Marlin reports).
_SENSORS = {"T": "tool0_temp", "T0": "tool0_temp", "T1": "tool1_temp", "B": "bed_temp", "C": "chamber_temp"}
_NOT_LINKED = (S.OFFLINE, S.OPENING, S.CONNECTING, S.OFFLINE_AFTER_ERROR)
_ERROR_STATES = (S.ERROR, S.OFFLINE_AFTER_ERROR)
_ACTIVE = (S.STARTING, S.PRINTING, S.RESUMING, S.FINISHING)
_HOLD = (S.PAUSING, S.PAUSED)
_ENDED = {"done": "PROGRAM_COMPLETED", "cancelled": "STOPPED", "failed": "INTERRUPTED"}


@dataclass(frozen=True, slots=True)
class Condition:
    """An SHDR condition: level NORMAL, WARNING, FAULT or UNAVAILABLE."""

    level: str
    native_code: str = ""
    native_severity: str = ""
    qualifier: str = ""
    message: str = ""


Value = Union[str, Condition]


@dataclass(frozen=True, slots=True)
class PrinterFacts:
    """What the adapter knows about one printer besides its snapshot."""

    snapshot: PrinterSnapshot
    estop_triggered: bool = False
    part_count: int = 0
    job_line: Optional[int] = None


def execution(snapshot: PrinterSnapshot) -> str:
    """MTConnect EXECUTION from the printer state (and how the last job ended)."""
    state = snapshot.state
    if state in _ACTIVE:
        return "ACTIVE"
    if state in _HOLD:
        return "FEED_HOLD"
    if state is S.CANCELLING or state is S.ERROR:
        return "STOPPED"
    if state is S.OPERATIONAL:
        outcome = snapshot.job.outcome if snapshot.job is not None else None
        return _ENDED.get(outcome or "", "READY")
    return UNAVAILABLE


def values(facts: PrinterFacts) -> dict[str, Value]:
    """Every data item's current value for one printer."""
    snapshot = facts.snapshot
    state = snapshot.state
    out: dict[str, Value] = {item.name: UNAVAILABLE for item in ITEMS}
    out["partcount"] = str(facts.part_count)
    out["system"] = _system(snapshot)
    if state in _NOT_LINKED:
        out["avail"] = UNAVAILABLE
        return out
    out["avail"] = "AVAILABLE"
    out["estop"] = "TRIGGERED" if facts.estop_triggered and state is S.ERROR else "ARMED"
    out["exec"] = execution(snapshot)
    out["mode"] = "AUTOMATIC" if state in JOB_ACTIVE_STATES else "MANUAL"
    if snapshot.job is not None:
        out["program"] = clean(snapshot.job.name)
        if facts.job_line is not None:
            out["line"] = str(facts.job_line)
    if snapshot.position is not None:
        for axis in ("x", "y", "z"):
            out[f"{axis.upper()}act"] = f"{getattr(snapshot.position, axis):.3f}"
    for key, reading in snapshot.temperatures.items():
        name = _SENSORS.get(key.upper())
        if name is not None and (key.upper() != "T" or "T0" not in snapshot.temperatures):
            out[name] = f"{reading.actual:.1f}"
    return out


def _system(snapshot: PrinterSnapshot) -> Condition:
    if snapshot.state in _ERROR_STATES:
        text = snapshot.error or snapshot.state.text
        code = "M112" if "M112" in text else ("FIRMWARE" if "firmware" in text.lower() else "LINK")
        return Condition("FAULT", code, "", "", clean(text))
    if snapshot.state in (S.OFFLINE, S.OPENING, S.CONNECTING):
        return Condition(UNAVAILABLE)
    return Condition("NORMAL")


def clean(text: str) -> str:
    """A value SHDR can carry: no `|` (the field separator) and no line breaks."""
    return " ".join(text.replace("|", "/").split())


def timestamp(wall_time: float) -> str:
    """SHDR's UTC timestamp with milliseconds, e.g. `2026-12-06T04:00:00.123Z`."""
    moment = datetime.datetime.fromtimestamp(wall_time, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lines(device: str, current: Mapping[str, Value], previous: Optional[Mapping[str, Value]],
          wall_time: float) -> list[str]:
    """The SHDR lines for what changed since `previous` (everything when it is None): one line
    for the events and samples, one per condition."""
    stamp = timestamp(wall_time)
    pairs: list[str] = []
    conditions: list[str] = []
    for name, value in current.items():
        if previous is not None and previous.get(name) == value:
            continue
        key = f"{device}:{name}"
        if isinstance(value, Condition):
            conditions.append("|".join((stamp, key, value.level, value.native_code, value.native_severity,
                                        value.qualifier, value.message)))
        else:
            pairs.append(f"{key}|{value}")
    out = [f"{stamp}|{'|'.join(pairs)}"] if pairs else []
    return out + conditions
