"""Home Assistant discovery over a real broker: the upgrade from pre-gateway-id configs, and two
gateways with the same printer id staying two devices."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.helpers.mqtt import Watcher, retained_now, running_gateway, unique_base

pytestmark = pytest.mark.integration


def legacy_config(base: str) -> dict[str, Any]:
    """What versions before the gateway identity published for printer p1."""
    return {"dev": {"ids": ["mqttprint_p1"], "name": "p1", "mf": "mqttprint", "mdl": "Marlin"},
            "o": {"name": "mqttprint", "sw": "0.1.0"},
            "avty": [{"t": f"{base}/availability"}, {"t": f"{base}/p1/status", "val_tpl": "{{ 'online' }}"}],
            "avty_mode": "all", "qos": 1,
            "cmps": {"state": {"p": "sensor", "name": "Current State", "uniq_id": "mqttprint_p1_state",
                               "stat_t": f"{base}/p1/status"}}}


def retained(broker: Any, topic: str) -> list[bytes]:
    """The retained payloads a new subscriber gets on `topic` (empty list: none)."""
    return [m.payload for m in retained_now(broker, topic)]


def test_upgrade_retires_the_old_config_before_the_new_one_appears(broker: Any) -> None:
    base, prefix = unique_base(), f"ha{unique_base()}"
    old, new = f"{prefix}/device/mqttprint_p1/config", f"{prefix}/device/mqttprint_gwm_p1/config"
    w = Watcher(broker, [f"{prefix}/#"])
    try:
        w.publish(old, legacy_config(base), retain=True)
        w.wait_for(old)
        with running_gateway(broker, base, operational=False, gateway={"id": "gwm"},
                             homeassistant={"discovery": True, "prefix": prefix}):
            cleared = w.wait_for(old, lambda m: m.payload == b"")
            published = w.wait_for(new, lambda m: bool(m.payload))
            # Home Assistant removes the old entities first, so the new ones get the same entity ids
            assert cleared.at < published.at
            assert published.json()["cmps"]["state"]["def_ent_id"] == "sensor.mqttprint_p1_state"
            assert retained(broker, old) == []
    finally:
        w.publish(new, b"", retain=True)
        w.close()


def test_another_gateways_old_config_is_left_alone(broker: Any) -> None:
    base, other, prefix = unique_base(), unique_base(), f"ha{unique_base()}"
    old = f"{prefix}/device/mqttprint_p1/config"
    w = Watcher(broker, [f"{prefix}/#"])
    try:
        w.publish(old, legacy_config(other), retain=True)
        with running_gateway(broker, base, operational=False, gateway={"id": "gwn"},
                             homeassistant={"discovery": True, "prefix": prefix}):
            w.wait_for(f"{prefix}/device/mqttprint_gwn_p1/config", lambda m: bool(m.payload))
            assert len(retained(broker, old)) == 1
            assert not [m for m in w.messages(old) if m.payload == b""]
    finally:
        w.publish(old, b"", retain=True)
        w.publish(f"{prefix}/device/mqttprint_gwn_p1/config", b"", retain=True)
        w.close()


def test_two_gateways_with_the_same_printer_id_are_two_devices(broker: Any) -> None:
    prefix = f"ha{unique_base()}"
    base_a, base_b = unique_base(), unique_base()
    topic_a, topic_b = f"{prefix}/device/mqttprint_shop_p1/config", f"{prefix}/device/mqttprint_garage_p1/config"
    w = Watcher(broker, [f"{prefix}/#", f"{base_a}/#", f"{base_b}/#"])
    ha = {"discovery": True, "prefix": prefix}
    try:
        with running_gateway(broker, base_b, gateway={"id": "garage"}, homeassistant=ha):
            with running_gateway(broker, base_a, gateway={"id": "shop"}, homeassistant=ha):
                doc_a = w.wait_json(topic_a, lambda d: d["dev"]["mdl"] == "Marlin")
                doc_b = w.wait_json(topic_b, lambda d: d["dev"]["mdl"] == "Marlin")
                assert doc_a["dev"]["ids"] != doc_b["dev"]["ids"]
                assert not ({c["uniq_id"] for c in doc_a["cmps"].values()}
                            & {c["uniq_id"] for c in doc_b["cmps"].values()})
                assert all(a["t"].startswith(f"{base_a}/") for a in doc_a["avty"])
                assert all(a["t"].startswith(f"{base_b}/") for a in doc_b["avty"])
                configs_b = len(w.messages(topic_b))
            # gateway A stopped: its printer is offline, B's stays online and its device untouched
            w.wait_for(f"{base_a}/p1/availability", lambda m: m.payload == b"offline")
            time.sleep(0.3)
            assert w.messages(f"{base_b}/p1/availability")[-1].payload == b"online"
            assert [m for m in w.messages(topic_b)][configs_b:] == []
            assert retained(broker, topic_a)  # A's device stays known to HA, shown unavailable
    finally:
        for topic in (topic_a, topic_b):
            w.publish(topic, b"", retain=True)
        w.close()
