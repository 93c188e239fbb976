"""Live print facts while a job streams: layer, Z, the slicer's M73 progress, filament used, ETA.

Pure. `LiveTracker.observe(raw_line)` sees every line the job source reads from the file, comments
included (layer markers are comments), in file order, as the line is handed to the printer link.
`estimate_left` blends the slicer's estimate with the measured print time (see its docstring).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from mqttprint.gcodefile.model import FileMetadata

_E = re.compile(rb"E(-?\d*\.?\d+)")
_Z = re.compile(rb"Z(-?\d*\.?\d+)")
_M73_P = re.compile(rb"P(\d+(?:\.\d+)?)")
_M73_R = re.compile(rb"R(\d+(?:\.\d+)?)")
#: raw comment prefix -> layer marker kind (the first kind seen in a file is the one counted)
_MARKERS = ((b";LAYER_CHANGE", "LAYER_CHANGE"), (b"; CHANGE_LAYER", "CHANGE_LAYER"), (b";LAYER:", "LAYER:"),
            (b"; layer ", "S3D"))


@dataclass(frozen=True, slots=True)
class PrintFacts:
    """A consistent copy of what the tracker knows (safe to hand to other threads)."""

    layer: Optional[int]  # 1-based current layer, None before the first one
    layers: Optional[int]  # total layers (the slicer's count; raised if the file has more)
    z: Optional[float]  # last Z the file moved to (mm)
    m73_percent: Optional[float]  # the slicer's progress from `M73 P`
    m73_left: Optional[float]  # seconds left from the last `M73 R` (as the slicer counted)
    m73_seq: int  # increments with every `M73 R`: the runtime notes the print time it saw it at
    filament_used: float  # mm of filament pushed so far (all tools, retractions netted out)
    filament_total: Optional[float]  # mm the slicer says the whole print takes
    estimate: Optional[float]  # the slicer's total estimate in seconds


class LiveTracker:
    """Follows one job's lines. Not thread-safe for writers: only the serial thread observes."""

    def __init__(self, metadata: Optional[FileMetadata] = None,
                 on_filament_change: Optional[Callable[[], None]] = None) -> None:
        """`on_filament_change` is called when an M600 line is read (it goes to the printer next)."""
        self._on_filament_change = on_filament_change
        self._total_layers = metadata.layer_count if metadata else None
        self._filament_total = metadata.filament_total_length if metadata else None
        self._estimate = metadata.estimated_time if metadata else None
        self._marker: Optional[str] = None
        self._layer = 0
        self._z: Optional[float] = None
        self._layer_z: Optional[float] = None  # Z of the current layer (Z-increase fallback)
        self._m73_percent: Optional[float] = None
        self._m73_left: Optional[float] = None
        self._m73_seq = 0
        self._relative_e = False
        self._e = 0.0  # logical E position, continued across G92 resets
        self._e_offset = 0.0
        self._e_max = 0.0

    def observe(self, raw: bytes) -> None:
        """One raw line from the file (with its comment and newline)."""
        first = raw[:1]
        if first == b"G":
            if raw[1:3] in (b"1 ", b"0 ", b"1\t", b"0\t"):
                self._move(raw)
            elif raw.startswith(b"G92"):
                self._set_position(raw)
        elif first == b";":
            self._comment(raw)
        elif first == b"M":
            if raw.startswith(b"M73"):
                self._m73(raw)
            elif raw.startswith(b"M83"):
                self._relative_e = True
            elif raw.startswith(b"M82"):
                self._relative_e = False
            elif raw.startswith(b"M600") and not raw[4:5].isdigit() and self._on_filament_change is not None:
                self._on_filament_change()

    # ------------------------------------------------------------------ lines
    def _move(self, raw: bytes) -> None:
        cut = raw.find(b";")
        code = raw if cut < 0 else raw[:cut]
        if b"Z" in code:
            match = _Z.search(code)
            if match:
                self._z = float(match.group(1))
        if b"E" in code:
            match = _E.search(code)
            if match:
                value = float(match.group(1))
                before = self._e
                self._e = self._e + value if self._relative_e else self._e_offset + value
                if self._e > self._e_max:
                    self._e_max = self._e
                if self._e > before and self._marker is None:
                    self._extruded_at_z()

    def _extruded_at_z(self) -> None:
        """No layer markers in this file: a new layer starts when extrusion happens higher up
        (travel moves at a Z-hop height extrude nothing, so they do not count)."""
        z = self._z
        if z is None:
            return
        if self._layer_z is None or z > self._layer_z + 1e-6:
            self._layer_z = z
            self._layer += 1
        elif z < self._layer_z - 1e-6:
            # Extruding lower than before: what came first was a purge at a lifted Z (Cura's
            # default start script primes at Z15), not a layer. The print starts over here.
            self._layer_z, self._layer = z, 1

    def _set_position(self, raw: bytes) -> None:
        cut = raw.find(b";")
        code = raw if cut < 0 else raw[:cut]
        match = _E.search(code)
        if match and not self._relative_e:
            self._e_offset = self._e - float(match.group(1))  # G92 E0: keep counting from here
        match = _Z.search(code)
        if match:
            self._z = float(match.group(1))

    def _comment(self, raw: bytes) -> None:
        if raw.startswith(b";Z:"):
            try:
                self._z = float(raw[3:].strip())
            except ValueError:
                pass
            return
        for prefix, kind in _MARKERS:
            if raw.startswith(prefix):
                if kind == "S3D" and b", Z = " not in raw:
                    return
                if self._marker is None:
                    self._marker, self._layer = kind, 0
                if kind == self._marker:
                    self._layer += 1
                return

    def _m73(self, raw: bytes) -> None:
        cut = raw.find(b";")
        code = raw if cut < 0 else raw[:cut]
        percent = _M73_P.search(code)
        if percent:
            self._m73_percent = float(percent.group(1))
        left = _M73_R.search(code)
        if left:
            self._m73_left = float(left.group(1)) * 60.0
            self._m73_seq += 1
            if self._estimate is None and self._m73_percent == 0:
                self._estimate = self._m73_left  # the first `M73 P0 R<n>`: the slicer's total

    # ------------------------------------------------------------------ reading
    def facts(self) -> PrintFacts:
        layer = self._layer or None
        layers = self._total_layers
        if layers is not None and layer is not None and layer > layers:
            layers = layer
        return PrintFacts(layer, layers, self._z, self._m73_percent, self._m73_left, self._m73_seq,
                          round(self._e_max, 3), self._filament_total, self._estimate)


