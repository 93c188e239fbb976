"""The REST server: builds the shim's services and app, serves them with waitress on a thread.

The only module that imports waitress. `RestServer(config, registry, printers, bus)` is what the
daemon constructs; `.start()` binds (port 0 picks a free port, see `.port`) and serves in the
background, `.stop()` closes the listener and every connection.

Waitress receives a request body over 512 KB into a temporary file before the app runs. When the
temporary directory is full, waitress itself would drop the connection (the client sees a reset)
and keep the partial file open; `_GuardedChannel` instead frees that file, reads and drops the
rest of the body and hands the app an empty body marked `SPOOL_FULL_KEY`: the answer is the
same 507 JSON as a full upload directory (rest/app.py).
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Mapping, Optional

from waitress import wasyncore
from waitress.buffers import OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer, create_server
from waitress.task import WSGITask

from mqttprint.config import Config
from mqttprint.rest.app import SPOOL_FULL_KEY, body_limit, create_app
from mqttprint.rest.appkeys import AppKeyStore
from mqttprint.rest.auth import Authenticator
from mqttprint.rest.history import TemperatureHistory
from mqttprint.rest.routing import Services
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry
from mqttprint.runtime.file_store import NO_SPACE
from mqttprint.runtime.port_detect import candidate_ports
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.storage import installation_id, state_dir
from mqttprint.web.frames import printer_frame
from mqttprint.web.hub import PushHub

log = logging.getLogger(__name__)

#: How often the serving loop checks for stop(), seconds.
POLL_INTERVAL = 0.2
#: How long stop() lets running requests (e.g. a `"reply": true` wait) finish, seconds.
SHUTDOWN_GRACE = 2.0


#: Overflow size of the empty in-memory buffer that replaces a body the temporary directory had no room for.
_EMPTY_BODY_OVERFLOW = 1 << 20


class _BodyBuffer:
    """A request body buffer that survives a full temporary directory: the first write that finds
    no room closes the partial file (freeing its space) and every later write is dropped, so the
    request still completes and the client gets an answer instead of a reset."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.full: Optional[str] = None  # the OS error text once a write found no room

    def append(self, data: bytes) -> None:
        if self.full is not None:
            return
        try:
            self.inner.append(data)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            self.full = exc.strerror or str(exc)
            try:
                self.inner.close()
            except OSError:  # closing flushes the write that found no room; the file is closed anyway
                pass
            # The empty body the app is handed: nothing is appended, so it stays in memory.
            self.inner = OverflowableBuffer(_EMPTY_BODY_OVERFLOW)

    def __len__(self) -> int:
        return len(self.inner)

    def __bool__(self) -> bool:
        return bool(self.inner)

    def __getattr__(self, name: str) -> Any:  # get, skip, prune, getfile, close: the buffer's own
        return getattr(self.inner, name)


class _GuardedParser(HTTPRequestParser):
    """Waitress's request parser with the body received through a `_BodyBuffer`."""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.body_rcv is not None:
            self.body_rcv.buf = _BodyBuffer(self.body_rcv.buf)

    @property
    def spool_full(self) -> Optional[str]:
        buffer = getattr(self.body_rcv, "buf", None)
        return buffer.full if isinstance(buffer, _BodyBuffer) else None


class _GuardedTask(WSGITask):
    """Tells the app (environ `SPOOL_FULL_KEY`, body length 0) that the body was dropped."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        reason = getattr(self.request, "spool_full", None)
        if reason is not None:
            environ[SPOOL_FULL_KEY] = reason
            environ["CONTENT_LENGTH"] = "0"
        return environ


class _GuardedChannel(HTTPChannel):
    """Waitress's connection, with the guarded parser and task."""

    parser_class = _GuardedParser
    task_class = _GuardedTask


