"""Inbound payloads -> validated requests, and outbound JSON. Pure: no paho, no I/O, no clock.

Every inbound check that does not need the printer happens here, so a bad payload is refused
before anything reaches the command registry. Outbound encoders take plain values and return
bytes (compact JSON, NaN/inf replaced by null so every payload is valid JSON).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol, Sequence

from mqttprint.mqtt import topics
from mqttprint.protocol import framing, gcode
from mqttprint.protocol.errors import InvalidCommand
from mqttprint.validation import JsonProblem, loads_strict
from mqttprint.validation import control_char as _control_char

#: Longest accepted request id (ids are echoed; they are not an upload channel).
MAX_ID_LENGTH = 128
#: Numeric ids and `ts` are bounded: a 400-digit number must be refused, not overflow a float.
MAX_ID_NUMBER = 2**53
#: `ts` beyond this (year 2286) is not a unix timestamp in seconds (milliseconds, or garbage).
MAX_TS = 1e10
#: Baud rates a connection request may name (the serial layer checks the port separately).
MIN_BAUDRATE, MAX_BAUDRATE = 300, 4_000_000

COMMON_KEYS = ("id", "ts", "reply")
CONNECTION_VERBS = ("connect", "disconnect")
JOB_VERBS = ("start", "pause", "resume", "cancel", "restart", "file")
#: What `B/emergency` accepts besides the codes themselves; all mean M112. Never the empty
#: payload: `mosquitto_pub -r -n` (clearing a retained message) sends one, and must not halt a printer.
#: Job verbs and the keys each one's JSON form may carry besides `command` and COMMON_KEYS.
JOB_KEYS: dict[str, tuple[str, ...]] = {"start": ("file",), "pause": ("action",), "resume": (), "cancel": (),
                                        "restart": (), "file": ("file",)}
#: Why an empty payload is refused on every request topic.
EMPTY_PAYLOAD = ("empty payload: nothing done (an empty message is how a retained message is cleared; "
                 "actions need an explicit payload such as PRESS, a command or JSON)")


class PayloadError(ValueError):
    """A payload that cannot become a request. `request_id` is set when the JSON carried one."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A validated inbound request: the registry action, its arguments and the request options."""

    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    #: the caller's id (str or number), echoed in replies; None when not given
    request_id: Any = None
    #: True/False when the caller set `"reply"`; None when not given
    reply: Optional[bool] = None
    #: the caller's unix timestamp, seconds
    ts: Optional[float] = None


# ---------------------------------------------------------------------- inbound
def decode_text(payload: bytes, max_payload: int) -> str:
    """Bytes -> text: size limit first (never decode a huge payload), then strict UTF-8."""
    if len(payload) > max_payload:
        raise PayloadError(f"payload is {len(payload)} bytes; the limit is {max_payload} (mqtt.max_payload)")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("payload is not valid UTF-8 text") from None
    return text[1:] if text.startswith("\ufeff") else text


def _load_json(text: str) -> Any:
    """Strict JSON (see `mqttprint.validation.loads_strict`): a duplicate key is refused with
    the request's id when the id itself is not the duplicated key."""
    try:
        return loads_strict(text)
    except JsonProblem as exc:
        doc = exc.document
        request_id = doc.get("id") if isinstance(doc, dict) and "duplicate key 'id'" not in str(exc) else None
        raise PayloadError(str(exc), plain_id(request_id)) from None
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None


def plain_id(value: Any) -> Any:
    """An id fit to echo in a refusal, or None (a refusal must never fail on its own id)."""
    try:
        return _check_id(value)
    except PayloadError:
        return None


