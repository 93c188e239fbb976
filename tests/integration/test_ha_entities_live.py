"""The Home Assistant entities on live data: a real slicer file printing in the simulator, a
filament runout, a thumbnail. The discovery document is taken from the broker and every entity's
template is rendered on the messages the gateway really published (Jinja StrictUndefined: Home
Assistant would log a warning for any undefined value), so this checks that each new entity
exists, has a value and changes while the print runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import jinja2
import pytest

from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher
from tests.helpers.rest import Api, start_gateway

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
PRUSA = "prusaslicer-2.5.0_box8x8x2.gcode"  # PrusaSlicer 2.5.0 CLI: 10 layers, 104 s estimate, 56.5 mm
BAMBU = "bambustudio-01.09.07.52_square_ring.gcode"  # BambuStudio 01.09.07.52: a PNG thumbnail
BASE, PREFIX = "halive", "halive-ha"
PRINTERS = [
    {"id": "p1", "name": "Bench", "port": "sim://marlin?move_timing=1&time_scale=10&residency_time=1&homing_time=0.1"},
    {"id": "p2", "name": "Runout", "port": "sim://runout?runout_after_line=60"},
]


@pytest.fixture(scope="module")
def gw(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Watcher]]:
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("halive"), BASE, PRINTERS,
                                 homeassistant={"discovery": True, "prefix": PREFIX}, gateway={"id": "live"})
    watcher = Watcher(broker, [f"{BASE}/#", f"{PREFIX}/#"])
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        for name in (PRUSA, BAMBU):
            with open(FIXTURES / name, "rb") as stream:
                assert api.call("POST", "/api/files/local", files={"file": (name, stream)}).status_code == 201
        yield api, watcher
    finally:
        watcher.close()
        api.session.close()
        gateway.stop()


def components(watcher: Watcher, printer_id: str) -> dict[str, Any]:
    doc = watcher.wait_json(f"{PREFIX}/device/mqttprint_live_{printer_id}/config", lambda d: d["dev"]["mdl"] == "Marlin")
    return dict(doc["cmps"])


def render(template: str, payload: bytes) -> Any:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["as_datetime"] = lambda v: dt.datetime.fromtimestamp(float(v), dt.timezone.utc)
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None
    out = env.from_string(template).render(value_json=value_json, value=payload.decode()).strip()
    return None if out == "None" else out


def states(watcher: Watcher, comp: dict[str, Any], after: int = 0) -> list[Any]:
    """The entity's state after each message on its state topic (None = unknown)."""
    return [render(comp["val_tpl"], m.payload) for m in watcher.messages(comp["stat_t"])[after:]]


def test_print_facts_entities_change_while_a_real_file_prints(gw: tuple[Api, Watcher]) -> None:
    api, watcher = gw
    cmps = components(watcher, "p1")
    progress = f"{BASE}/p1/progress"
    start = len(watcher.messages(progress))
    events = len(watcher.messages(f"{BASE}/p1/event/PrintStarted"))
    assert api.post(f"/api/files/local/{PRUSA}", {"command": "select", "print": True}).status_code == 204
    watcher.wait_json(f"{BASE}/p1/event/PrintDone", timeout=120)
    watcher.wait_json(progress, lambda d: d["state"] == "Operational" and d["printTimeLeft"] == 0, after=start)

    def seen(key: str) -> list[Any]:
        return [v for v in states(watcher, cmps[key], start) if v is not None]

    layers = [int(v) for v in seen("current_layer")]
    assert len(set(layers)) > 3 and layers == sorted(layers) and layers[-1] == 10
    assert set(seen("total_layers")) == {"10"}
    # Z while on a layer (before the first one the file lifts the nozzle for the purge line)
    zs = [float(z) for layer, z in zip(states(watcher, cmps["current_layer"], start),
                                      states(watcher, cmps["current_z"], start)) if layer and z is not None]
    assert len(set(zs)) > 3 and zs == sorted(zs) and zs[-1] >= 2.0
    used = [float(v) for v in seen("filament_used")]
    assert len(set(used)) > 2 and used == sorted(used) and used[-1] <= 56.5 * 1.05
    assert {float(v) for v in seen("slicer_estimate")} == {104.0}
    finish = seen("finish_time")
    assert finish and all(dt.datetime.fromisoformat(v).tzinfo is not None for v in finish)
    left = states(watcher, cmps["print_time_left"], start)
    assert left[-1] == "0" and "0" not in left[:3]  # never "0 s left" at the start
    assert float(seen("job_percentage")[-1]) == 100.0
    # the Print event entity fired "started" and "done" for this print
    fired = [render(cmps["print_event"]["val_tpl"], m.payload) for topic in
             (f"{BASE}/p1/event/PrintStarted", f"{BASE}/p1/event/PrintDone") for m in watcher.messages(topic)]
    assert {json.loads(f)["event_type"] for f in fired if f} == {"started", "done"}
    assert len(watcher.messages(f"{BASE}/p1/event/PrintStarted")) == events + 1


def test_thumbnail_image_entity_gets_the_selected_files_png(gw: tuple[Api, Watcher]) -> None:
    api, watcher = gw
    image = components(watcher, "p1")["thumbnail"]
    assert api.post(f"/api/files/local/{BAMBU}", {"command": "select"}).status_code == 204
    png = watcher.wait_for(image["img_t"], lambda m: m.payload.startswith(b"\x89PNG"))
    assert image["cont_type"] == "image/png" and len(png.payload) > 100


def test_runout_shows_in_the_attention_event_and_the_prompt_sensor(gw: tuple[Api, Watcher]) -> None:
    api, watcher = gw
    cmps = components(watcher, "p2")
    assert api.post(f"/printer/p2/api/files/local/{PRUSA}", {"command": "select", "print": True}).status_code == 204
    runout = watcher.wait_for(f"{BASE}/p2/event/FilamentRunout")
    attention = json.loads(render(cmps["attention_event"]["val_tpl"], runout.payload))
    assert attention["event_type"] == "filament_runout"
    watcher.wait_json(f"{BASE}/p2/prompt", lambda d: d["open"])
    prompt = wait_for(lambda: [s for s in states(watcher, cmps["prompt"]) if s], what="an open prompt on B/prompt")
    assert prompt[-1] == "Nozzle Parked"
    fired = [render(cmps["attention_event"]["val_tpl"], m.payload) for m in watcher.messages()
             if m.topic.startswith(f"{BASE}/p2/event/")]
    assert {"filament_runout", "paused_by_firmware", "prompt_shown"} <= {json.loads(f)["event_type"] for f in fired if f}
