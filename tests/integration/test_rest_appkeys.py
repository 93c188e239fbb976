"""The application-keys workflow end to end over real HTTP, as Home Assistant runs it, including
the approved key surviving a gateway restart and the file's permissions."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.helpers.rest import ADMIN_KEY, USER_KEY, error_of, start_gateway

pytestmark = pytest.mark.integration


def _system(ran: Path) -> dict[str, Any]:
    return {"commands": {"restart": f"touch {ran}/core-restart"}}


def test_home_assistant_style_flow(broker: Any, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    ran.mkdir()
    gateway, api = start_gateway(broker, tmp_path, "rest_appkeys", system=_system(ran))
    try:
        assert api.get("/plugin/appkeys/probe", key=None).status_code == 204
        r = api.post("/plugin/appkeys/request", {"app": "Home Assistant", "user": "homeowner"}, key=None)
        assert r.status_code == 201
        token = r.json()["app_token"]
        assert r.headers["Location"] == f"/plugin/appkeys/request/{token}"
        assert r.json()["auth_dialog"].startswith("/plugin/appkeys/auth/")
        poll = f"/plugin/appkeys/request/{token}"
        assert api.get(poll, key=None).status_code == 202
        assert api.get(poll, key=None).json() == {"message": "Awaiting decision"}

        assert api.get("/plugin/appkeys/pending", key=USER_KEY).status_code == 403
        (pending,) = api.get("/plugin/appkeys/pending").json()["pending"]
        assert (pending["app"], pending["user"]) == ("Home Assistant", "homeowner")
        decision = f"/plugin/appkeys/decision/{pending['user_token']}"
        assert api.post(decision, {"decision": True}, key=USER_KEY).status_code == 403
        assert api.post(decision, {"decision": "yes"}).status_code == 400
        assert api.post(f"/plugin/appkeys/decision/{token}", {"decision": True}).status_code == 404
        assert api.post(decision, {"decision": True}).status_code == 204
        assert api.post(decision, {"decision": True}).status_code == 404  # already decided

        r = api.get(poll, key=None)
        assert r.status_code == 200
        key = r.json()["api_key"]
        assert api.get(poll, key=None).status_code == 404  # handed out once

        # What Home Assistant does next, with the new key: approved by an admin key, it is an
        # admin key (OctoPrint: an app key has the approver's rights), so HA's Restart button works.
        assert api.get("/api/settings", key=key).json()["plugins"]["discovery"]["upnpUuid"]
        assert api.get("/api/job", key=key).status_code == 200
        assert api.post("/api/printer/command", {"command": "M117 ha"}, key=key).status_code in (204, 409)
        assert api.get("/api/currentuser", key=key).json() == {
            "name": "Home Assistant", "permissions": api.get("/api/currentuser").json()["permissions"],
            "groups": ["admins", "users"]}
        assert api.post("/api/system/commands/core/restart", key=key).status_code == 204
        wait_for(lambda: (ran / "core-restart").exists(), what="the restart command to run")  # async, as in OctoPrint

        path = tmp_path / "appkeys.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and key in path.read_text()
    finally:
        gateway.stop()

    gateway, api = start_gateway(broker, tmp_path, "rest_appkeys", system=_system(ran))
    try:
        assert api.get("/api/currentuser", key=key).json()["groups"] == ["admins", "users"]
    finally:
        gateway.stop()


def test_approver_may_grant_less_never_more(broker: Any, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    ran.mkdir()
    gateway, api = start_gateway(broker, tmp_path, "rest_appkeys3", system=_system(ran))
    try:
        token = api.post("/plugin/appkeys/request", {"app": "Phone"}, key=None).json()["app_token"]
        (pending,) = api.get("/plugin/appkeys/pending").json()["pending"]
        decision = f"/plugin/appkeys/decision/{pending['user_token']}"
        assert error_of(api.post(decision, {"decision": True, "role": "root"})) == "role must be one of admin, user, read"
        assert api.post(decision, {"decision": True, "role": "user"}).status_code == 204
        key = api.get(f"/plugin/appkeys/request/{token}", key=None).json()["api_key"]
        assert api.get("/api/currentuser", key=key).json()["groups"] == ["users"]
        assert api.get("/plugin/appkeys/pending", key=key).status_code == 403
        assert api.post("/api/system/commands/core/restart", key=key).status_code == 403
        assert not (ran / "core-restart").exists()
    finally:
        gateway.stop()


def test_denied_and_bad_requests(broker: Any, tmp_path: Path) -> None:
    gateway, api = start_gateway(broker, tmp_path, "rest_appkeys2")
    try:
        token = api.post("/plugin/appkeys/request", {"app": "Cura"}, key=None).json()["app_token"]
        (pending,) = api.get("/plugin/appkeys/pending").json()["pending"]
        assert api.post(f"/plugin/appkeys/decision/{pending['user_token']}", {"decision": False}).status_code == 204
        assert api.get(f"/plugin/appkeys/request/{token}", key=None).status_code == 404
        assert api.get("/plugin/appkeys/request/unknown", key=None).status_code == 404
        assert error_of(api.post("/plugin/appkeys/request", key=None)) == "Missing data"
        assert error_of(api.post("/plugin/appkeys/request", {"user": "x"}, key=None)) == "No app name provided"
        assert error_of(api.post("/plugin/appkeys/request", {"app": "x\u0000y"}, key=None)) == "No app name provided"
        assert api.post("/plugin/appkeys/request", [1], key=None).status_code == 400
        assert api.call("POST", "/plugin/appkeys/request", key=None, data="app=x",
                        headers={"Content-Type": "text/plain"}).status_code == 415
        r = api.post("/printer/p1/plugin/appkeys/request", {"app": "Per printer"}, key=None)
        assert r.headers["Location"].startswith("/printer/p1/plugin/appkeys/request/")
        assert api.get("/plugin/appkeys/auth/whatever", key=None).headers["Content-Type"].startswith("text/plain")
        assert api.get("/plugin/appkeys/pending", key=ADMIN_KEY).status_code == 200
    finally:
        gateway.stop()
