"""The MTConnect SHDR adapter over real TCP, read by an independent SHDR client (shdr_client.py):
snapshot on connect, changes, PING/PONG, conditions, several agents, a slow agent, an agent that
drops mid-stream, and the shipped Devices.xml matching the keys."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from mqttprint.integrations.mtconnect_devices import devices_xml
from tests.helpers import wait_for
from tests.helpers.rest import Api, start_gateway
from tests.integrations.shdr_client import ConditionValue, ShdrAgent, ShdrError, read_devices

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRINTERS = [{"id": "p1", "name": "First", "port": "sim://marlin"}, {"id": "p2", "name": "Second", "port": "sim://two"}]
DEVICES = read_devices(devices_xml([("p1", "First"), ("p2", "Second")]))


@pytest.fixture(scope="module")
def farm(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("mtc"), "mtconnect_test", PRINTERS,
                                 mtconnect={"enabled": True, "host": "127.0.0.1", "port": 0})
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        yield api
    finally:
        api.session.close()
        gateway.stop()


def agent_for(api: Api) -> ShdrAgent:
    return ShdrAgent.connect("127.0.0.1", api.gateway.mtconnect.port, DEVICES)  # type: ignore[attr-defined]


def available(agent: ShdrAgent) -> bool:
    return agent.value("p1", "avail") == "AVAILABLE" and agent.value("p2", "avail") == "AVAILABLE"


def test_shipped_devices_xml_matches_the_adapter_and_config_yaml() -> None:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    expected = devices_xml((p["id"], p.get("name", p["id"])) for p in config["printers"])
    assert (ROOT / "docs" / "mtconnect" / "Devices.xml").read_text() == expected
    assert "Devices.xml" in (ROOT / "docs" / "mtconnect" / "agent.cfg").read_text()


def test_snapshot_on_connect_and_pong(farm: Api) -> None:
    agent = agent_for(farm)
    try:
        agent.wait(available, what="both printers AVAILABLE")
        for device in ("p1", "p2"):
            # the snapshot carries every data item of every device
            assert {name for (d, name) in agent.state if d == device} == {
                name for name in DEVICES[device] if not name.startswith(device + "_")}
            assert agent.value(device, "exec") == "READY"
            assert agent.value(device, "estop") == "ARMED"
            assert agent.value(device, "mode") == "MANUAL"
            assert agent.value(device, "system") == ConditionValue("NORMAL", "", "", "", "")
        agent.send("* PING\r\n")
        agent.wait(lambda a: a.pongs, what="* PONG")
        assert agent.pongs == [10000]
        # (agents of earlier tests may still be closing: wait for the adapter to notice)
        wait_for(lambda: "mqttprint_mtconnect_agents 1.0" in farm.get("/metrics", key=None).text.splitlines(),
                 what="the agents gauge at 1", interval=0.05)
    finally:
        agent.close()


def test_changes_reach_several_agents(farm: Api) -> None:
    agents = [agent_for(farm) for _ in range(3)]
    try:
        for agent in agents:
            agent.wait(available, what="snapshot")
        handles = farm.printer("p2").submit("G28\nG1 X12.5 Y7 Z3 F6000\nM400\nM114")
        handles[-1].result(15)
        for agent in agents:
            agent.wait(lambda a: a.value("p2", "Xact") == "12.500" and a.value("p2", "Zact") == "3.000",
                       what="the p2 position")
            assert agent.value("p2", "Yact") == "7.000"
        farm.printer("p1").submit("M105")
        agents[0].wait(lambda a: a.value("p1", "tool0_temp") not in (None, "UNAVAILABLE"), what="a temperature")
        first = agents[0].value("p1", "tool0_temp")
        assert farm.post("/printer/p1/api/printer/tool", {"command": "target", "targets": {"tool0": 60}}).status_code == 204
        for agent in agents:
            agent.wait(lambda a: a.value("p1", "tool0_temp") not in (None, "UNAVAILABLE", first), timeout=20,
                       what="the tool heating up")
            assert float(agent.value("p1", "tool0_temp")) > float(first)  # type: ignore[arg-type]
    finally:
        for agent in agents:
            agent.close()
        farm.printer("p1").submit("M104 S0")


def test_emergency_stop_is_a_triggered_estop_and_a_fault(farm: Api) -> None:
    agent = agent_for(farm)
    try:
        agent.wait(available, what="snapshot")
        farm.printer("p1").emergency("M112")
        agent.wait(lambda a: a.value("p1", "estop") == "TRIGGERED", what="estop TRIGGERED")
        agent.wait(lambda a: isinstance(a.value("p1", "system"), ConditionValue)
                   and a.value("p1", "system").level == "FAULT", what="system FAULT")  # type: ignore[union-attr]
        fault = agent.value("p1", "system")
        assert isinstance(fault, ConditionValue) and fault.native_code == "M112" and "M112" in fault.message
        assert agent.value("p1", "exec") == "STOPPED"
        assert agent.value("p2", "estop") == "ARMED"  # the other printer is untouched
        farm.printer("p1").connect()
        farm.wait_operational("p1")
        agent.wait(lambda a: a.value("p1", "estop") == "ARMED" and a.value("p1", "exec") == "READY",
                   what="estop ARMED again")
        agent.wait(lambda a: a.value("p1", "system") == ConditionValue("NORMAL", "", "", "", ""), what="NORMAL")
    finally:
        agent.close()


def test_a_job_is_program_line_active_and_completed(farm: Api) -> None:
    agent = agent_for(farm)
    try:
        agent.wait(available, what="snapshot")
        before = int(agent.value("p1", "partcount"))  # type: ignore[arg-type]
        lines = "".join(f"G1 X{i % 50} Y{i % 40} F3000\n" for i in range(40)).encode()
        r = farm.call("POST", "/printer/p1/api/files/local", files={"file": ("part|one.gcode", lines)},
                      data={"print": "true"})
        assert r.status_code == 201, r.text
        agent.wait(lambda a: a.value("p1", "partcount") == str(before + 1), timeout=30, what="part count")
        seen = {(d, n, v) for _, d, n, v in agent.updates if d == "p1" and isinstance(v, str)}
        assert ("p1", "exec", "ACTIVE") in seen and ("p1", "mode", "AUTOMATIC") in seen
        assert agent.value("p1", "exec") == "PROGRAM_COMPLETED" and agent.value("p1", "mode") == "MANUAL"
        program = agent.value("p1", "program")
        assert isinstance(program, str) and program.startswith("part") and "|" not in program
        assert int(agent.value("p1", "line")) >= 40  # type: ignore[arg-type]
    finally:
        agent.close()


def test_a_slow_agent_delays_nobody_and_catches_up(farm: Api) -> None:
    slow, fast = agent_for(farm), agent_for(farm)
    try:
        slow.wait(available, what="snapshot (slow)")
        fast.wait(available, what="snapshot (fast)")
        for x in (21, 22, 23):  # the slow agent reads nothing meanwhile
            farm.printer("p2").submit(f"G1 X{x} F6000\nM400\nM114")[-1].result(15)
            fast.wait(lambda a: a.value("p2", "Xact") == f"{x}.000", what=f"X {x} at the fast agent")
        assert slow.value("p2", "Xact") != "23.000"
        slow.wait(lambda a: a.value("p2", "Xact") == "23.000", what="the slow agent catching up")
        xs = [v for _, d, n, v in slow.updates if (d, n) == ("p2", "Xact")]
        assert xs[-3:] == ["21.000", "22.000", "23.000"]  # every change, in order
    finally:
        slow.close()
        fast.close()


def test_an_agent_that_never_reads_is_dropped_alone(farm: Api) -> None:
    adapter = farm.gateway.mtconnect  # type: ignore[attr-defined]
    fast = agent_for(farm)
    fast.wait(available, what="snapshot")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", adapter.port))
    wait_for(lambda: adapter.agent_count() == 2, what="two agents", interval=0.02)

    def flood() -> None:
        # PINGs it never reads the PONGs of: its unsent output grows until the adapter gives up.
        try:
            for _ in range(200):
                stuck.sendall(b"* PING\n" * 2000)
        except OSError:
            pass  # dropped: what we are waiting for

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        wait_for(lambda: adapter.agent_count() == 1, timeout=30, what="the stuck agent dropped", interval=0.02)
        farm.printer("p2").submit("G1 X31 F6000\nM400\nM114")[-1].result(15)
        fast.wait(lambda a: a.value("p2", "Xact") == "31.000", what="changes after the drop")
        fast.send("* PING\n")
        fast.wait(lambda a: a.pongs, what="PONG after the drop")
    finally:
        flooder.join(10)
        stuck.close()
        fast.close()


def test_an_agent_dropping_mid_stream(farm: Api) -> None:
    adapter = farm.gateway.mtconnect  # type: ignore[attr-defined]
    steady = agent_for(farm)
    steady.wait(available, what="snapshot")
    for _ in range(3):
        leaving = agent_for(farm)
        leaving.pump(0.5)  # read part of the stream, then vanish with a TCP reset
        leaving.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        leaving.close()
        half = agent_for(farm)
        half.sock.shutdown(socket.SHUT_WR)  # an orderly close from the agent's side
        half.close()
    farm.printer("p1").submit("G1 Y33 F6000\nM400\nM114")[-1].result(15)
    steady.wait(lambda a: a.value("p1", "Yact") == "33.000", what="changes keep flowing")
    wait_for(lambda: adapter.agent_count() == 1, what="the dropped agents forgotten", interval=0.02)
    steady.close()


def test_the_client_rejects_what_an_agent_would() -> None:
    agent = ShdrAgent(DEVICES, socket.socket())
    try:
        with pytest.raises(ShdrError):
            agent.feed_line("2026-12-06T04:00:00.000Z|p1:nosuchitem|1")
        with pytest.raises(ShdrError):
            agent.feed_line("2026-12-06T04:00:00.000Z|p1:system|FAULT|x")  # a short condition
        with pytest.raises(ShdrError):
            agent.feed_line("yesterday|p1:exec|READY")
        agent.feed_line("2026-12-06T04:00:00.000Z|p1:exec|READY|p1:Xact|1.0")
        assert agent.value("p1", "exec") == "READY" and agent.value("p1", "Xact") == "1.0"
    finally:
        agent.close()


def test_a_taken_port_is_a_clear_start_error(farm: Api) -> None:
    from mqttprint.config import MtconnectConfig
    from mqttprint.integrations.mtconnect import MtconnectAdapter

    taken = farm.gateway.mtconnect.port  # type: ignore[attr-defined]
    adapter = MtconnectAdapter(MtconnectConfig(True, "127.0.0.1", taken), farm.gateway.printers, farm.gateway.bus)
    with pytest.raises(OSError, match=f"MTConnect adapter cannot listen on 127.0.0.1:{taken}"):
        adapter.start()
    adapter.stop()
    assert adapter.agent_count() == 0
