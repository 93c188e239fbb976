"""Temperature and position report parsing (the numeric halves of the reply parser).

Pure functions, stdlib only. `mqttprint.protocol.parser` re-exports both public functions;
import them from there. Every function here returns None instead of raising on malformed text.

Formats handled (see shared/reference/firmware-protocol.md §6 and §7):

* Marlin 2.x  ` T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0 W:?` (2 decimals, leading space on auto-reports)
* Marlin multi-hotend ` T:.. B:.. T0:.. T1:.. @:127 B@:0 @0:127 @1:0`
* Marlin 1.x wait line `T:200.1 E:0 W:8` (the `E:` is the hotend index, not a sensor)
* Prusa MK3 `T:20.2 /0.0 B:19.1 /0.0 T0:20.2 /0.0 @:0 B@:0 P:19.8 A:26.4`
* Klipper `B:60.0 /60.0 T0:210.0 /210.0` (sorted ids) and `T:0` before it is ready
* RepRapFirmware `T:210.0 /210.0 T0:210.0 /210.0 B:60.0 /60.0 C:30.0 /0.0`
* Smoothieware `T:210.0 /210.0 @64 B:60.0 /60.0 @32` (power without a colon, after its heater)
* `T:21.3/0.0` (no spaces) and SHOW_TEMP_ADC_VALUES ` (1234)` suffixes (ignored)
"""

from __future__ import annotations

import re
from typing import Optional, Union

from mqttprint.protocol.replies import HeaterReading, Position, Temperatures

#: a decimal number as firmwares print it (no exponent: no firmware prints one)
NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"

# One token of a temperature report. Every token starts the text or follows whitespace.
_TEMP_TOKEN = re.compile(
    r"(?<!\S)(?:"
    # Marlin/Prusa power: `@:` (reported hotend), `@1:` (hotend 1), `B@:` bed, `C@:` chamber/cooler
    rf"(?P<pkey>[A-Z]?)@(?P<pidx>\d*):\s*(?P<pval>{NUM})"
    # Smoothieware power: `@64` right after the heater it belongs to
    rf"|@(?P<spow>{NUM})(?!\S)"
    # M109/M190 residency countdown: `W:?` until the window is reached, then seconds
    r"|W:\s*(?P<wait>\?|\d+)"
    # a sensor: `T:21.37 /0.00`, `T0:20.2 /0.0`, `B:60.0/60.0`, `P:19.8`, `T:0`
    rf"|(?P<key>[A-Z]\d*):\s*(?P<act>{NUM})(?:\s*/\s*(?P<tgt>{NUM}))?"
    r")"
)

#: letters that never name a sensor: legacy Marlin `E:` (hotend index on M109 wait lines, so no
#: bogus "E" heater), `W` (residency countdown) and axis letters of a mis-routed position line
_NOT_SENSORS = frozenset("EWXYZ")

_HOTEND_KEY = re.compile(r"T\d+")


def to_int(text: str) -> Optional[int]:
    """int() of a decimal text, None when it is not one or absurdly long (never raises)."""
    try:
        return int(float(text)) if "." in text else int(text)
    except (ValueError, OverflowError):  # OverflowError: int(inf); ValueError: >4300 digits
        return None


def parse_temperatures(text: str) -> Optional[Temperatures]:
    """Parse a temperature report (without any leading `ok`) into canonical `Temperatures`.

    The text must start with a sensor token (`T:`, `B:`, `T0:`, ...) and contain at least one
    hotend (`T`/`T<n>`) or bed (`B`/`B<n>`) reading; otherwise None. Unparsable fragments between
    tokens (ADC values, stray words) are ignored; the first occurrence of a key wins.
    """
    body = text.strip()
    first = _TEMP_TOKEN.match(body)
    if first is None or first.group("key") is None:
        return None

    raw: dict[str, tuple[float, Optional[float]]] = {}  # key as sent -> (actual, target)
    explicit_power: dict[str, int] = {}  # key as sent ("T", "T1", "B", ...) -> power
    wait: Union[int, str, None] = None
    last_key: Optional[str] = None
    for tok in _TEMP_TOKEN.finditer(body):
        if tok.group("key") is not None:
            key = tok.group("key")
            if key[0] in _NOT_SENSORS or key in raw:
                last_key = None
                continue
            tgt = tok.group("tgt")
            raw[key] = (float(tok.group("act")), float(tgt) if tgt is not None else None)
            last_key = key
        elif tok.group("wait") is not None:
            w = tok.group("wait")
            wait = "?" if w == "?" else to_int(w)
        elif tok.group("spow") is not None:
            # Smoothieware: the power belongs to the heater printed just before it
            power = to_int(tok.group("spow"))
            if last_key is not None and power is not None:
                explicit_power.setdefault(last_key, power)
        else:
            power = to_int(tok.group("pval"))
            letter, idx = tok.group("pkey"), tok.group("pidx")
            # `@:` -> the reported hotend ("T"), `@1:` -> "T1", `B@:` -> "B", `C@:` -> "C"
            key = (letter or "T") + idx
            if power is not None:
                explicit_power.setdefault(key, power)

    if not any(k[0] in "TB" for k in raw):  # needs a hotend or bed reading
        return None
    return Temperatures(heaters=_canonical(raw, explicit_power), wait_seconds=wait)


