"""The current job's file facts for the transports: slicer metadata, live layer/Z/M73, ETA.

Glue between the file store (metadata read at upload) and the pure `gcodefile.live` tracker that
watches the job's lines. `PrinterJobs` owns one `JobFacts` per started job.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from mqttprint.gcodefile.live import LiveTracker, PrintFacts, estimate_left
from mqttprint.gcodefile.model import FileMetadata, from_dict
from mqttprint.runtime.file_store import FileStore


def stored_metadata(store: FileStore, name: Optional[str]) -> Optional[FileMetadata]:
    """A stored file's metadata (None for no file, a missing file or one not analysed)."""
    if name is None:
        return None
    try:
        analysis = store.get(name).analysis
    except Exception:  # deleted meanwhile, unreadable: no metadata, never an error
        return None
    return from_dict(analysis) if analysis else None


def filament_document(metadata: Optional[FileMetadata]) -> Optional[dict[str, dict[str, Any]]]:
    """OctoPrint's `filament` shape: {"tool0": {"length": mm, "volume": cm3}, ...} (None: unknown)."""
    if metadata is None or not metadata.filament:
        return None
    return {f"tool{f.tool}": {"length": f.length, "volume": f.volume} for f in metadata.filament}


def gcode_analysis(metadata: Optional[FileMetadata]) -> Optional[dict[str, Any]]:
    """OctoPrint's `gcodeAnalysis` of a file entry, plus mqttprint's slicer facts (extra keys)."""
    if metadata is None:
        return None
    doc: dict[str, Any] = {
        "estimatedPrintTime": metadata.estimated_time,
        "filament": {f"tool{f.tool}": {"length": f.length, "volume": f.volume, "weight": f.weight, "type": f.type}
                     for f in metadata.filament},
        "slicer": metadata.slicer, "slicerVersion": metadata.slicer_version,
        "layerHeight": metadata.layer_height, "firstLayerHeight": metadata.first_layer_height,
        "layers": metadata.layer_count, "maxZ": metadata.max_z, "objects": list(metadata.objects),
    }
    d = metadata.dimensions
    if d is not None:
        doc["dimensions"] = {"width": round(d.max_x - d.min_x, 3), "depth": round(d.max_y - d.min_y, 3),
                             "height": round(d.max_z - d.min_z, 3)}
        doc["printingArea"] = {"minX": d.min_x, "minY": d.min_y, "minZ": d.min_z,
                               "maxX": d.max_x, "maxY": d.max_y, "maxZ": d.max_z}
    elif metadata.max_z is not None:
        doc["dimensions"] = {"height": metadata.max_z}
    return doc


class JobFacts:
    """Metadata + live tracker of one job; `observe` is the job source's line observer."""

    def __init__(self, metadata: Optional[FileMetadata], on_filament_change: Optional[Callable[[], None]] = None) -> None:
        self.metadata = metadata
        self.tracker = LiveTracker(metadata, on_filament_change)
        self.observe = self.tracker.observe
        self._m73_seq = 0
        self._m73_at = 0.0  # print time when the latest M73 R was first seen

    def live(self, print_time: float) -> PrintFacts:
        facts = self.tracker.facts()
        if facts.m73_seq != self._m73_seq:
            # Read about once a second: the anchor is at most that late (the slicer counts minutes).
            self._m73_seq, self._m73_at = facts.m73_seq, print_time
        return facts

    def time_left(self, print_time: float, fraction: float, facts: PrintFacts) -> tuple[Optional[float], Optional[str]]:
        age = max(0.0, print_time - self._m73_at) if facts.m73_seq else 0.0
        return estimate_left(print_time, fraction, facts, age)
