"""Slicer metadata, thumbnails, live print facts and firmware prompts end to end: real HTTP, a real
mosquitto, the simulated Marlin, real slicer files (tests/fixtures/gcode/README.md says which
slicer wrote each and how).

p1 moves in simulated real time, 10x faster than the wall clock (`time_scale=10`), so a print
PrusaSlicer estimates at 1m44s takes seconds and its ETA can be compared with the run time.
p2 has a filament sensor that trips before host line 60 (`runout_after_line`).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from mqttprint.gcodefile import scan
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher
from tests.helpers.rest import Api, error_of, start_gateway

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
PRUSA = "prusaslicer-2.5.0_box8x8x2.gcode"  # PrusaSlicer 2.5.0 CLI, complete file, M73 + label objects
CURA = "cura-4.13.0-arcus_box8x8x2.gcode"  # CuraEngine 4.13.0 over Arcus, complete file
BAMBU = "bambustudio-01.09.07.52_square_ring.gcode"  # BambuStudio 01.09.07.52, 50x50 PNG thumbnail
GUI_PNG = "prusaslicer-2.5.0-gui_box20x20x10_png_trimmed.gcode"  # PrusaSlicer 2.5.0 GUI export, PNG thumbnails
GUI_QOI = "prusaslicer-2.5.0-gui_box20x20x10_qoi_trimmed.gcode"  # the same with QOI thumbnails
BASE = "facts"
PRINTERS = [
    {"id": "p1", "port": "sim://marlin?move_timing=1&time_scale=10&residency_time=1&homing_time=0.1"},
    {"id": "p2", "port": "sim://runout?runout_after_line=60"},
]


@pytest.fixture(scope="module")
def gw(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Watcher]]:
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("facts"), BASE, PRINTERS,
                                 mqtt={"host": broker.host, "port": broker.port, "base_topic": BASE,
                                       "telemetry_interval": 0.2})
    watcher = Watcher(broker, [f"{BASE}/#"])
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        for name in (PRUSA, CURA, BAMBU, GUI_PNG, GUI_QOI):
            with open(FIXTURES / name, "rb") as stream:
                response = api.call("POST", "/api/files/local", files={"file": (name, stream)})
            assert response.status_code == 201, response.text
        yield api, watcher
    finally:
        watcher.close()
        api.session.close()
        gateway.stop()


def entry(api: Api, name: str) -> dict[str, Any]:
    response = api.get(f"/api/files/local/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def test_uploads_report_octoprint_gcode_analysis(gw: tuple[Api, Watcher]) -> None:
    api, _ = gw
    prusa = entry(api, PRUSA)["gcodeAnalysis"]
    assert prusa["estimatedPrintTime"] == 104 and prusa["slicer"] == "PrusaSlicer"
    assert prusa["filament"]["tool0"]["length"] == 56.5
    assert prusa["filament"]["tool0"]["volume"] == pytest.approx(0.1359, abs=1e-4)
    assert prusa["layers"] == 10 and prusa["objects"] == ["small.stl"]
    cura = entry(api, CURA)["gcodeAnalysis"]
    assert cura["estimatedPrintTime"] == 99 and cura["filament"]["tool0"]["length"] == pytest.approx(108.071)
    assert cura["dimensions"] == {"width": 23.6, "depth": 23.6, "height": 1.8}
    listing = {f["name"]: f for f in api.get("/api/files").json()["files"]}
    assert listing[BAMBU]["gcodeAnalysis"]["estimatedPrintTime"] == 34
    assert "thumbnail" not in listing[PRUSA]  # the PrusaSlicer CLI writes none


def test_thumbnail_at_the_prusaslicer_thumbnails_plugin_url(gw: tuple[Api, Watcher]) -> None:
    api, _ = gw
    item = entry(api, BAMBU)
    assert item["thumbnail"].startswith("plugin/prusaslicerthumbnails/thumbnail/bambustudio-01.09.07.52_square_ring.png?")
    assert item["thumbnail_src"] == "prusaslicerthumbnails"
    expected = scan(io.BytesIO((FIXTURES / BAMBU).read_bytes())).thumbnail
    assert expected is not None
    assert item["refs"]["thumbnail"] == "/" + item["thumbnail"].split("?")[0]  # relative, like the other refs
    for url in (f"{api.base}/{item['thumbnail']}", f"{api.base}{item['refs']['thumbnail']}",
                f"{api.base}/printer/p2/{item['thumbnail']}"):
        response = api.session.get(url, headers={"X-Api-Key": "A" * 32}, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
        assert response.content == expected.data
    gui = entry(api, GUI_PNG)
    assert gui["gcodeAnalysis"]["estimatedPrintTime"] == 515
    assert gui["thumbnails"] == [{"width": 220, "height": 124, "format": "png"}, {"width": 16, "height": 16, "format": "png"}]
    big, small = (api.session.get(f"{api.base}/{path}", headers={"X-Api-Key": "A" * 32}, timeout=10)
                  for path in (gui["thumbnail"], gui["thumbnail"].replace(".png?", ".small.png?")))
    assert big.content[:8] == small.content[:8] == b"\x89PNG\r\n\x1a\n" and len(big.content) > len(small.content)
    qoi = entry(api, GUI_QOI)
    assert qoi["thumbnail"].split("?")[0].endswith(".qoi")
    response = api.session.get(f"{api.base}{qoi['refs']['thumbnail']}", headers={"X-Api-Key": "A" * 32}, timeout=10)
    assert response.headers["Content-Type"] == "image/qoi" and response.content[:4] == b"qoif"
    missing = api.get("/plugin/prusaslicerthumbnails/thumbnail/prusaslicer-2.5.0_box8x8x2.png")
    assert missing.status_code == 404 and error_of(missing)


def test_selected_thumbnail_is_retained_on_mqtt(gw: tuple[Api, Watcher], broker: Any) -> None:
    api, watcher = gw
    topic = f"{BASE}/p2/thumbnail"
    assert api.post(f"/printer/p2/api/files/local/{BAMBU}", {"command": "select"}).status_code == 204
    png = watcher.wait_for(topic, lambda m: m.payload.startswith(b"\x89PNG"))
    late = Watcher(broker, [topic])  # connects later: gets the retained copy
    try:
        retained = late.wait_for(topic)
        assert retained.retain and retained.payload == png.payload
    finally:
        late.close()
    # File metadata on request over MQTT (the selected file by default).
    watcher.publish(f"{BASE}/p2/job", {"command": "file", "id": "meta-1"})
    reply = watcher.wait_json(f"{BASE}/p2/reply", lambda d: d["id"] == "meta-1")
    assert reply["ok"] and reply["data"]["name"] == BAMBU
    assert reply["data"]["gcodeAnalysis"]["estimatedPrintTime"] == 34
    assert reply["data"]["thumbnails"] == [{"width": 50, "height": 50, "format": "png"}]
    assert api.post(f"/printer/p2/api/files/local/{BAMBU}", {"command": "unselect"}).status_code == 204
    watcher.wait_for(topic, lambda m: m.payload == b"")


def test_print_reports_layer_z_m73_and_eta_in_order(gw: tuple[Api, Watcher]) -> None:
    api, watcher = gw
    topic = f"{BASE}/p1/progress"
    start = len(watcher.messages(topic))
    assert api.post(f"/api/files/local/{PRUSA}", {"command": "select", "print": True}).status_code == 204
    started = time.monotonic()
    watcher.wait_json(f"{BASE}/p1/event/PrintDone", timeout=120)
    ended = time.monotonic()
    # The progress published when the job ended (telemetry is coalesced, so it may trail the event).
    last = watcher.wait_json(topic, lambda d: d["state"] == "Operational" and d["printTimeLeft"] == 0, after=start)
    progress = [m.json() for m in watcher.messages(topic)[start:]]
    running = [p for p in progress if p["state"] in ("Printing", "Starting")]
    assert running, progress
    layers = [p["layer"] for p in running if p["layer"] is not None]
    zs = [p["z"] for p in running if p["z"] is not None and p["layer"]]
    m73 = [p["m73"] for p in running if p["m73"] is not None]
    assert layers == sorted(layers) and all(p["layers"] == 10 for p in running if p["layer"])
    assert zs == sorted(zs) and max(zs) <= 2.0  # layer by layer up the 2 mm part
    assert m73 == sorted(m73)
    assert (last["layer"], last["layers"], last["m73"], last["printTimeLeft"]) == (10, 10, 100, 0)
    assert last["z"] >= 2.0
    assert all(p["estimate"] == 104 for p in running)
    assert running[-1]["printTimeLeftOrigin"] in ("mixed-m73", "slicer-m73")
    assert running[-1]["filament"]["total"] == 56.5 and running[-1]["filament"]["used"] > 0
    # ETA error against the simulator's own run time, at a quarter, half and three quarters done.
    report = []
    for share in (25, 50, 75):
        sample = next((m for m in watcher.messages(topic)[start:] if (m.json()["completion"] or 0) >= share
                       and m.json()["eta"] is not None), None)
        if sample is not None:
            error = sample.json()["eta"] - (time.time() - (time.monotonic() - ended))
            report.append(f"{share}%: ETA off by {error:+.1f} s of a {ended - started:.1f} s run")
    print("ETA vs simulator run time (time_scale=10):", "; ".join(report))
    assert report
    final = api.get("/api/job").json()
    assert final["job"]["estimatedPrintTime"] == 104
    assert final["job"]["filament"]["tool0"]["length"] == 56.5
    assert final["progress"]["printTimeLeft"] == 0


def test_runout_prompt_answered_over_mqtt_job_finishes_once(gw: tuple[Api, Watcher]) -> None:
    api, watcher = gw
    prefix = "/printer/p2"
    prompt_topic, answer_topic = f"{BASE}/p2/prompt", f"{BASE}/p2/prompt/answer"
    before_done = len(watcher.messages(f"{BASE}/p2/event/PrintDone"))
    # No prompt open: refused over REST and MQTT, nothing reaches the printer.
    refused = api.post(f"{prefix}/api/printer/prompt", {"choice": 1})
    assert refused.status_code == 409 and "no prompt is open" in error_of(refused)
    assert api.post(f"{prefix}/api/printer/prompt", {"choice": 1, "extra": 2}).status_code == 400
    watcher.publish(answer_topic, "1")
    watcher.wait_json(f"{BASE}/p2/event/CommandRejected", lambda d: "no prompt is open" in d["error"])
    with api.printer("p2").link.port.lock:
        assert api.model("p2").prompt_responses == []
    assert api.post(f"{prefix}/api/files/local/{PRUSA}", {"command": "select", "print": True}).status_code == 204
    runout = watcher.wait_json(f"{BASE}/p2/event/FilamentRunout")
    assert runout["tool"] == 0
    watcher.wait_json(f"{BASE}/p2/event/PausedByFirmware")
    parked = watcher.wait_json(prompt_topic, lambda d: d["open"] and d["text"] == "Nozzle Parked")
    assert parked["source"] == "runout" and parked["buttons"] == ["Continue"]
    assert api.get(f"{prefix}/api/printer/prompt").json()["text"] == "Nozzle Parked"
    wait_for(lambda: api.state("p2") in ("Pausing", "Paused"), what="the job paused by the firmware")
    watcher.publish(answer_topic, "0")  # Continue
    purge = watcher.wait_json(prompt_topic, lambda d: d["open"] and d["text"] == "Paused")
    assert purge["buttons"] == ["PurgeMore", "Continue"]
    watcher.publish(answer_topic, {"choice": 1, "id": "continue-1"})
    watcher.wait_json(f"{BASE}/p2/event/PrintDone", timeout=60)
    watcher.wait_json(prompt_topic, lambda d: not d["open"])
    assert len(watcher.messages(f"{BASE}/p2/event/PrintDone")) == before_done + 1
    with api.printer("p2").link.port.lock:
        assert api.model("p2").prompt_responses == [0, 1]
    wait_for(lambda: api.state("p2") == "Operational", what="p2 operational again")
