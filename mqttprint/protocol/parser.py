"""Firmware reply parser: one received text line -> exactly one typed `Reply`.

Pure and stdlib only (no I/O, no clock, no threads). `parse_reply` never raises for any `str`.
Sources for every rule: shared/reference/firmware-protocol.md (§ numbers below) and
shared/reference/octoprint.md §2.9/§2.10. Own regexes, written from the documented line formats.

Order of recognition in `parse_reply` (first match wins):

 1. empty -> Unknown("")             8. `echo:`/`Echo:` -> Busy / SdStatus / Echo
 2. `ok ...`                          9. RRF/Smoothie `Warning:` -> Echo
 3. `wait`, `start` (exact)          10. bare fatal lines (Smoothie HALT, RRF E-stop, Marlin stopped)
 4. `Resend:` / `rs`                 11. `Cap:NAME:0|1`
 5. `Error:` / `!!` / `fatal:`       12. M115 `FIRMWARE_NAME:...` (and Malyan `NAME.`)
 6. `busy:` (Repetier, no echo:)     13. SD status lines
 7. `//` host actions / Klipper info 14. position (`X:` first), 15. temperatures, else Unknown
"""

from __future__ import annotations

import re
from typing import Optional

from mqttprint.protocol.parser_temps import parse_position, parse_temperatures, to_int
from mqttprint.protocol.replies import (
    Busy,
    Capability,
    Echo,
    ErrorKind,
    FirmwareError,
    FirmwareInfo,
    HostAction,
    Ok,
    Reply,
    Resend,
    SdStatus,
    Start,
    Unknown,
    Wait,
)

__all__ = [
    "classify_error",
    "parse_capability",
    "parse_firmware_info",
    "parse_position",
    "parse_reply",
    "parse_temperatures",
]

# ---------------------------------------------------------------------------------------------
# Error classification (§1.4-1.6, §9; OctoPrint §2.10.5)
# ---------------------------------------------------------------------------------------------

# (kind, fatal, lower-case substrings). Checked in order: the comm-error rules must come first
# and in this order, because "No Checksum with line number" also contains "line number" and
# "No Line Number with checksum" contains both "line number" and "checksum".
_ERROR_RULES: tuple[tuple[ErrorKind, bool, tuple[str | re.Pattern[str], ...]], ...] = (
    # Prusa MK3 (un-numbered line carrying *NN); Repetier "Missing linenumber"
    (ErrorKind.MISSING_LINE_NUMBER, False,
     ("no line number with checksum", "missing linenumber", "missing line number")),
    # Marlin/Prusa "No Checksum with line number"; Repetier "Missing checksum"
    (ErrorKind.MISSING_CHECKSUM, False, ("no checksum with line number", "missing checksum")),
    # Marlin "Line Number is not Last Line Number+1"; Marlin-derived "Line Number out of sequence.
    # Expected: 2 Got: 1"; Repetier "expected line 5 got 7"
    (ErrorKind.LINE_NUMBER, False, ("line number", "linenumber", "expected line", "out of sequence")),
    # Marlin "checksum mismatch"; Repetier "Wrong checksum"; Teacup/old hosts "format error"
    (ErrorKind.CHECKSUM, False, ("checksum", "format error")),
    # Marlin `_temp_error` reasons, OctoPrint's join list, Klipper/RRF heater faults
    (ErrorKind.THERMAL, True,
     ("thermal runaway", "heating failed", "maxtemp", "mintemp", "thermal malfunction",
      "not heating at expected rate", "temperature difference between temp sensors",
      # RRF "Error: Heater 1 fault: temperature rising much more slowly than expected"
      re.compile(r"heater \S+ fault"))),
    # Marlin kill(); "KILL caused by ..."; Repetier fatal:; Klipper shutdown / MCU loss;
    # Smoothie HALT ("HALTED, M999 ...", "Entering Alarm/Halt state"); RRF emergency stop
    (ErrorKind.KILLED, True,
     ("kill() called", "kill caused", "fatal:", "halted", "halt state", "alarm/halt", "shutdown",
      "emergency stop", "lost communication with mcu")),
    # Marlin stop(): "Printer stopped due to errors. Fix the error and use M999 to restart."
    (ErrorKind.STOPPED, True, ("stopped due to errors",)),
    # informational in every firmware; RRF "Command is not supported"
    (ErrorKind.UNKNOWN_COMMAND, False, ("unknown command", "not supported", "bad command")),
    # Marlin/Prusa card reader messages (OctoPrint's list plus read/init failures)
    (ErrorKind.SD, False,
     ("volume.init", "openroot", "workdir", "error writing to file", "cannot open", "open failed",
      "cannot enter", "sd read error", "sd init fail", "card read error", "no sd card")),
)

_LAST_LINE = re.compile(r"last\s*line\s*:\s*(-?\d+)", re.IGNORECASE)


