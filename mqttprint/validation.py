"""Input rules shared by every transport (MQTT payloads, REST bodies). Pure: no I/O, no clock.

Strict JSON (no NaN/Infinity, no duplicate keys: with Python's `json` the last of two
`"command"` keys silently wins), control-character checks, and numeric bounds.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Optional


class JsonProblem(ValueError):
    """Text that is not strict JSON. `document` is the parsed value when only a rule (a duplicate
    key) was broken, so the caller can still echo the request's id."""

    def __init__(self, message: str, document: Any = None) -> None:
        super().__init__(message)
        self.document = document


def _reject_constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not a valid JSON number here")


def loads_strict(text: str | bytes) -> Any:
    """Parse JSON, refusing NaN/Infinity and duplicate keys at any depth (JsonProblem), and
    malformed input (ValueError, RecursionError from absurd nesting)."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        return obj

    value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=pairs)
    if duplicates:
        raise JsonProblem(f"duplicate key {duplicates[0]!r} in JSON object", value)
    return value


def control_char(text: str, allow_newlines: bool = False) -> Optional[str]:
    """Why `text` is refused for a control character (tab is fine), or None."""
    for ch in text:
        code = ord(ch)
        if ch == "\t" or (allow_newlines and ch in "\r\n"):
            continue
        if code < 0x20 or code == 0x7F:
            return f"control character U+{code:04X} is not allowed"
    return None


#: Largest magnitude of any number a request may carry (ids, timestamps, temperatures, ...):
#: comparing or converting a 400-digit JSON integer must never raise OverflowError.
MAX_NUMBER = 1e15


def is_bounded_number(value: Any, limit: float = MAX_NUMBER) -> bool:
    """A JSON number (not a boolean), finite and at most `limit` in magnitude. Ints are compared
    before any float conversion (float(10**400) raises)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= limit and (isinstance(value, int) or math.isfinite(value))


#: `%(name)s` placeholders (and `%%`) are the only formatting a G-code template may use.
_PLACEHOLDER = re.compile(r"%(?:(%)|\(([A-Za-z_][A-Za-z0-9_]{0,63})\)s)")
#: Longest text a substituted line may become, and a parameter value may be (G-code lines are
#: at most 95 characters, so anything near this is refused later anyway).
MAX_SUBSTITUTED_LINE = 1024
MAX_PARAMETER_TEXT = 256


class TemplateProblem(ValueError):
    """A G-code template or its parameters cannot be substituted safely."""


def substitute(template: str, parameters: Mapping[str, Any]) -> str:
    """Replace `%(name)s` with `str(parameters[name])` and `%%` with `%`; nothing else.

    Python's `%` operator would honour widths and conversions (`%(a)200000000s` builds a 200 MB
    string, `%(a)c` with 1114112 raises): here every other `%` sequence is refused, values must
    be short strings, finite numbers or booleans, and the result is bounded.
    """
    out: list[str] = []
    size = 0
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if "%" in template[position:match.start()]:
            raise TemplateProblem("only %(name)s placeholders (and %%) are allowed in a command")
        out.append(template[position:match.start()])
        if match.group(1):
            out.append("%")
        else:
            name = match.group(2)
            if name not in parameters:
                raise TemplateProblem(f"no parameter {name!r}")
            out.append(_parameter_text(name, parameters[name]))
        size += sum(len(part) for part in out[-2:])
        if size > MAX_SUBSTITUTED_LINE:
            raise TemplateProblem(f"a substituted command is longer than {MAX_SUBSTITUTED_LINE} characters")
        position = match.end()
    rest = template[position:]
    if "%" in rest:
        raise TemplateProblem("only %(name)s placeholders (and %%) are allowed in a command")
    out.append(rest)
    result = "".join(out)
    if len(result) > MAX_SUBSTITUTED_LINE:
        raise TemplateProblem(f"a substituted command is longer than {MAX_SUBSTITUTED_LINE} characters")
    return result


def _parameter_text(name: str, value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        text = str(value)
    elif is_bounded_number(value):
        text = str(value)
    else:
        raise TemplateProblem(f"parameter {name!r} must be a string, a number below 1e15 or a boolean")
    if len(text) > MAX_PARAMETER_TEXT:
        raise TemplateProblem(f"parameter {name!r} is longer than {MAX_PARAMETER_TEXT} characters")
    return text
