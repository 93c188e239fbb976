"""The transport-neutral input rules of mqttprint/validation.py (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from mqttprint.validation import JsonProblem, TemplateProblem, loads_strict, substitute


def test_substitute_plain_placeholders() -> None:
    assert substitute("M104 S%(t)s T%(n)s", {"t": 215.5, "n": 1}) == "M104 S215.5 T1"
    assert substitute("M117 100%% %(x)s", {"x": "done"}) == "M117 100% done"
    assert substitute("G28", {"unused": 1}) == "G28"


@pytest.mark.parametrize("template, parameters, message", [
    ("M117 %(a)200000000s", {"a": "x"}, "only %\\(name\\)s"),
    ("M117 %(a)c", {"a": 1114112}, "only %\\(name\\)s"),
    ("M117 %(a)r", {"a": 1}, "only %\\(name\\)s"),
    ("M117 %s", {"a": 1}, "only %\\(name\\)s"),
    ("M117 %", {}, "only %\\(name\\)s"),
    ("M117 %(b)s", {"a": 1}, "no parameter 'b'"),
    ("M117 %(a)s", {"a": "x" * 257}, "longer than 256"),
    ("M117 %(a)s", {"a": 10**400}, "below 1e15"),
    ("M117 %(a)s", {"a": float("nan")}, "below 1e15"),
    ("M117 %(a)s", {"a": {"b": 1}}, "must be a string"),
    ("M117 " + "%(a)s" * 10, {"a": "y" * 200}, "longer than 1024"),
])
def test_substitute_refuses(template: str, parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateProblem, match=message):
        substitute(template, parameters)


@pytest.mark.parametrize("text, message", [
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('[{"x": {"y": 1, "y": 1}}]', "duplicate key 'y'"),
    ('{"a": NaN}', "NaN"),
    ('{"a": -Infinity}', "-Infinity"),
])
def test_loads_strict_refuses(text: str, message: str) -> None:
    with pytest.raises(JsonProblem, match=message):
        loads_strict(text)


def test_loads_strict_keeps_the_document_for_the_id() -> None:
    with pytest.raises(JsonProblem) as info:
        loads_strict('{"id": "x", "k": 1, "k": 2}')
    assert info.value.document == {"id": "x", "k": 2}
