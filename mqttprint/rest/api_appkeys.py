"""The application-keys workflow under /plugin/appkeys (octoprint.md 1.9), as Home Assistant,
Cura and mobile apps run it: probe, request, poll until an admin decides, receive a key.

OctoPrint's admin approves in its web UI; mqttprint has none, so an admin approves with their
API key: `GET /plugin/appkeys/pending` lists undecided requests with their `user_token`, and
`POST /plugin/appkeys/decision/<user_token>` `{"decision": true}` approves (OctoPrint's own
decision endpoint). As in OctoPrint, where an app key carries the rights of the user who approved
it, the key gets the approving admin's role, or a lesser one the admin names (`"role"`).
"""

from __future__ import annotations

from mqttprint.rest.appkeys import MAX_APP_NAME, ROLES, TooManyRequests
from mqttprint.rest.routing import NO_CONTENT, SCOPE_PLUGIN, Call, Reply, Route
from mqttprint.rest.validation import ApiError


def _printable(value: object, limit: int = MAX_APP_NAME) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def probe(call: Call) -> Reply:
    """GET /plugin/appkeys/probe: 204 = the workflow is available."""
    return NO_CONTENT


def request_key(call: Call) -> Reply:
    """POST /plugin/appkeys/request {"app", "user"?} -> 201 + Location + app_token."""
    if not call.read_body():
        raise ApiError(400, "Missing data")
    data = call.json()
    app = data.get("app")
    if not _printable(app):
        raise ApiError(400, "No app name provided")
    user = data.get("user")
    if user is not None and not _printable(user):
        raise ApiError(400, "user is invalid")
    try:
        req = call.services.appkeys.request(app, user)  # type: ignore[arg-type]
    except TooManyRequests:
        raise ApiError(429, "Too many pending requests, try again later") from None
    location = f"{call.url_root}plugin/appkeys/request/{req.app_token}"
    return Reply(201, {"app_token": req.app_token, "auth_dialog": f"{call.url_root}plugin/appkeys/auth/{req.app_token}"},
                 {"Location": location})


def poll(call: Call) -> Reply:
    """GET /plugin/appkeys/request/<app_token>: 202 pending, 200 with the key once, 404 otherwise."""
    # A HEAD answer has no body: it must not use up the one-time hand-out of the key.
    status, key = call.services.appkeys.poll(call.params["token"], consume=call.method != "HEAD")
    if status == "pending":
        return Reply(202, {"message": "Awaiting decision"})
    if status == "approved":
        return Reply(200, {"api_key": key})
    raise ApiError(404, "No such request (unknown, denied, expired or already answered)")


def auth_dialog(call: Call) -> Reply:
    """GET /plugin/appkeys/auth/<app_token> (replaces OctoPrint's HTML dialog): how to approve."""
    return Reply(200, (
        "mqttprint has no web interface. An administrator approves this request with an admin API key:\n"
        "  curl -H 'X-Api-Key: ADMIN_KEY' http://HOST/plugin/appkeys/pending\n"
        "  curl -H 'X-Api-Key: ADMIN_KEY' -H 'Content-Type: application/json' \\\n"
        "       -d '{\"decision\": true}' http://HOST/plugin/appkeys/decision/USER_TOKEN\n"
        "The key gets the approving key's role; add \"role\": \"user\" (or \"read\") to grant less.\n"
        "Or on the gateway host: `mqttprint appkeys approve TOKEN [--role admin|user|read]` (default user).\n"
    ))


def pending(call: Call) -> Reply:
    """GET /plugin/appkeys/pending (admin, mqttprint extension): undecided requests."""
    return Reply(200, {"pending": [
        {"app": r.app, "user": r.user, "user_token": r.user_token, "created": int(r.created)}
        for r in call.services.appkeys.pending()
    ]})


def decide(call: Call) -> Reply:
    """POST /plugin/appkeys/decision/<user_token> {"decision": true|false, "role"?} (admin) -> 204.

    The approved key gets the approver's role unless `role` names a lesser one (never a greater)."""
    body = call.json()
    decision = body.get("decision")
    if not isinstance(decision, bool):
        raise ApiError(400, "decision must be true or false")
    own = call.principal.role if call.principal.role in ROLES else ROLES[-1]
    role = body.get("role", own)
    if role not in ROLES:
        raise ApiError(400, f"role must be one of {', '.join(ROLES)}")
    if ROLES.index(role) < ROLES.index(own):
        raise ApiError(403, f"a key approved by a {own!r} key cannot have the {role!r} role")
    if not call.services.appkeys.decide(call.params["token"], decision, role):
        raise ApiError(404, "No pending request with that token")
    return NO_CONTENT


ROUTES = (
    Route("/appkeys/probe", ("GET",), probe, None, SCOPE_PLUGIN),
    Route("/appkeys/request", ("POST",), request_key, None, SCOPE_PLUGIN),
    Route("/appkeys/request/<token>", ("GET",), poll, None, SCOPE_PLUGIN),
    Route("/appkeys/auth/<token>", ("GET",), auth_dialog, None, SCOPE_PLUGIN),
    Route("/appkeys/pending", ("GET",), pending, "ADMIN", SCOPE_PLUGIN),
    Route("/appkeys/decision/<token>", ("POST",), decide, "ADMIN", SCOPE_PLUGIN),
)
