"""Safe shipped defaults (issue 12 item 12): the REST server binds 127.0.0.1, and a bind beyond
loopback refuses the documentation's example keys and short keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqttprint.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
DOCS_KEY = "change-me-0123456789abcdef"


def _rest(host: str, key: str) -> dict:
    return {"rest": {"host": host, "api_keys": [{"name": "admin", "key": key, "role": "admin"}]},
            "printers": [{"id": "p1", "port": "sim://marlin"}]}


def test_defaults_listen_on_loopback_only() -> None:
    assert parse_config({}).rest.host == "127.0.0.1"
    shipped = load_config(ROOT / "config.yaml")
    assert shipped.rest.host == "127.0.0.1"
    assert shipped.rest.external_url is None


@pytest.mark.parametrize("host, key, message", [
    ("0.0.0.0", DOCS_KEY, "example key from the documentation"),
    ("192.168.1.20", "a" * 31, "shorter than 32 characters"),
    ("::", "generate-me-with-secrets.token_hex(16)", "example key"),
    ("printer.local", "b" * 20, "shorter than 32"),
])
def test_network_bind_refuses_weak_keys(host: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_rest(host, key))


@pytest.mark.parametrize("host, key", [("127.0.0.1", DOCS_KEY), ("localhost", "c" * 16), ("::1", "d" * 16),
                                       ("0.0.0.0", "e" * 32)])
def test_loopback_or_strong_keys_are_fine(host: str, key: str) -> None:
    assert parse_config(_rest(host, key)).rest.host == host


def test_external_url_must_be_http() -> None:
    ok = parse_config({"rest": {"external_url": "https://farm.example.com/octo/"}})
    assert ok.rest.external_url == "https://farm.example.com/octo/"
    with pytest.raises(ConfigError, match="external_url"):
        parse_config({"rest": {"external_url": "javascript:alert(1)"}})
