"""The server itself over real HTTP: several printers, per-printer routing, concurrency (a long
`reply` wait does not block other requests) and a clean stop that releases the port."""

from __future__ import annotations

import concurrent.futures
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from mqttprint.rest.server import RestServer
from tests.helpers.rest import ADMIN_KEY, Api, start_gateway, wait_for

pytestmark = pytest.mark.integration

PRINTERS = [{"id": "p1", "port": "sim://marlin"}, {"id": "p2", "name": "Second", "port": "sim://second"}]


@pytest.fixture(scope="module")
def two(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("rest2"), "rest_two", PRINTERS)
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        yield api
    finally:
        api.session.close()
        gateway.stop()


def test_each_printer_has_its_own_prefix(two: Api) -> None:
    two.wait_quiet("p1")
    p1_before = two.executed("p1")
    assert two.post("/printer/p2/api/printer/command", {"command": "M117 second"}).status_code == 204
    wait_for(lambda: "M117 second" in two.executed("p2"), what="M117 on p2")
    assert two.wait_quiet("p1") == p1_before
    assert two.post("/api/printer/command", {"command": "M117 first"}).status_code == 204
    wait_for(lambda: "M117 first" in two.executed("p1"), what="M117 on p1 (the default printer)")
    assert "M117 first" not in two.executed("p2")

    s1 = two.get("/api/settings").json()
    s2 = two.get("/printer/p2/api/settings").json()
    assert s1["plugins"]["discovery"]["upnpUuid"] != s2["plugins"]["discovery"]["upnpUuid"]
    assert (s1["appearance"]["name"], s2["appearance"]["name"]) == ("p1", "Second")
    assert two.get("/printer/p2/api/connection").json()["current"]["port"] == "sim://second"
    assert two.get("/printer/p3/api/printer").status_code == 404


def test_disconnecting_one_printer_leaves_the_other(two: Api) -> None:
    assert two.post("/printer/p2/api/connection", {"command": "disconnect"}).status_code == 204
    two.wait_state("Offline", "p2")
    try:
        assert two.get("/printer/p2/api/printer").status_code == 409
        assert two.get("/api/printer").status_code == 200
    finally:
        assert two.post("/printer/p2/api/connection", {"command": "connect"}).status_code == 204
        two.wait_operational("p2")


def test_a_long_reply_wait_does_not_block_other_requests(two: Api) -> None:
    p1 = two.printer("p1").link.port
    p1.hold_output()  # p1 answers nothing until released: its reply wait lasts as long as this test wants
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            slow = pool.submit(requests.post, two.base + "/api/printer/command",
                               json={"command": "M117 slow", "reply": True}, headers={"X-Api-Key": ADMIN_KEY},
                               timeout=30)
            wait_for(lambda: "M117 slow" in two.executed("p1"), what="the slow command at p1")
            fast = [pool.submit(requests.get, two.base + "/printer/p2/api/printer", headers={"X-Api-Key": ADMIN_KEY},
                                timeout=30) for _ in range(6)]
            assert all(f.result().status_code == 200 for f in fast)
            assert not slow.done()  # answered while the slow request still waits for its reply
            p1.release_output()
            reply = slow.result().json()["replies"][0]
            assert reply["command"] == "M117 slow" and reply["ok"] is True
    finally:
        p1.release_output()


def test_reply_timeout_is_reported_per_command(two: Api) -> None:
    r = two.post("/api/printer/command", {"commands": ["G4 P1500", "M117 after"], "reply": True, "timeout": 0.3})
    assert r.status_code == 200
    replies = r.json()["replies"]
    assert [rep["ok"] for rep in replies] == [False, False]
    assert all("no reply within 0.3 s" in rep["error"] for rep in replies)
    wait_for(lambda: "M117 after" in two.executed("p1"), timeout=5, what="the queued command to run anyway")


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


def test_stop_releases_the_port(broker: Any, tmp_path: Path) -> None:
    gateway, api = start_gateway(broker, tmp_path, "rest_stop")
    try:
        port = api.gateway.rest.port  # type: ignore[union-attr]
        assert api.get("/api/version").status_code == 200
        extra = RestServer(gateway.config, gateway.registry, gateway.printers, gateway.bus)
        extra.start()
        assert extra.port and extra.port != port
        assert requests.get(f"http://127.0.0.1:{extra.port}/api/version", headers={"X-Api-Key": ADMIN_KEY},
                            timeout=5).status_code == 200
        extra.stop()
        extra.stop()  # idempotent
        assert wait_for(lambda: _refused(extra.port), timeout=5, what="the extra server's port to close")
    finally:
        api.session.close()
        gateway.stop()
    assert wait_for(lambda: _refused(port), timeout=5, what="the gateway's REST port to close")
