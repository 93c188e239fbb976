"""Config sections of the second round: gateway identity, metrics, MTConnect, per-printer webcams."""

from __future__ import annotations

import pytest

from mqttprint.config import ConfigError, parse_config
from mqttprint.config_schema import default_gateway_id


def test_defaults_when_sections_are_absent() -> None:
    config = parse_config({})
    assert config.gateway.id == default_gateway_id()
    assert config.metrics.enabled is True and config.metrics.require_key is False
    assert (config.mtconnect.enabled, config.mtconnect.host, config.mtconnect.port) == (False, "0.0.0.0", 7878)
    assert config.printers[0].webcam.configured is False


@pytest.mark.parametrize("hostname, expected", [
    ("Octo-Pi.local", "octo-pi"), ("RACK 3", "rack-3"), ("***", "gateway"), ("farm_01", "farm_01"),
])
def test_gateway_id_from_host_name(hostname: str, expected: str) -> None:
    assert default_gateway_id(hostname) == expected


def test_sections_are_read() -> None:
    config = parse_config({
        "gateway": {"id": "rack-1"},
        "metrics": {"enabled": False, "require_key": True},
        "mtconnect": {"enabled": True, "port": 17878},
        "printers": [{"id": "p", "port": "sim://marlin", "webcam": {
            "stream_url": "http://cam/stream", "snapshot_url": "http://cam/snap", "rotate_90": True, "mqtt_interval": 5}}],
    })
    assert config.gateway.id == "rack-1"
    assert (config.metrics.enabled, config.metrics.require_key) == (False, True)
    assert (config.mtconnect.enabled, config.mtconnect.port) == (True, 17878)
    cam = config.printers[0].webcam
    assert cam.configured and cam.rotate_90 and cam.mqtt_interval == 5.0 and cam.stream_url == "http://cam/stream"


def test_every_problem_of_the_new_sections_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({
            "gateway": {"id": "Rack 1", "name": "x"},
            "metrics": {"enabled": "yes"},
            "mtconnect": {"port": 70000},
            "printers": [{"id": "p", "port": "sim://marlin",
                          "webcam": {"stream_url": "ftp://cam", "mqtt_interval": 3, "zoom": 2}}],
        })
    text = "\n".join(caught.value.problems)
    for needle in ("gateway.id", "gateway.name: unknown key", "metrics.enabled", "mtconnect.port",
                   "printers[0].webcam.stream_url", "printers[0].webcam.zoom: unknown key",
                   "printers[0].webcam.mqtt_interval: needs snapshot_url"):
        assert needle in text, (needle, text)
