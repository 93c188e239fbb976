"""Server-level endpoints: version, server, settings, current user, login, connection.

These are what clients probe first (PrusaSlicer/OctoRest: /api/version; Home Assistant:
/api/settings for the unique id, then /api/job (api_job.py) and /api/printer every 30 s).
"""

from __future__ import annotations

import uuid
from typing import Any

from mqttprint.protocol.states import Trigger, allowed
from mqttprint.rest import shapes
from mqttprint.rest.auth import login_dict, user_dict
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route
from mqttprint.rest.validation import ApiError, is_json_mimetype, json_command
from mqttprint.runtime.port_detect import allowed_ports

#: States from which `connect` (re)opens the port. Anywhere else a connection exists, and
#: OctoPrint silently ignores connect (octoprint.md Appendix B.3) — which also keeps a stray
#: "connect" from killing a running print.


def version(call: Call) -> Reply:
    return Reply(200, shapes.version())


def server(call: Call) -> Reply:
    return Reply(200, shapes.server())


def upnp_uuid(call: Call) -> str:
    """Stable per installation and printer: the default printer gets the installation id itself,
    every other printer a UUID derived from it, so Home Assistant sees one device per printer."""
    base = call.services.installation_id()
    if call.printer_id == call.services.default_printer:
        return base
    return str(uuid.uuid5(uuid.UUID(base), call.printer_id))


def port_options(call: Call) -> list[str]:
    """The ports a connection request may choose (the same rule as MQTT's, see
    `port_detect.allowed_ports`): the configured port and the detected serial devices."""
    printer = call.services.config.printer(call.printer_id)
    return allowed_ports(printer.port, call.services.port_candidates())


def baudrate_options(call: Call) -> list[int]:
    configured = call.services.config.printer(call.printer_id).baudrate
    return sorted(set(shapes.BAUDRATES) | {configured}, reverse=True)


def settings(call: Call) -> Reply:
    """GET /api/settings (SETTINGS_READ): the subset clients read, see shapes.settings."""
    printer = call.services.config.printer(call.printer_id)
    return Reply(200, shapes.settings(
        upnp_uuid=upnp_uuid(call), name=printer.name, port=printer.port, baudrate=printer.baudrate,
        ports=port_options(call), autoconnect=printer.autoconnect, with_webcam=call.principal.allows("WEBCAM"),
        camera=printer.webcam,
    ))


def current_user(call: Call) -> Reply:
    return Reply(200, user_dict(call.principal))


def login(call: Call) -> Reply:
    """POST /api/login. Only the passive login exists (mqttprint has API keys, not user accounts)."""
    data: Any = call.json() if is_json_mimetype(call.mimetype) else dict(call.read_form())
    if "passive" in data:
        return Reply(200, login_dict(call.principal))
    if "user" in data and "pass" in data:
        raise ApiError(403, "mqttprint has no user accounts: authenticate with an API key and log in passively")
    raise ApiError(400, "Neither user and pass attributes nor passive flag present")


def connection_state(call: Call) -> Reply:
    snapshot = call.snapshot()
    printer = call.services.config.printer(call.printer_id)
    return Reply(200, {
        "current": {"state": shapes.connection_state(snapshot), "port": snapshot.port, "baudrate": snapshot.baudrate,
                    "printerProfile": shapes.DEFAULT_PROFILE["id"]},
        "options": {"ports": port_options(call), "baudrates": baudrate_options(call),
                    "printerProfiles": [dict(shapes.DEFAULT_PROFILE)],
                    "portPreference": printer.port, "baudratePreference": printer.baudrate,
                    "printerProfilePreference": shapes.DEFAULT_PROFILE["id"]},
    })


def _connect_args(call: Call, data: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    port = data.get("port")
    if port is not None:
        if not isinstance(port, str) or (port != "AUTO" and port not in port_options(call)):
            raise ApiError(400, "port is invalid")
        if port != "AUTO":
            args["port"] = port
    baudrate = data.get("baudrate")
    if baudrate is not None:
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or (
                baudrate != 0 and baudrate not in baudrate_options(call)):
            raise ApiError(400, "baudrate is invalid")
        if baudrate:
            args["baudrate"] = baudrate
    profile = data.get("printerProfile")
    if profile is not None and profile != shapes.DEFAULT_PROFILE["id"]:
        raise ApiError(400, "printerProfile is invalid")
    # `save` and `autoconnect` are accepted and ignored: config.yaml is the source of truth.
    return args


def connection_command(call: Call) -> Reply:
    """POST /api/connection: connect (port/baudrate checked against the options), disconnect,
    fake_ack. 204 for all, as in OctoPrint."""
    data = call.json()
    command = json_command(data, {"connect": (), "disconnect": (), "fake_ack": ()})
    if command == "connect":
        args = _connect_args(call, data)
        if allowed(call.snapshot().state, Trigger.OPEN):  # offline or in error: (re)connect
            call.dispatch("connection.connect", args)
    elif command == "disconnect":
        call.dispatch("connection.disconnect", {})
    # fake_ack is a no-op, as OctoPrint's is while disconnected (mqttprint's ok-timeout
    # recovery already unblocks a stalled send loop).
    return NO_CONTENT


ROUTES = (
    Route("/version", ("GET",), version, "STATUS"),
    Route("/server", ("GET",), server, "STATUS"),
    Route("/settings", ("GET",), settings, "SETTINGS_READ"),
    Route("/currentuser", ("GET",), current_user, None),
    Route("/login", ("POST",), login, None),
    Route("/connection", ("GET",), connection_state, "STATUS"),
    Route("/connection", ("POST",), connection_command, "CONNECTION"),
)
