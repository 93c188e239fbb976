"""The auth matrix over real HTTP: no key, wrong key, read/user/admin keys, for every endpoint
class, with the key in the X-Api-Key header, the apikey query parameter or a Bearer header."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from tests.helpers.rest import ADMIN_KEY, KEYS, READ_KEY, USER_KEY, WRONG_KEY, Api, error_of, rest_api  # noqa: F401

pytestmark = pytest.mark.integration

#: (endpoint class, method, path, JSON body, success status, roles that may call it)
ENDPOINTS = [
    ("status", "GET", "/api/printer", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/job", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/version", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/server", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/connection", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/printer/tool", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/printer/bed", None, 200, {"read", "user", "admin"}),
    ("status", "GET", "/api/printer/printhead", None, 200, {"read", "user", "admin"}),
    ("settings", "GET", "/api/settings", None, 200, {"read", "user", "admin"}),
    ("control", "POST", "/api/printer/command", {"command": "M117 auth"}, 204, {"user", "admin"}),
    ("control", "POST", "/api/printer/printhead", {"command": "feedrate", "factor": 100}, 204, {"user", "admin"}),
    ("control", "POST", "/api/printer/tool", {"command": "flowrate", "factor": 100}, 204, {"user", "admin"}),
    ("control", "POST", "/api/printer/bed", {"command": "target", "target": 0}, 204, {"user", "admin"}),
    ("connection", "POST", "/api/connection", {"command": "fake_ack"}, 204, {"user", "admin"}),
    ("admin", "GET", "/plugin/appkeys/pending", None, 200, {"admin"}),
    ("files", "GET", "/api/files", None, 200, {"read", "user", "admin"}),
    ("files", "GET", "/api/files/sdcard", None, 200, {"read", "user", "admin"}),
    ("system", "GET", "/api/system/commands", None, 200, {"admin"}),
    ("system", "GET", "/api/system/commands/custom", None, 200, {"admin"}),
    ("open", "GET", "/api/currentuser", None, 200, {None, "wrong", "read", "user", "admin"}),
    ("open", "POST", "/api/login", {"passive": True}, 200, {None, "wrong", "read", "user", "admin"}),
    ("open", "GET", "/plugin/appkeys/probe", None, 204, {None, "wrong", "read", "user", "admin"}),
]

CALLERS: list[tuple[Optional[str], Optional[str]]] = [
    (None, None), ("wrong", WRONG_KEY), ("read", READ_KEY), ("user", USER_KEY), ("admin", ADMIN_KEY)]


@pytest.mark.parametrize("kind, method, path, body, ok, allowed", ENDPOINTS, ids=[f"{e[1]} {e[2]}" for e in ENDPOINTS])
def test_matrix(rest_api: Api, kind: str, method: str, path: str, body: Any, ok: int, allowed: set) -> None:
    for role, key in CALLERS:
        r = rest_api.call(method, path, key=key, json=body)
        if role in allowed:
            assert r.status_code == ok, f"{role} on {method} {path}: {r.status_code} {r.text}"
        else:
            assert r.status_code == 403, f"{role} on {method} {path}: {r.status_code} {r.text}"
            assert error_of(r).startswith("You don't have the permission")


@pytest.mark.parametrize("source", ["header", "query", "bearer", "bearer-lowercase"])
@pytest.mark.parametrize("role", ["read", "user", "admin"])
def test_key_sources(rest_api: Api, source: str, role: str) -> None:
    key = KEYS[role]
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if source == "header":
        headers["X-Api-Key"] = key
    elif source == "query":
        params["apikey"] = key
    else:
        headers["Authorization"] = ("Bearer " if source == "bearer" else "bearer ") + key
    me = rest_api.call("GET", "/api/currentuser", key=None, headers=headers, params=params).json()
    assert me["name"] == {"read": "viewer", "user": "operator", "admin": "admin"}[role]
    r = rest_api.call("POST", "/api/printer/command", key=None, headers=headers, params=params,
                      json={"command": "M117 src"})
    assert r.status_code == (403 if role == "read" else 204)


def test_query_key_wins_over_header_like_octoprint(rest_api: Api) -> None:
    r = rest_api.call("GET", "/api/currentuser", key=READ_KEY, params={"apikey": ADMIN_KEY})
    assert r.json()["name"] == "admin"


def test_form_field_key_for_login(rest_api: Api) -> None:
    r = rest_api.call("POST", "/api/login", key=None, data={"apikey": USER_KEY, "passive": "true"})
    assert r.status_code == 200 and r.json()["name"] == "operator" and r.json()["admin"] is False


def test_anonymous_identity(rest_api: Api) -> None:
    assert rest_api.get("/api/currentuser", key=None).json() == {"name": None, "permissions": [], "groups": ["guests"]}
    assert rest_api.get("/api/currentuser", key=WRONG_KEY).json()["name"] is None
    anonymous = rest_api.post("/api/login", {"passive": True}, key=None).json()
    assert anonymous["_credentials_seen"] is False and "name" not in anonymous
    assert rest_api.post("/api/login", {"user": "admin", "pass": "x"}, key=None).status_code == 403
    assert rest_api.post("/api/login", {}, key=None).status_code == 400


def test_per_printer_prefix_has_the_same_rules(rest_api: Api) -> None:
    assert rest_api.get("/printer/p1/api/printer", key=None).status_code == 403
    assert rest_api.get("/printer/p1/api/printer", key=READ_KEY).status_code == 200
    assert rest_api.post("/printer/p1/api/printer/command", {"command": "M117 p"}, key=READ_KEY).status_code == 403
