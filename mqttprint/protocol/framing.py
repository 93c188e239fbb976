"""Wire framing: `N<n> <cmd>*<xor>` encoding for host lines, and a bounded line splitter for replies.

Pure: bytes in, text lines out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Longest reply line we keep. Marlin's longest lines (M115, settings dumps) are < 300 bytes;
#: anything far longer is line noise (wrong baud rate, binary garbage at boot).
MAX_REPLY_LINE = 1024


def checksum(text: str) -> int:
    """XOR of every byte of `text` (Marlin/RepRap line checksum), 0-255."""
    value = 0
    for byte in text.encode("ascii", "replace"):
        value ^= byte
    return value


def encode_numbered(line_number: int, command: str) -> bytes:
    """Frame `command` as `N<line_number> <command>*<checksum>\\n`."""
    body = f"N{line_number} {command}"
    return f"{body}*{checksum(body)}\n".encode("ascii", "replace")


def encode_plain(command: str) -> bytes:
    """Frame an un-numbered line (emergency commands, firmwares that need no numbers)."""
    return f"{command}\n".encode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class ReceivedLine:
    """One complete line from the firmware. `truncated` marks a line cut at MAX_REPLY_LINE."""

    text: str
    truncated: bool = False


class LineSplitter:
    """Splits a byte stream into text lines.

    Copes with partial reads (bytes are buffered until LF/CR), CR LF pairs (Smoothie), bytes
    that are not ASCII (AVR boot garbage such as b"\\x80", wrong baud rate: decoded with
    replacement characters, never an exception) and over-long lines (cut at `max_line`, the
    rest of that line discarded up to the next terminator).
    """

    def __init__(self, max_line: int = MAX_REPLY_LINE) -> None:
        self._max_line = max_line
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[ReceivedLine]:
        """Add received bytes; return every line completed by them (empty lines skipped)."""
        lines: list[ReceivedLine] = []
        start = 0
        length = len(data)
        while start < length:
            end = _find_terminator(data, start)
            if end < 0:
                self._append(data[start:], lines)
                break
            self._append(data[start:end], lines)
            if self._discarding:
                self._discarding = False
            elif self._buffer:
                lines.append(ReceivedLine(_decode(self._buffer)))
            self._buffer.clear()
            start = end + 1
        return lines

    def reset(self) -> None:
        """Forget any partial line (port reopened, firmware reset)."""
        self._buffer.clear()
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held back."""
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """No partial line held back and none being discarded: the next bytes start a new line."""
        return not self._buffer and not self._discarding

    def _append(self, chunk: bytes, lines: list[ReceivedLine]) -> None:
        if self._discarding or not chunk:
            return
        room = self._max_line - len(self._buffer)
        if len(chunk) <= room:
            self._buffer += chunk
            return
        self._buffer += chunk[:room]
        lines.append(ReceivedLine(_decode(self._buffer), truncated=True))
        self._buffer.clear()
        self._discarding = True


def _find_terminator(data: bytes, start: int) -> int:
    lf = data.find(b"\n", start)
    cr = data.find(b"\r", start)
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)


def _decode(raw: bytes | bytearray) -> str:
    # NUL bytes and other control characters show up while an AVR board reboots; they are
    # replaced so that the parser only ever sees printable text.
    text = bytes(raw).decode("ascii", "replace")
    if any(ch < " " and ch != "\t" for ch in text):
        text = "".join(ch if ch >= " " or ch == "\t" else "\ufffd" for ch in text)
    return text.strip()
