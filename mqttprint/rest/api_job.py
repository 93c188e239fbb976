"""The job: GET /api/job (status) and POST /api/job (start, restart, pause, cancel), octoprint.md 1.5.

POST /api/job keeps OctoPrint's check order: 409 `Printer is not operational` before the body is
read, then 400 `command is invalid`, then the PRINT permission (403), then the per-command 409s
(their rules and texts are `protocol.job_rules`; REST only asks them in OctoPrint's order). The
work is done by the registry's "job.*" actions, which MQTT shares.
"""

from __future__ import annotations

from mqttprint.protocol.job_rules import JobRequest
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route, require_allowed, require_operational, require_permission
from mqttprint.rest.validation import ApiError, json_command

PAUSE_ACTIONS = ("pause", "resume", "toggle")


def job_state(call: Call) -> Reply:
    """GET /api/job (STATUS): always 200 (Home Assistant polls it first, also while offline):
    the runtime's "job.status" document."""
    return Reply(200, call.dispatch("job.status", {}).data)


def _start(call: Call) -> None:
    require_allowed(call, JobRequest.START)
    try:
        call.dispatch("job.start", {})
    except ApiError as exc:
        if exc.status == 400:  # nothing selected: a state conflict, not a malformed request
            raise ApiError(409, exc.message) from None
        raise


def _restart(call: Call) -> None:
    require_allowed(call, JobRequest.RESTART)
    call.dispatch("job.restart", {})


def _pause(call: Call, action: object) -> None:
    require_allowed(call, JobRequest.PAUSE)
    if not isinstance(action, str) or action not in PAUSE_ACTIONS:
        raise ApiError(400, "Unknown action")
    call.dispatch("job.pause", {"action": action})


def _cancel(call: Call) -> None:
    require_allowed(call, JobRequest.CANCEL)
    call.dispatch("job.cancel", {})


def job_command(call: Call) -> Reply:
    """POST /api/job {"command": "start" | "restart" | "pause" (+ "action") | "cancel"} -> 204."""
    require_operational(call)
    data = call.json()
    command = json_command(data, {"start": (), "restart": (), "pause": (), "cancel": ()})
    require_permission(call, "PRINT")
    if command == "start":
        _start(call)
    elif command == "restart":
        _restart(call)
    elif command == "pause":
        _pause(call, data.get("action", "toggle"))
    else:
        _cancel(call)
    return NO_CONTENT


ROUTES = (
    Route("/job", ("GET",), job_state, "STATUS"),
    # No route permission: OctoPrint checks PRINT inside, after the 409 and 400 checks.
    Route("/job", ("POST",), job_command, None),
)
