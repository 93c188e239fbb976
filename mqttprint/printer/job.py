"""Job line source: G-code read lazily from a byte stream, with progress by file position.

Pure: the stream is opened (and closed) by the runtime and passed in; this module only reads it,
one line at a time, so memory stays flat for a 100 MB file. Comments and blank lines are skipped
(Marlin never answers an empty line, so sending one would stall ping-pong flow control).
"""

from __future__ import annotations

import re
from typing import BinaryIO, Callable, Optional

from mqttprint.protocol.gcode import MAX_COMMAND_LENGTH, strip_comment

#: Control characters (tab allowed) and non-ASCII bytes: such a line cannot be sent safely.
_BAD_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]")


class GcodeFileSource:
    """A `JobSource` over a G-code byte stream."""

    def __init__(self, name: str, stream: BinaryIO, size: int,
                 observer: Optional[Callable[[bytes], None]] = None) -> None:
        """`observer` sees every raw line read (comments too: layer markers live there)."""
        self.name = name
        self._observer = observer
        self.size = size
        self._stream = stream
        #: byte offset just past the last line handed out (OctoPrint's `filepos`)
        self.position = 0
        self.lines_sent = 0
        self.skipped_too_long = 0
        self.finished = False

    def next_line(self) -> Optional[str]:
        """The next command, or None at the end of the file."""
        readline = self._stream.readline
        while True:
            raw = readline()
            if not raw:
                self.finished = True
                return None
            self.position += len(raw)
            if self._observer is not None:
                self._observer(raw)
            # Fast path on bytes (this runs once per line of a print): cut the comment, strip,
            # and only fall back to the careful text path for escapes or odd bytes.
            if b"\\" in raw:
                text = strip_comment(raw.decode("ascii", "replace").strip())
                if any(ord(ch) < 0x20 and ch != "\t" for ch in text):
                    self.skipped_too_long += 1
                    continue
            else:
                cut = raw.find(b";")
                body = (raw if cut < 0 else raw[:cut]).strip()
                if not body:
                    continue
                if _BAD_BYTES.search(body) is not None:
                    self.skipped_too_long += 1
                    continue
                text = body.decode("ascii")
            if not text:
                continue
            if len(text) > MAX_COMMAND_LENGTH:
                # Marlin would cut the line (losing its checksum) and ask for it forever.
                self.skipped_too_long += 1
                continue
            self.lines_sent += 1
            return text

    @property
    def completion(self) -> float:
        """Percent of the file handed out, by bytes (0-100)."""
        if self.size <= 0:
            return 100.0 if self.finished else 0.0
        return min(100.0, 100.0 * self.position / self.size)

    def close(self) -> None:
        """Close the underlying stream (the job ended)."""
        try:
            self._stream.close()
        except OSError:
            pass

    def rewind(self) -> None:
        """Start over from the first byte (restart)."""
        self._stream.seek(0)
        self.position = 0
        self.lines_sent = 0
        self.finished = False


#: No linear estimate before the job ran this long, seconds: at the start the file position races
#: ahead through header comments (slicer thumbnails can be a third of a small file) while nothing
#: printed, so an early linear guess reads "seconds left" and fires "almost done" automations.
MIN_ELAPSED_FOR_ESTIMATE = 30.0


def time_left(print_time: float, completion: float) -> Optional[float]:
    """Linear estimate of the seconds left, or None (never 0) before there is enough progress to tell."""
    if completion >= 100.0 and print_time > 0:
        return 0.0
    if completion <= 0.5 or print_time < MIN_ELAPSED_FOR_ESTIMATE:
        return None
    if completion >= 100.0:
        return 0.0
    return print_time * (100.0 - completion) / completion
