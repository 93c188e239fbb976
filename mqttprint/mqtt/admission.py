"""Whether an inbound message is considered at all, before (or beside) its payload's rules.

Pure: no paho, no I/O; time is an argument. Empty payloads, retained messages, stale or
future timestamps, and the id of a request refused unread (a full queue).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from mqttprint.mqtt.payloads import EMPTY_PAYLOAD, plain_id

#: `ts` values further in the future than this are refused (clock skew beyond reason).
MAX_FUTURE_SKEW = 60.0
RETAINED = ("retained messages are never executed (publish requests without the retain flag; "
            "clear a stored one with: mosquitto_pub -r -n -t '{topic}')")


def transport_problem(topic: str, payload: bytes, retain: bool) -> Optional[str]:
    """Why a message is refused before its payload is read, or None.

    Empty payloads never act (they are how retained messages are cleared), and retained
    messages are never executed, whether replayed at subscribe time or delivered live (under
    MQTT 5 the gateway subscribes with retain-as-published, so the flag survives live delivery).
    """
    if not payload.strip():
        return EMPTY_PAYLOAD
    if retain:
        return RETAINED.format(topic=topic)
    return None


def age_problem(ts: Optional[float], now: float, max_age: float) -> Optional[str]:
    """Why a request stamped `ts` is refused at `now`, or None. `max_age` 0 disables the age limit."""
    if ts is None:
        return None
    if ts - now > MAX_FUTURE_SKEW:
        return f"'ts' is {ts - now:.0f} s in the future (clock skew over {MAX_FUTURE_SKEW:.0f} s)"
    if max_age > 0 and now - ts > max_age:
        return f"command is {now - ts:.1f} s old; the limit is {max_age:g} s (mqtt.max_command_age)"
    return None


def peek_id(payload: bytes, max_payload: int) -> Any:
    """The `id` of a JSON request before it is validated, or None: a request refused unread (the
    queue is full) still gets a refusal its caller can match."""
    if len(payload) > max_payload or payload.lstrip()[:1] != b"{":
        return None
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return plain_id(obj.get("id")) if isinstance(obj, dict) else None