def estimate_left(print_time: float, fraction: float, facts: Optional[PrintFacts],
                  m73_age: float = 0.0) -> tuple[Optional[float], Optional[str]]:
    """Seconds left and where the number comes from (OctoPrint's `printTimeLeftOrigin` idea).

    `print_time`: active seconds so far (paused time excluded); `fraction`: share of the file sent
    (0-1); `m73_age`: active seconds since the last `M73 R` was read.

    * `slicer-m73` / `mixed-m73`: the file's `M73 R` remaining time;
    * `analysis` / `mixed-analysis`: the slicer's total estimate times the part not yet sent;
    * `linear`: no slicer estimate at all, print time extrapolated over the bytes sent.

    The `mixed-` forms correct the slicer's number by how fast this printer really is: the ratio
    of the measured print time to the time the slicer expected for the part done so far, weighed
    in by progress (at 10 % done the ratio counts 10 %, at 90 % done it counts 90 %). Before
    any estimate exists the answer is (None, None), never 0.
    """
    estimate = facts.estimate if facts else None
    if facts is not None and facts.m73_left is not None and estimate:
        slicer_left = facts.m73_left
        done = max(0.0, estimate - slicer_left)
        origin = "m73"
        at = max(0.0, print_time - m73_age)
    elif estimate:
        slicer_left = estimate * (1.0 - fraction)
        done = estimate * fraction
        origin = "analysis"
        at, m73_age = print_time, 0.0
    else:
        if fraction <= 0.005 or print_time <= 0:
            return None, None
        return (0.0 if fraction >= 1 else print_time * (1 - fraction) / fraction), "linear"
    weight = min(1.0, done / estimate) if estimate > 0 else 0.0
    if done >= min(10.0, 0.02 * estimate) and at > 0:
        ratio = min(50.0, max(0.02, at / done))
        left = slicer_left * (1.0 + weight * (ratio - 1.0)) - m73_age
        return max(0.0, left), f"mixed-{origin}"
    return max(0.0, slicer_left - m73_age), ("slicer-m73" if origin == "m73" else "analysis")
