"""System commands over real HTTP: what the listing shows, what runs (and, above all, what does
not), sync/async/ignore/failing commands, dividers, unknown commands, permissions, smuggling.

Every configured command only creates a marker file in this module's `ran/` directory, so each
test proves exactly which commands ran by listing that directory.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers.rest import READ_KEY, USER_KEY, WRONG_KEY, Api, error_of, start_gateway, wait_for

pytestmark = pytest.mark.integration

BASE = "/api/system/commands"


def system_config(ran: Path) -> dict[str, Any]:
    """Core shutdown/restart (reboot left unset: it must not be listed) and custom actions."""
    return {
        "commands": {"shutdown": f"touch {ran}/core-shutdown", "restart": f"touch {ran}/core-restart"},
        "actions": [
            {"action": "sync", "name": "Sync marker", "command": f"touch {ran}/sync", "confirm": "Really?"},
            {"action": "divider"},
            {"action": "slow", "name": "Async marker", "async": True,
             "command": f"sh -c 'sleep 0.5; touch {ran}/slow'"},
            {"action": "fail", "name": "Failing",
             "command": "sh -c 'echo out-marker; echo err-marker >&2; exit 3'"},
            {"action": "ignored", "name": "Ignored failure", "ignore": True,
             "command": f"sh -c 'touch {ran}/ignored; exit 4'"},
        ],
    }


@pytest.fixture(scope="module")
def sys_api(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("rest_system")
    ran = tmp / "ran"
    ran.mkdir()
    gateway, api = start_gateway(broker, tmp, "rest_system", system=system_config(ran))
    api.ran = ran  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        api.session.close()
        gateway.stop()


def ran(api: Api) -> set[str]:
    return {p.name for p in api.ran.iterdir()}  # type: ignore[attr-defined]


def clear(api: Api) -> None:
    for path in api.ran.iterdir():  # type: ignore[attr-defined]
        path.unlink()


def raw(api: Api, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, str]:
    """A request whose path goes out byte for byte (requests/urllib3 would normalise `..`)."""
    host, port = api.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers={"X-Api-Key": "A" * 32, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_listing_shape(sys_api: Api) -> None:
    r = sys_api.get(BASE)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"core", "custom", "plugin"} and body["plugin"] == []
    assert [(c["action"], c["name"]) for c in body["core"]] == [("shutdown", "Shutdown system"),
                                                                 ("restart", "Restart OctoPrint")]
    shutdown, restart = body["core"]
    assert shutdown["fresh_credentials"] is True and "fresh_credentials" not in restart
    assert shutdown["confirm"].startswith("<strong>You are about to shutdown the system.</strong>")
    assert shutdown["resource"] == f"{BASE}/core/shutdown"
    assert [c["action"] for c in body["custom"]] == ["sync", "divider", "slow", "fail", "ignored"]
    sync, divider = body["custom"][:2]
    assert sync == {"action": "sync", "source": "custom", "name": "Sync marker", "confirm": "Really?",
                    "resource": f"{BASE}/custom/sync"}
    assert divider == {"action": "divider", "source": "custom", "resource": f"{BASE}/custom/divider"}
    text = r.text
    for secret in ("touch", "sh -c", '"command"', '"async"', '"ignore"', "err-marker"):
        assert secret not in text, f"{secret!r} leaked into the listing"
    assert sys_api.get(f"{BASE}/custom").json() == body["custom"]
    assert sys_api.get(f"{BASE}/core").json() == body["core"]
    assert sys_api.get(f"{BASE}/plugin").json() == []
    assert ran(sys_api) == set()


def test_resource_urls_follow_the_prefix_never_the_host_header(sys_api: Api) -> None:
    """Issue 12 item 11: a forged Host header must not end up in the URLs the gateway hands out."""
    status, text = raw(sys_api, "GET", BASE, headers={"Host": "evil.example:5000"})
    assert status == 200 and "evil.example" not in text
    assert json.loads(text)["core"][0]["resource"] == "/api/system/commands/core/shutdown"
    prefixed = sys_api.get(f"/printer/p1{BASE}/custom").json()[0]["resource"]
    assert prefixed == f"/printer/p1{BASE}/custom/sync"


def test_sync_command_runs_once(sys_api: Api) -> None:
    clear(sys_api)
    r = sys_api.post(f"{BASE}/custom/sync")
    assert r.status_code == 204 and r.text == "" and r.headers["Content-Type"].startswith("text/plain")
    assert ran(sys_api) == {"sync"}  # synchronous: done when the answer arrives


def test_async_command_answers_first(sys_api: Api) -> None:
    clear(sys_api)
    assert sys_api.post(f"{BASE}/custom/slow").status_code == 204
    assert ran(sys_api) == set()  # still sleeping
    wait_for(lambda: ran(sys_api) == {"slow"}, timeout=5, what="the async command's marker")


def test_core_commands_run_async(sys_api: Api) -> None:
    clear(sys_api)
    assert sys_api.post(f"{BASE}/core/restart").status_code == 204
    wait_for(lambda: ran(sys_api) == {"core-restart"}, timeout=5, what="core restart marker")
    r = sys_api.post(f"{BASE}/core/reboot")  # not configured: not offered, not runnable
    assert r.status_code == 404 and "core:reboot" in error_of(r)
    assert sys_api.post(f"{BASE}/core/restart_safe").status_code == 404
    assert ran(sys_api) == {"core-restart"}


def test_failing_sync_command_is_500_with_its_output(sys_api: Api) -> None:
    r = sys_api.post(f"{BASE}/custom/fail")
    assert r.status_code == 500
    message = error_of(r)
    assert message.startswith("Command for custom:fail failed with return code 3")
    assert "STDOUT:\nout-marker" in message and "STDERR:\nerr-marker" in message


def test_ignored_failure_is_204(sys_api: Api) -> None:
    clear(sys_api)
    assert sys_api.post(f"{BASE}/custom/ignored").status_code == 204
    assert ran(sys_api) == {"ignored"}


@pytest.mark.parametrize("path, status, message", [
    (f"{BASE}/custom/divider", 400, "Dividers cannot be executed"),
    (f"{BASE}/core/divider", 400, "Dividers cannot be executed"),
    (f"{BASE}/custom/nope", 404, "no system command custom:nope"),
    (f"{BASE}/bogus/sync", 404, "no system command bogus:sync"),
    (f"{BASE}/plugin/sync", 404, "no system command plugin:sync"),
    (f"{BASE}/CUSTOM/sync", 404, "no system command CUSTOM:sync"),
    (f"{BASE}/custom/SYNC", 404, "no system command custom:SYNC"),
])
def test_divider_and_unknown(sys_api: Api, path: str, status: int, message: str) -> None:
    clear(sys_api)
    r = sys_api.post(path)
    assert (r.status_code, error_of(r)) == (status, message)
    assert ran(sys_api) == set()


def test_unknown_source_listing_is_404(sys_api: Api) -> None:
    assert sys_api.get(f"{BASE}/bogus").status_code == 404
    assert sys_api.get(f"{BASE}/core/shutdown").status_code == 405  # GET on an action
    assert sys_api.call("DELETE", f"{BASE}/custom/sync").status_code == 405


@pytest.mark.parametrize("key", [None, WRONG_KEY, READ_KEY, USER_KEY], ids=["none", "wrong", "read", "user"])
def test_only_admins(sys_api: Api, key: str | None) -> None:
    clear(sys_api)
    for method, path in (("GET", BASE), ("GET", f"{BASE}/custom"), ("POST", f"{BASE}/custom/sync"),
                         ("POST", f"{BASE}/core/shutdown"), ("POST", f"{BASE}/custom/divider"),
                         ("POST", f"{BASE}/custom/nope")):
        r = sys_api.call(method, path, key=key)
        assert r.status_code == 403, f"{method} {path}: {r.status_code}"
        assert error_of(r).startswith("You don't have the permission")
        r = sys_api.call(method, f"/printer/p1{path}", key=key)
        assert r.status_code == 403
    r = sys_api.call("POST", f"{BASE}/custom/sync", key=None, params={"apikey": "not-a-key"})
    assert r.status_code == 403
    assert ran(sys_api) == set()


SMUGGLED_PATHS = [
    f"{BASE}/custom/sync;touch%20evil",
    f"{BASE}/custom/sync%3Btouch%20evil",
    f"{BASE}/custom/sync%20&&%20touch%20evil",
    f"{BASE}/custom/sync%0Atouch%20evil",
    f"{BASE}/custom/sync%00",
    f"{BASE}/custom/..%2Fcore%2Fshutdown",
    f"{BASE}/custom/%2e%2e/core/shutdown",
    f"{BASE}/custom/../core/shutdown",
    f"{BASE}/custom/sync/..",
    f"{BASE}/custom/$(touch%20evil)",
    f"{BASE}/custom/`touch%20evil`",
    f"{BASE}/custom%2Fsync%2F..%2F..%2Fcore%2Fshutdown",
]


@pytest.mark.parametrize("path", SMUGGLED_PATHS)
def test_smuggled_paths_run_nothing(sys_api: Api, path: str) -> None:
    clear(sys_api)
    status, text = raw(sys_api, "POST", path)
    assert status in (400, 404), (status, text)
    assert "error" in json.loads(text)
    assert ran(sys_api) == set()


def test_encoded_slash_is_just_a_slash(sys_api: Api) -> None:
    """The server decodes %2F before routing: `custom%2Fsync` is `custom/sync`, nothing else."""
    clear(sys_api)
    assert raw(sys_api, "POST", f"{BASE}/custom%2Fsync")[0] == 204
    assert ran(sys_api) == {"sync"}


def test_query_and_body_cannot_change_what_runs(sys_api: Api) -> None:
    clear(sys_api)
    evil = f"touch {sys_api.ran}/evil"  # type: ignore[attr-defined]
    r = sys_api.post(f"{BASE}/custom/sync", {"command": evil, "source": "core", "action": "shutdown",
                                              "async": True, "shell": True},
                     params={"command": evil, "action": "fail", "source": "core"})
    assert r.status_code == 204
    r = sys_api.call("POST", f"{BASE}/custom/sync", data={"command": evil, "action": "shutdown"})
    assert r.status_code == 204
    r = sys_api.call("POST", f"{BASE}/custom/sync", data=b"\x00\xff not json",
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 204  # the body is never read
    assert ran(sys_api) == {"sync"}
    listing = sys_api.get(BASE, params={"command": evil}).json()
    assert "evil" not in json.dumps(listing)
    assert ran(sys_api) == {"sync"}