def _check_id(request_id: Any) -> Any:
    if request_id is None:
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int, float)):
        raise PayloadError("'id' must be a string or a number")
    # abs() before isfinite(): math.isfinite of a 400-digit int raises OverflowError.
    if isinstance(request_id, (int, float)) and not (abs(request_id) <= MAX_ID_NUMBER
                                                     and math.isfinite(request_id)):
        raise PayloadError(f"'id' must be a finite number of magnitude at most 2**53 ({MAX_ID_NUMBER})")
    if isinstance(request_id, str) and (not request_id or len(request_id) > MAX_ID_LENGTH
                                        or _control_char(request_id)):
        raise PayloadError(f"'id' must be 1-{MAX_ID_LENGTH} printable characters")
    return request_id


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _common(obj: Mapping[str, Any], allowed: Sequence[str]) -> tuple[Any, Optional[bool], Optional[float]]:
    """Validate the keys every JSON request may carry; unknown keys are errors (typos must not pass)."""
    request_id = _check_id(obj.get("id"))
    unknown = sorted(k for k in obj if k not in allowed and k not in COMMON_KEYS)
    if unknown:
        raise PayloadError(f"unknown key {unknown[0]!r} (allowed: {', '.join(list(allowed) + list(COMMON_KEYS))})",
                           request_id)
    reply = obj.get("reply")
    if reply is not None and not isinstance(reply, bool):
        raise PayloadError("'reply' must be true or false", request_id)
    ts = obj.get("ts")
    if ts is not None:
        # Compare before converting: float() of a 400-digit int raises OverflowError.
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not 0 <= ts <= MAX_TS:
            raise PayloadError(f"'ts' must be a unix timestamp in seconds (a number from 0 to {MAX_TS:.0e})",
                               request_id)
        ts = float(ts)
    return request_id, reply, ts


def _json_object(text: str) -> dict[str, Any]:
    obj = _load_json(text)
    if not isinstance(obj, dict):
        raise PayloadError("JSON payload must be an object")
    return obj


def _string(obj: Mapping[str, Any], key: str, request_id: Any, *, required: bool = False) -> Optional[str]:
    value = obj.get(key)
    if value is None:
        if required:
            raise PayloadError(f"missing {key!r}", request_id)
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key!r} must be a string, not {type(value).__name__}", request_id)
    problem = _control_char(value)
    if problem:
        raise PayloadError(f"{key!r}: {problem}", request_id)
    return value


def parse_command(text: str) -> ParsedRequest:
    """`B/command`: G-code text, a JSON list of lines, or `{"command"|"commands", "id", "reply", "ts"}`."""
    if not _looks_like_json(text):
        problem = _control_char(text, allow_newlines=True)
        if problem:
            raise PayloadError(problem)
        lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
        if not lines:
            raise PayloadError("empty command")
        return ParsedRequest("printer.command", _command_args(lines))
    obj = _load_json(text)
    if isinstance(obj, list):
        return ParsedRequest("printer.command", {"commands": _command_list(obj, None)})
    if not isinstance(obj, dict):
        raise PayloadError("JSON payload must be an object or a list of commands")
    request_id, reply, ts = _common(obj, ("command", "commands"))
    if ("command" in obj) == ("commands" in obj):
        raise PayloadError("give exactly one of 'command' (a string) or 'commands' (a list of strings)", request_id)
    if "command" in obj:
        command = obj["command"]
        if not isinstance(command, str):
            raise PayloadError(f"'command' must be a string, not {type(command).__name__}", request_id)
        if "\n" in command or "\r" in command:
            raise PayloadError("'command' holds one line; send several as 'commands': [...]", request_id)
        problem = _control_char(command)
        if problem:
            raise PayloadError(problem, request_id)
        if not command.strip():
            raise PayloadError("empty command", request_id)
        args: dict[str, Any] = {"command": command.strip()}
    else:
        args = {"commands": _command_list(obj["commands"], request_id)}
    return ParsedRequest("printer.command", args, request_id, reply, ts)


