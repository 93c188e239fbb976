"""The seed forum thread over real HTTP: M112 through /api/printer/command reaches the firmware
at once, the printer goes to Error, REST reports it, and `connect` brings it back."""

from __future__ import annotations

import pytest

from tests.helpers.rest import Api, error_of, rest_api, wait_for  # noqa: F401

pytestmark = pytest.mark.integration


def test_m112_halts_the_printer_and_connect_recovers_it(rest_api: Api) -> None:
    model = rest_api.model()
    # A slow command in the queue must not delay the emergency stop.
    assert rest_api.post("/api/printer/command", {"commands": ["G4 S5"]}).status_code == 204
    r = rest_api.post("/api/printer/command", {"command": "M112"})
    assert r.status_code == 204 and r.text == ""
    wait_for(lambda: model.emergency_seen == ["M112"], timeout=2, what="M112 at the simulator")
    assert model.killed
    rest_api.wait_state("Error", timeout=5)

    job = rest_api.get("/api/job").json()
    assert job["state"] == "Error" and job["error"]
    r = rest_api.get("/api/printer")
    assert r.status_code == 409 and error_of(r) == "Printer is not operational"
    r = rest_api.post("/api/printer/command", {"command": "M105"})
    assert r.status_code == 409
    assert rest_api.get("/api/connection").json()["current"]["state"] == "Error"

    assert rest_api.post("/api/connection", {"command": "connect"}).status_code == 204
    rest_api.wait_operational()
    assert rest_api.model() is not model and not rest_api.model().killed
    assert rest_api.get("/api/printer").json()["state"]["flags"]["error"] is False


def test_emergency_with_reply(rest_api: Api) -> None:
    r = rest_api.post("/api/printer/command", {"command": "M112", "reply": True, "timeout": 5})
    assert r.status_code == 200
    assert r.json() == {"replies": [{"command": "M112", "lines": [], "ok": True, "error": None}]}
    rest_api.wait_state("Error", timeout=5)
    assert rest_api.model().emergency_seen == ["M112"]
    assert rest_api.post("/api/connection", {"command": "connect", "port": "AUTO", "baudrate": 0}).status_code == 204
    rest_api.wait_operational()


def test_emergency_inside_a_list_goes_first(rest_api: Api) -> None:
    model = rest_api.model()
    r = rest_api.post("/api/printer/command", {"commands": ["G4 S5", "M112"]})
    # The M112 is written before the queued line; the other line is reported as not sent.
    assert r.status_code == 204, r.text
    wait_for(lambda: model.emergency_seen == ["M112"], timeout=2, what="M112 at the simulator")
    assert "G4 S5" not in model.executed
    rest_api.wait_state("Error", timeout=5)
    assert rest_api.post("/api/connection", {"command": "connect"}).status_code == 204
    rest_api.wait_operational()