def classify_error(text: str) -> tuple[ErrorKind, bool]:
    """Classify an error message (prefix already removed) as (kind, fatal).

    Substring rules, case-insensitive. Unrecognised text, including the legacy Marlin 1.x
    `Error:0` whose reason arrives on the next line, is (OTHER, False): the engine decides.
    """
    low = text.lower()
    for kind, fatal, needles in _ERROR_RULES:
        if any((n in low) if isinstance(n, str) else n.search(low) for n in needles):
            return kind, fatal
    return ErrorKind.OTHER, False


def _error(text: str, *, kind: Optional[ErrorKind] = None, fatal: Optional[bool] = None) -> FirmwareError:
    """Build a FirmwareError, classifying `text` unless kind/fatal are forced."""
    auto_kind, auto_fatal = classify_error(text)
    m = _LAST_LINE.search(text)
    return FirmwareError(
        text=text,
        kind=kind if kind is not None else auto_kind,
        fatal=fatal if fatal is not None else auto_fatal,
        last_line=to_int(m.group(1)) if m else None,
    )


# ---------------------------------------------------------------------------------------------
# M115 firmware info and capabilities (§5)
# ---------------------------------------------------------------------------------------------

# `Cap:NAME:0|1`, case-insensitive prefix, exactly two fields (OctoPrint §2.10.4)
_CAP_LINE = re.compile(r"cap:([A-Za-z0-9_]+):([01])", re.IGNORECASE)
# Prusa MK3 quirk (§5.3): without MACHINE_UUID the first `Cap:` is glued to the M115 line
_GLUED_CAP = re.compile(r"Cap:([A-Za-z0-9_]+):([01])(?![0-9])")
# key boundaries: ` KEY:` (Marlin/Prusa/Klipper/Repetier), `KEY: value` (RRF),
# `, X-KEY:` (Smoothieware, comma separated with X- extension keys)
_FW_KEY = re.compile(r"(?:^|[\s,]+)((?:X-)?[A-Z][A-Z0-9_]*):")


def parse_capability(text: str) -> Optional[Capability]:
    """`Cap:EMERGENCY_PARSER:1` -> Capability("EMERGENCY_PARSER", True); anything else -> None."""
    m = _CAP_LINE.fullmatch(text.strip())
    if m is None:
        return None
    return Capability(name=m.group(1).upper(), enabled=m.group(2) == "1")


def _split_fields(text: str) -> dict[str, str]:
    """Split `KEY:value KEY2:value with spaces, X-KEY3:v` into an ordered dict (first key wins)."""
    marks = list(_FW_KEY.finditer(text))
    fields: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        fields.setdefault(m.group(1), text[m.end():end].strip().rstrip(",").strip())
    return fields


def parse_firmware_info(text: str) -> Optional[FirmwareInfo]:
    """Parse an M115 first line (`FIRMWARE_NAME:...`, no leading `ok`) into FirmwareInfo.

    The text must begin with a `KEY:` field and contain FIRMWARE_NAME, or be a Malyan
    `NAME. Malyan VER: ...` line (name = NAME + VER, fields keyed NAME/VER/MODEL/...).
    Prusa's glued `Cap:NAME:0|1` entries are moved into `capabilities`.
    """
    body = text.strip()
    caps = tuple(Capability(m.group(1).upper(), m.group(2) == "1") for m in _GLUED_CAP.finditer(body))
    if caps:
        body = _GLUED_CAP.sub(" ", body).strip()
    if body.startswith("NAME.") or (body.startswith("NAME:") and "FIRMWARE_NAME:" not in body):
        # Malyan M200/M300: `NAME. Malyan VER: 3.7 MODEL: M200 HW: HA02`
        fields = _split_fields("NAME:" + body[5:])
        name = " ".join(v for v in (fields.get("NAME", ""), fields.get("VER", "")) if v)
        return FirmwareInfo(name=name, fields=fields, capabilities=caps)
    first = _FW_KEY.match(body)
    if first is None or first.start() != 0:
        return None
    fields = _split_fields(body)
    if "FIRMWARE_NAME" not in fields:
        return None
    return FirmwareInfo(name=fields["FIRMWARE_NAME"], fields=fields, capabilities=caps)


# ---------------------------------------------------------------------------------------------
# Line-level patterns
# ---------------------------------------------------------------------------------------------

