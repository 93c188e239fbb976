"""A fleet across two bridged brokers (issue 18's done-when): gateway A on the central broker with
printer `a`, gateway B (the real CLI) on a site broker bridged to it (MQTT 5) with printer `b` on
a pty simulator. A's fleet lists `b` live; M114 to `b` from A returns b's position; an emergency
stop from A reaches b's simulator; commands queued while the bridge is down and delivered after
the age limit are not executed; a third gateway claiming `a` is refused and `a` keeps working;
killing B shows `b` unavailable on A within 1.5 x keepalive."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml

from mqttprint.daemon import Gateway
from mqttprint.protocol.states import PrinterState
from mqttprint.sim.config import SimConfig
from mqttprint.sim.pty_link import PtySimulator
from tests.helpers import free_port, wait_for
from tests.helpers.farm import Farm, wait_seconds
from tests.helpers.mqtt import Watcher, gateway_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent
BASE = "farm"
KEY = "k" * 32
KEEPALIVE = 5
MAX_AGE = 2  # mqtt.max_command_age of both gateways, seconds


def fleet_printer(url: str, pid: str, gateway: str) -> Any:
    body = requests.get(f"{url}/api/fleet", headers={"X-Api-Key": KEY}, timeout=5).json()
    return next((p for p in body["printers"] if p["id"] == pid and p["gateway"] == gateway), None)


def start_gateway(broker: Any, gid: str, printer: str, rest_port: int | None = None) -> Gateway:
    rest = ({"enabled": True, "host": "127.0.0.1", "port": rest_port,
             "api_keys": [{"name": "admin", "key": KEY, "role": "admin"}]} if rest_port else {"enabled": False})
    gw = Gateway(gateway_config(broker, BASE, {"keepalive": KEEPALIVE, "max_command_age": MAX_AGE},
                                gateway={"id": gid}, rest=rest, homeassistant={"discovery": False},
                                printers=[{"id": printer, "port": f"sim://{gid}"}]))
    gw.start()
    return gw


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("farm")
    farm = Farm(workdir, topic=f"{BASE}/#")
    sim = PtySimulator(SimConfig(), link=str(workdir / "printer-b"))
    sim.start()
    config = {"gateway": {"id": "gwb"}, "rest": {"enabled": False}, "homeassistant": {"discovery": False},
              "mqtt": {"host": farm.site.host, "port": farm.site.port, "base_topic": BASE, "keepalive": KEEPALIVE,
                       "max_command_age": MAX_AGE},
              "storage": {"dir": str(workdir / "state")}, "printers": [{"id": "b", "port": str(workdir / "printer-b")}]}
    (workdir / "b.yaml").write_text(yaml.safe_dump(config))
    rest_port = free_port()
    a = start_gateway(farm.central, "gwa", "a", rest_port)
    b = None
    try:
        farm.bridged()
        b = subprocess.Popen([sys.executable, "-m", "mqttprint", "run", "--config", str(workdir / "b.yaml")],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{rest_port}"
        wait_for(lambda: (fleet_printer(url, "b", "gwb") or {}).get("available") and
                 ((fleet_printer(url, "b", "gwb") or {}).get("status") or {}).get("state") == "Operational",
                 what="b live in A's fleet")
        yield {"farm": farm, "a": a, "b": b, "sim": sim, "url": url}
    finally:
        if b is not None and b.poll() is None:
            b.kill()
            b.wait(5)
        a.stop()
        sim.stop()
        farm.close()


def sim_lines(sim: PtySimulator) -> list[str]:
    with sim.lock:
        return list(sim.model.executed)


def emergencies(sim: PtySimulator) -> list[str]:
    with sim.lock:
        return list(sim.model.emergency_seen)


def post(url: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}{path}", json=body, headers={"X-Api-Key": KEY}, timeout=30)


def test_1_fleet_lists_both_gateways_and_commands_reach_b(farm: dict[str, Any]) -> None:
    url = farm["url"]
    body = requests.get(f"{url}/api/fleet", headers={"X-Api-Key": KEY}, timeout=5).json()
    gateways = {g["id"]: g for g in body["gateways"]}
    assert gateways["gwa"]["local"] and gateways["gwa"]["available"]
    assert not gateways["gwb"]["local"] and gateways["gwb"]["available"] and gateways["gwb"]["version"]
    b = fleet_printer(url, "b", "gwb")
    assert b["local"] is False and b["conflict"] is False and b["status"]["state"] == "Operational"
    reply = post(url, "/api/fleet/gwb/b/command", {"command": "M114", "reply": True})
    assert reply.status_code == 200, reply.text
    (answer,) = reply.json()["replies"]
    assert answer["ok"] and answer["lines"][0].startswith("X:") and " Z:" in answer["lines"][0]
    assert "M114" in sim_lines(farm["sim"])
    assert post(url, "/api/fleet/gwb/nope/command", {"command": "M114"}).status_code == 404


def test_2_stale_commands_across_a_stalled_bridge_are_not_executed(farm: dict[str, Any]) -> None:
    f, url = farm["farm"], farm["url"]
    w = Watcher(f.central, [f"{BASE}/b/event/CommandRejected"])
    try:
        f.relay.stall()  # the bridge's link stops passing traffic (connections stay up)
        # 1. a raw MQTT request with a `ts`: delivered late, refused by B's age check
        w.publish(f"{BASE}/b/command", {"command": "M118 STALE-TS", "id": "stale-ts", "ts": time.time()})
        # 2. A's fleet request (ts + MQTT 5 message expiry): no reply in time -> 504
        late = post(url, "/api/fleet/gwb/b/command", {"command": "M118 STALE-FLEET", "reply": True, "timeout": 1})
        assert late.status_code == 504, late.text
        wait_seconds(MAX_AGE + 1)  # under the bridge's keepalive timeout: the link stalls, it does not drop
        f.relay.release()  # everything queued in the link arrives now, older than the limit
        refused = w.wait_json(f"{BASE}/b/event/CommandRejected", lambda d: d["id"] == "stale-ts")
        assert "old" in refused["error"] and "max_command_age" in refused["error"]
        # the bridge works: a fresh command runs; none of the stale ones ever did
        assert post(url, "/api/fleet/gwb/b/command", {"command": "M118 FRESH", "reply": True}).status_code == 200
        lines = sim_lines(farm["sim"])
        assert "M118 FRESH" in lines
        assert not any("STALE" in line for line in lines), lines
        assert len([m for m in w.messages(f"{BASE}/b/event/CommandRejected") if "old" in m.json()["error"]]) == 2
    finally:
        f.relay.release()
        w.close()


def test_3_a_second_gateway_claiming_a_is_refused(farm: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    f, url, a = farm["farm"], farm["url"], farm["a"]
    caplog.set_level(logging.ERROR, logger="mqttprint.mqtt.fleet")
    c = start_gateway(f.central, "gwc", "a")
    try:
        wait_for(lambda: c.mqtt.fleet.settled, what="gateway C settled")  # type: ignore[union-attr]
        assert c.mqtt.fleet.conflicts == {"a": "gwa"}  # type: ignore[union-attr]
        assert any("'a'" in r.getMessage() and "gwa" in r.getMessage() and "refuses" in r.getMessage()
                   for r in caplog.records)
        listing = c.registry.dispatch(__import__("mqttprint.runtime.commands", fromlist=["Request"])
                                      .Request("fleet.list", {})).data
        mine = next(p for p in listing["printers"] if p["gateway"] == "gwc")
        assert mine["conflict"] is True and mine["available"] is False
        wait_for(lambda: c.printers["a"].snapshot().state is PrinterState.OPERATIONAL, what="C's printer up")
        # `a` keeps working, and only A's simulator executes what is sent to `a`
        reply = post(url, "/api/fleet/gwa/a/command", {"command": "M118 ONLY-A", "reply": True})
        assert reply.status_code == 200 and reply.json()["replies"][0]["ok"]
        mqtt_reply = post(url, "/api/fleet/gwa/a/command", {"command": "M114", "reply": True})
        assert mqtt_reply.status_code == 200
        port = c.printers["a"].link.port
        with port.lock:
            assert not any("ONLY-A" in line for line in port.model.executed)
        assert fleet_printer(url, "a", "gwa")["conflict"] is False
    finally:
        c.stop()


def test_4_emergency_from_a_reaches_b_then_b_dies(farm: dict[str, Any]) -> None:
    url, sim = farm["url"], farm["sim"]
    assert post(url, "/api/fleet/gwb/b/emergency", {"command": "M112"}).status_code == 204
    wait_for(lambda: emergencies(sim) == ["M112"], what="M112 at b's simulator (its emergency parser)")
    killed = time.monotonic()
    farm["b"].send_signal(signal.SIGKILL)
    farm["b"].wait(10)
    wait_for(lambda: (fleet_printer(url, "b", "gwb") or {}).get("available") is False, 1.5 * KEEPALIVE,
             "b unavailable on A")
    assert time.monotonic() - killed <= 1.5 * KEEPALIVE
    gateways = {g["id"]: g for g in requests.get(f"{url}/api/fleet", headers={"X-Api-Key": KEY}, timeout=5)
                .json()["gateways"]}
    assert gateways["gwb"]["available"] is False
    assert json.dumps(gateways)  # still listed (its retained descriptor), marked unavailable
