"""Property tests: the reply parser never raises, always returns a Reply, and round-trips numbers."""

from __future__ import annotations

import typing

from hypothesis import given, settings
from hypothesis import strategies as st

from mqttprint.protocol import parser
from mqttprint.protocol.parser import parse_position, parse_reply, parse_temperatures
from mqttprint.protocol.replies import Ok, Reply

REPLY_TYPES = typing.get_args(Reply)
BOUNDED = settings(max_examples=400, deadline=None)

PROTOCOL_ALPHABET = "0123456789okTBNPXYZE:/ .-@W?!rs\r\t"
PREFIXES = [
    "", "ok ", "ok", "Error:", "Error: ", "!! ", "!!", "fatal:", "echo:", "echo:busy: ", "busy:", "//action:",
    "// ", "// Klipper state: ", "Resend:", "Resend: ", "rs N", "RS ", "Cap:", "cap:", "FIRMWARE_NAME:",
    "NAME. ", "X:", "T:", " T:", "B:", "ok C: X:", "SD printing byte ", "File opened:", "Warning: ", "HALTED",
]
protocol_text = st.text(alphabet=PROTOCOL_ALPHABET, max_size=120)
prefixed_text = st.builds(lambda p, t: p + t, st.sampled_from(PREFIXES), protocol_text)


def _check(line: str) -> None:
    # the raw classifier must not need the safety net in parse_reply
    raw = parser._parse_line(line)
    assert isinstance(raw, REPLY_TYPES)
    reply = parse_reply(line)
    assert isinstance(reply, REPLY_TYPES)
    assert reply == raw


@BOUNDED
@given(st.text())
def test_never_raises_on_arbitrary_text(line: str) -> None:
    _check(line)


@BOUNDED
@given(protocol_text)
def test_never_raises_on_protocol_alphabet(line: str) -> None:
    _check(line)


@BOUNDED
@given(prefixed_text)
def test_never_raises_on_prefixed_protocol_text(line: str) -> None:
    _check(line)


@BOUNDED
@given(st.binary(max_size=200))
def test_never_raises_on_decoded_bytes(data: bytes) -> None:
    _check(data.decode("utf-8", errors="replace"))


@BOUNDED
@given(prefixed_text)
def test_surrounding_whitespace_and_cr_do_not_matter(line: str) -> None:
    assert parse_reply("  " + line + " \r") == parse_reply(line)


_HEATER_KEYS = ["T0", "T1", "T2", "B", "C", "P", "M", "L"]
_temperature = st.floats(min_value=-60, max_value=1000, allow_nan=False, allow_infinity=False)
_heater = st.tuples(_temperature, _temperature, st.one_of(st.none(), st.integers(0, 255)))
_heaters = st.dictionaries(st.sampled_from(_HEATER_KEYS), _heater, min_size=1).filter(
    lambda d: any(k[0] in "TB" for k in d)
)


def _marlin_line(heaters: dict[str, tuple[float, float, int | None]], bare_t: bool) -> str:
    """Format heaters the way Marlin's print_heater_states does (each field starts with a space)."""
    parts = []
    if bare_t and "T0" in heaters:  # multi-hotend: the reported hotend first, as a bare T
        actual, target, _ = heaters["T0"]
        parts.append(f" T:{actual:.2f} /{target:.2f}")
    parts += [f" {key}:{actual:.2f} /{target:.2f}" for key, (actual, target, _) in heaters.items()]
    for key, (_, _, power) in heaters.items():
        if power is not None:
            parts.append(f" @{key[1:]}:{power}" if key.startswith("T") else f" {key}@:{power}")
    return "".join(parts)


@BOUNDED
@given(_heaters, st.booleans())
def test_marlin_style_temperatures_round_trip(heaters: dict, bare_t: bool) -> None:
    line = _marlin_line(heaters, bare_t)
    parsed = parse_temperatures(line)
    assert parsed is not None
    assert set(parsed.heaters) == set(heaters)
    for key, (actual, target, power) in heaters.items():
        reading = parsed.heaters[key]
        assert reading.actual == float(f"{actual:.2f}")
        assert reading.target == float(f"{target:.2f}")
        assert reading.power == power
    reply = parse_reply("ok" + line)
    assert isinstance(reply, Ok) and reply.temperatures == parsed
    assert parse_reply(line) == parsed


_coord = st.floats(min_value=-10000, max_value=10000, allow_nan=False, allow_infinity=False)


@BOUNDED
@given(_coord, _coord, _coord, st.one_of(st.none(), _coord), st.integers(2, 3))
def test_position_round_trip(x: float, y: float, z: float, e: float | None, decimals: int) -> None:
    line = f"X:{x:.{decimals}f} Y:{y:.{decimals}f} Z:{z:.{decimals}f}"
    if e is not None:
        line += f" E:{e:.{decimals}f}"
    line += " Count X:1 Y:2 Z:3"
    parsed = parse_position(line)
    assert parsed is not None
    assert (parsed.x, parsed.y, parsed.z) == tuple(float(f"{v:.{decimals}f}") for v in (x, y, z))
    assert parsed.e == (None if e is None else float(f"{e:.{decimals}f}"))
    assert parse_reply(line) == parsed
