"""The webcam snapshot proxy: GET /api/printer/webcam/snapshot (and /printer/<id>/api/...).

Behind the API key (OctoPrint's WEBCAM permission, which read-only keys have), so a dashboard or
client that cannot reach the camera's own network, or should not see its URL, gets the image
through the gateway. The camera is fetched per request with a timeout and a size cap.
"""

from __future__ import annotations

from mqttprint.integrations.webcam import WebcamError, fetch_snapshot
from mqttprint.rest.routing import Call, Reply, Route
from mqttprint.rest.validation import ApiError


def snapshot(call: Call) -> Reply:
    """One image from the printer's `webcam.snapshot_url`: 404 without one, 502 when the camera fails."""
    camera = call.services.config.printer(call.printer_id).webcam
    if not camera.snapshot_url:
        raise ApiError(404, f"No webcam snapshot_url configured for printer {call.printer_id!r}")
    try:
        image = fetch_snapshot(camera.snapshot_url)
    except WebcamError as exc:
        raise ApiError(502, f"Webcam snapshot failed: {exc}") from None
    return Reply(200, image.data, {"Content-Type": image.content_type})


ROUTES = (
    Route("/printer/webcam/snapshot", ("GET",), snapshot, "WEBCAM"),
)
