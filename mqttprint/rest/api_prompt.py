"""Firmware prompts over REST: GET /api/printer/prompt (the state), POST /api/printer/prompt
{"choice": n} (answer it; 204). Also under /printer/<id>/api/printer/prompt.

409 with nothing sent when no prompt is open; 400 for a body that is not exactly {"choice": 0-9}
(unknown keys are refused) or a button the prompt does not have.
"""

from __future__ import annotations

from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route
from mqttprint.rest.validation import ApiError

ALLOWED_KEYS = ("choice",)


def prompt_state(call: Call) -> Reply:
    """GET /api/printer/prompt (STATUS): {"open", "text", "buttons", "source", "ts", "notification"}."""
    return Reply(200, dict(call.dispatch("prompt.get", {}).data))


def prompt_answer(call: Call) -> Reply:
    """POST /api/printer/prompt (CONTROL) {"choice": n} -> 204 once `M876 S<n>` went out."""
    data = call.json()
    unknown = sorted(k for k in data if k not in ALLOWED_KEYS)
    if unknown:
        raise ApiError(400, f"unknown key {unknown[0]!r} (allowed: choice)")
    if "choice" not in data:
        raise ApiError(400, "missing 'choice' (the index of the button to press, 0-9)")
    choice = data["choice"]
    if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice <= 9:
        raise ApiError(400, "'choice' must be a button index from 0 to 9")
    call.dispatch("prompt.answer", {"choice": choice})
    return NO_CONTENT


ROUTES = (
    Route("/printer/prompt", ("GET",), prompt_state, "STATUS"),
    Route("/printer/prompt", ("POST",), prompt_answer, "CONTROL"),
)
