"""JSON body parsing, OctoPrint's boolean rule and the numeric helpers."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mqttprint.rest.validation import (
    MALFORMED_JSON,
    MAX_JSON_BYTES,
    WRONG_CONTENT_TYPE,
    ApiError,
    excluded,
    factor_percent,
    format_number,
    is_json_mimetype,
    is_number,
    is_true,
    json_command,
    number,
    parse_json_object,
    query_limit,
)


def status_of(func, *args) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as info:
        func(*args)
    return info.value.status, info.value.message


def test_content_types() -> None:
    assert is_json_mimetype("application/json") and is_json_mimetype("application/merge-patch+json")
    assert is_json_mimetype("Application/JSON")
    for bad in ("", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/json"):
        assert not is_json_mimetype(bad)


@pytest.mark.parametrize("mimetype", ["", "text/plain", "application/x-www-form-urlencoded"])
def test_missing_or_wrong_content_type_is_415(mimetype: str) -> None:
    assert status_of(parse_json_object, mimetype, b'{"command": "M105"}') == (415, WRONG_CONTENT_TYPE)


@pytest.mark.parametrize("body", [b"", b"{", b"{'a': 1}", b"\xff\xfe\x00", b"[" * 100000 + b"]" * 100000,
                                  b'{"a": 1' + b"1" * 5000 + b"}"])
def test_malformed_json_is_400(body: bytes) -> None:
    status, message = status_of(parse_json_object, "application/json", body[:MAX_JSON_BYTES])
    assert status == 400 and message in (MALFORMED_JSON, "JSON body must be an object")


@pytest.mark.parametrize("body", [b"[]", b"null", b"1", b'"x"', b"true", b'[{"command": "M105"}]'])
def test_non_object_json_is_400(body: bytes) -> None:
    assert status_of(parse_json_object, "application/json", body) == (400, "JSON body must be an object")


def test_oversized_json_is_413() -> None:
    assert status_of(parse_json_object, "application/json", b" " * (MAX_JSON_BYTES + 1))[0] == 413


def test_valid_object() -> None:
    assert parse_json_object("application/json", '{"a": "é"}'.encode()) == {"a": "é"}


@given(st.binary(max_size=200))
def test_parse_never_raises_anything_but_api_error(data: bytes) -> None:
    try:
        assert isinstance(parse_json_object("application/json", data), dict)
    except ApiError as exc:
        assert exc.status == 400


def test_booleans_follow_octoprint() -> None:
    for true in (True, 1, "true", "True", "YES", "y", "1"):
        assert is_true(true)
    for false in (False, 0, 2, "no", "", None, "false", [], {}, "truthy"):
        assert not is_true(false)


def test_factor_rule() -> None:
    assert factor_percent(100) == 100 and factor_percent(1.0) == 100 and factor_percent(0.5) == 50
    for bad in (0, -5, 0.001, 100.0, 5000, "100", True, None, float("nan")):
        assert status_of(factor_percent, bad) == (400, "factor is invalid")


def test_format_number() -> None:
    assert format_number(220) == "220" and format_number(215.5) == "215.5" and format_number(-0.25) == "-0.25"
    assert format_number(1e-7) == "0" and format_number(0.1 + 0.2) == "0.3"


def test_query_helpers() -> None:
    assert query_limit(None) == 300 and query_limit("5") == 5 and query_limit("-1") == 300
    assert query_limit("abc") == 300 and query_limit("²") == 300
    assert excluded("temperature, sd,bogus") == {"temperature", "sd"} and excluded(None) == frozenset()


def test_json_command() -> None:
    commands = {"jog": (), "home": ("axes",)}
    assert json_command({"command": "home", "axes": []}, commands) == "home"
    assert status_of(json_command, {"command": "fly"}, commands) == (400, "command is invalid")
    assert status_of(json_command, {"command": ["home"]}, commands) == (400, "command is invalid")
    assert status_of(json_command, {}, commands) == (400, "command is invalid")
    assert status_of(json_command, {"command": "home"}, commands) == (400, "Mandatory parameters missing")


def test_duplicate_keys_and_nan_refused() -> None:
    """With plain `json` the last of two keys wins; a body must be unambiguous (issue 12 item 3)."""
    for body, message in ((b'{"command": "connect", "command": "disconnect"}', "duplicate key 'command'"),
                          (b'{"a": {"x": 1, "x": 2}}', "duplicate key 'x'"),
                          (b'{"target": NaN}', "NaN")):
        with pytest.raises(ApiError, match=message) as info:
            parse_json_object("application/json", body)
        assert info.value.status == 400


def test_huge_numbers_are_a_400_not_an_overflow() -> None:
    """A 400-digit integer used to raise OverflowError in math.isfinite (a 500; issue 12 item 6)."""
    assert not is_number(10**400) and not is_number(-(10**400)) and not is_number(1e300)
    with pytest.raises(ApiError) as info:
        number(10**400, "target is invalid", low=0, high=500)
    assert info.value.status == 400