_OK = re.compile(r"ok(?:\s+(?P<rest>.*))?", re.DOTALL)
# ADVANCED_OK `N12 P15 B3` (N copied verbatim, may be negative; absent for un-numbered lines);
# Repetier ACK_WITH_LINENUMBER `ok 42`
_ADV_OK = re.compile(r"(?:N?(?P<n>-?\d+))?\s*(?:P(?P<p>\d+)\s*B(?P<b>\d+))?")
# Smoothieware M114 rides on the ok: `ok C: X:10.0000 Y:20.0000 Z:0.3000 E:0.0000`
# (M114.1 `WCS:` and M114.2 `MCS:` print the same shape)
_SMOOTHIE_POS = re.compile(r"(?:C|WCS|MCS):\s*(?P<pos>X:.*)", re.DOTALL)
# `Resend: 42`, `Resend:205` (Repetier), `rs N12` (Smoothie), `RS N2 Expected checksum 67`
# (`rs` must be followed by a separator or `N`, so `RS485 ...` chatter is not a resend request)
_RESEND = re.compile(r"resend(?![a-z])|rs(?=[\s:n]|$)", re.IGNORECASE)
_RESEND_NUM = re.compile(r"(?:N\s*:?\s*)?(\d+)", re.IGNORECASE)
_ERROR_PREFIX = re.compile(r"error:", re.IGNORECASE)
_FATAL_PREFIX = re.compile(r"fatal:", re.IGNORECASE)  # Repetier-Firmware
_BUSY_PREFIX = re.compile(r"busy:", re.IGNORECASE)
_ECHO_PREFIX = re.compile(r"echo:", re.IGNORECASE)  # Marlin `echo:`, Repetier `Echo:`
_WARNING_PREFIX = re.compile(r"warning:", re.IGNORECASE)  # RRF `Warning: `, Smoothie `WARNING:`
_ACTION = re.compile(r"action:(?P<name>\S*)(?:\s+(?P<params>.*))?", re.IGNORECASE | re.DOTALL)
_KLIPPER_STATE_SHUTDOWN = re.compile(r"klipper state:\s*shutdown", re.IGNORECASE)
# bare status lines that mean the firmware is halted/stopped although they carry no Error: prefix
_BARE_FATAL = re.compile(
    r"HALTED\b"  # Smoothie: `HALTED, M999 or $X to exit HALT state` (after Ctrl-X)
    r"|Entering Alarm/Halt state"  # Smoothie, after an `Error: ...` line
    r"|Emergency Stop!"  # RRF: `Emergency Stop! Reset the controller to continue.`
    r"|Printer stopped due to errors",  # Marlin 2.1 echoes STR_ERR_STOPPED without Error:
    re.IGNORECASE,
)

# SD status (§8): Marlin, Prusa, Klipper virtual_sdcard
_SD_PRINTING = re.compile(r"SD printing byte\s+(\d+)\s*/\s*(\d+)", re.IGNORECASE)
_SD_NOT_PRINTING = re.compile(r"Not SD printing\.?", re.IGNORECASE)  # Klipper adds a period
_SD_FILE_OPENED = re.compile(r"File opened:\s*(?P<name>.*?)\s+Size:\s*(?P<size>\d+)", re.IGNORECASE)
_SD_SIMPLE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Done printing file\.?", re.IGNORECASE), "done"),
    (re.compile(r"SD card ok|Card successfully initialized\.?", re.IGNORECASE), "card_ok"),
    # Marlin STR_SD_INIT_FAIL is "No SD card" (echo:); newer builds say "No media"
    (re.compile(r"No SD card|No media|SD init fail", re.IGNORECASE), "no_card"),
    (re.compile(r"File selected", re.IGNORECASE), "file_selected"),
)


def _parse_sd(text: str) -> Optional[SdStatus]:
    """SD status line (prefix already removed) -> SdStatus, else None."""
    m = _SD_PRINTING.fullmatch(text)
    if m:
        pos, size = to_int(m.group(1)), to_int(m.group(2))
        if pos is None or size is None:
            return None
        return SdStatus(printing=True, position=pos, size=size, event="printing")
    if _SD_NOT_PRINTING.fullmatch(text):
        return SdStatus(printing=False, event="not_printing")
    m = _SD_FILE_OPENED.fullmatch(text)
    if m:
        return SdStatus(printing=False, size=to_int(m.group("size")), event="file_opened",
                        filename=m.group("name"))
    for pattern, event in _SD_SIMPLE:
        if pattern.fullmatch(text):
            return SdStatus(printing=False, event=event)
    return None


def _parse_ok(rest: str) -> Ok:
    """Everything after `ok ` (stripped): ADVANCED_OK, temperatures, position, M115, or text."""
    if not rest:
        return Ok()
    adv = _ADV_OK.fullmatch(rest)
    if adv and (adv.group("n") is not None or adv.group("p") is not None):
        n = to_int(adv.group("n")) if adv.group("n") is not None else None
        p = to_int(adv.group("p")) if adv.group("p") is not None else None
        b = to_int(adv.group("b")) if adv.group("b") is not None else None
        return Ok(text=rest, line_number=n, planner_free=p, buffer_free=b)
    smoothie = _SMOOTHIE_POS.match(rest)
    position = parse_position(smoothie.group("pos") if smoothie else rest)
    if position is not None:
        return Ok(text=rest, position=position)
    firmware = parse_firmware_info(rest)  # Klipper: `ok FIRMWARE_NAME:Klipper FIRMWARE_VERSION:..`
    if firmware is not None:
        return Ok(text=rest, firmware=firmware)
    # Marlin/Prusa/Klipper/RRF/Smoothie M105 answer; Klipper `ok T:0` before it is ready
    return Ok(text=rest, temperatures=parse_temperatures(rest))


