"""The fleet on one broker, MQTT 3.1.1 (no Response Topic: replies are matched by id on B/reply):
gateway X commands and stops gateway Y's printer through the broker only."""

from __future__ import annotations

from typing import Any

import pytest

from mqttprint.daemon import Gateway
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.commands import Request
from tests.helpers import wait_for
from tests.helpers.mqtt import gateway_config, model, unique_base

pytestmark = pytest.mark.integration


def start(broker: Any, base: str, gid: str, pid: str) -> Gateway:
    gw = Gateway(gateway_config(broker, base, {"protocol": "3.1.1"}, gateway={"id": gid},
                                homeassistant={"discovery": False}, printers=[{"id": pid, "port": f"sim://{gid}"}]))
    gw.start()
    wait_for(lambda: gw.printers[pid].snapshot().state is PrinterState.OPERATIONAL, what=f"{pid} Operational")
    return gw


def test_remote_command_and_emergency_over_mqtt_311(broker: Any) -> None:
    base = unique_base()
    y = start(broker, base, "gwy", "y")
    x = start(broker, base, "gwx", "x")
    try:
        def listing() -> Any:
            return x.registry.dispatch(Request("fleet.list", {})).data

        wait_for(lambda: any(p["id"] == "y" and p["available"] and (p["status"] or {}).get("state") == "Operational"
                             for p in listing()["printers"]), what="y live in X's fleet")
        args = {"gateway": "gwy", "printer": "y", "commands": ["M114"], "reply": True, "timeout": 10}
        (reply,) = x.registry.dispatch(Request("fleet.command", args)).data["replies"]
        assert reply["ok"] and reply["lines"][0].startswith("X:")
        x.registry.dispatch(Request("fleet.emergency", {"gateway": "gwy", "printer": "y", "command": "M410"}))
        wait_for(lambda: model(y, "y").emergency_seen == ["M410"], what="M410 at y's simulator")
        assert model(x, "x").emergency_seen == []
    finally:
        x.stop()
        y.stop()