def _command_list(value: Any, request_id: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise PayloadError("'commands' must be a non-empty list of strings", request_id)
    lines: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise PayloadError(f"'commands' entries must be strings, not {type(item).__name__}", request_id)
        problem = _control_char(item)
        if problem:
            raise PayloadError(problem + " (one command per list entry)", request_id)
        if item.strip():
            lines.append(item.strip())
    if not lines:
        raise PayloadError("empty command", request_id)
    return lines


def _command_args(lines: list[str]) -> dict[str, Any]:
    return {"command": lines[0]} if len(lines) == 1 else {"commands": lines}


def normalize_emergency(text: str) -> str:
    """`gcode.emergency_request` (PRESS/STOP -> M112, the codes as they are), its refusal as a
    PayloadError (the empty payload included)."""
    try:
        return gcode.emergency_request(text)
    except InvalidCommand as exc:
        raise PayloadError(str(exc)) from None


def parse_emergency(text: str) -> ParsedRequest:
    """`B/emergency`: PRESS, one of the codes, or JSON `{"command", "id", "reply", "ts"}` (no default:
    `{}` or an empty payload is refused)."""
    if not _looks_like_json(text):
        problem = _control_char(text)
        if problem:
            raise PayloadError(problem)
        return ParsedRequest("printer.emergency", {"command": normalize_emergency(text)})
    obj = _json_object(text)
    request_id, reply, ts = _common(obj, ("command",))
    command = _string(obj, "command", request_id, required=True) or ""
    try:
        normalized = normalize_emergency(command)
    except PayloadError as exc:
        raise PayloadError(str(exc), request_id) from None
    return ParsedRequest("printer.emergency", {"command": normalized}, request_id, reply, ts)


def _check_baudrate(value: Any, request_id: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BAUDRATE <= value <= MAX_BAUDRATE:
        raise PayloadError(f"'baudrate' must be an integer from {MIN_BAUDRATE} to {MAX_BAUDRATE}", request_id)
    return value


def parse_connection(text: str) -> ParsedRequest:
    """`B/connection`: `connect` / `disconnect`, or JSON `{"command", "port", "baudrate", ...}`."""
    if not _looks_like_json(text):
        verb = text.strip().lower()
        if verb not in CONNECTION_VERBS:
            raise PayloadError(f"unknown connection command {text.strip()[:40]!r} (connect or disconnect)")
        return ParsedRequest(f"connection.{verb}")
    obj = _json_object(text)
    request_id, reply, ts = _common(obj, ("command", "port", "baudrate"))
    verb = _string(obj, "command", request_id, required=True)
    if verb not in CONNECTION_VERBS:
        raise PayloadError(f"unknown connection command {verb!r} (connect or disconnect)", request_id)
    args: dict[str, Any] = {}
    if verb == "connect":
        port = _string(obj, "port", request_id)
        if port is not None:
            args["port"] = port
        baudrate = obj.get("baudrate")
        if baudrate is not None:
            args["baudrate"] = _check_baudrate(baudrate, request_id)
    elif "port" in obj or "baudrate" in obj:
        raise PayloadError("'port' and 'baudrate' go with 'connect' only", request_id)
    return ParsedRequest(f"connection.{verb}", args, request_id, reply, ts)


def parse_job(text: str) -> ParsedRequest:
    """`B/job`: a verb, or JSON `{"command": <verb>, ...}`; extra keys are the job action's arguments."""
    if not _looks_like_json(text):
        verb = text.strip().lower()
        if verb not in JOB_VERBS:
            raise PayloadError(f"unknown job command {text.strip()[:40]!r} (one of {', '.join(JOB_VERBS)})")
        return ParsedRequest(f"job.{verb}", _job_defaults(verb, {}))
    obj = _json_object(text)
    request_id = plain_id(obj.get("id"))
    verb = _string(obj, "command", request_id, required=True)
    if verb not in JOB_VERBS:
        raise PayloadError(f"unknown job command {verb!r} (one of {', '.join(JOB_VERBS)})", request_id)
    # Per-verb keys: {"command": "start", "fiel": "x.gcode"} must not start the selected file.
    request_id, reply, ts = _common(obj, ("command",) + JOB_KEYS[verb])
    args: dict[str, Any] = {}
    for key in JOB_KEYS[verb]:
        value = _string(obj, key, request_id)
        if value is not None:
            args[key] = value
    return ParsedRequest(f"job.{verb}", _job_defaults(verb, args), request_id, reply, ts)


def _job_defaults(verb: str, args: dict[str, Any]) -> dict[str, Any]:
    # job.pause toggles by default (OctoPrint's API); a "pause" button pressed twice must not resume.
    if verb == "pause" and "action" not in args:
        return {**args, "action": "pause"}
    return args


def parse_system(text: str, source: str, action: str) -> ParsedRequest:
    """`B/system/<source>/<action>`: PRESS, or JSON with only `id`/`reply`/`ts` (the topic names the
    command; there are no options: system commands never take request text)."""
    args: dict[str, Any] = {"source": source, "action": action}
    if not _looks_like_json(text):
        if text.strip() != "PRESS":
            raise PayloadError("system commands take PRESS or a JSON object {\"id\", \"reply\", \"ts\"}")
        return ParsedRequest("system.execute", args)
    obj = _json_object(text)
    request_id, reply, ts = _common(obj, ())
    return ParsedRequest("system.execute", args, request_id, reply, ts)


def parse_request(kind: str, text: str, source: Optional[str] = None, action: Optional[str] = None) -> ParsedRequest:
    """Dispatch on the inbound topic kind (see `topics.INBOUND_KINDS`). An empty (or blank)
    payload is refused on every topic: it never means "press"."""
    if not text.strip():
        raise PayloadError(EMPTY_PAYLOAD)
    if kind == topics.COMMAND:
        return parse_command(text)
    if kind == topics.EMERGENCY:
        return parse_emergency(text)
    if kind == topics.CONNECTION:
        return parse_connection(text)
    if kind == topics.JOB:
        return parse_job(text)
    if kind == topics.SYSTEM and source and action:
        return parse_system(text, source, action)
    raise PayloadError(f"unsupported request topic kind {kind!r}")


# ---------------------------------------------------------------------- outbound
class ResultLike(Protocol):
    """What a finished command looks like to the reply encoder (the engine's CommandFinished)."""

    command: str
    ok: bool
    lines: Sequence[str]
    error: str


def _clean(value: Any) -> Any:
    """Make any value JSON-safe: NaN/inf -> null, mappings/sequences recursively, others as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return str(value)


def encode(obj: Any) -> bytes:
    """Compact JSON bytes of `obj` (made JSON-safe first)."""
    return json.dumps(_clean(obj), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def status_payload(state: str, flags: Mapping[str, bool], error: str, port: Optional[str],
                   baudrate: Optional[int], ts: float) -> dict[str, Any]:
    """`B/status`: OctoPrint's state text and 11 flags, the error text ("" when none), the port."""
    return {"state": state, "flags": dict(flags), "error": error or "", "port": port, "baudrate": baudrate, "ts": ts}


def progress_payload(file: Optional[str], completion: Optional[float], filepos: Optional[int], size: Optional[int],
                     print_time: Optional[int], print_time_left: Optional[int], state: str, ts: float,
                     **facts: Any) -> dict[str, Any]:
    """`B/progress`: OctoPrint's progress names (completion 0-100, times in seconds), plus the file
    facts (`layer`, `layers`, `z`, `eta`, `estimate`, `printTimeLeftOrigin`, `filament`, `m73`)."""
    body = {"file": file, "completion": completion, "filepos": filepos, "size": size, "printTime": print_time,
            "printTimeLeft": print_time_left, "state": state, "ts": ts}
    body.update(facts)
    return body


def position_payload(x: float, y: float, z: float, e: Optional[float], extra: Mapping[str, float],
                     ts: Optional[float]) -> dict[str, Any]:
    """`B/position`: what the firmware reported; further axes (`e0`, `a`, ...) lower-cased."""
    out: dict[str, Any] = {"x": x, "y": y, "z": z, "e": e}
    for key, value in extra.items():
        out.setdefault(key.lower(), value)
    out["ts"] = ts
    return out


def heater_key(key: str) -> str:
    """Firmware sensor key -> OctoPrint's name: T0 -> tool0, B -> bed, C -> chamber, others lower-cased."""
    upper = key.upper()
    if upper == "T":
        return "tool0"
    if upper.startswith("T") and upper[1:].isdigit():
        return f"tool{int(upper[1:])}"
    return {"B": "bed", "C": "chamber"}.get(upper, key.lower())


def temperature_payload(readings: Mapping[str, Any], ts: Optional[float]) -> dict[str, Any]:
    """`B/temperature`: `{"tool0": {"actual", "target"}, "bed": {...}, ..., "ts"}`."""
    out: dict[str, Any] = {}
    for key, reading in readings.items():
        out.setdefault(heater_key(key), {"actual": reading.actual, "target": reading.target})
    out["ts"] = ts
    return out


_VERSION_RE = re.compile(r"(?<![0-9A-Za-z.])v?(\d+\.\d+(?:\.\d+)*(?:[-+._][0-9A-Za-z]+)*)")


def split_firmware_name(name: str) -> tuple[str, Optional[str]]:
    """`Marlin 2.1.2.1 (Jun 12 2023)` -> ("Marlin", "2.1.2.1"); `Klipper` -> ("Klipper", None)."""
    match = _VERSION_RE.search(name)
    if match is None:
        return name.strip(), None
    product = name[:match.start()].strip(" -_") or name.split()[0]
    return product, match.group(1)


def firmware_payload(name: str, fields: Mapping[str, str], capabilities: Mapping[str, bool],
                     ts: Optional[float]) -> dict[str, Any]:
    """`B/firmware`: the M115 name, a version parsed from it, every M115 field and capability."""
    product, version = split_firmware_name(name)
    return {"name": name, "product": product, "version": version, "fields": dict(fields),
            "capabilities": dict(capabilities), "ts": ts}


def terminal_line(sent: bool, text: str, line_number: Optional[int]) -> str:
    """`B/terminal` text of one line as it crossed the wire: `> N12 G28*18` (line number and
    checksum included), `> M112` (an un-numbered, out-of-band emergency write), `< ok`."""
    if not sent:
        return "< " + text
    if line_number is None:
        return "> " + text
    return "> " + framing.encode_numbered(line_number, text).decode("ascii", "replace").rstrip("\n")


def event_payload(event_name: str, ts: float, /, **data: Any) -> dict[str, Any]:
    """`B/event/<Name>`: the event's data plus `event` (its name) and `ts`."""
    return {"event": event_name, **data, "ts": ts}


def _one_result(result: Optional[ResultLike], command: str, timed_out: bool) -> dict[str, Any]:
    if result is None:
        return {"command": command, "lines": [], "ok": False, "error": "timeout" if timed_out else "not finished"}
    return {"command": result.command, "lines": list(result.lines), "ok": bool(result.ok),
            "error": None if result.ok else (result.error or "failed")}


def command_reply(request_id: Any, commands: Sequence[str], results: Sequence[Optional[ResultLike]],
                  timed_out: bool = False) -> dict[str, Any]:
    """The reply to G-code: one command -> `{id, command, lines, ok, error}`; several ->
    `{id, ok, error, replies: [{command, lines, ok, error}, ...]}` (`ok` true only if all were)."""
    parts = [_one_result(r, c, timed_out) for c, r in zip(commands, results)]
    if len(parts) == 1:
        return {"id": request_id, **parts[0]}
    failed = [p for p in parts if not p["ok"]]
    error = None if not failed else f"{failed[0]['command']}: {failed[0]['error']}"
    return {"id": request_id, "ok": not failed, "error": error, "replies": parts}


def action_reply(request_id: Any, action: str, data: Any) -> dict[str, Any]:
    """The reply to a request that completed without firmware replies (connect, job, system)."""
    return {"id": request_id, "action": action, "ok": True, "error": None, "data": data}


def error_reply(request_id: Any, error: str, command: Optional[str] = None) -> dict[str, Any]:
    """The reply to a refused request (nothing was sent to the printer)."""
    out: dict[str, Any] = {"id": request_id}
    if command is not None:
        out["command"] = command
        out["lines"] = []
    out.update({"ok": False, "error": error})
    return out

