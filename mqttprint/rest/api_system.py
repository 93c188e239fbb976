"""System commands: GET /api/system/commands[/<source>], POST /api/system/commands/<source>/<action>
(octoprint.md 1.2). Permission SYSTEM (only the admin role has it).

The command lines come from config.yaml only (`system.commands` for core, `system.actions` for
custom); a request merely names one by source and action, through the registry's "system.list" and
"system.execute" actions. Nothing from the request — path, query string, body — becomes part of a
command line, and the lines themselves are never shown to clients.
"""

from __future__ import annotations

from typing import Any, Mapping

from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route

#: OctoPrint's ClientSpec keys: everything else (`command`, `async`, `ignore`, ...) stays internal.
CLIENT_KEYS = ("source", "action", "name", "confirm", "fresh_credentials", "resource")


def base_url(call: Call) -> str:
    """`rest.external_url` (or nothing: relative URLs) + `/printer/<id>` when the client used that
    prefix; never built from the request's Host header."""
    return call.url_root.rstrip("/")


def client_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Only the documented ClientSpec keys (defence in depth: never a command line)."""
    return {key: spec[key] for key in CLIENT_KEYS if key in spec}


def list_all(call: Call) -> Reply:
    """GET /api/system/commands -> {"core": [...], "custom": [...], "plugin": []}."""
    listing = call.dispatch("system.list", {"base_url": base_url(call)}).data
    return Reply(200, {source: [client_spec(s) for s in specs] for source, specs in listing.items()})


def list_source(call: Call) -> Reply:
    """GET /api/system/commands/<source> -> [ClientSpec...]; 404 for a source other than
    core, custom, plugin."""
    specs = call.dispatch("system.list", {"base_url": base_url(call), "source": call.params["source"]}).data
    return Reply(200, [client_spec(s) for s in specs])


def execute(call: Call) -> Reply:
    """POST /api/system/commands/<source>/<action> -> 204 (async commands: as soon as they started).
    400 `Dividers cannot be executed`, 404 unknown source/action, 500 `{"error": "Command for
    <source>:<action> failed with return code <n>: ... STDOUT ... STDERR ..."}` for a failing
    synchronous command (unless the action sets `ignore`). Any body or query is ignored."""
    call.dispatch("system.execute", {"source": call.params["source"], "action": call.params["action"]})
    return NO_CONTENT


ROUTES = (
    Route("/system/commands", ("GET",), list_all, "SYSTEM"),
    Route("/system/commands/<source>", ("GET",), list_source, "SYSTEM"),
    Route("/system/commands/<source>/<action>", ("POST",), execute, "SYSTEM"),
)
