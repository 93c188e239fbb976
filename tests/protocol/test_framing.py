"""Framing: checksums and numbered lines (exact examples), and the line splitter under fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mqttprint.protocol.framing import MAX_REPLY_LINE, LineSplitter, checksum, encode_numbered, encode_plain


def test_reference_examples() -> None:
    # shared/reference/firmware-protocol.md §1.2, verified against real logs
    assert encode_numbered(0, "M110 N0") == b"N0 M110 N0*125\n"
    assert encode_numbered(1, "M105") == b"N1 M105*38\n"
    assert encode_numbered(0, "M105") == b"N0 M105*39\n"
    assert encode_numbered(1, "G1 X10 Y20 F3000") == b"N1 G1 X10 Y20 F3000*78\n"
    assert encode_numbered(1234, "G1 X123.456 Y98.765 E0.04321") == b"N1234 G1 X123.456 Y98.765 E0.04321*96\n"
    assert encode_plain("M112") == b"M112\n"


def test_splitter_handles_crlf_partial_garbage_and_overlong() -> None:
    lines = LineSplitter(max_line=32)
    out = lines.feed(b"\x80start\r\nok T:2") + lines.feed(b"1.0\nX" * 1) + lines.feed(b"A" * 100 + b"\nok\n")
    texts = [line.text for line in out]
    assert texts[0].endswith("start") and "\ufffd" in texts[0]
    assert texts[1] == "ok T:21.0"
    assert out[2].truncated and len(texts[2]) == 32
    assert texts[3] == "ok"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=1, max_value=64), max_size=50))
def test_chunking_never_changes_the_lines(data: bytes, cuts: list[int]) -> None:
    whole = [line.text for line in LineSplitter().feed(data)]
    splitter, pieces, position = LineSplitter(), [], 0
    for size in cuts:
        pieces += splitter.feed(data[position:position + size])
        position += size
    pieces += splitter.feed(data[position:])
    assert [line.text for line in pieces] == whole
    for text in whole:
        assert "\n" not in text and "\r" not in text and text == text.strip()
        assert len(text) <= MAX_REPLY_LINE and text


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=90))
def test_numbered_lines_carry_a_valid_checksum(number: int, command: str) -> None:
    framed = encode_numbered(number, command).decode("ascii")
    assert framed.endswith("\n") and framed.startswith(f"N{number} ")
    body, _, digits = framed[:-1].rpartition("*")
    assert int(digits) == checksum(body) and 0 <= int(digits) <= 127
