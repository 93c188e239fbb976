"""The app-keys store: request, poll, decide, fetch once, expiry, persistence (0600), reload."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mqttprint.rest.appkeys import MAX_PENDING, REQUEST_TIMEOUT, AppKeyStore, TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_approve_flow_and_one_time_fetch(tmp_path: Path) -> None:
    store = AppKeyStore(tmp_path)
    req = store.request("Home Assistant", "admin")
    assert store.poll(req.app_token) == ("pending", None)
    assert [p.app for p in store.pending()] == ["Home Assistant"]
    assert store.decide(req.user_token, True)
    assert store.pending() == [] and store.credentials() == []  # valid only once fetched
    status, key = store.poll(req.app_token)
    assert status == "approved" and key and len(key) == 32
    assert store.credentials() == [("Home Assistant", key, "user")]
    assert store.poll(req.app_token) == ("unknown", None)
    assert not store.decide(req.user_token, True)


def test_deny_and_unknown(tmp_path: Path) -> None:
    store = AppKeyStore(tmp_path)
    req = store.request("Cura", None)
    assert not store.decide(req.app_token, True)  # the app's token is not the decision token
    assert store.decide(req.user_token, False)
    assert store.poll(req.app_token) == ("unknown", None)
    assert store.poll("") == ("unknown", None) and store.poll("nope") == ("unknown", None)


def test_file_is_private_and_survives_restart(tmp_path: Path) -> None:
    store = AppKeyStore(tmp_path)
    req = store.request("App", None)
    store.decide(req.user_token, True)
    _, key = store.poll(req.app_token)
    mode = stat.S_IMODE((tmp_path / "appkeys.json").stat().st_mode)
    assert mode == 0o600
    assert AppKeyStore(tmp_path).credentials() == [("App", key, "user")]


def test_other_process_changes_are_seen(tmp_path: Path) -> None:
    daemon, cli = AppKeyStore(tmp_path), AppKeyStore(tmp_path)
    req = daemon.request("App", None)
    assert [p.user_token for p in cli.pending()] == [req.user_token]
    assert cli.decide(req.user_token, True)
    assert daemon.poll(req.app_token)[0] == "approved"
    assert cli.revoke("App") == 1 and daemon.credentials() == []


def test_requests_expire_without_polls(tmp_path: Path) -> None:
    clock = Clock()
    store = AppKeyStore(tmp_path, clock)
    kept, dropped = store.request("kept", None), store.request("dropped", None)
    clock.now += REQUEST_TIMEOUT * 0.9
    assert store.poll(kept.app_token)[0] == "pending"
    clock.now += REQUEST_TIMEOUT * 0.2
    assert store.poll(kept.app_token)[0] == "pending"
    assert store.poll(dropped.app_token) == ("unknown", None)
    store.decide(kept.user_token, True)
    clock.now += REQUEST_TIMEOUT + 1  # approved but never fetched: gone, and no key exists
    assert store.poll(kept.app_token) == ("unknown", None) and store.credentials() == []


def test_pending_is_bounded(tmp_path: Path) -> None:
    store = AppKeyStore(tmp_path)
    for i in range(MAX_PENDING):
        store.request(f"app{i}", None)
    with pytest.raises(TooManyRequests):
        store.request("one too many", None)


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "appkeys.json").write_text("{not json")
    store = AppKeyStore(tmp_path)
    assert store.credentials() == []
    assert (tmp_path / "appkeys.json.bad").read_text() == "{not json"
    store.request("App", None)
    assert json.loads((tmp_path / "appkeys.json").read_text())["requests"][0]["app"] == "App"


def test_approved_role_is_kept_and_checked(tmp_path: Path) -> None:
    store = AppKeyStore(tmp_path)
    req = store.request("Home Assistant", None)
    with pytest.raises(ValueError):
        store.decide(req.user_token, True, "root")
    assert store.pending()  # a refused role decides nothing
    assert store.decide(req.user_token, True, "admin")
    _, key = AppKeyStore(tmp_path).poll(req.app_token)  # approved by another process (the CLI)
    assert store.credentials() == [("Home Assistant", key, "admin")]
    assert AppKeyStore(tmp_path).keys()[0].role == "admin"


def test_state_files_without_roles_load_as_user(tmp_path: Path) -> None:
    (tmp_path / "appkeys.json").write_text(json.dumps({"version": 1, "keys": [
        {"app": "Old", "key": "K" * 32, "user": None, "created": 1.0}], "requests": [
        {"app_token": "a", "user_token": "u", "app": "Old2", "user": None, "created": 1e12,
         "api_key": "L" * 32, "decided": 1e12}]}))
    store = AppKeyStore(tmp_path, lambda: 1e12)
    assert store.credentials() == [("Old", "K" * 32, "user")]
    assert store.poll("a") == ("approved", "L" * 32)
    assert ("Old2", "L" * 32, "user") in store.credentials()
