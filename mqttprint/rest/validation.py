"""Request validation without Flask: JSON bodies, OctoPrint's boolean rule, numbers, commands.

Every failure raises `ApiError` with OctoPrint's status and message where OctoPrint has one, so
bad input always becomes a 4xx JSON answer and never reaches a printer.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from mqttprint.validation import JsonProblem, is_bounded_number, loads_strict

#: Largest JSON body accepted. A page of G-code is a few KiB; jobs are uploaded as files.
MAX_JSON_BYTES = 64 * 1024

#: Werkzeug 3's texts, which OctoPrint 1.11 passes through (octoprint.md 1.0.6).
WRONG_CONTENT_TYPE = "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
MALFORMED_JSON = "The browser (or proxy) sent a request that this server could not understand."

#: octoprint.md 1.0.7: request values compared against these (case-insensitively for strings).
BOOLEAN_TRUES = frozenset({"true", "yes", "y", "1"})


class ApiError(Exception):
    """An HTTP error answer: `status` and the `{"error": message}` body (plus optional extras)."""

    def __init__(self, status: int, message: str, extra: Optional[Mapping[str, Any]] = None,
                 headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def is_json_mimetype(mimetype: str) -> bool:
    """Werkzeug's rule: application/json or application/<anything>+json (parameters already stripped)."""
    mimetype = mimetype.lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def parse_json_object(mimetype: str, data: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError: 415 for a missing or non-JSON Content-Type
    (OctoPrint 1.11), 400 for malformed JSON, duplicate keys, NaN/Infinity, or a value that is
    not an object."""
    if not is_json_mimetype(mimetype):
        raise ApiError(415, WRONG_CONTENT_TYPE)
    if len(data) > MAX_JSON_BYTES:
        raise ApiError(413, f"JSON body too large (at most {MAX_JSON_BYTES} bytes)")
    try:
        value = loads_strict(data)
    except JsonProblem as exc:  # a duplicate key (OctoPrint lets the last one win) or NaN
        raise ApiError(400, str(exc)) from None
    except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, huge ints, absurd nesting
        raise ApiError(400, MALFORMED_JSON) from None
    if not isinstance(value, dict):
        raise ApiError(400, "JSON body must be an object")
    return value


def is_true(value: Any) -> bool:
    """OctoPrint's `valid_boolean_trues`: True, 1, or "true"/"yes"/"y"/"1" in any case."""
    if value is True:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in BOOLEAN_TRUES


def is_number(value: Any) -> bool:
    """A finite JSON number of magnitude at most 1e15 (booleans are not numbers here, unlike in
    Python; a 400-digit integer is refused instead of overflowing a float)."""
    return is_bounded_number(value)


def json_command(data: Mapping[str, Any], commands: Mapping[str, Sequence[str]]) -> str:
    """OctoPrint's `get_json_command_from_request`: `command` must be one of `commands` (400
    `command is invalid`) and carry its mandatory parameters (400 `Mandatory parameters missing`)."""
    command = data.get("command")
    if not isinstance(command, str) or command not in commands:
        raise ApiError(400, "command is invalid")
    if any(name not in data for name in commands[command]):
        raise ApiError(400, "Mandatory parameters missing")
    return command


def number(value: Any, message: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite number within [low, high], or 400 `message`."""
    if not is_number(value) or not low <= value <= high:
        raise ApiError(400, message)
    return float(value)


def format_number(value: float) -> str:
    """G-code number text: 220 -> "220", 215.5 -> "215.5", never exponent notation."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def factor_percent(value: Any) -> int:
    """OctoPrint's feed/flow factor rule: an int is a percentage, a float a fraction (1.0 = 100 %).

    OctoPrint has no upper bound (so 100.0 becomes 10000 %); mqttprint refuses results above
    1000 % with the same 400, which turns that classic mistake into an error instead of a crash.
    """
    if not is_number(value):
        raise ApiError(400, "factor is invalid")
    percent = value if isinstance(value, int) else value * 100
    if percent < 1 or percent > 1000:
        raise ApiError(400, "factor is invalid")
    return int(round(percent))


def query_limit(raw: Optional[str], default: int = 300) -> int:
    """`limit` for temperature history: digits only, otherwise the default (as OctoPrint)."""
    if raw is not None and raw.isascii() and raw.isdigit():
        return min(int(raw), 1_000_000)
    return default


def excluded(raw: Optional[str]) -> frozenset[str]:
    """`exclude=temperature,sd,state`: unknown names are ignored."""
    if not raw:
        return frozenset()
    return frozenset(part.strip() for part in raw.split(",") if part.strip() in ("temperature", "sd", "state"))
