"""`mqtt.host: auto`: use the broker on 127.0.0.1 when one answers, else start an embedded one.

A broker "answers" when it accepts an MQTT 3.1.1 CONNECT on 127.0.0.1:`mqtt.port` (a bare TCP
accept is not enough: the port may belong to something else). The choice is made once, at
start-up, and logged; an external broker that appears later is not switched to (restart the
gateway). The embedded broker speaks MQTT 3.1.1 only, so the gateway then uses 3.1.1.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import Optional

from mqttprint.config import MqttConfig

log = logging.getLogger(__name__)

AUTO = "auto"
LOOPBACK = "127.0.0.1"
#: A clean-session MQTT 3.1.1 CONNECT, keepalive 5 s, client id "mqttprint-probe".
_PROBE_CONNECT = b"\x10\x1b\x00\x04MQTT\x04\x02\x00\x05\x00\x0fmqttprint-probe"
_DISCONNECT = b"\xe0\x00"
_CONNACK = 0x20
_MQTT_311 = 4


def broker_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when an MQTT broker on host:port answers a CONNECT with a CONNACK (any return code:
    a broker that refuses anonymous clients is still a broker)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_PROBE_CONNECT)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            if reply[0] == _CONNACK and reply[3] == 0:
                sock.sendall(_DISCONNECT)
            return reply[0] == _CONNACK and reply[1] == 2
    except OSError:
        return False


def choose_broker(mqtt: MqttConfig) -> tuple[MqttConfig, Optional[object]]:
    """Resolve `mqtt.host: auto`. Returns the settings to connect with and the embedded broker
    this started (None when a broker already answers, or when the host is not `auto`).
    Raises `EmbeddedBrokerError` (an OSError) when the embedded broker cannot start."""
    if mqtt.host != AUTO:
        return mqtt, None
    if broker_answers(LOOPBACK, mqtt.port):
        log.info("mqtt.host is auto: using the MQTT broker that answers on %s:%d", LOOPBACK, mqtt.port)
        return dataclasses.replace(mqtt, host=LOOPBACK), None
    from mqttprint.mqtt.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker(LOOPBACK, mqtt.port)
    broker.start()
    log.warning("mqtt.host is auto and no MQTT broker answers on %s:%d: started the embedded broker there "
                "(MQTT 3.1.1, anonymous, loopback only; for production point mqtt.host at a real broker)",
                LOOPBACK, mqtt.port)
    return dataclasses.replace(mqtt, host=LOOPBACK, protocol=_MQTT_311), broker
