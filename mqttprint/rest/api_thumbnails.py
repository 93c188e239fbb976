"""Thumbnails of stored files at the URL OctoPrint's PrusaSlicer Thumbnails plugin uses:
GET /plugin/prusaslicerthumbnails/thumbnail/<file name with .png|.jpg|.qoi instead of .gcode>
(`<name>.small.png` for the smallest one). File entries carry this URL as `thumbnail` (relative,
with a `?<upload time>` cache buster, as the plugin writes it) and `refs.thumbnail` (absolute).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional
from urllib.parse import quote

from mqttprint.rest.routing import SCOPE_PLUGIN, Call, Reply, Route
from mqttprint.rest.validation import ApiError
from mqttprint.runtime.file_store import EXTENSIONS

PLUGIN = "prusaslicerthumbnails"
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "qoi": "image/qoi"}
NOT_FOUND = "Thumbnail not found"


def _stem(name: str) -> str:
    lower = name.lower()
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


def thumbnail_path(entry: Mapping[str, Any], small: bool = False) -> Optional[str]:
    """`plugin/prusaslicerthumbnails/thumbnail/<stem>[.small].<fmt>` of a file entry, or None."""
    thumbs = entry.get("thumbnails") or []
    if not thumbs:
        return None
    info = thumbs[-1] if small else thumbs[0]
    return f"plugin/{PLUGIN}/thumbnail/{quote(_stem(str(entry['name'])))}{'.small' if small else ''}.{info['format']}"


def thumbnail(call: Call) -> Reply:
    """GET the image (FILES_DOWNLOAD): raw bytes with the image's content type; 404 when none."""
    requested = call.params["filename"]
    stem, dot, fmt = requested.rpartition(".")
    if not dot or fmt not in CONTENT_TYPES:
        raise ApiError(404, NOT_FOUND)
    small = stem.endswith(".small")
    if small:
        stem = stem[: -len(".small")]
    listing = call.dispatch("files.list", {}).data["files"]
    for entry in listing:
        if _stem(str(entry["name"])) == stem and entry.get("thumbnails"):
            index = len(entry["thumbnails"]) - 1 if small else 0
            result = call.dispatch("files.thumbnail", {"name": entry["name"], "index": index}).data
            if result is not None and result["format"] == fmt:
                return Reply(200, result["data"], {"Content-Type": CONTENT_TYPES[fmt], "Cache-Control": "max-age=60"})
    raise ApiError(404, NOT_FOUND)


ROUTES = (
    Route(f"/{PLUGIN}/thumbnail/<path:filename>", ("GET",), thumbnail, "FILES_DOWNLOAD", scope=SCOPE_PLUGIN),
)
