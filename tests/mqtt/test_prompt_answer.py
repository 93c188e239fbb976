"""`B/prompt/answer` payload parsing and topic mapping (pure)."""

from __future__ import annotations

import pytest

from mqttprint.mqtt import prompt_answer, topics
from mqttprint.mqtt.payloads import PayloadError


def test_plain_digit_and_json_choice() -> None:
    assert prompt_answer.parse("1").args == {"choice": 1}
    request = prompt_answer.parse('{"choice": 0, "id": "a", "ts": 5}')
    assert (request.action, request.args, request.request_id, request.ts) == ("prompt.answer", {"choice": 0}, "a", 5.0)


@pytest.mark.parametrize("text", ["", " ", "10", "-1", "x", '{"choice": 10}', '{"choice": true}', '{"choice": "1"}',
                                  '{"choice": 1, "extra": 2}', '{}', "[1]"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(PayloadError):
        prompt_answer.parse(text)


def test_topics() -> None:
    t = topics.PrinterTopics("farm", "p1")
    assert (t.prompt, t.prompt_answer, t.thumbnail) == ("farm/p1/prompt", "farm/p1/prompt/answer", "farm/p1/thumbnail")
    assert topics.parse_inbound("farm", "farm/p1/prompt/answer", ["p1"]) == topics.Inbound("p1", topics.PROMPT_ANSWER)
    assert topics.parse_inbound("farm", "farm/p1/prompt", ["p1"]) is None  # our own retained state
    assert topics.parse_inbound("farm", "farm/p1/prompt/other", ["p1"]) is None


def test_job_file_metadata_request() -> None:
    from mqttprint.mqtt import payloads

    assert payloads.parse_job("file") == payloads.ParsedRequest("job.file")
    assert payloads.parse_job('{"command": "file", "file": "x.gcode", "id": 3}').args == {"file": "x.gcode"}
    with pytest.raises(PayloadError, match="unknown key 'action'"):
        payloads.parse_job('{"command": "file", "action": "x"}')