def _parse_comment(body: str, line: str) -> Reply:
    """A `//` line (text after the slashes given, stripped): host action or Klipper info."""
    action = _ACTION.fullmatch(body)
    if action:  # Marlin `//action:pause`, Klipper `// action:paused`
        if not action.group("name"):
            return Unknown(line)
        return HostAction(name=action.group("name"), params=(action.group("params") or "").strip())
    if _KLIPPER_STATE_SHUTDOWN.match(body):  # `// Klipper state: Shutdown` needs FIRMWARE_RESTART
        return FirmwareError(text=body, kind=ErrorKind.KILLED, fatal=True)
    return Echo(body)  # Klipper `// Klipper state: Ready`, `// Unknown command:"X"`, ...


def _parse_line(line: str) -> Reply:
    """The classifier behind `parse_reply`, without the never-raise safety net."""
    s = line.strip()
    if not s:
        return Unknown("")

    ok = _OK.fullmatch(s)  # lower-case `ok` only, as every firmware prints it
    if ok:
        return _parse_ok((ok.group("rest") or "").strip())
    if s == "wait":  # Marlin NO_TIMEOUTS, Repetier idle
        return Wait()
    if s == "start":  # exact: `echo:start...` or `//action:start` are something else
        return Start()

    resend = _RESEND.match(s)
    if resend:
        num = _RESEND_NUM.search(s, resend.end())
        n = to_int(num.group(1)) if num else None
        return Resend(line_number=n) if n is not None else Unknown(s)

    # errors: Marlin/Prusa `Error:msg`, RRF/Smoothie `Error: msg`, Klipper `!! msg`
    m = _ERROR_PREFIX.match(s)
    if m:
        return _error(s[m.end():].strip())
    if s.startswith("!!"):
        text = s[2:].strip()
        # a bare `!!` is Smoothie refusing a command while HALTed
        return _error(text) if text else _error(text, kind=ErrorKind.KILLED, fatal=True)
    m = _FATAL_PREFIX.match(s)
    if m:  # Repetier `fatal:<msg>`: the printer is dead until reset
        return _error(s[m.end():].strip(), kind=ErrorKind.KILLED, fatal=True)

    m = _BUSY_PREFIX.match(s)
    if m:  # Repetier `busy:processing` (no echo: prefix, no space)
        return Busy(reason=s[m.end():].strip())
    if s.startswith("//"):
        return _parse_comment(s[2:].strip(), s)

    m = _ECHO_PREFIX.match(s)
    if m:
        text = s[m.end():].strip()
        busy = _BUSY_PREFIX.match(text)
        if busy:  # Marlin/Prusa HOST_KEEPALIVE `echo:busy: processing`
            return Busy(reason=text[busy.end():].strip())
        # Marlin prints `echo:SD card ok` / `echo:No SD card`
        return _parse_sd(text) or Echo(text)
    if _WARNING_PREFIX.match(s):  # kept whole: the word "Warning" is the information
        return Echo(s)
    if _BARE_FATAL.match(s):
        stopped = "stopped due to errors" in s.lower()
        return _error(s, kind=ErrorKind.STOPPED if stopped else ErrorKind.KILLED, fatal=True)

    cap = parse_capability(s)
    if cap is not None:
        return cap
    if s[:4].lower() == "cap:":  # a malformed `Cap:` line (`Cap:FOO:2`) is not a capability
        return Unknown(s)
    firmware = parse_firmware_info(s)
    if firmware is not None:
        return firmware
    sd = _parse_sd(s)
    if sd is not None:
        return sd
    position = parse_position(s)
    if position is not None:
        return position
    temperatures = parse_temperatures(s)
    if temperatures is not None:
        return temperatures
    return Unknown(s)


def parse_reply(line: str) -> Reply:
    """Parse one received line (terminator removed; stray `\\r`/spaces tolerated) into a Reply.

    Never raises for a `str`: the rules are written not to, and as a last line of defence any
    unexpected exception turns the line into `Unknown` so the reader thread cannot die on garbage.
    """
    try:
        return _parse_line(line)
    except Exception:  # pragma: no cover - defensive; the fuzz tests exercise _parse_line directly
        return Unknown(line.strip() if isinstance(line, str) else "")

