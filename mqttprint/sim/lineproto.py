"""Marlin's serial line layer: assembling lines from RX bytes and validating N/checksum framing.

Pure functions and one small state machine; no knowledge of commands. Mirrors the order of
checks in Marlin 2.1 ``GCodeQueue::get_serial_commands()`` (reference §1.1-§1.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

#: Marlin language.h strings (the serial error helper adds the ``Error:`` prefix).
ERR_LINE_NO = "Line Number is not Last Line Number+1, Last Line: "
ERR_CHECKSUM = "checksum mismatch, Last Line: "
ERR_NO_CHECKSUM = "No Checksum with line number, Last Line: "

_EOL = (0x0A, 0x0D)
_BACKSPACE = 0x08
_RAW_KEEP = 4096  # cap on the raw copy kept for inspection, so line noise cannot grow memory


def checksum(data: bytes) -> int:
    """XOR of all bytes: the checksum hosts append as ``*<n>``."""
    return reduce(lambda acc, b: acc ^ b, data, 0)


def strtol(data: bytes) -> int:
    """C ``strtol(s, NULL, 10)``: optional spaces and sign, then digits; 0 when none."""
    text = data.decode("latin-1").lstrip(" \t")
    sign = 1
    if text[:1] in ("-", "+"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


@dataclass(frozen=True)
class CompletedLine:
    """One line handed from the RX ring to the line layer.

    raw: every byte received before CR/LF (comments included) - what the host actually sent.
    stored: what Marlin keeps in its line buffer - comment stripped, backspaces applied,
        capped at ``max_cmd_size - 1`` characters.
    """

    raw: bytes
    stored: bytes


class LineAssembler:
    """Per-port partial-line state (``serial_line_buffer`` + ``serial_input_state``)."""

    def __init__(self, max_cmd_size: int) -> None:
        self._limit = max_cmd_size - 1
        self._stored = bytearray()
        self._raw = bytearray()
        self._eol_mode = False  # inside a ';' comment or past the length cap

    def reset(self) -> None:
        """Drop the partial line (done after every line error, like Marlin's ``count = 0``)."""
        self._stored.clear()
        self._raw.clear()
        self._eol_mode = False

    def feed(self, byte: int) -> CompletedLine | None:
        """Consume one byte; return the finished line at CR or LF."""
        if byte in _EOL:
            line = CompletedLine(raw=bytes(self._raw), stored=bytes(self._stored))
            self.reset()
            return line
        if len(self._raw) < _RAW_KEEP:
            self._raw.append(byte)
        if self._eol_mode:
            return None
        if byte == ord(";"):
            self._eol_mode = True  # ';' comment: everything up to EOL is discarded (also a '*NN')
        elif byte == _BACKSPACE:
            if self._stored:
                self._stored.pop()
        else:
            self._stored.append(byte)
            if len(self._stored) >= self._limit:
                # Over-long line: the rest, including a trailing "*NN", is discarded; a numbered
                # line is then answered with "No Checksum with line number".
                self._eol_mode = True
        return None


@dataclass(frozen=True)
class LineVerdict:
    """Result of the line-number/checksum checks for one non-empty stored line.

    error: full message without the ``Error:`` prefix, or None when the line is accepted.
    new_last_n: the value ``last_N`` takes when the line is accepted (unchanged if un-numbered).
    number: the leading ``N`` of a numbered line (what ADVANCED_OK echoes), else None.
    """

    error: str | None
    new_last_n: int
    number: int | None


def validate(stored: bytes, last_n: int) -> LineVerdict:
    """Apply Marlin's checks, in Marlin's order, to one stored line."""
    command = stored.lstrip(b" ")
    if not command.startswith(b"N"):
        # Un-numbered lines are accepted as they are; a "*NN" on them is not verified.
        return LineVerdict(error=None, new_last_n=last_n, number=None)
    leading = strtol(command[1:])
    is_m110 = b"M110" in command
    number_at = 0
    if is_m110:
        # Marlin searches for a second 'N' from offset 4 ("N0 M110 N0" -> the parameter wins).
        second = command.find(b"N", 4)
        if second != -1:
            number_at = second
    gcode_n = strtol(command[number_at + 1 :])
    if gcode_n != last_n + 1 and not is_m110:
        return LineVerdict(error=f"{ERR_LINE_NO}{last_n}", new_last_n=last_n, number=leading)
    star = command.rfind(b"*")
    if star == -1:
        return LineVerdict(error=f"{ERR_NO_CHECKSUM}{last_n}", new_last_n=last_n, number=leading)
    if strtol(command[star + 1 :]) != checksum(command[:star]):
        return LineVerdict(error=f"{ERR_CHECKSUM}{last_n}", new_last_n=last_n, number=leading)
    return LineVerdict(error=None, new_last_n=gcode_n, number=leading)


def is_blank(stored: bytes) -> bool:
    """True for lines that produce no reply at all (empty after comment stripping)."""
    return not stored.strip(b" \t")


def normalise(stored: bytes) -> str:
    """The command as Marlin's parser sees it: no ``N<n>`` prefix, no ``*NN``, trimmed.

    Matches ``GCodeParser::parse``: a leading ``N`` followed by a (signed) number is skipped,
    and the line is cut at the first ``*`` with the spaces before it.
    """
    text = stored.decode("latin-1").strip(" \t")
    if len(text) > 1 and text[0] == "N" and (text[1].isdigit() or text[1] == "-"):
        i = 2
        while i < len(text) and text[i].isdigit():
            i += 1
        text = text[i:]
    star = text.find("*")
    if star != -1:
        text = text[:star]
    return text.strip(" \t")
