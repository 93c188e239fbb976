"""Upload-name and path rules, the ClientSpec filter, error mapping of system commands and the
POST /api/job check order, through the Flask test client with fake registry actions. (The real
actions run over HTTP in tests/integration/test_rest_system.py and test_rest_jobs.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqttprint.protocol.errors import InvalidCommand
from mqttprint.protocol.states import PrinterState
from mqttprint.rest.api_files import canonical, upload_name
from mqttprint.rest.validation import ApiError
from mqttprint.runtime.commands import ActionResult, Context, NotFound, Request
from mqttprint.runtime.system_commands import SystemCommandFailed
from mqttprint.runtime.system_runner import SystemCommandResult
from tests.rest.fakes import READ, USER, Harness


@pytest.mark.parametrize("raw, stored", [
    ("cube.gcode", "cube.gcode"), ("My Cube (v2).GCODE", "My_Cube_v2.GCODE"), ("a.g", "a.g"), ("b.gco", "b.gco"),
])
def test_upload_name(raw: str, stored: str) -> None:
    assert upload_name(raw) == stored


@pytest.mark.parametrize("raw, status", [
    ("", 400), ("../x.gcode", 400), ("a/b.gcode", 400), ("a\\b.gcode", 400), ("x\x00.gcode", 400),
    (".gcode", 400), ("model.stl", 415), ("x.gcode.txt", 415), ("x", 415),
])
def test_upload_name_refused(raw: str, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        upload_name(raw)
    assert caught.value.status == status


@pytest.mark.parametrize("name", ["../x.gcode", "..", "sub/x.gcode", "x y.gcode", ".metadata.json", "x.txt", ""])
def test_canonical_refuses_everything_but_stored_names(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        canonical(name)
    assert caught.value.status == 404
    assert canonical("x_y.gcode") == "x_y.gcode"


class SystemFakes:
    """Fake "system.*" actions that record calls and misbehave on request."""

    def __init__(self, h: Harness) -> None:
        self.executed: list[dict[str, Any]] = []
        h.registry.register("system.list", self.listing, "fake")
        h.registry.register("system.execute", self.execute, "fake")

    def listing(self, context: Context, request: Request) -> ActionResult:
        spec = {"source": "custom", "action": "x", "name": "X", "command": "rm -rf /", "async": True,
                "resource": f"{request.args['base_url']}/api/system/commands/custom/x"}
        if request.args.get("source") is not None:
            if request.args["source"] not in ("core", "custom", "plugin"):
                raise NotFound("unknown source")
            return ActionResult(data=[spec] if request.args["source"] == "custom" else [])
        return ActionResult(data={"core": [], "custom": [spec], "plugin": []})

    def execute(self, context: Context, request: Request) -> ActionResult:
        self.executed.append(dict(request.args))
        if request.args["action"] == "divider":
            raise InvalidCommand("Dividers cannot be executed")
        if request.args["action"] == "fail":
            raise SystemCommandFailed(SystemCommandResult("custom", "fail", 2, "so", "se", 0.1))
        return ActionResult()


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_listing_never_exposes_internal_keys(h: Harness) -> None:
    SystemFakes(h)
    body = h.get("/api/system/commands").json
    assert body["custom"] == [{"source": "custom", "action": "x", "name": "X",
                               "resource": "/api/system/commands/custom/x"}]
    assert h.get("/printer/p2/api/system/commands/custom").json[0]["resource"].startswith("/printer/p2/")
    assert h.get("/api/system/commands/nope").status_code == 404


def test_execute_codes(h: Harness) -> None:
    fakes = SystemFakes(h)
    assert h.post("/api/system/commands/custom/x", {"command": "evil"}).status_code == 204
    assert fakes.executed == [{"source": "custom", "action": "x"}]  # the body is never passed on
    r = h.post("/api/system/commands/custom/divider")
    assert (r.status_code, r.json) == (400, {"error": "Dividers cannot be executed"})
    r = h.post("/api/system/commands/custom/fail")
    assert r.status_code == 500 and r.json["error"].startswith("Command for custom:fail failed with return code 2")
    assert "STDOUT:\nso" in r.json["error"] and "STDERR:\nse" in r.json["error"]
    for key in (USER, READ, None):
        assert h.post("/api/system/commands/custom/x", key=key).status_code == 403
    assert len(fakes.executed) == 3


def test_job_command_check_order(h: Harness) -> None:
    calls: list[str] = []
    for name in ("job.start", "job.restart", "job.pause", "job.cancel"):
        h.registry.register(name, lambda c, r, n=name: calls.append(n) or ActionResult(), "fake")
    printer = h.printers["p1"]
    printer.set(state=PrinterState.OFFLINE)
    assert h.post("/api/job", {"command": "nope"}, key=None).status_code == 409  # 409 before 400 and 403
    printer.set(state=PrinterState.OPERATIONAL)
    assert h.post("/api/job", {"command": "nope"}, key=None).status_code == 400  # 400 before 403
    assert h.post("/api/job", {"command": "cancel"}, key=READ).status_code == 403
    assert h.post("/api/job", {"command": "cancel"}).status_code == 409
    assert h.post("/api/job", {"command": "start"}).status_code == 204
    printer.set(state=PrinterState.PRINTING)
    assert h.post("/api/job", {"command": "start"}).status_code == 409
    assert h.post("/api/job", {"command": "restart"}).status_code == 409
    assert h.post("/api/job", {"command": "pause", "action": 1}).json == {"error": "Unknown action"}
    assert h.post("/api/job", {"command": "pause"}).status_code == 204
    printer.set(state=PrinterState.PAUSED)
    assert h.post("/api/job", {"command": "restart"}).status_code == 204
    assert h.post("/api/job", {"command": "cancel"}, key=USER).status_code == 204
    assert calls == ["job.start", "job.pause", "job.restart", "job.cancel"]


def test_select_current_is_404_not_400(h: Harness) -> None:
    h.registry.register("files.get", lambda c, r: (_ for _ in ()).throw(NotFound("no such file")), "fake")
    assert h.post("/api/files/local/current", {"command": "select"}, key=READ).status_code == 403
    assert h.post("/api/files/local/current", {"command": "select"}).status_code == 404
    assert h.post("/api/files/local/..%2Fx.gcode", {"command": "select"}).status_code == 404
    assert h.post("/api/files/local/x.gcode", {"command": "select"}).status_code == 404


def test_full_disk_is_507(h: Harness) -> None:
    """A full disk was a 500 (issue 12 item 7): the host's fault, said precisely."""
    import io

    from mqttprint.runtime.file_store import StorageFull

    def full(context: Context, request: Request) -> ActionResult:
        raise StorageFull("not enough space to store cube.gcode (No space left on device)")

    h.registry.register("files.upload", full, "test")
    r = h.request("POST", "/api/files/local", data={"file": (io.BytesIO(b"G28\n"), "cube.gcode")},
                  content_type="multipart/form-data")
    assert r.status_code == 507 and "not enough space" in r.json["error"]
