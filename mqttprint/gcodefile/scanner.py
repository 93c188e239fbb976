"""Read a G-code file's metadata in one streamed pass with bounded memory.

`MetadataScanner` is fed chunks (any size, as they arrive from an upload) and never holds more
than one chunk, one partial line (capped) and the thumbnail being decoded (capped). Only the
comment lines `fields.COMMENT_KEYS` names reach Python code; everything else is skipped by the
regular-expression engine, which keeps the scan fast on 100 MB files. Nothing here raises on bad
input: unknown or broken metadata just leaves fields empty and notes a problem.
"""

from __future__ import annotations

import binascii
import re
from typing import BinaryIO, Optional

from mqttprint.gcodefile.fields import COMMENT_KEYS, Facts
from mqttprint.gcodefile.model import Dimensions, FilamentUse, FileMetadata, Thumbnail

#: A line longer than this is not metadata; it is skipped without being buffered whole.
MAX_LINE = 1 << 16
#: Largest base64 text accepted for one thumbnail (about 3 MB of image).
MAX_THUMBNAIL_TEXT = 4 << 20
CHUNK = 1 << 20

_THUMB_BEGIN = re.compile(r"^thumbnail(?:_(PNG|JPG|QOI))? begin (\d+)x(\d+) (\d+)")
_THUMB_END = re.compile(rb"^;[ \t]*thumbnail(?:_(?:PNG|JPG|QOI))? end", re.MULTILINE)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"qoif", "qoi"))


class MetadataScanner:
    """Incremental metadata reader: `feed(chunk)` repeatedly, then `finish()`."""

    def __init__(self) -> None:
        self._facts = Facts()
        self._tail = b""
        self._skipping_long_line = False
        self._thumb: Optional[tuple[str, int, int]] = None  # declared format, width, height
        self._thumb_text: list[bytes] = []
        self._thumb_size = 0
        self._thumb_dropped = False
        self._largest: Optional[Thumbnail] = None
        self._smallest: Optional[Thumbnail] = None
        self._has_m73 = False
        self.bytes_seen = 0

    def feed(self, chunk: bytes) -> None:
        """Scan the complete lines of `chunk` (plus what was left over from the last one)."""
        self.bytes_seen += len(chunk)
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._hold(chunk)
            return
        block = self._tail + chunk[:cut + 1] if self._tail else chunk[:cut + 1]
        if self._skipping_long_line:  # the rest of an over-long line: drop up to its newline
            block = block[block.find(b"\n") + 1:]
            self._skipping_long_line = False
        self._tail = b""
        self._hold(chunk[cut + 1:])
        self._block(block)

    def _hold(self, partial: bytes) -> None:
        if self._skipping_long_line:
            return
        if len(self._tail) + len(partial) > MAX_LINE:
            self._tail = b""
            self._skipping_long_line = True
        else:
            self._tail += partial

    def _block(self, block: bytes) -> None:
        if not self._has_m73 and (block.startswith(b"M73 ") or b"\nM73 " in block):
            self._has_m73 = True
        pos = 0
        while pos < len(block):
            if self._thumb is not None:
                end = _THUMB_END.search(block, pos)
                self._collect(block[pos:end.start() if end else len(block)])
                if end is None:
                    return
                self._finish_thumbnail()
                pos = end.end()
                continue
            match = COMMENT_KEYS.search(block, pos)
            if match is None:
                return
            pos = match.end()
            line = match.group().decode("utf-8", "replace")[1:].strip()
            begin = _THUMB_BEGIN.match(line)
            if begin:
                self._thumb = ((begin.group(1) or "PNG").lower(), int(begin.group(2)), int(begin.group(3)))
                self._thumb_text, self._thumb_size, self._thumb_dropped = [], 0, False
            else:
                self._facts.take(line)

    def _collect(self, text: bytes) -> None:
        if self._thumb_dropped:
            return
        self._thumb_size += len(text)
        if self._thumb_size > MAX_THUMBNAIL_TEXT:
            self._problem("a thumbnail is larger than the limit: skipped")
            self._thumb_text, self._thumb_dropped = [], True
            return
        self._thumb_text.append(text)

    def _finish_thumbnail(self) -> None:
        declared, width, height = self._thumb  # type: ignore[misc]
        text, self._thumb, self._thumb_text = b"".join(self._thumb_text), None, []
        if self._thumb_dropped or not text:
            return
        payload = bytes(c for c in text if c not in b"; \t\r\n")  # drop the comment prefixes
        try:
            data = binascii.a2b_base64(payload)
        except (binascii.Error, ValueError):
            self._problem(f"thumbnail {width}x{height}: broken base64")
            return
        kind = next((k for magic, k in _MAGIC if data.startswith(magic)), None)
        if kind is None or width <= 0 or height <= 0:
            self._problem(f"thumbnail {width}x{height}: not a PNG, JPG or QOI image")
            return
        if kind != declared:
            self._problem(f"thumbnail {width}x{height}: declared {declared}, is {kind}")
        thumb = Thumbnail(width, height, kind, data)
        if self._largest is None or thumb.pixels > self._largest.pixels or (
                thumb.pixels == self._largest.pixels and kind == "png" and self._largest.format != "png"):
            self._largest = thumb
        if self._smallest is None or thumb.pixels < self._smallest.pixels:
            self._smallest = thumb

    def _problem(self, text: str) -> None:
        if len(self._facts.problems) < 20:
            self._facts.problems.append(text)

    def finish(self) -> FileMetadata:
        """The metadata of everything fed so far (a last line without newline included)."""
        if self._tail and not self._skipping_long_line:
            tail, self._tail = self._tail + b"\n", b""
            self._block(tail)
        if self._thumb is not None:
            self._problem("a thumbnail block never ended: skipped")
            self._thumb = None
        return build(self._facts, self._largest, self._smallest, self._has_m73)


