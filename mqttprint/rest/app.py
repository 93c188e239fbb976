"""The Flask app factory: the only module that imports Flask.

It turns the route tables of the `api_*` modules into URL rules (each twice: under `/api` or
`/plugin` for the default printer and under `/printer/<id>/...` for every printer), resolves the
caller's API key, checks the route's permission, and renders `Reply`/`ApiError` — and every
other error, including Flask's own 404/405/413 — as OctoPrint's `{"error": "..."}` JSON.

A request body is received twice into the temporary directory (`TMPDIR`, else /tmp): waitress
keeps a body over 512 KB in a temporary file, then Werkzeug copies a multipart file part over
500 KB into another. When that directory is full, either copy fails: both answer 507 JSON like a
full upload directory, with every temporary file closed (rest/server.py guards waitress's copy).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from typing import IO, Any, Callable, Iterable, Mapping, Optional

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser

from mqttprint.rest import (
    api_appkeys, api_control, api_files, api_fleet, api_job, api_printer, api_prompt, api_server, api_system,
    api_thumbnails, api_webcam,
)
from mqttprint.rest.auth import extract_key
from mqttprint.rest.routing import FORBIDDEN_TEXT, SCOPE_API, SCOPE_ROOT, Call, Reply, Route, Services, Upload
from mqttprint.rest.shapes import json_text
from mqttprint.rest.validation import MAX_JSON_BYTES, ApiError
from mqttprint.runtime.file_store import NO_SPACE, StorageFull
from mqttprint.web import routes as web_routes

log = logging.getLogger(__name__)

#: Every route table the app serves.
ROUTE_TABLES: tuple[tuple[Route, ...], ...] = (
    api_printer.ROUTES, api_control.ROUTES, api_server.ROUTES, api_appkeys.ROUTES, api_system.ROUTES,
    api_job.ROUTES, api_files.ROUTES, api_webcam.ROUTES, web_routes.ROUTES, api_fleet.ROUTES, api_prompt.ROUTES,
    api_thumbnails.ROUTES,
)

#: Room for the multipart framing and form fields around an upload of the configured maximum
#: size, so a file of exactly `rest.max_upload_mb` passes and the file store decides (413 JSON).
UPLOAD_OVERHEAD = 256 * 1024


def body_limit(max_upload_mb: int) -> int:
    """The largest request body Flask accepts (bigger ones: 413 JSON before anything is parsed)."""
    return max_upload_mb * 1024 * 1024 + UPLOAD_OVERHEAD


#: WSGI environ key the REST server sets (to the OS error text) when a request body did not fit
#: in the temporary directory; the body is then empty. Not an HTTP_ key: no client can send it.
SPOOL_FULL_KEY = "mqttprint.spool_full"


def spool_full(reason: str) -> StorageFull:
    """The 507 error for a request body that did not fit in the temporary directory."""
    directory = tempfile.gettempdir()
    log.warning("request body refused: no room in the temporary directory %s (%s); free space there "
                "or point TMPDIR at a larger file system", directory, reason)
    return StorageFull(f"not enough space to receive the upload: the temporary directory is full ({reason})")


class SpoolingFormParser(FormDataParser):
    """Werkzeug's form parser, except that a full temporary directory while a file part is
    spooled is `StorageFull` (507, not a 500), with every part spooled so far closed at once."""

    def __init__(self, stream_factory: Callable[..., IO[bytes]], *args: Any, **kwargs: Any) -> None:
        self._spooled: list[IO[bytes]] = []

        def spool(**part: Any) -> IO[bytes]:
            stream = stream_factory(**part)
            self._spooled.append(stream)
            return stream

        super().__init__(spool, *args, **kwargs)

    def parse(self, stream: IO[bytes], mimetype: str, content_length: Optional[int],
              options: Optional[dict[str, str]] = None) -> Any:
        try:
            return super().parse(stream, mimetype, content_length, options)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            for spooled in self._spooled:  # unlinked temporary files: closing frees their space
                try:
                    spooled.close()
                except OSError:  # closing flushes the write that found no room; the file is closed anyway
                    pass
            raise spool_full(exc.strerror or str(exc)) from None


class GatewayRequest(Request):
    """Flask's request with the spool-aware form parser."""

    form_data_parser_class = SpoolingFormParser


_SLASHES = re.compile(r"/{2,}")


