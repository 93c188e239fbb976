"""OctoPrint JSON shapes built from snapshots."""

from __future__ import annotations

from mqttprint.printer.model import JobInfo, PrinterSnapshot
from mqttprint.protocol.replies import HeaterReading, Position
from mqttprint.protocol.states import FLAG_NAMES, PrinterState
from mqttprint.rest import shapes

S = PrinterState


def test_heater_keys() -> None:
    assert [shapes.heater_key(k) for k in ("T", "T0", "T1", "T12", "B", "C", "P", "A")] == [
        "tool0", "tool0", "tool1", "tool12", "bed", "chamber", "P", "A"]


def test_temperatures_only_what_the_firmware_reports() -> None:
    temps = shapes.temperatures({"T0": HeaterReading(210.5, 215.0, 127), "B": HeaterReading(60.0, None)})
    assert temps == {"tool0": {"actual": 210.5, "target": 215.0, "offset": 0},
                     "bed": {"actual": 60.0, "target": None, "offset": 0}}
    assert shapes.temperatures({}) == {}


def test_history_entries() -> None:
    samples = [(100.7, {"T0": HeaterReading(20.0, 0.0), "B": HeaterReading(19.0, 0.0)})]
    assert shapes.history_entries(samples) == [{"time": 100, "tool0": {"actual": 20.0, "target": 0.0},
                                                "bed": {"actual": 19.0, "target": 0.0}}]
    assert shapes.history_entries(samples, keep="bed") == [{"time": 100, "bed": {"actual": 19.0, "target": 0.0}}]


def test_state_object_has_all_eleven_flags() -> None:
    snap = PrinterSnapshot("p", state=S.OPERATIONAL, sd_ready=True)
    body = shapes.state(snap)
    assert body["text"] == "Operational" and body["error"] == ""
    assert tuple(body["flags"]) == FLAG_NAMES
    assert body["flags"]["operational"] and body["flags"]["ready"] and not body["flags"]["sdReady"]
    err = shapes.state(PrinterSnapshot("p", state=S.ERROR, error="Emergency stop (M112)"))
    assert err["text"] == "Error" and err["flags"]["error"] and err["flags"]["closedOrError"]


def test_connection_state_says_closed_without_a_connection() -> None:
    assert shapes.connection_state(PrinterSnapshot("p", state=S.OFFLINE)) == "Closed"
    assert shapes.connection_state(PrinterSnapshot("p", state=S.OFFLINE_AFTER_ERROR)) == "Closed"
    assert shapes.connection_state(PrinterSnapshot("p", state=S.ERROR)) == "Error"
    assert shapes.connection_state(PrinterSnapshot("p", state=S.OPERATIONAL)) == "Operational"


def test_job_idle_and_with_error() -> None:
    idle = shapes.job(PrinterSnapshot("p", state=S.OFFLINE), 1000.0)
    assert idle["state"] == "Offline" and "error" not in idle
    assert idle["job"]["file"] == {"name": None, "path": None, "display": None, "origin": None, "size": None,
                                   "date": None}
    assert set(idle["job"]) == {"file", "estimatedPrintTime", "averagePrintTime", "lastPrintTime", "filament", "user"}
    assert set(idle["progress"]) == {"completion", "filepos", "printTime", "printTimeLeft", "printTimeLeftOrigin"}
    assert all(v is None for v in idle["progress"].values())
    failed = shapes.job(PrinterSnapshot("p", state=S.OFFLINE_AFTER_ERROR, error="port vanished"), 0.0)
    assert failed["error"] == "port vanished" and failed["state"] == "Offline after error"
    running = shapes.job(PrinterSnapshot("p", state=S.PRINTING, job=JobInfo("cube.gcode", 900.0)), 1000.0)
    assert running["job"]["file"]["name"] == "cube.gcode" and running["progress"]["printTime"] == 100


def test_version_names_octoprint_and_mqttprint() -> None:
    body = shapes.version()
    assert body["api"] == "0.1" and body["text"].startswith("OctoPrint ") and "mqttprint" in body["text"]
    assert [int(p) for p in body["server"].split(".")] >= [1, 11, 0]


def test_settings_has_what_home_assistant_reads() -> None:
    body = shapes.settings(upnp_uuid="u", name="n", port="sim://marlin", baudrate=115200, ports=["sim://marlin"],
                           autoconnect=True, with_webcam=True)
    assert body["plugins"]["discovery"]["upnpUuid"] == "u" and body["plugins"]["tracking"]["enabled"] is False
    assert body["feature"]["sdSupport"] is False and body["webcam"]["webcamEnabled"] is False
    for key in ("streamUrl", "snapshotUrl", "flipH", "flipV", "rotate90", "bitrate", "snapshotSslValidation"):
        assert key in body["webcam"]
    assert shapes.settings(upnp_uuid="u", name="n", port="p", baudrate=1, ports=[], autoconnect=False,
                           with_webcam=False)["webcam"] == {}


def test_position() -> None:
    assert shapes.position(PrinterSnapshot("p")) == {"position": None, "time": None}
    snap = PrinterSnapshot("p", position=Position(1.0, 2.0, 3.5, 0.0, {"e0": 0.0}), position_time=5.0)
    assert shapes.position(snap) == {"position": {"x": 1.0, "y": 2.0, "z": 3.5, "e": 0.0, "e0": 0.0}, "time": 5.0}
