"""The dashboard's routes, registered by the REST app (rest/app.py) on the REST port.

`/` is the page, `/web/<file>` its static files (a fixed list, nothing else is readable),
`/web/api/state` every printer's state as JSON, `/web/api/events` the Server-Sent Events stream
(see hub.py). The page authenticates every request with the `X-Api-Key` header: no cookie is
ever set, so a page on another site cannot make a browser send a state-changing request with the
user's credentials (no CSRF surface). Static files are public (they hold no data); the state and
the stream need the STATUS permission like `GET /api/printer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from mqttprint.rest.routing import SCOPE_ROOT, Call, Reply, Route
from mqttprint.rest.validation import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
#: The only files served: the static directory's listing at start-up (no path ever comes from
#: the request).
STATIC_FILES: Mapping[str, Path] = {
    p.name: p for p in sorted(STATIC_DIR.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES
} if STATIC_DIR.is_dir() else {}

#: Scripts, styles and data only from this gateway; webcam streams and snapshots may come from
#: another host (the printer's camera), and no other site may frame the page (click-jacking of
#: the emergency buttons).
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob: http: https:; "
                                "media-src 'self' http: https:; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _enabled(call: Call) -> None:
    if not call.services.config.rest.dashboard or call.services.push is None:
        raise ApiError(404, "The dashboard is disabled (rest.dashboard: false)")


def _file(name: str) -> Reply:
    path = STATIC_FILES.get(name)
    if path is None:
        raise ApiError(404, f"No such file: {name}")
    headers = {"Content-Type": CONTENT_TYPES[path.suffix], "Cache-Control": "no-cache", **SECURITY_HEADERS}
    return Reply(200, path.read_bytes(), headers)


def index(call: Call) -> Reply:
    """GET /: the dashboard page."""
    _enabled(call)
    return _file("index.html")


def static_file(call: Call) -> Reply:
    """GET /web/<name>: one of the page's own files."""
    _enabled(call)
    return _file(call.params["name"])


#: Optional endpoints (added by other parts of the gateway) the page uses when they exist.
OPTIONAL_ENDPOINTS: Mapping[str, str] = {
    "fleet": "/api/fleet", "prompt": "/api/printer/prompt", "webcamSnapshot": "/api/printer/webcam/snapshot",
}


def state(call: Call) -> Reply:
    """GET /web/api/state: every printer's dashboard frame (first paint and the polling fallback),
    which optional endpoints this gateway has, and whether it records terminal lines."""
    _enabled(call)
    config = call.services.config
    endpoints = {name: rule in call.services.rules for name, rule in OPTIONAL_ENDPOINTS.items()}
    # Sent and received lines exist only when the gateway records them (mqtt.terminal or
    # logging.serial_traffic): otherwise the page offers no live terminal.
    live_terminal = bool(config.mqtt.terminal or config.logging.serial_traffic)
    return Reply(200, {**call.services.push.state(), "endpoints": endpoints, "liveTerminal": live_terminal})


def events(call: Call) -> Reply:
    """GET /web/api/events[?terminal=<printer id>]: the SSE stream; 503 when every stream slot
    is taken (the page then polls /web/api/state)."""
    _enabled(call)
    stream = call.services.push.open_stream(call.query.get("terminal") or None)
    if stream is None:
        raise ApiError(503, f"All {call.services.push.max_streams} live-update slots are in use; "
                            "poll /web/api/state instead", headers={"Retry-After": "30"})
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}
    return Reply(200, stream, headers)


ROUTES = (
    Route("/", ("GET",), index, None, SCOPE_ROOT),
    Route("/web/<name>", ("GET",), static_file, None, SCOPE_ROOT),
    Route("/web/api/state", ("GET",), state, "STATUS", SCOPE_ROOT),
    Route("/web/api/events", ("GET",), events, "STATUS", SCOPE_ROOT),
)
