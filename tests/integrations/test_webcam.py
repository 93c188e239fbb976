"""Webcams over real HTTP and MQTT, with a local HTTP server standing in for the camera (it serves
a real JPEG): the `/api/settings` webcam block as Home Assistant's OctoPrint client library
(pyoctoprintapi) reads it, the API-key-protected snapshot proxy, and JPEGs on `B/camera`."""

from __future__ import annotations

import asyncio
import http.server
import threading
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
from pyoctoprintapi import OctoprintClient

from tests.helpers.mqtt import Watcher
from tests.helpers.rest import ADMIN_KEY, READ_KEY, Api, error_of, start_gateway

pytestmark = pytest.mark.integration

JPEG = (Path(__file__).parent / "data" / "camera.jpg").read_bytes()


class Camera(http.server.BaseHTTPRequestHandler):
    """`/snapshot.jpg` (a JPEG), `/stream` (never read here), `/text` (not an image), else 404."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Camera.hits.append(self.path)
        if self.path == "/snapshot.jpg":
            self._answer(200, "image/jpeg", JPEG)
        elif self.path == "/text":
            self._answer(200, "text/plain", b"hello")
        else:
            self._answer(404, "text/plain", b"no such camera")

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def camera() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cams(broker: Any, camera: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    printers = [
        {"id": "p1", "name": "With camera", "port": "sim://marlin",
         "webcam": {"stream_url": f"{camera}/stream", "snapshot_url": f"{camera}/snapshot.jpg", "flip_h": True,
                    "rotate_90": True, "mqtt_interval": 0.2}},
        {"id": "p2", "port": "sim://two"},
        {"id": "p3", "port": "sim://three", "webcam": {"snapshot_url": f"{camera}/text"}},
        {"id": "p4", "port": "sim://four", "webcam": {"snapshot_url": f"{camera}/gone.jpg"}},
    ]
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("cam"), "webcam_test", printers)
    try:
        yield api
    finally:
        api.session.close()
        gateway.stop()


def webcam_info(api: Api, path: str) -> Any:
    """What Home Assistant's OctoPrint integration does: pyoctoprintapi's get_webcam_info()."""

    async def read() -> Any:
        async with aiohttp.ClientSession() as session:
            client = OctoprintClient("127.0.0.1", session, port=api.gateway.rest.port, path=path)  # type: ignore[attr-defined]
            client.set_api_key(ADMIN_KEY)
            return await client.get_webcam_info()

    return asyncio.run(read())


def test_home_assistant_reads_the_webcam_settings(cams: Api, camera: str) -> None:
    info = webcam_info(cams, "/")
    assert info is not None and info.enabled is True
    assert info.stream_url == f"{camera}/stream"
    assert info.internal_snapshot_url == f"{camera}/snapshot.jpg"
    assert info.external_snapshot_url == f"{camera}/stream?action=snapshot"  # HA's mjpg-streamer guess
    assert (info.flip_horizontal, info.flip_vertical, info.rotate_90) == (True, False, True)
    assert info.snapshot_ssl_validation_enabled is True
    # the same through the per-printer prefix, and a printer without a camera: disabled, every key there
    assert webcam_info(cams, "/printer/p1/").stream_url == f"{camera}/stream"
    none = webcam_info(cams, "/printer/p2/")
    assert none.enabled is False and none.bitrate == "" and none.flip_horizontal is False
    block = cams.get("/printer/p1/api/settings").json()["webcam"]
    assert block["webcams"][0]["compat"]["snapshot"] == f"{camera}/snapshot.jpg" and block["defaultWebcam"] == "mqttprint"


def test_snapshot_proxy_needs_a_key_and_returns_the_jpeg(cams: Api) -> None:
    for path in ("/api/printer/webcam/snapshot", "/printer/p1/api/printer/webcam/snapshot"):
        response = cams.get(path, key=READ_KEY)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "image/jpeg" and response.content == JPEG
    response = cams.get("/api/printer/webcam/snapshot", key=None)
    assert response.status_code == 403 and error_of(response)
    assert cams.get("/api/printer/webcam/snapshot", params={"apikey": READ_KEY}, key=None).content == JPEG


def test_snapshot_proxy_errors_are_json_never_500(cams: Api) -> None:
    missing = cams.get("/printer/p2/api/printer/webcam/snapshot")
    assert missing.status_code == 404 and "snapshot_url" in error_of(missing)
    not_image = cams.get("/printer/p3/api/printer/webcam/snapshot")
    assert not_image.status_code == 502 and "not an image" in error_of(not_image)
    gone = cams.get("/printer/p4/api/printer/webcam/snapshot")
    assert gone.status_code == 502 and "HTTP 404" in error_of(gone)
    unknown = cams.get("/printer/nope/api/printer/webcam/snapshot")
    assert unknown.status_code == 404 and error_of(unknown)


def test_jpeg_snapshots_on_b_camera(cams: Api, broker: Any) -> None:
    watcher = Watcher(broker, ["webcam_test/+/camera"])
    try:
        first = watcher.wait_for("webcam_test/p1/camera")
        assert first.payload == JPEG and first.retain is False
        second = watcher.wait_for("webcam_test/p1/camera", after=1)  # every mqtt_interval, not once
        assert second.payload == JPEG and second.at > first.at
        # p3/p4 have no mqtt_interval: nothing for them
        assert {m.topic for m in watcher.messages()} == {"webcam_test/p1/camera"}
    finally:
        watcher.close()
