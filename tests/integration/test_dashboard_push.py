"""The dashboard's push channel over real HTTP: streams are bounded and never take the REST API's
threads or connections; a page beyond the bound is told to poll; a closed page's slot comes back;
static files are a fixed list; the state needs a key."""

from __future__ import annotations

import json
import socket
from typing import Any, Iterator

import pytest

from tests.helpers import wait_for
from tests.helpers.rest import ADMIN_KEY, READ_KEY, Api, error_of, start_gateway

pytestmark = pytest.mark.integration

MAX_STREAMS = 4


@pytest.fixture(scope="module")
def push_api(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    # Two REST threads only: if streams used them, the API would be dead after two pages.
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("push"), "dash_push",
                                 [{"id": "p1", "name": "Printer 1", "port": "sim://marlin"}],
                                 rest_extra={"threads": 2, "max_streams": MAX_STREAMS})
    try:
        api.wait_operational()
        yield api
    finally:
        api.session.close()
        gateway.stop()


def address(api: Api) -> tuple[str, int]:
    host, port = api.base.removeprefix("http://").split(":")
    return host, int(port)


def open_stream(api: Api, key: str = ADMIN_KEY) -> tuple[socket.socket, bytes]:
    """A raw HTTP connection reading /web/api/events; returns it and what came first."""
    host, port = address(api)
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"GET /web/api/events HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {key}\r\n\r\n".encode())
    data = b""
    while b"event: printer" not in data and b"\r\n\r\n{" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return sock, data


def test_streams_are_bounded_and_leave_the_api_its_threads_and_connections(push_api: Api) -> None:
    hub = push_api.gateway.rest.services.push
    streams = [open_stream(push_api) for _ in range(MAX_STREAMS)]
    try:
        for _, first in streams:
            assert first.startswith(b"HTTP/1.1 200") and b"text/event-stream" in first
            assert b'"name": "Printer 1"' in first
        assert hub.open_streams == MAX_STREAMS
        # One page too many: a clear 503 telling it to poll, at once.
        extra, answer = open_stream(push_api)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503") and b"/web/api/state" in answer
        # Idle keep-alive connections of those pages (a browser keeps up to 6 each) plus 90 of
        # other clients: together more than waitress's default limit of 100 connections ...
        idle = [socket.create_connection(address(push_api), timeout=10) for _ in range(6 * MAX_STREAMS + 90)]
        try:
            # ... and still the API answers, on its own two threads, several requests in a row.
            for _ in range(5):
                response = push_api.get("/api/printer", timeout=10)
                assert response.status_code == 200, response.text
            state = push_api.get("/web/api/state").json()
            assert [p["id"] for p in state["printers"]] == ["p1"]
        finally:
            for sock in idle:
                sock.close()
    finally:
        for sock, _ in streams:
            sock.close()
    # Closed pages give their slots back (found at the next write: a frame or the heartbeat).
    wait_for(lambda: hub.open_streams == 0, timeout=20, what="stream slots released")
    again, first = open_stream(push_api)
    again.close()
    assert first.startswith(b"HTTP/1.1 200")


def test_state_needs_a_key_and_static_files_are_a_fixed_list(push_api: Api) -> None:
    assert push_api.get("/web/api/state", key=None).status_code == 403
    assert push_api.get("/web/api/events", key=None).status_code == 403
    assert push_api.get("/web/api/state", key=READ_KEY).status_code == 200
    page = push_api.get("/", key=None)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "/web/app.js" in page.text
    assert push_api.get("/web/app.js", key=None).headers["Content-Type"].startswith("text/javascript")
    for bad in ("/web/..%2Fhub.py", "/web/hub.py", "/web/%2e%2e/routes.py", "/web/nothing.js"):
        response = push_api.get(bad, key=None)
        assert response.status_code == 404, bad
        assert json.loads(response.text)["error"]
    assert error_of(push_api.get("/web/hub.py", key=None)) == "No such file: hub.py"
