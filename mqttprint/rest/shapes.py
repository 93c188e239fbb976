"""OctoPrint 1.11's JSON shapes, built from printer snapshots (pure functions).

Key names, nesting, nulls and the state texts follow octoprint.md Part 1 exactly, because Home
Assistant, slicers and mobile apps index into these dicts without defensive checks.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping, Optional

from mqttprint import __version__
from mqttprint.config import WebcamConfig
from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol.replies import HeaterReading
from mqttprint.protocol.states import is_closed

#: The OctoPrint release whose API this shim reproduces.
OCTOPRINT_VERSION = "1.11.8"
API_VERSION = "0.1"

#: OctoPrint's default baud-rate candidates, sorted descending as it sorts them.
BAUDRATES = (250000, 230400, 115200, 57600, 38400, 19200, 9600)
DEFAULT_PROFILE = {"id": "_default", "name": "Default"}

_TOOL_KEY = re.compile(r"^T(\d+)$")


def finite(value: Any) -> Any:
    """NaN/inf are not JSON: a garbled temperature report must not produce an unparsable body."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_text(body: Any) -> str:
    """`body` as strict JSON text (non-finite numbers become null)."""
    try:
        return json.dumps(body, allow_nan=False)
    except ValueError:
        return json.dumps(finite(body), allow_nan=False)


def heater_key(name: str) -> str:
    """Firmware sensor name -> OctoPrint key: T0 -> tool0, B -> bed, C -> chamber, P stays P."""
    match = _TOOL_KEY.match(name)
    if match:
        return f"tool{int(match.group(1))}"
    if name == "T":
        return "tool0"
    return {"B": "bed", "C": "chamber"}.get(name, name)


def _reading(reading: HeaterReading, offset: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"actual": reading.actual, "target": reading.target}
    if offset:
        out["offset"] = 0  # mqttprint applies no temperature offsets (see docs/rest.md)
    return out


def temperatures(heaters: Mapping[str, HeaterReading], offset: bool = True) -> dict[str, dict[str, Any]]:
    """`{"tool0": {"actual", "target", "offset"}, "bed": {...}, "P": {...}}` — only what the
    firmware reports (a printer without a bed has no "bed" key, like OctoPrint's profile filter)."""
    return {heater_key(name): _reading(reading, offset) for name, reading in heaters.items()}


def history_entries(samples: Iterable[tuple[float, Mapping[str, HeaterReading]]],
                    keep: Optional[str] = None) -> list[dict[str, Any]]:
    """History samples oldest first: `{"time": <int s>, "tool0": {"actual", "target"}, ...}`.
    `keep` = "tool" or "bed" limits the sensors (GET /api/printer/tool and /bed)."""
    entries = []
    for wall_time, heaters in samples:
        entry: dict[str, Any] = {"time": int(wall_time)}
        for key, value in temperatures(heaters, offset=False).items():
            if keep is None or key.startswith(keep):
                entry[key] = value
        entries.append(entry)
    return entries


def flags(snapshot: PrinterSnapshot) -> dict[str, bool]:
    """OctoPrint's 11 flags. `sdReady` is false because the shim reports `feature.sdSupport` false
    (mqttprint has no SD-card file handling yet)."""
    out = dict(snapshot.flags)
    out["sdReady"] = False
    return out


def state(snapshot: PrinterSnapshot) -> dict[str, Any]:
    """The `state` object of GET /api/printer."""
    return {"text": snapshot.state_text, "flags": flags(snapshot), "error": snapshot.error or ""}


def connection_state(snapshot: PrinterSnapshot) -> str:
    """GET /api/connection says "Closed" when no connection exists, where /api/printer says
    "Offline" or "Offline after error" (octoprint.md Appendix B.2)."""
    if is_closed(snapshot.state):
        return "Closed"
    return snapshot.state_text


def job(snapshot: PrinterSnapshot, now: float) -> dict[str, Any]:
    """GET /api/job: the full shape, nulls where nothing is known (always 200, even offline)."""
    info = snapshot.job
    running = info is not None and info.outcome is None
    name = info.name if info is not None else None
    body: dict[str, Any] = {
        "job": {
            "file": {"name": name, "path": name, "display": name, "origin": "local" if name else None,
                     "size": None, "date": None},
            "estimatedPrintTime": None,
            "averagePrintTime": None,
            "lastPrintTime": None,
            "filament": None,
            "user": None,
        },
        "progress": {
            "completion": None,
            "filepos": None,
            "printTime": int(now - info.started_at) if running and info is not None else None,
            "printTimeLeft": None,
            "printTimeLeftOrigin": None,
        },
        "state": snapshot.state_text,
    }
    if snapshot.error:
        body["error"] = snapshot.error
    return body


