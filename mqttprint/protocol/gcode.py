"""Host-side G-code line helpers: comment stripping, command codes, validation, command classes.

Pure functions; stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from mqttprint.protocol.errors import InvalidCommand

#: Marlin's MAX_CMD_SIZE is 96 including the terminator, so 95 usable characters. Longer lines
#: are silently cut by the firmware (and lose their checksum), so we refuse them up front.
MAX_COMMAND_LENGTH = 95

#: Commands written straight to the wire, un-numbered, ahead of everything (Marlin's
#: EMERGENCY_PARSER handles them on arrival even when its buffers are full).
EMERGENCY_CODES = frozenset({"M112", "M108", "M410", "M876", "M524"})
#: Words an emergency request (`B/emergency`, the printer.emergency action) may use for the red
#: button; both mean M112. Never "": an empty request is not a button press.
EMERGENCY_WORDS = frozenset({"PRESS", "STOP"})
#: The exact emergency commands a request may name (M876 needs its S<n> response index).
_EMERGENCY_REQUEST = re.compile(r"^(M112|M108|M410|M524|M876 S\d{1,3})$")
#: An emergency code anywhere in a raw payload (routes a B/command payload to the urgent worker
#: before it is parsed; a false positive only costs the faster lane).
EMERGENCY_IN_PAYLOAD = re.compile(
    rb"(?i)(?<![A-Za-z0-9])M0*(" + "|".join(sorted(c[1:] for c in EMERGENCY_CODES)).encode() + rb")(?![0-9])")

#: Commands whose `ok` only comes when they finish (no ok-timeout while they run).
LONG_RUNNING_CODES = frozenset(
    {"G4", "G28", "G29", "G30", "G32", "G33", "G34", "M0", "M1", "M400", "M226", "M600", "M109", "M190", "M191", "M116", "M303"}
)

#: Commands that wait for a heater (progress lines with W: arrive while they run).
HEATING_CODES = frozenset({"M109", "M190", "M191", "M116"})

#: Commands that set a heater target without waiting.
TARGET_CODES = frozenset({"M104", "M109", "M140", "M190", "M141", "M191"})

#: Commands whose reply is a position report (captured for the caller).
POSITION_REPORT_CODES = frozenset({"M114", "G28"})

#: Commands whose reply is a temperature report (captured for the caller).
TEMPERATURE_REPORT_CODES = frozenset({"M105", "M109", "M190", "M191"})

_CODE_RE = re.compile(r"^\s*(?:N-?\d+\s*)?([GMTgmt])(\d+)(?:\.(\d+))?")
_PARAM_RE = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")


@dataclass(frozen=True, slots=True)
class CommandCode:
    """The command word of a line: letter + number (+ optional subcode), e.g. G1, M114, T0, G29.1."""

    letter: str
    number: int
    subcode: Optional[int] = None

    def __str__(self) -> str:
        base = f"{self.letter}{self.number}"
        return base if self.subcode is None else f"{base}.{self.subcode}"

    @property
    def key(self) -> str:
        """`G1`, `M114`, `T0`: the form used by the command classes above (subcode ignored)."""
        return f"{self.letter}{self.number}"


def strip_comment(line: str) -> str:
    """Remove a `;` comment and surrounding whitespace. `\\;` (escaped) is kept, as Marlin does."""
    out: list[str] = []
    escaped = False
    for ch in line:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == ";":
            break
        else:
            out.append(ch)
    return "".join(out).strip()


def command_code(line: str) -> Optional[CommandCode]:
    """The G/M/T code of a line, ignoring a leading `N<n>`; None for text that is not G-code."""
    match = _CODE_RE.match(line)
    if match is None:
        return None
    sub = match.group(3)
    return CommandCode(match.group(1).upper(), int(match.group(2)), int(sub) if sub is not None else None)


def code_key(line: str) -> str:
    """`command_code(line).key`, or "" when the line has no code."""
    code = command_code(line)
    return code.key if code is not None else ""


def parameters(line: str) -> dict[str, float]:
    """Numeric parameters after the command word: `G1 X10 Y-2.5 F3000` -> {"X": 10.0, ...}."""
    match = _CODE_RE.match(line)
    rest = line[match.end():] if match else line
    return {letter.upper(): float(value) for letter, value in _PARAM_RE.findall(strip_comment(rest))}


def is_emergency(line: str) -> bool:
    """True for M112/M108/M410/M876/M524 lines."""
    return code_key(line) in EMERGENCY_CODES


def emergency_request(text: str) -> str:
    """The emergency command a request means (the one grammar for every transport): PRESS/STOP ->
    M112; M112, M108, M410, M524, `M876 S<n>` (case and spacing normalised); else InvalidCommand."""
    command = " ".join(text.split()).upper()
    if command in EMERGENCY_WORDS:
        return "M112"
    if not _EMERGENCY_REQUEST.match(command):
        raise InvalidCommand(f"{text.strip()[:40]!r} is not an emergency command "
                             "(send PRESS, M112, M108, M410, M876 S<n> or M524)")
    return command


def emergency_line(text: str) -> str:
    """Validate a line that must be an emergency command (M112, M108, M410, M876, M524) and return
    it normalised; InvalidCommand otherwise (the one refusal every layer raises)."""
    line = validate_command(text)
    if code_key(line) not in EMERGENCY_CODES:
        raise InvalidCommand(f"{line!r} is not an emergency command ({', '.join(sorted(EMERGENCY_CODES))})")
    return line


def validate_command(line: str) -> str:
    """Normalise one caller-supplied command line, or raise InvalidCommand.

    Returns the line with its comment and surrounding whitespace removed (may be "" for a
    comment-only line, which callers skip: Marlin never answers an empty line). Refuses
    control characters, non-ASCII text, a caller-supplied line number or checksum (the host
    owns numbering: `N5 ...` or `...*12` would corrupt the resend bookkeeping) and lines
    longer than Marlin's 95-character limit.
    """
    if not isinstance(line, str):
        raise InvalidCommand("command must be a string")
    for ch in line:
        if ch in "\r\n":
            raise InvalidCommand("one command per line: line breaks are not allowed inside a command")
        if ch != "\t" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            raise InvalidCommand(f"control character U+{ord(ch):04X} is not allowed in a command")
        if ord(ch) > 0x7E:
            raise InvalidCommand("only printable ASCII is allowed in a command")
    text = strip_comment(line)
    if not text:
        return ""
    if re.match(r"^[Nn]\s*-?\d", text):
        raise InvalidCommand("line numbers are added by the gateway; send the command without `N<n>`")
    if "*" in text and command_code(text) is not None and code_key(text) not in {"M117", "M118", "M23", "M28", "M30"}:
        raise InvalidCommand("checksums are added by the gateway; send the command without `*<checksum>`")
    if len(text) > MAX_COMMAND_LENGTH:
        raise InvalidCommand(f"command is {len(text)} characters; the firmware accepts at most {MAX_COMMAND_LENGTH}")
    return text


def refuse_reserved(line: str) -> str:
    """The line's code, or InvalidCommand for M110: the gateway owns the line numbers (the one
    place this refusal is written; the runtime checks whole payloads with it before queueing)."""
    code = code_key(line)
    if code == "M110":
        raise InvalidCommand("M110 (line numbers) is managed by the gateway")
    return code


def queueable(text: str) -> tuple[str, str]:
    """Validate one command for the send queue: (normalised line, code key), or InvalidCommand.

    Empty (comment-only) lines, M110 and emergency codes (they take `Engine.emergency()`) are refused.
    """
    line = validate_command(text)
    if not line:
        raise InvalidCommand("empty command (comments and blank lines are not sent)")
    code = refuse_reserved(line)
    if code in EMERGENCY_CODES:
        raise InvalidCommand(f"{code} is an emergency command: use emergency()")
    return line, code


def split_commands(text: str) -> list[str]:
    """Split a multi-line payload into validated, non-empty command lines (or raise InvalidCommand)."""
    if not isinstance(text, str):
        raise InvalidCommand("commands must be text")
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        command = validate_command(raw.rstrip("\r"))
        if command:
            lines.append(command)
    return lines