def _canonical(
    raw: dict[str, tuple[float, Optional[float]]], power: dict[str, int]
) -> dict[str, HeaterReading]:
    """Apply the canonical-key rules of `Temperatures` and attach powers to their heaters.

    * bare `T` without a `T0` -> `T0` (single hotend, Klipper `T:0`, Smoothie `T` + `T1`);
    * bare `T` next to `T0` -> dropped as the duplicate of the reported hotend (Marlin
      multi-hotend, Prusa's always-repeated `T0:`, RRF's current tool). Its `@:` power then goes
      to the hotend whose reading equals the bare `T` one (first match), else to `T0`.
    """
    bare_t_target = "T0"
    if "T" in raw and "T0" in raw:
        bare = raw["T"]
        bare_t_target = next((k for k, v in raw.items() if _HOTEND_KEY.fullmatch(k) and v == bare), "T0")
    out: dict[str, HeaterReading] = {}
    for key, (actual, target) in raw.items():
        if key == "T" and "T0" in raw:
            continue  # duplicate of one of the T<n> fields
        canon = "T0" if key == "T" else key
        pw = power.get(canon)
        if pw is None and canon == bare_t_target:
            pw = power.get("T")  # Marlin `@:` / Smoothie `@64` after the bare `T`
        out[canon] = HeaterReading(actual=actual, target=target, power=pw)
    return out


# ---------------------------------------------------------------------------------------------
# Position reports
# ---------------------------------------------------------------------------------------------

# `X:10.00`, `X: 0` (Marlin docs put a space after the colon), `E0:1.0`, `I:5.0`
_POS_TOKEN = re.compile(rf"\s*(?P<key>[A-Z]\d*):\s*(?P<val>{NUM})(?!\S)")


def parse_position(text: str) -> Optional[Position]:
    """Parse a position report that starts with `X:` (after stripping) into `Position`.

    Choice: only a line that *starts* with `X:` and whose first three fields are X, Y, Z is a
    position report (Marlin/Prusa/RRF/Klipper/Repetier all print it that way); E is optional
    (e=None). So the `M114 D` debug block (`Logical: X:..`, `Raw: X:..`, `Stepper: X:..`) and the
    lone `Count E:<steps>` line are never positions. Fields are read left to right until the first
    token that is not `KEY:number` — that cuts off Marlin's ` Count X:800 ...` (steps), Prusa's
    `Count` (mm) and RRF's `Count 800 1600 120 Machine ... Bed comp ...`.

    `E:` fills `e`; `E<n>:` goes to extra["e<n>"] and, when there is no plain `E:` (multi-extruder
    form), `e` = e0 (or the lowest numbered extruder). Other axes between Z and E (Marlin
    I/J/K/U/V/W, RRF U/V/W/A/B/C) go to extra under their lower-cased letter.
    """
    body = text.strip()
    if not body.startswith("X:"):
        return None
    values: dict[str, float] = {}
    order: list[str] = []
    pos = 0
    while True:
        tok = _POS_TOKEN.match(body, pos)
        if tok is None:
            break
        key = tok.group("key")
        if key not in values:
            values[key] = float(tok.group("val"))
            order.append(key)
        pos = tok.end()
    if order[:3] != ["X", "Y", "Z"]:
        return None
    extra = {k.lower(): v for k, v in values.items() if k not in ("X", "Y", "Z", "E")}
    e = values.get("E")
    if e is None:
        extruders = sorted((k for k in values if re.fullmatch(r"E\d+", k)), key=lambda k: (len(k), k))
        if extruders:
            e = values[extruders[0]]
    return Position(x=values["X"], y=values["Y"], z=values["Z"], e=e, extra=extra)
