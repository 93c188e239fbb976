"""`mqtt.host: auto`: the broker that answers on 127.0.0.1 is used; otherwise an embedded amqtt
broker starts in-process and the gateway works fully over MQTT 3.1.1 against it."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import pytest

from mqttprint.config import ConfigError, parse_config
from mqttprint.daemon import Gateway
from mqttprint.mqtt.broker_auto import broker_answers
from mqttprint.mqtt.embedded_broker import EmbeddedBroker, EmbeddedBrokerError
from tests.helpers import free_port, wait_for
from tests.helpers.mqtt import Watcher, gateway_config, running_gateway, unique_base

pytestmark = pytest.mark.integration


def test_broker_answers_only_for_a_real_broker(broker: Any) -> None:
    assert broker_answers(broker.host, broker.port)
    assert not broker_answers("127.0.0.1", free_port())  # nothing listens
    with socket.socket() as silent:  # something listens, but it is not MQTT
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not broker_answers("127.0.0.1", silent.getsockname()[1], timeout=0.5)


def test_auto_uses_the_broker_that_answers(broker: Any) -> None:
    base = unique_base()
    with running_gateway(SimpleNamespace(host="auto", port=broker.port), base) as gw:
        assert gw.embedded_broker is None
        assert gw.config.mqtt.host == "127.0.0.1" and gw.config.mqtt.protocol == 5  # as configured
        w = Watcher(broker, [f"{base}/p1/status"])
        try:
            assert w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Operational")
        finally:
            w.close()


def test_auto_starts_an_embedded_broker_and_everything_works_over_311() -> None:
    embedded = SimpleNamespace(host="127.0.0.1", port=free_port())
    base = unique_base()
    with running_gateway(SimpleNamespace(host="auto", port=embedded.port), base,
                         homeassistant={"discovery": True, "prefix": f"{base}-ha"}) as gw:
        assert isinstance(gw.embedded_broker, EmbeddedBroker)
        assert gw.config.mqtt.protocol == 4  # amqtt speaks MQTT 3.1.1 only
        w = Watcher(embedded, [f"{base}/#", f"{base}-ha/#"], protocol=4)
        try:
            w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Operational")
            late = Watcher(embedded, [f"{base}/p1/status", f"{base}/p1/availability"], protocol=4)
            try:  # retained state reaches a client that subscribes after it was published
                assert late.wait_for(f"{base}/p1/status", lambda m: b"Operational" in m.payload).retain
                assert late.wait_for(f"{base}/p1/availability", lambda m: m.payload == b"online").retain
            finally:
                late.close()
            assert w.wait_json(f"{base}/p1/firmware")["name"].startswith("Marlin")
            # Home Assistant discovery, with its availability topic
            discovery = wait_for(lambda: [m for m in w.messages() if m.topic.startswith(f"{base}-ha/")
                                          and m.topic.endswith("/config") and m.payload], what="discovery")
            assert f'"{base}/' in discovery[0].payload.decode() and "/availability" in discovery[0].payload.decode()
            # request/response over 3.1.1: the reply goes to B/reply with the request's id
            w.publish(f"{base}/p1/command", {"command": "M114", "id": "where"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "where")
            assert reply["ok"] is True and reply["lines"][0].startswith("X:")
            # a bad request gets a precise error on B/reply
            w.publish(f"{base}/p1/command", {"command": "G1 X1\u0000", "id": "bad"})
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "bad")["ok"] is False
            # the emergency stop reaches the firmware
            w.publish(f"{base}/p1/emergency", "M112")
            w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Error")
        finally:
            w.close()
    assert not broker_answers(embedded.host, embedded.port)  # stopped with the gateway


def test_auto_fails_clearly_when_the_port_is_taken_by_something_else() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        gw = Gateway(gateway_config(SimpleNamespace(host="auto", port=squatter.getsockname()[1]), unique_base()))
        try:
            with pytest.raises(EmbeddedBrokerError, match="cannot listen"):
                gw.start()
        finally:
            gw.stop()


def test_auto_with_tls_is_a_config_error(tmp_path: Any) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here")
    with pytest.raises(ConfigError) as error:
        parse_config({"mqtt": {"host": "auto", "tls": {"enabled": True, "ca_file": str(ca)}},
                      "printers": [{"id": "p1", "port": "sim://marlin"}]})
    assert "mqtt.host" in str(error.value.report("x.yaml"))