class CollapseSlashes:
    """WSGI middleware: `//api//version` routes like `/api/version` (some clients build URLs
    by joining a base that ends in "/" with a path that starts with one)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = _SLASHES.sub("/", path)
        return self.app(environ, start_response)


def json_response(status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    response = Response(json_text(body), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response


def render(reply: Reply) -> Response:
    """Reply -> Response: None = empty text/plain (OctoPrint's NO_CONTENT), str = text, bytes or
    an iterator of bytes (a stream) as is with the reply's Content-Type, else JSON."""
    if isinstance(reply.body, (bytes, Iterator)):
        headers = dict(reply.headers)
        mimetype = headers.pop("Content-Type", "application/octet-stream")
        response = Response(reply.body, status=reply.status, content_type=mimetype, direct_passthrough=True)
        response.headers.update(headers)
        return response
    if reply.body is None or isinstance(reply.body, str):
        response = Response(reply.body or "", status=reply.status, mimetype="text/plain")
        response.headers.update(reply.headers)
        return response
    return json_response(reply.status, reply.body, reply.headers)


def _read_body() -> bytes:
    """The raw body, refusing oversized JSON before reading it (413)."""
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise ApiError(413, f"Request body too large (at most {MAX_JSON_BYTES} bytes)")
    return request.get_data(cache=True)


def _first_values(multi: Any) -> dict[str, str]:
    return {key: multi.get(key) for key in multi.keys()}


def _read_file(name: str) -> Optional[Upload]:
    """The multipart part `name` as an Upload. Werkzeug has already spooled a big part to a
    temporary file; its stream is handed on as is, never read into memory here."""
    part = request.files.get(name)
    if part is None:
        return None
    return Upload(filename=part.filename or "", stream=part.stream)


def make_view(route: Route, services: Services) -> Callable[..., Response]:
    """The Flask view for one route: printer lookup, authentication, permission, handler."""

    def view(printer_id: str | None = None, **params: str) -> Response:
        pid = printer_id if printer_id is not None else services.default_printer
        if route.scope == SCOPE_ROOT:
            pid = pid or ""  # gateway-wide routes (the dashboard) need no printer
        elif pid is None or pid not in services.printers:
            raise ApiError(404, f"Unknown printer {printer_id!r}" if printer_id else "No printer configured")
        principal = services.authenticator.resolve(extract_key(request.values, request.headers))
        if not principal.allows(route.permission):
            raise ApiError(403, FORBIDDEN_TEXT)
        # Never request.url_root: it is built from the Host header, which the client controls.
        origin = services.config.rest.external_url or "/"
        origin = origin if origin.endswith("/") else origin + "/"
        root = origin if printer_id is None else f"{origin}printer/{printer_id}/"
        call = Call(
            method=request.method, printer_id=pid, principal=principal, services=services,
            query=_first_values(request.args), params=params, mimetype=request.mimetype,
            read_body=_read_body, read_form=lambda: _first_values(request.form), url_root=root,
            read_file=_read_file,
        )
        return render(route.handler(call))

    return view


def _register(app: Flask, routes: Iterable[Route], services: Services) -> None:
    for index, route in enumerate(routes):
        base = {SCOPE_API: "/api", SCOPE_ROOT: ""}.get(route.scope, "/plugin")
        view = make_view(route, services)
        for prefix in ("",) if route.scope == SCOPE_ROOT else ("", "/printer/<printer_id>"):
            endpoint = f"{index}:{','.join(route.methods)}:{prefix}{base}{route.rule}"
            app.add_url_rule(f"{prefix}{base}{route.rule}", endpoint=endpoint, view_func=view,
                             methods=list(route.methods), strict_slashes=False)


def metrics_view(services: Services) -> Response:
    """GET /metrics: Prometheus exposition; a `read` key (STATUS) only when metrics.require_key."""
    if services.config.metrics.require_key:
        principal = services.authenticator.resolve(extract_key(request.values, request.headers))
        if principal.anonymous or not principal.allows("STATUS"):
            raise ApiError(403, FORBIDDEN_TEXT)
    body, content_type = services.metrics.render(request.headers.get("Accept", ""))  # type: ignore[union-attr]
    return Response(body, status=200, content_type=content_type)


def create_app(services: Services, route_tables: Iterable[tuple[Route, ...]] = ROUTE_TABLES) -> Flask:
    """Build the WSGI app for one gateway."""
    app = Flask("mqttprint.rest")
    app.request_class = GatewayRequest
    # Form and upload bodies are capped here; JSON bodies much lower in _read_body.
    app.config["MAX_CONTENT_LENGTH"] = body_limit(services.config.rest.max_upload_mb)
    _register(app, [route for table in route_tables for route in table], services)
    if services.metrics is not None:
        app.add_url_rule("/metrics", endpoint="metrics", view_func=lambda: metrics_view(services), methods=["GET"])
    services.rules = frozenset(rule.rule for rule in app.url_map.iter_rules())

    @app.before_request
    def body_received() -> None:
        # The server could not keep this request's body (full temporary directory): say so
        # before anything reads the (empty) body or the form.
        reason = request.environ.get(SPOOL_FULL_KEY)
        if reason is not None:
            raise spool_full(str(reason))

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return json_response(exc.status, exc.body(), exc.headers)

    @app.errorhandler(StorageFull)
    def storage_full(exc: StorageFull) -> Response:
        # The host's disk, not the caller: 507 Insufficient Storage, as Call.dispatch answers.
        return json_response(507, {"error": str(exc)})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is None or exc.code < 400:
            return exc  # routing redirects keep Werkzeug's own response
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return json_response(exc.code, {"error": exc.description}, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # A genuine bug: log it with its traceback; the client gets a JSON 500, never HTML.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_response(500, {"error": "Internal server error (see the mqttprint log)"})

    @app.after_request
    def no_cache(response: Response) -> Response:
        # Printer state changes every second; no proxy or browser may serve a stale copy.
        response.headers.setdefault("Cache-Control", "no-cache, no-store, must-revalidate")
        if services.metrics is not None:
            services.metrics.count_request(request.method, response.status_code)
        return response

    app.wsgi_app = CollapseSlashes(app.wsgi_app)  # type: ignore[method-assign]
    return app
