"""Input rules shared by every transport (MQTT payloads, REST bodies). Pure: no I/O, no clock.

Strict JSON (no NaN/Infinity, no duplicate keys: with Python's `json` the last of two
`"command"` keys silently wins), control-character checks, and numeric bounds.
"""

from __future__ import annotations

import json
from typing import Any, Optional


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