def version() -> dict[str, str]:
    """GET /api/version. `text` starts with "OctoPrint" (PrusaSlicer and OctoRest check that)
    and names mqttprint so nobody mistakes the shim for the real thing."""
    return {"api": API_VERSION, "server": OCTOPRINT_VERSION,
            "text": f"OctoPrint {OCTOPRINT_VERSION} (mqttprint {__version__})"}


def server() -> dict[str, Any]:
    return {"version": OCTOPRINT_VERSION, "safemode": None}


def webcam(camera: Optional[WebcamConfig] = None, name: str = "") -> dict[str, Any]:
    """OctoPrint's `webcam` settings block (every key Home Assistant's camera setup reads):
    disabled without a configured camera, else its URLs and orientation, flat (the default
    webcam, what HA reads) and as the one entry of `webcams`."""
    if camera is None or not camera.configured:
        stream, snapshot, flip_h, flip_v, rotate = "", "", False, False, False
    else:
        stream, snapshot = camera.stream_url or "", camera.snapshot_url or ""
        flip_h, flip_v, rotate = camera.flip_h, camera.flip_v, camera.rotate_90
    enabled = bool(stream or snapshot)
    entry = {
        "name": "mqttprint", "displayName": name or "Webcam", "flipH": flip_h, "flipV": flip_v, "rotate90": rotate,
        "canSnapshot": bool(snapshot), "snapshotDisplay": snapshot, "extras": {},
        "compat": {"stream": stream, "snapshot": snapshot, "streamRatio": "16:9", "streamTimeout": 5,
                   "snapshotTimeout": 5, "snapshotSslValidation": True, "cacheBuster": False,
                   "streamWebrtcIceServers": []},
    }
    return {
        "webcamEnabled": enabled, "timelapseEnabled": False, "ffmpegPath": None, "ffmpegCommandline": None,
        "bitrate": "", "ffmpegThreads": 1, "ffmpegVideoCodec": "libx264", "watermark": False,
        "renderAfterPrintDelay": 0, "webcams": [entry] if enabled else [],
        "defaultWebcam": "mqttprint" if enabled else None, "snapshotWebcam": "mqttprint" if snapshot else None,
        "flipH": flip_h, "flipV": flip_v, "rotate90": rotate, "streamUrl": stream, "streamRatio": "16:9",
        "streamTimeout": 5, "streamWebrtcIceServers": [], "snapshotUrl": snapshot, "snapshotTimeout": 5,
        "snapshotSslValidation": True, "cacheBuster": False,
    }


def settings(*, upnp_uuid: str, name: str, port: str, baudrate: int, ports: list[str], autoconnect: bool,
             with_webcam: bool, camera: Optional[WebcamConfig] = None) -> dict[str, Any]:
    """GET /api/settings, reduced to what clients read (octoprint.md 1.7, 1.11 and Appendix A)."""
    return {
        "api": {"allowCrossOrigin": False},
        "appearance": {"name": name, "color": "default"},
        "feature": {"sdSupport": False, "temperatureGraph": True},
        "serial": {"port": port, "baudrate": baudrate, "portOptions": ports, "baudrateOptions": list(BAUDRATES),
                   "autoconnect": autoconnect},
        "temperature": {"cutoff": 30, "profiles": []},
        "plugins": {
            "discovery": {"upnpUuid": upnp_uuid, "httpUsername": None, "httpPassword": None, "publicHost": None,
                          "publicPort": None, "pathPrefix": None, "zeroConf": [], "model": {}},
            "tracking": {"enabled": False, "unique_id": None},
        },
        "webcam": webcam(camera, name) if with_webcam else {},
        "controls": [],
    }


def position(snapshot: PrinterSnapshot) -> dict[str, Any]:
    """GET /api/printer/printhead (mqttprint extension): the last position the firmware reported."""
    pos = snapshot.position
    if pos is None:
        return {"position": None, "time": snapshot.position_time}
    out: dict[str, Any] = {"x": pos.x, "y": pos.y, "z": pos.z, "e": pos.e}
    out.update(dict(pos.extra))
    return {"position": out, "time": snapshot.position_time}
