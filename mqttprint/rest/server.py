"""The REST server: builds the shim's services and app, serves them with waitress on a thread.

The only module that imports waitress. `RestServer(config, registry, printers, bus)` is what the
daemon constructs; `.start()` binds (port 0 picks a free port, see `.port`) and serves in the
background, `.stop()` closes the listener and every connection.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Mapping, Optional

from waitress import wasyncore
from waitress.server import create_server

from mqttprint.config import Config
from mqttprint.rest.app import body_limit, create_app
from mqttprint.rest.appkeys import AppKeyStore
from mqttprint.rest.auth import Authenticator
from mqttprint.rest.history import TemperatureHistory
from mqttprint.rest.routing import Services
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry
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
