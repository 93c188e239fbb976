"""Jobs and system commands over MQTT: `B/job`, `B/progress`, job events, `B/system/...`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqttprint.protocol.states import PrinterState
from tests.helpers import stall_after, wait_for
from tests.helpers.mqtt import Watcher, running_gateway, unique_base

pytestmark = pytest.mark.integration


def _store(gw: Any, name: str, lines: list[str]) -> None:
    uploads = Path(gw.config.storage.dir) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / name).write_text("\n".join(lines) + "\n")


def test_job_runs_to_done_with_progress_and_events(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base) as gw:
        _store(gw, "short.gcode", ["G90", "G1 X5 F6000", "G1 X10", "M400"])
        w = Watcher(broker, [f"{base}/#"])
        try:
            w.publish(f"{base}/p1/job", {"command": "start", "file": "short.gcode", "id": "job-1"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "job-1")
            assert reply["ok"] is True and reply["action"] == "job.start"
            assert w.wait_json(f"{base}/p1/event/PrintStarted")["name"] == "short.gcode"
            done = w.wait_json(f"{base}/p1/event/PrintDone", timeout=10)
            assert done["name"] == "short.gcode" and "ts" in done
            progress = w.wait_json(f"{base}/p1/progress", lambda d: d["completion"] == 100.0)
            assert progress["file"] == "short.gcode" and progress["printTimeLeft"] == 0
            assert {"file", "completion", "printTime", "printTimeLeft", "state", "ts"} <= set(progress)
            late = Watcher(broker, [f"{base}/p1/progress"])
            try:
                assert late.wait_for(f"{base}/p1/progress").retain
            finally:
                late.close()
        finally:
            w.close()


def test_pause_resume_cancel_buttons(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base) as gw:
        _store(gw, "long.gcode", ["G4 P100"] * 200)
        printer = gw.printers["p1"]
        w = Watcher(broker, [f"{base}/#"])
        try:
            w.publish(f"{base}/p1/job", "start")  # plain verb: the selected file ... none yet
            w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: d["topic"].endswith("/job"))
            w.publish(f"{base}/p1/job", {"command": "start", "file": "long.gcode"})
            w.wait_json(f"{base}/p1/event/PrintStarted")
            # What Home Assistant's buttons publish: plain verbs.
            w.publish(f"{base}/p1/job", "pause")
            w.wait_json(f"{base}/p1/event/PrintPaused", timeout=5)
            wait_for(lambda: printer.snapshot().state is PrinterState.PAUSED, what="Paused")
            w.publish(f"{base}/p1/job", {"command": "pause", "id": "again"})  # pressing pause twice stays paused
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "again")["ok"] is True
            assert printer.snapshot().state is PrinterState.PAUSED
            w.publish(f"{base}/p1/job", "resume")
            w.wait_json(f"{base}/p1/event/PrintResumed", timeout=5)
            w.publish(f"{base}/p1/job", "cancel")
            cancelled = w.wait_json(f"{base}/p1/event/PrintCancelled", timeout=10)
            assert cancelled["name"] == "long.gcode"
            w.wait_json(f"{base}/p1/status", lambda d: d["state"] == "Operational", timeout=10)
        finally:
            w.close()


SYSTEM = {"actions": [{"action": "hello", "name": "Say hello", "command": "echo hello-from-mqtt"},
                      {"action": "divider"}]}


def test_system_command_over_mqtt(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base, system=SYSTEM, operational=False):
        w = Watcher(broker, [f"{base}/#"])
        try:
            listing = w.wait_json(f"{base}/p1/system")
            assert [c["action"] for c in listing["custom"]] == ["hello", "divider"]
            assert "command" not in listing["custom"][0]  # the command line itself is never exposed
            late = Watcher(broker, [f"{base}/p1/system"])
            try:
                assert late.wait_for(f"{base}/p1/system").retain
            finally:
                late.close()
            w.publish(f"{base}/p1/system/custom/hello", {"id": "s1"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "s1")
            assert reply["ok"] is True and reply["action"] == "system.execute"
            assert "hello-from-mqtt" in reply["data"]["stdout"]
            event = w.wait_json(f"{base}/p1/event/SystemCommandFinished")
            assert event["action"] == "hello" and event["ok"] is True
            w.publish(f"{base}/p1/system/custom/nope", {"id": "s2"})
            missing = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "s2")
            assert missing["ok"] is False and "no system command" in missing["error"]
            w.publish(f"{base}/p1/system/custom", "PRESS")  # malformed system topic: refused with a hint
            w.wait_json(f"{base}/p1/event/CommandRejected", lambda d: "B/system/<source>/<action>" in d["error"])
        finally:
            w.close()


def test_system_commands_disabled_over_mqtt(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base, system={**SYSTEM, "mqtt_enabled": False}, operational=False):
        w = Watcher(broker, [f"{base}/#"])
        try:
            wait_for(lambda: w.messages(f"{base}/p1/status"), what="status")
            w.publish(f"{base}/p1/system/custom/hello", {"id": "off"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "off")
            assert reply["ok"] is False and "disabled" in reply["error"]
            assert not [m for m in w.messages(f"{base}/p1/system") if m.payload]
            assert not w.messages(f"{base}/p1/event/SystemCommandFinished")
        finally:
            w.close()


def test_system_topics_and_payloads_cannot_smuggle_arguments(broker: Any, tmp_path: Path) -> None:
    """Only the configured command line runs: topic segments, wildcards and payload fields never
    reach a command line, and lookalike actions run nothing."""
    marker = tmp_path / "ran"
    system = {"actions": [{"action": "make", "name": "Make", "command": f"touch {marker}"}]}
    base = unique_base()
    with running_gateway(broker, base, system=system, operational=False):
        w = Watcher(broker, [f"{base}/#"])
        try:
            wait_for(lambda: w.messages(f"{base}/p1/system"), what="system listing")
            lookalikes = [  # one segment each: answered on B/reply with an error
                (f"{base}/p1/system/custom/make;id", "a1"),
                (f"{base}/p1/system/custom/make$(id)", "a2"),
                (f"{base}/p1/system/custom/MAKE", "a3"),
                (f"{base}/p1/system/core/make", "a4"),
                (f"{base}/p1/system/plugin/make", "a5"),
            ]
            for topic, request_id in lookalikes:
                w.publish(topic, {"id": request_id})
            for _, request_id in lookalikes:
                reply = w.wait_json(f"{base}/p1/reply", lambda d, rid=request_id: d.get("id") == rid)
                assert reply["ok"] is False
            for extra in ("make/extra", "make/../../x"):  # extra segments: refused before parsing
                w.publish(f"{base}/p1/system/custom/{extra}", {"id": "seg"})
                w.wait_json(f"{base}/p1/event/CommandRejected", lambda d, e=extra: e in d.get("topic", ""))
            assert not marker.exists()
            # payload fields are never arguments: unknown keys refuse the request, nothing runs
            w.publish(f"{base}/p1/system/custom/make", {"id": "a6", "args": [f"{tmp_path / 'y'}"],
                                                        "command": f"touch {tmp_path / 'z'}"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d.get("id") == "a6")
            assert reply["ok"] is False and "unknown key" in reply["error"]
            assert not marker.exists()
            w.publish(f"{base}/p1/system/custom/make", {"id": "a7"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d.get("id") == "a7")
            assert reply["ok"] is True  # the configured line ran, exactly as written
            wait_for(marker.exists, what="the configured command ran")
            assert sorted(p.name for p in tmp_path.iterdir() if p.name != "state") == ["ran"]  # no y, no z
        finally:
            w.close()


def test_broker_killed_mid_job_print_continues_and_progress_is_republished(broker: Any) -> None:
    lines = [f"G1 X{i % 150 + 0.5:.1f} Y{(i * 7) % 150:.1f} F6000" for i in range(4000)]
    base = unique_base()
    printers = [{"id": "p1", "port": "sim://marlin", "position_interval": 0}]
    with running_gateway(broker, base, mqtt={"keepalive": 5}, printers=printers) as gw:
        _store(gw, "long.gcode", lines)
        port = gw.printers["p1"].link.port
        w = Watcher(broker, [f"{base}/#"])
        try:
            w.publish(f"{base}/p1/job", {"command": "start", "file": "long.gcode", "id": "j"})
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "j")["ok"] is True
            # The simulator keeps its oks back after 300 lines: the job is mid-stream while the
            # broker goes away, however fast this machine is.
            stall_after(port, 300)  # type: ignore[arg-type]
        finally:
            w.close()
        broker.stop()
        try:
            # 600 more lines stream with no broker, then the job waits again for the broker's return
            stall_after(port, 600)  # type: ignore[arg-type]
            assert gw.printers["p1"].snapshot().state is PrinterState.PRINTING
        finally:
            broker.start()
        w = Watcher(broker, [f"{base}/#"])
        try:
            port.release_output()  # type: ignore[union-attr]
            # the retained progress comes back after the reconnect (persistence is off on the broker)
            w.wait_json(f"{base}/p1/progress", lambda d: d["file"] == "long.gcode", timeout=20)
            wait_for(lambda: gw.printers["p1"].snapshot().state is PrinterState.OPERATIONAL, 60, what="job done")
            w.wait_json(f"{base}/p1/progress", lambda d: d["completion"] == 100.0, timeout=20)
        finally:
            w.close()
        with port.lock:  # type: ignore[union-attr]
            executed_moves = [c for c in port.model.executed if c.startswith("G1 X")]  # type: ignore[union-attr]
        assert executed_moves == lines  # every line exactly once, in order, across the broker outage
