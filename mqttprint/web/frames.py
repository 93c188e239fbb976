"""What the dashboard shows of one printer: a JSON-ready "frame" built from its snapshot and the
job service's status document (the same shapes the REST API answers, so the page and REST agree).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from mqttprint.rest import shapes
from mqttprint.rest.routing import Services
from mqttprint.runtime.commands import Request

log = logging.getLogger(__name__)


def printer_names(services: Services) -> Mapping[str, str]:
    """Printer id -> display name (the config's `name`, else the id)."""
    return {p.id: p.name or p.id for p in services.config.printers}


def _job_document(services: Services, printer_id: str, now: float) -> dict[str, Any]:
    """The job service's `job.status` document (the one `GET /api/job` answers)."""
    snapshot = services.printers[printer_id].snapshot()
    if services.registry.has("job.status"):
        try:
            return dict(services.registry.dispatch(Request("job.status", {}, printer_id, source="web")).data)
        except Exception:  # a status read must never take the push stream down; log and fall back
            log.exception("%s: job.status failed while building a dashboard frame", printer_id)
    return shapes.job(snapshot, now)


def printer_frame(services: Services, printer_id: str, now: float | None = None) -> dict[str, Any]:
    """One printer's dashboard state. Keys: id, name, state {text, flags, error}, port, temperature,
    position, job, progress, firmware. Fields other helpers add to the job document (layer, eta,
    thumbnail, ...) pass through unchanged."""
    now = time.time() if now is None else now
    snapshot = services.printers[printer_id].snapshot()
    job = _job_document(services, printer_id, now)
    firmware = snapshot.firmware
    return {
        "id": printer_id,
        "name": printer_names(services).get(printer_id, printer_id),
        "state": shapes.state(snapshot),
        "port": snapshot.port,
        "temperature": shapes.temperatures(snapshot.temperatures, offset=False),
        "temperatureTime": snapshot.temperature_time,
        "position": shapes.position(snapshot)["position"],
        "job": job.get("job"),
        "progress": job.get("progress"),
        "firmware": getattr(firmware, "name", None) if firmware is not None else None,
    }
