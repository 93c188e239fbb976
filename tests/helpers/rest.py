"""REST test helpers: a real Gateway (simulated Marlin behind it, real mosquitto, real waitress
on a free port) and a small HTTP client around `requests`.

Import explicitly: `from tests.helpers.rest import rest_api, Api, ...` (`rest_api` is a fixture).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import requests

from mqttprint.config import parse_config
from mqttprint.daemon import Gateway
from tests.helpers import wait_for

ADMIN_KEY = "A" * 32
USER_KEY = "U" * 32
READ_KEY = "R" * 32
WRONG_KEY = "W" * 32
KEYS = {"admin": ADMIN_KEY, "user": USER_KEY, "read": READ_KEY}


def make_config(broker: Any, tmp_path: Path, base_topic: str, printers: Optional[list[dict[str, Any]]] = None,
                **sections: Any) -> Any:
    """The test gateway's config; `sections` adds top-level sections (e.g. `system`) and
    `rest_extra` extra `rest` keys (e.g. `{"max_upload_mb": 1}`)."""
    rest = {"host": "127.0.0.1", "port": 0, "threads": 8, "api_keys": [
        {"name": "admin", "key": ADMIN_KEY, "role": "admin"},
        {"name": "operator", "key": USER_KEY, "role": "user"},
        {"name": "viewer", "key": READ_KEY, "role": "read"},
    ]}
    rest.update(sections.pop("rest_extra", None) or {})
    return parse_config({
        "mqtt": {"host": broker.host, "port": broker.port, "base_topic": base_topic},
        "rest": rest,
        "homeassistant": {"discovery": False},
        "storage": {"dir": str(tmp_path)},
        "printers": printers or [{"id": "p1", "port": "sim://marlin"}],
        **sections,
    })


@dataclass
class Api:
    """HTTP against the gateway. `call(method, path, key=..., **requests_kwargs)`."""

    base: str
    gateway: Gateway
    session: requests.Session

    def call(self, method: str, path: str, key: Optional[str] = ADMIN_KEY, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("X-Api-Key", key)
        return self.session.request(method, self.base + path, headers=headers, timeout=kwargs.pop("timeout", 15),
                                    **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self.call("POST", path, **kwargs)

    def printer(self, printer_id: str = "p1") -> Any:
        return self.gateway.printers[printer_id]

    def model(self, printer_id: str = "p1") -> Any:
        """The simulator model behind a printer (only while its port is open)."""
        return self.printer(printer_id).link.port.model

    def executed(self, printer_id: str = "p1") -> list[str]:
        port = self.printer(printer_id).link.port
        with port.lock:
            return list(port.model.executed)

    def state(self, printer_id: str = "p1") -> str:
        return str(self.printer(printer_id).snapshot().state_text)

    def wait_state(self, text: str, printer_id: str = "p1", timeout: float = 20.0) -> None:
        wait_for(lambda: self.state(printer_id) == text, timeout, what=f"{printer_id} state {text!r} "
                                                                       f"(is {self.state(printer_id)!r})")

    def wait_operational(self, printer_id: str = "p1") -> None:
        self.wait_state("Operational", printer_id)

    def wait_quiet(self, printer_id: str = "p1", settle: float = 0.15) -> list[str]:
        """Wait until the simulator's executed list stops growing for `settle` seconds."""
        last = self.executed(printer_id)
        deadline = time.monotonic() + 10
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.executed(printer_id)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= settle:
                break
        return last


def error_of(response: requests.Response) -> str:
    """The `{"error": ...}` text of a JSON error answer (asserts the shape)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return str(body["error"])


def start_gateway(broker: Any, tmp_path: Path, base_topic: str,
                  printers: Optional[list[dict[str, Any]]] = None, **sections: Any) -> tuple[Gateway, Api]:
    gateway = Gateway(make_config(broker, tmp_path, base_topic, printers, **sections))
    gateway.start()
    assert gateway.rest is not None
    api = Api(f"http://127.0.0.1:{gateway.rest.port}", gateway, requests.Session())  # type: ignore[attr-defined]
    return gateway, api


@pytest.fixture(scope="module")
def rest_api(broker: Any, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Api]:
    """One gateway per test module (start-up costs a handshake); tests must leave the printer
    Operational. The base topic is unique per module so retained messages never mix."""
    tmp = tmp_path_factory.mktemp("rest")
    topic = "rest_" + request.module.__name__.rsplit(".", 1)[-1]
    gateway, api = start_gateway(broker, tmp, topic)
    try:
        api.wait_operational()
        # Tests read temperatures (bed/tool endpoints): ask for a report instead of waiting for
        # the 2 s auto-report.
        api.post("/api/printer/command", {"command": "M105"})
        wait_for(lambda: api.printer().snapshot().temperatures, what="a temperature report")
        yield api
    finally:
        api.session.close()
        gateway.stop()


def ensure_operational(api: Api, printer_id: str = "p1") -> None:
    """Bring the printer back (after an emergency stop or disconnect) through the REST API."""
    if api.state(printer_id) != "Operational":
        prefix = "" if printer_id == "p1" else f"/printer/{printer_id}"
        response = api.post(f"{prefix}/api/connection", {"command": "connect"})
        assert response.status_code == 204, response.text
        api.wait_operational(printer_id)
