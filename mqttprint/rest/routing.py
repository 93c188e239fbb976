"""Transport-free route plumbing: what a handler receives (`Call`), returns (`Reply`), and the
route declarations (`Route`) that `app.py` turns into Flask rules.

Handlers never see Flask: they read the request through `Call` and reach printers only through
the command registry (`Call.dispatch`) and snapshots (`Call.snapshot`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Mapping, Optional

from mqttprint.config import Config
from mqttprint.printer.model import PrinterSnapshot
from mqttprint.protocol.errors import CommandRejected, InvalidCommand, LinkFault, NotOperational, PrinterFault
from mqttprint.protocol.job_rules import JobRequest, refusal
from mqttprint.rest.appkeys import AppKeyStore
from mqttprint.rest.auth import Authenticator, Principal
from mqttprint.rest.history import TemperatureHistory
from mqttprint.rest.validation import ApiError, parse_json_object
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Forbidden, NotFound, Request
from mqttprint.runtime.file_store import FileTooLarge, StorageFull
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.system_commands import SystemCommandFailed

log = logging.getLogger(__name__)

#: Where a route lives: under `/api` (and `/printer/<id>/api`), or under `/plugin/<name>` (and
#: `/printer/<id>/plugin/<name>`); both prefixes exist so a client configured with the base URL
#: `http://host/printer/<id>/` reaches everything for that printer.
SCOPE_API = "api"
SCOPE_PLUGIN = "plugin"
#: Gateway-wide routes at the server root (the dashboard: `/`, `/web/...`), not per printer.
SCOPE_ROOT = "root"


@dataclass
class Services:
    """Everything handlers may use, built once by the app factory."""

    config: Config
    registry: CommandRegistry
    printers: Mapping[str, PrinterService]
    history: TemperatureHistory
    appkeys: AppKeyStore
    authenticator: Authenticator
    installation_id: Callable[[], str]
    port_candidates: Callable[[], list[str]]
    #: the gateway's Prometheus metrics (`integrations.metrics.GatewayMetrics`), None when disabled
    metrics: Optional[Any] = None
    #: the dashboard's server-push hub (mqttprint.web.hub.PushHub), when the dashboard is on
    push: Any = None
    #: every URL rule the app serves (the dashboard asks only for endpoints that exist)
    rules: frozenset[str] = frozenset()

    @property
    def default_printer(self) -> Optional[str]:
        return self.registry.context.default_printer


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer. `body` None -> empty text/plain (OctoPrint's 204 NO_CONTENT); a str
    -> text/plain; anything else -> JSON."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


NO_CONTENT = Reply(204)


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file part: the client's file name and a binary stream over the content
    (Werkzeug spools large parts to a temporary file, so a big upload is never all in memory)."""

    filename: str
    stream: BinaryIO


def _no_upload(name: str) -> Optional[Upload]:
    return None


@dataclass
class Call:
    """One request as handlers see it."""

    method: str
    printer_id: str
    principal: Principal
    services: Services
    query: Mapping[str, str]
    params: Mapping[str, str]
    mimetype: str
    read_body: Callable[[], bytes]
    read_form: Callable[[], Mapping[str, str]]
    #: absolute URL of the prefix the request came in on ("http://h:5000/" or "http://h:5000/printer/p2/")
    url_root: str
    #: the multipart file part of that name, or None
    read_file: Callable[[str], Optional[Upload]] = _no_upload
    _json: Optional[dict[str, Any]] = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (415/400/413 ApiError otherwise); parsed once."""
        if self._json is None:
            self._json = parse_json_object(self.mimetype, self.read_body())
        return self._json

    def printer(self) -> PrinterService:
        return self.services.printers[self.printer_id]

    def snapshot(self) -> PrinterSnapshot:
        return self.printer().snapshot()

    def dispatch(self, action: str, args: Mapping[str, Any]) -> ActionResult:
        """Run a registry action for this printer; rejected requests become 4xx ApiErrors, a
        failing synchronous system command a 500 carrying its return code and output."""
        try:
            return self.services.registry.dispatch(Request(action, args, self.printer_id, source="rest"))
        except FileTooLarge as exc:
            raise ApiError(413, str(exc)) from None
        except StorageFull as exc:  # the host's disk, not the caller: 507 Insufficient Storage
            raise ApiError(507, str(exc)) from None
        except SystemCommandFailed as exc:
            raise ApiError(500, str(exc)) from None
        except InvalidCommand as exc:
            raise ApiError(400, str(exc)) from None
        except NotFound as exc:
            raise ApiError(404, str(exc)) from None
        except Forbidden as exc:
            raise ApiError(403, str(exc)) from None
        except NotOperational as exc:
            raise ApiError(409, str(exc)) from None
        except CommandRejected as exc:
            raise ApiError(400, str(exc)) from None
        except (PrinterFault, LinkFault) as exc:
            raise ApiError(409, str(exc)) from None
        except TimeoutError as exc:
            # The serial thread did not take the intent in time (a stuck port): say so, don't 500.
            log.warning("%s: %s timed out: %s", self.printer_id, action, exc)
            raise ApiError(503, "The printer connection is not responding, try again") from None


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: `rule` is relative to the scope prefix (e.g. "/printer/command")."""

    rule: str
    methods: tuple[str, ...]
    handler: Handler
    permission: Optional[str]  # OctoPrint permission key; None = open to anonymous callers
    scope: str = SCOPE_API


#: What OctoPrint (Werkzeug's Forbidden) answers a caller who lacks a permission.
FORBIDDEN_TEXT = ("You don't have the permission to access the requested resource. It is either read-protected "
                  "or not readable by the server.")


def require_operational(call: Call, message: str = "Printer is not operational") -> PrinterSnapshot:
    """409 unless the printer accepts commands (OctoPrint's `is_operational()` checks)."""
    snapshot = call.snapshot()
    if not snapshot.operational:
        raise ApiError(409, message)
    return snapshot


def require_allowed(call: Call, request: JobRequest) -> None:
    """409 with the rulebook's text unless the printer's state allows `request` (REST asks early
    only where OctoPrint's order of checks puts the 409 before other checks)."""
    message = refusal(request, call.snapshot().state)
    if message is not None:
        raise ApiError(409, message)


def require_permission(call: Call, permission: str, message: str = FORBIDDEN_TEXT) -> None:
    """403 unless the caller has `permission` (for checks OctoPrint makes inside a view, after
    its 409/400 checks, e.g. PRINT in POST /api/job)."""
    if not call.principal.allows(permission):
        raise ApiError(403, message)