def build_services(config: Config, registry: CommandRegistry, printers: Mapping[str, PrinterService],
                   metrics: Optional[Any] = None) -> Services:
    """Everything the handlers use. The state dir holds appkeys.json and the installation id."""
    directory = state_dir(config.storage.dir)
    appkeys = AppKeyStore(directory)
    services = Services(
        config=config,
        registry=registry,
        printers=printers,
        history=TemperatureHistory(printers.keys()),
        appkeys=appkeys,
        authenticator=Authenticator(config.rest.api_keys, appkeys.credentials),
        installation_id=functools.lru_cache(maxsize=1)(lambda: installation_id(directory)),
        port_candidates=candidate_ports,
        metrics=metrics,
    )
    if config.rest.dashboard:
        services.push = PushHub(printers.keys(), functools.partial(printer_frame, services),
                                config.rest.max_streams)
    return services


class RestServer:
    """The OctoPrint-compatible REST API on config.rest.host/port."""

    def __init__(self, config: Config, registry: CommandRegistry, printers: Mapping[str, PrinterService],
                 bus: EventBus, metrics: Optional[Any] = None) -> None:
        self.config = config
        self._bus = bus  # the gateway's one event bus (temperature history)
        self.services = build_services(config, registry, printers, metrics)
        self.app = create_app(self.services)
        self._map: dict[int, Any] = {}
        self._server: Optional[Any] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self.port: Optional[int] = None

    def start(self) -> None:
        """Bind now (errors such as "address in use" surface here), then serve on a thread."""
        self._server = create_server(
            self.app, map=self._map, host=self.config.rest.host, port=self.config.rest.port,
            # Dashboard streams hold a thread each while a page is open: they get their own, so
            # the API keeps all of rest.threads however many pages are open (web/hub.py).
            threads=self.config.rest.threads + (self.config.rest.max_streams if self.services.push else 0),
            # A browser keeps up to 6 keep-alive connections per page open beside its stream:
            # room for them, so open pages never use up waitress's connection limit (100).
            connection_limit=100 + (6 * self.config.rest.max_streams if self.services.push else 0),
            ident="mqttprint", clear_untrusted_proxy_headers=True,
            # Above Flask's own limit, so an oversized upload gets Flask's 413 JSON answer; only
            # bodies over twice that are cut off by waitress itself (plain-text 413).
            max_request_body_size=2 * body_limit(self.config.rest.max_upload_mb),
        )
        for listener in self._map.values():  # every listening socket (one per address) accepts guarded
            if isinstance(listener, BaseWSGIServer):
                listener.channel_class = _GuardedChannel
        self.port = int(self._server.effective_port)
        self.services.history.attach(self._bus)
        if self.services.push is not None:
            self.services.push.attach(self._bus)
        self._thread = threading.Thread(target=self._serve, name="rest", daemon=True)
        self._thread.start()
        log.info("REST API on http://%s:%s", self.config.rest.host, self.port)

    def _serve(self) -> None:
        # Our own loop instead of server.run(): run() only returns when every channel (including
        # waitress's internal trigger) is gone, so stop() could never end it cleanly.
        server = self._server
        use_poll = bool(getattr(getattr(server, "adj", None), "asyncore_use_poll", False))
        while not self._stopping.is_set():
            try:
                wasyncore.loop(timeout=POLL_INTERVAL, map=self._map, use_poll=use_poll, count=1)
            except Exception:  # keep the API up: one broken connection must not end serving
                log.exception("REST server loop failed; continuing")
                self._stopping.wait(POLL_INTERVAL)
        if server is not None:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=SHUTDOWN_GRACE)
        for channel in list(self._map.values()):
            try:
                channel.close()
            except OSError:
                log.debug("closing %r failed", channel, exc_info=True)

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self._stopping.set()
        if self.services.push is not None:
            self.services.push.close()  # ends the streams, so their threads can finish
        if self._thread is not None:
            self._thread.join(SHUTDOWN_GRACE + 3)
            self._thread = None
        self.services.history.detach()