def build(facts: Facts, largest: Optional[Thumbnail], smallest: Optional[Thumbnail], has_m73: bool) -> FileMetadata:
    """Turn accumulated facts into `FileMetadata` (filament per tool, derived volume/weight)."""
    tools = max(len(facts.lengths), len(facts.volumes), len(facts.weights))
    filament = []
    for tool in range(tools):
        length = facts.lengths[tool] if tool < len(facts.lengths) else None
        if length is not None and length <= 0 and tools > 1:
            continue  # an unused tool of a multi-tool printer
        volume = facts.volume_of(tool, length) if length is not None else (
            facts.volumes[tool] if tool < len(facts.volumes) else None)
        weight = facts.weights[tool] if tool < len(facts.weights) else None
        if weight is None and tools == 1 and facts.total_weight:
            weight = facts.total_weight
        density = facts.densities[tool] if tool < len(facts.densities) else (facts.densities[-1] if facts.densities else 0)
        if (weight is None or weight == 0) and volume and density > 0:
            weight = round(volume * density, 3)
        kind = facts.types[tool] if tool < len(facts.types) else None
        filament.append(FilamentUse(tool, length, volume, weight, kind or None))
    dims = None
    keys = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")
    if all(k in facts.bounds for k in keys):
        dims = Dimensions(*(facts.bounds[k] for k in keys))
    thumbs: tuple[Thumbnail, ...] = ()
    if largest is not None:
        thumbs = (largest,) if smallest is None or smallest is largest else (largest, smallest)
    max_z = facts.max_z_reported if facts.max_z_reported is not None else facts.max_layer_z
    return FileMetadata(
        slicer=facts.slicer, slicer_version=facts.version, estimated_time=facts.estimate, filament=tuple(filament),
        layer_height=facts.layer_height, first_layer_height=facts.first_layer_height(),
        layer_count=facts.layer_count if facts.layer_count is not None else (facts.markers or None),
        max_z=max_z, objects=tuple(facts.objects), dimensions=dims, has_m73=has_m73, thumbnails=thumbs,
        problems=tuple(facts.problems),
    )


def scan(stream: BinaryIO, chunk_size: int = CHUNK) -> FileMetadata:
    """Read `stream` to its end and return its metadata."""
    scanner = MetadataScanner()
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return scanner.finish()
        scanner.feed(chunk)
