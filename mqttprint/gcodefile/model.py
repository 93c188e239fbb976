"""What a G-code file says about itself: slicer, estimate, filament, layers, objects, thumbnails.

Pure data (frozen dataclasses) plus plain-dict round trips for the file store's JSON index.
Every field is optional: a file from an unknown slicer simply has fewer facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


@dataclass(frozen=True, slots=True)
class FilamentUse:
    """Filament one tool uses for the whole print. Length in mm, volume in cm3, weight in g."""

    tool: int
    length: Optional[float] = None
    volume: Optional[float] = None
    weight: Optional[float] = None
    type: Optional[str] = None


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """One embedded preview image (raw bytes of the PNG, JPG or QOI file)."""

    width: int
    height: int
    format: str  # "png" | "jpg" | "qoi"
    data: bytes

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class Dimensions:
    """The printed volume's bounding box in mm (only when the slicer reports it)."""

    min_x: float
    min_y: float
    min_z: float
    max_x: float
    max_y: float
    max_z: float


@dataclass(frozen=True, slots=True)
class FileMetadata:
    """Facts read from a G-code file's comments (see `scanner.scan`)."""

    slicer: Optional[str] = None  # "PrusaSlicer", "SuperSlicer", "OrcaSlicer", "BambuStudio", "Cura", ...
    slicer_version: Optional[str] = None
    estimated_time: Optional[float] = None  # seconds, normal mode
    filament: tuple[FilamentUse, ...] = ()
    layer_height: Optional[float] = None
    first_layer_height: Optional[float] = None
    layer_count: Optional[int] = None
    max_z: Optional[float] = None
    objects: tuple[str, ...] = ()
    dimensions: Optional[Dimensions] = None
    has_m73: bool = False
    #: the largest and the smallest embedded thumbnail (the same one when there is only one)
    thumbnails: tuple[Thumbnail, ...] = field(default=(), repr=False)
    #: what could not be read (a broken thumbnail, an unparsable number): never fatal
    problems: tuple[str, ...] = ()

    @property
    def thumbnail(self) -> Optional[Thumbnail]:
        """The largest PNG thumbnail (what `B/thumbnail` and the thumbnail URL serve), or None."""
        pngs = [t for t in self.thumbnails if t.format == "png"]
        return max(pngs, key=lambda t: t.pixels) if pngs else None

    @property
    def filament_total_length(self) -> Optional[float]:
        lengths = [f.length for f in self.filament if f.length is not None]
        return sum(lengths) if lengths else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly facts without the image bytes (thumbnails are stored as files)."""
        return {
            "slicer": self.slicer, "slicer_version": self.slicer_version, "estimated_time": self.estimated_time,
            "filament": [{"tool": f.tool, "length": f.length, "volume": f.volume, "weight": f.weight, "type": f.type}
                         for f in self.filament],
            "layer_height": self.layer_height, "first_layer_height": self.first_layer_height,
            "layer_count": self.layer_count, "max_z": self.max_z, "objects": list(self.objects),
            "dimensions": None if self.dimensions is None else {
                "min_x": self.dimensions.min_x, "min_y": self.dimensions.min_y, "min_z": self.dimensions.min_z,
                "max_x": self.dimensions.max_x, "max_y": self.dimensions.max_y, "max_z": self.dimensions.max_z},
            "has_m73": self.has_m73,
            "thumbnails": [{"width": t.width, "height": t.height, "format": t.format} for t in self.thumbnails],
            "problems": list(self.problems),
        }


def _opt_float(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def from_dict(data: Mapping[str, Any]) -> FileMetadata:
    """The inverse of `FileMetadata.to_dict` (thumbnail bytes are not restored: data is b"").
    Unknown or malformed values are dropped, never raised: the index is a cache."""
    filament = []
    for item in data.get("filament") or ():
        if isinstance(item, Mapping) and isinstance(item.get("tool"), int):
            kind = item.get("type")
            filament.append(FilamentUse(item["tool"], _opt_float(item.get("length")), _opt_float(item.get("volume")),
                                        _opt_float(item.get("weight")), kind if isinstance(kind, str) else None))
    dims = data.get("dimensions")
    dimensions = None
    if isinstance(dims, Mapping):
        values = [_opt_float(dims.get(k)) for k in ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")]
        if all(v is not None for v in values):
            dimensions = Dimensions(*values)  # type: ignore[arg-type]
    thumbs = tuple(Thumbnail(int(t["width"]), int(t["height"]), str(t["format"]), b"")
                   for t in data.get("thumbnails") or () if isinstance(t, Mapping)
                   and isinstance(t.get("width"), int) and isinstance(t.get("height"), int))
    count = data.get("layer_count")
    text = [s for s in data.get("objects") or () if isinstance(s, str)]
    return FileMetadata(
        slicer=data.get("slicer") if isinstance(data.get("slicer"), str) else None,
        slicer_version=data.get("slicer_version") if isinstance(data.get("slicer_version"), str) else None,
        estimated_time=_opt_float(data.get("estimated_time")), filament=tuple(filament),
        layer_height=_opt_float(data.get("layer_height")), first_layer_height=_opt_float(data.get("first_layer_height")),
        layer_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        max_z=_opt_float(data.get("max_z")), objects=tuple(text), dimensions=dimensions,
        has_m73=bool(data.get("has_m73")), thumbnails=thumbs,
        problems=tuple(p for p in data.get("problems") or () if isinstance(p, str)),
    )
