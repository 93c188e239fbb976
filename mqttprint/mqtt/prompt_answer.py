"""`B/prompt/answer` payloads -> a validated `prompt.answer` request. Pure, like `payloads`."""

from __future__ import annotations

from mqttprint.mqtt.payloads import EMPTY_PAYLOAD, ParsedRequest, PayloadError, _common, _json_object, _looks_like_json


def parse(text: str) -> ParsedRequest:
    """A button index `0`-`9`, or JSON `{"choice": n, "id", "reply", "ts"}` (other keys refused).
    Empty payloads never act."""
    if not text.strip():
        raise PayloadError(EMPTY_PAYLOAD)
    if not _looks_like_json(text):
        choice = text.strip()
        if len(choice) != 1 or not choice.isdigit():
            raise PayloadError(f"{choice[:40]!r} is not a button index (send 0-9, or {{\"choice\": n}})")
        return ParsedRequest("prompt.answer", {"choice": int(choice)})
    obj = _json_object(text)
    request_id, reply, ts = _common(obj, ("choice",))
    choice = obj.get("choice")
    if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice <= 9:
        raise PayloadError("'choice' must be a button index from 0 to 9", request_id)
    return ParsedRequest("prompt.answer", {"choice": choice}, request_id, reply, ts)
