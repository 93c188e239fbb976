"""API key extraction, constant-time resolution and the role -> permission mapping."""

from __future__ import annotations

import pytest

from mqttprint.config import ApiKey
from mqttprint.rest.auth import ANONYMOUS, Authenticator, extract_key, login_dict, user_dict

CONFIG_KEYS = (ApiKey("admin", "a" * 32, "admin"), ApiKey("op", "u" * 32, "user"), ApiKey("viewer", "r" * 32, "read"))


def make(app_keys: list[tuple[str, ...]] | None = None) -> Authenticator:
    return Authenticator(CONFIG_KEYS, lambda: list(app_keys or []))


def test_key_sources_in_octoprint_order() -> None:
    assert extract_key({"apikey": "q"}, {"X-Api-Key": "h", "Authorization": "Bearer b"}) == "q"
    assert extract_key({}, {"X-Api-Key": "h", "Authorization": "Bearer b"}) == "h"
    assert extract_key({}, {"Authorization": "Bearer b"}) == "b"
    assert extract_key({}, {"Authorization": "bearer   b  "}) == "b"
    assert extract_key({}, {"Authorization": "Basic Zm9vOmJhcg=="}) is None
    assert extract_key({}, {"Authorization": "Bearer "}) is None
    assert extract_key({"apikey": ""}, {}) is None


@pytest.mark.parametrize("key, name, role", [("a" * 32, "admin", "admin"), ("u" * 32, "op", "user"),
                                             ("r" * 32, "viewer", "read")])
def test_config_keys_resolve_to_their_role(key: str, name: str, role: str) -> None:
    principal = make().resolve(key)
    assert (principal.name, principal.role, principal.source) == (name, role, "config")


@pytest.mark.parametrize("key", [None, "", "a" * 31, "a" * 33, "A" * 32, "ä" * 32, "\udcff" * 3, "a" * 10000])
def test_unknown_keys_are_anonymous(key: str | None) -> None:
    assert make().resolve(key) is ANONYMOUS


def test_app_keys_carry_their_approved_role() -> None:
    auth = make([("Home Assistant", "K" * 32, "admin"), ("Phone", "P" * 32, "read"), ("Legacy", "L" * 32)])
    principal = auth.resolve("K" * 32)
    assert (principal.name, principal.role, principal.source) == ("Home Assistant", "admin", "appkey")
    assert principal.allows("SYSTEM")
    assert auth.resolve("P" * 32).role == "read" and not auth.resolve("P" * 32).allows("CONTROL")
    assert auth.resolve("L" * 32).role == "user"  # (name, key) pairs: the user role


def test_permission_matrix() -> None:
    auth = make()
    admin, user, read = auth.resolve("a" * 32), auth.resolve("u" * 32), auth.resolve("r" * 32)
    for perm in ("ADMIN", "SYSTEM", "SETTINGS", "CONTROL", "STATUS"):
        assert admin.allows(perm)
    assert user.allows("CONTROL") and user.allows("CONNECTION") and user.allows("PRINT") and user.allows("STATUS")
    assert not user.allows("SYSTEM") and not user.allows("ADMIN") and not user.allows("SETTINGS")
    assert read.allows("STATUS") and read.allows("SETTINGS_READ") and read.allows("FILES_LIST")
    assert not read.allows("CONTROL") and not read.allows("CONNECTION") and not read.allows("PRINT")
    assert not ANONYMOUS.allows("STATUS") and ANONYMOUS.allows(None)


def test_user_and_login_dicts() -> None:
    assert user_dict(ANONYMOUS) == {"name": None, "permissions": [], "groups": ["guests"]}
    op = make().resolve("u" * 32)
    body = user_dict(op)
    assert body["name"] == "op" and body["groups"] == ["users"] and "CONTROL" in body["permissions"]
    login = login_dict(make().resolve("a" * 32))
    assert login["name"] == "admin" and login["admin"] is True and login["apikey"] is None
    assert login["_login_mechanism"] == "apikey" and "admin" in login["needs"]["role"]
    anonymous = login_dict(ANONYMOUS)
    assert set(anonymous) == {"needs", "_is_external_client", "_credentials_seen"}
