"""Home Assistant device discovery document (pure): ids, availability, entities, templates.

The templates are rendered with Jinja's StrictUndefined: Home Assistant logs a warning for every
undefined variable a template renders, so a template that touches a missing key fails here.
`as_datetime` (a Home Assistant filter/function) is stubbed with its documented behaviour.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jinja2
import pytest

from mqttprint import __version__
from mqttprint.mqtt.discovery import (
    ATTENTION_EVENTS,
    PRINT_EVENTS,
    PrinterDiscovery,
    SystemButton,
    build_discovery,
    is_legacy_config_of,
)
from mqttprint.protocol.states import PrinterState

#: Keys Home Assistant deprecated (object_id: removed in 2026.4) or never had in device discovery.
DEPRECATED_KEYS = {"object_id", "obj_id", "json_attributes", "value_template_json", "unique_id_prefix"}
#: Every abbreviation this document uses, with the option it stands for (HA's abbreviations.py).
KNOWN_KEYS = {
    "p", "name", "uniq_id", "def_ent_id", "stat_t", "val_tpl", "dev_cla", "unit_of_meas", "stat_cla",
    "sug_dsp_prc", "options", "ent_cat", "json_attr_t", "json_attr_tpl", "avty", "avty_mode", "cmd_t", "cmd_tpl",
    "pl_prs", "icon", "min", "max", "step", "mode", "img_t", "cont_type", "evt_typ", "pct_cmd_t", "pct_cmd_tpl",
    "spd_rng_min", "spd_rng_max", "t",
}


def spec(**overrides: Any) -> PrinterDiscovery:
    values: dict[str, Any] = {"gateway_id": "gw1", "printer_id": "p1", "printer_name": "Prusa MK3",
                              "base_topic": "base", "firmware_name": "Marlin", "firmware_version": "2.1.2.1"}
    values.update(overrides)
    return PrinterDiscovery(**values)


def render(template: str, value_json: Any) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["as_datetime"] = lambda v: dt.datetime.fromtimestamp(float(v), dt.timezone.utc)
    return env.from_string(template).render(value_json=value_json).strip()


def test_device_origin_and_ids_carry_the_gateway_identity() -> None:
    doc = build_discovery(spec())
    json.dumps(doc)  # serialisable
    assert doc["dev"] == {"ids": ["mqttprint_gw1_p1"], "name": "Prusa MK3", "mf": "mqttprint", "mdl": "Marlin",
                          "sw": "2.1.2.1"}
    assert doc["o"]["name"] == "mqttprint" and doc["o"]["sw"] == __version__
    for key, comp in doc["cmps"].items():
        assert comp["uniq_id"] == f"mqttprint_gw1_p1_{key}"
        # the suggested entity id keeps the pre-gateway-id form (migrated installs keep their entity ids)
        assert comp["def_ent_id"] == f"{comp['p']}.mqttprint_p1_{key}"


def test_two_gateways_with_the_same_printer_id_never_share_an_id() -> None:
    a, b = build_discovery(spec(gateway_id="shop")), build_discovery(spec(gateway_id="garage"))
    assert a["dev"]["ids"] != b["dev"]["ids"]
    assert not {c["uniq_id"] for c in a["cmps"].values()} & {c["uniq_id"] for c in b["cmps"].values()}


def test_unique_ids_are_stable_across_restarts_and_firmware_facts() -> None:
    """Only the configuration decides ids: a restart, the firmware identifying itself, or heaters
    being reported must not change the id of any entity that exists either way."""
    before = build_discovery(spec(firmware_name=None, firmware_version=None))
    after = build_discovery(spec(heaters=("tool0", "tool1", "bed")))
    assert build_discovery(spec()) == build_discovery(spec())
    for key, comp in before["cmps"].items():
        assert after["cmps"][key]["uniq_id"] == comp["uniq_id"]
    pinned = {"state", "connected", "printing", "error", "tool0_actual", "tool0_target", "tool0_setpoint",
              "bed_actual", "bed_target", "bed_setpoint", "job_percentage", "current_file", "print_time",
              "print_time_left", "finish_time", "slicer_estimate", "current_layer", "total_layers", "current_z",
              "filament_used", "prompt", "thumbnail", "print_event", "attention_event", "pause", "resume", "cancel",
              "emergency_stop", "home", "connect", "part_fan", "feed_rate", "flow_rate", "position_x", "position_y",
              "position_z"}
    assert set(before["cmps"]) == pinned


def test_no_deprecated_or_unknown_keys() -> None:
    doc = build_discovery(spec(camera=True, core_commands=["restart"],
                               system_buttons=[SystemButton("custom", "backup", "Backup")]))
    assert set(doc) == {"dev", "o", "avty", "avty_mode", "qos", "cmps"}
    for key, comp in doc["cmps"].items():
        assert not set(comp) & DEPRECATED_KEYS, key
        assert set(comp) <= KNOWN_KEYS, (key, set(comp) - KNOWN_KEYS)
        if comp["p"] == "sensor" and "ent_cat" in comp:
            assert comp["ent_cat"] == "diagnostic"  # the only category HA allows for sensors
        if comp.get("dev_cla") in ("enum", "timestamp"):
            assert "stat_cla" not in comp and "unit_of_meas" not in comp  # HA refuses these combinations


def test_availability_is_all_of_printer_connection_and_link() -> None:
    doc = build_discovery(spec(extra_availability=("base/availability",)))
    assert doc["avty_mode"] == "all"
    assert [a["t"] for a in doc["avty"]] == ["base/p1/availability", "base/availability", "base/p1/status"]
    link = doc["avty"][2]["val_tpl"]
    assert render(link, {"state": "Offline after error"}) == "offline"
    assert render(link, {"state": "Offline"}) == "offline"
    assert render(link, {"state": "Printing"}) == "online"
    cmps = doc["cmps"]
    # entities that report or repair the link itself: the printer's availability only
    for key in ("state", "connected", "error", "connect"):
        assert cmps[key]["avty"] == [{"t": "base/p1/availability"}, {"t": "base/availability"}], key
        assert cmps[key]["avty_mode"] == "all"
    # everything else inherits the device-wide "all of" rule (nothing stale shown as live)
    assert "avty" not in cmps["tool0_actual"] and "avty" not in cmps["thumbnail"]


def test_core_entities() -> None:
    cmps = build_discovery(spec())["cmps"]
    state = cmps["state"]
    assert state["dev_cla"] == "enum" and state["options"] == [s.text for s in PrinterState]
    assert state["stat_t"] == "base/p1/status"
    for key in ("tool0_actual", "tool0_target", "bed_actual", "bed_target"):
        assert cmps[key]["p"] == "sensor" and cmps[key]["dev_cla"] == "temperature"
        assert cmps[key]["unit_of_meas"] == "°C" and cmps[key]["stat_t"] == "base/p1/temperature"
    assert cmps["printing"]["p"] == "binary_sensor" and cmps["printing"]["dev_cla"] == "running"
    assert cmps["error"]["dev_cla"] == "problem"
    for key, payload in (("pause", "pause"), ("resume", "resume"), ("cancel", "cancel")):
        assert cmps[key]["cmd_t"] == "base/p1/job" and cmps[key]["pl_prs"] == payload
    assert cmps["emergency_stop"]["cmd_t"] == "base/p1/emergency" and cmps["emergency_stop"]["pl_prs"] == "M112"
    assert cmps["home"]["cmd_t"] == "base/p1/command" and cmps["home"]["pl_prs"] == "G28"
    for key in ("job_percentage", "current_file", "print_time_left", "finish_time", "current_layer", "total_layers",
                "current_z", "filament_used", "slicer_estimate"):
        assert cmps[key]["stat_t"] == "base/p1/progress", key
    for axis in "xyz":
        assert cmps[f"position_{axis}"]["stat_t"] == "base/p1/position"


def test_print_facts_sensors_have_sensible_classes_and_units() -> None:
    cmps = build_discovery(spec())["cmps"]
    assert cmps["finish_time"]["dev_cla"] == "timestamp"
    for key in ("print_time", "print_time_left", "slicer_estimate"):
        assert (cmps[key]["dev_cla"], cmps[key]["unit_of_meas"]) == ("duration", "s"), key
    for key in ("current_z", "filament_used"):
        assert (cmps[key]["dev_cla"], cmps[key]["unit_of_meas"]) == ("distance", "mm"), key
    assert cmps["prompt"]["stat_t"] == "base/p1/prompt"
    assert cmps["thumbnail"] == {**cmps["thumbnail"], "p": "image", "img_t": "base/p1/thumbnail",
                                 "cont_type": "image/png"}


def test_templates_render_none_for_missing_data_and_values_when_present() -> None:
    cmps = build_discovery(spec())["cmps"]

    def value(key: str, payload: Any) -> str:
        return render(cmps[key]["val_tpl"], payload)

    for key, comp in cmps.items():  # nothing published yet (or an older gateway): unknown, no warning
        if "val_tpl" in comp and comp["p"] != "event":
            assert value(key, {}) == "None", key
            assert value(key, "not json") == "None", key
    assert value("tool0_actual", {"tool0": {"actual": 21.5, "target": None}, "ts": 1}) == "21.5"
    assert value("tool0_target", {"tool0": {"actual": 21.5, "target": None}}) == "None"
    assert value("job_percentage", {"completion": 42.5}) == "42.5"
    assert value("current_file", {"file": {"name": "a.gcode"}}) == "a.gcode"
    assert value("current_file", {"file": "b.gcode"}) == "b.gcode"
    assert value("printing", {"flags": {"printing": True}}) == "ON"
    assert value("printing", {"flags": {"printing": False}}) == "OFF"
    assert value("connected", {"state": "Offline"}) == "OFF"
    # printTimeLeft null until an estimate exists: unknown, never 0
    assert value("print_time_left", {"printTimeLeft": None, "printTime": 3}) == "None"
    assert value("print_time_left", {"printTimeLeft": 0}) == "0"
    progress = {"layer": 3, "layers": 120, "z": 0.6, "eta": 1765000000, "estimate": 3600, "filament": 1234.5}
    assert value("current_layer", progress) == "3" and value("total_layers", progress) == "120"
    assert value("current_z", progress) == "0.6" and value("slicer_estimate", progress) == "3600"
    assert value("finish_time", progress) == "2025-12-06 05:46:40+00:00"
    assert value("finish_time", {"eta": None}) == "None"
    assert value("filament_used", progress) == "1234.5"
    assert value("filament_used", {"filament": {"used": 12.5}}) == "12.5"
    assert value("prompt", {"open": True, "text": "Filament runout", "buttons": ["Continue"]}) == "Filament runout"
    assert value("prompt", {"open": True, "text": "x" * 400}) == "x" * 255  # HA's state length limit
    assert value("prompt", {"open": False, "text": "old text"}) == "None"
    attrs = json.loads(render(cmps["prompt"]["json_attr_tpl"], {"open": True, "text": "t", "buttons": ["A", "B"],
                                                                 "source": "action"}))
    assert attrs == {"open": True, "buttons": ["A", "B"], "source": "action"}
    assert json.loads(render(cmps["prompt"]["json_attr_tpl"], {})) == {"open": False, "buttons": [], "source": None}
    assert json.loads(render(cmps["print_time_left"]["json_attr_tpl"], {"printTimeLeftOrigin": "estimate"})) == {
        "origin": "estimate"}


@pytest.mark.parametrize("key, events", [("print_event", PRINT_EVENTS), ("attention_event", ATTENTION_EVENTS)])
def test_event_entities_turn_event_topics_into_event_types(key: str, events: dict[str, str]) -> None:
    comp = build_discovery(spec())["cmps"][key]
    assert comp["p"] == "event" and comp["stat_t"] == "base/p1/event/+"
    assert comp["evt_typ"] == list(events.values())
    for name, event_type in events.items():
        rendered = json.loads(render(comp["val_tpl"], {"event": name, "name": "a.gcode", "ts": 5}))
        assert rendered == {"event": name, "name": "a.gcode", "ts": 5, "event_type": event_type}
    # other events render nothing, which Home Assistant ignores without a warning
    assert render(comp["val_tpl"], {"event": "PrinterStateChanged", "ts": 5}) == ""
    assert render(comp["val_tpl"], {}) == "" and render(comp["val_tpl"], "x") == ""
    assert set(PRINT_EVENTS) == {"PrintStarted", "PrintDone", "PrintFailed", "PrintCancelled", "PrintPaused",
                                 "PrintResumed"}
    assert {"FilamentRunout", "FilamentChange", "PromptShown", "PromptClosed", "PausedByFirmware"} <= set(
        ATTENTION_EVENTS)


def test_fan_feed_and_flow_controls_use_the_command_topic() -> None:
    cmps = build_discovery(spec())["cmps"]
    fan = cmps["part_fan"]
    assert fan["p"] == "fan" and fan["cmd_t"] == fan["pct_cmd_t"] == "base/p1/command"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    assert env.from_string(fan["cmd_tpl"]).render(value="ON") == "M106 S255"
    assert env.from_string(fan["cmd_tpl"]).render(value="OFF") == "M107"
    # HA maps its percentage onto 1..255, the firmware's PWM range
    assert (fan["spd_rng_min"], fan["spd_rng_max"]) == (1, 255)
    assert env.from_string(fan["pct_cmd_tpl"]).render(value=128) == "M106 S128"
    assert env.from_string(cmps["feed_rate"]["cmd_tpl"]).render(value=150.0) == "M220 S150"
    assert env.from_string(cmps["flow_rate"]["cmd_tpl"]).render(value=95.0) == "M221 S95"
    for key in ("feed_rate", "flow_rate"):
        assert cmps[key]["p"] == "number" and cmps[key]["unit_of_meas"] == "%" and cmps[key]["min"] < 100 < cmps[key]["max"]


def test_every_reported_heater_gets_sensors_and_settable_ones_a_setpoint() -> None:
    cmps = build_discovery(spec(heaters=("tool0", "tool1", "bed", "chamber", "p")))["cmps"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def command(key: str) -> str:
        return env.from_string(cmps[key]["cmd_tpl"]).render(value=215.0)

    assert command("tool0_setpoint") == "M104 T0 S215"  # several tools: name the tool
    assert command("tool1_setpoint") == "M104 T1 S215"
    assert command("bed_setpoint") == "M140 S215" and command("chamber_setpoint") == "M141 S215"
    assert "p_actual" in cmps and "p_setpoint" not in cmps  # a probe sensor is not a heater
    assert cmps["tool1_actual"]["name"] == "Actual Tool 1 temp"
    assert render(cmps["tool1_setpoint"]["val_tpl"], {"tool1": {"actual": 20, "target": 215}}) == "215"
    single = build_discovery(spec(heaters=("tool0", "bed")))["cmps"]
    assert env.from_string(single["tool0_setpoint"]["cmd_tpl"]).render(value=200.0) == "M104 S200"
    for key in ("tool0_setpoint", "bed_setpoint"):
        assert single[key]["cmd_t"] == "base/p1/command" and single[key]["dev_cla"] == "temperature"


def test_camera_only_when_snapshots_are_published() -> None:
    assert "camera" not in build_discovery(spec())["cmps"]
    camera = build_discovery(spec(camera=True))["cmps"]["camera"]
    assert camera["p"] == "camera" and camera["t"] == "base/p1/camera"


def test_unknown_firmware() -> None:
    doc = build_discovery(spec(printer_name="p1", firmware_name=None, firmware_version=None))
    assert doc["dev"]["mdl"] == "3D printer" and "sw" not in doc["dev"] and doc["dev"]["name"] == "p1"


def test_core_system_buttons() -> None:
    cmps = build_discovery(spec(core_commands=["reboot", "shutdown"]))["cmps"]
    assert cmps["system_reboot"]["cmd_t"] == "base/p1/system/core/reboot"
    assert cmps["system_reboot"]["dev_cla"] == "restart" and cmps["system_reboot"]["pl_prs"] == "PRESS"
    assert "dev_cla" not in cmps["system_shutdown"]
    assert "system_restart" not in cmps
    assert "system_reboot" not in build_discovery(spec())["cmps"]


def test_custom_system_commands_become_buttons_with_confirm_attributes() -> None:
    cmps = build_discovery(spec(core_commands=["shutdown"], system_buttons=[
        SystemButton("custom", "backup", "Backup", "Back up now?"),
        SystemButton("custom", "divider", ""),
        SystemButton("custom", "lights-on", "Lights"),
    ]))["cmps"]
    assert "system_shutdown" in cmps
    backup = cmps["system_custom_backup"]
    assert backup["p"] == "button" and backup["cmd_t"] == "base/p1/system/custom/backup" and backup["name"] == "Backup"
    assert "system_custom_lights_on" in cmps and not [k for k in cmps if "divider" in k]
    listing = {"core": [], "plugin": [], "custom": [
        {"action": "backup", "name": "Backup", "confirm": "Back up now?", "source": "custom", "resource": "x"},
        {"action": "lights-on", "name": "Lights", "source": "custom", "resource": "y"}]}
    rendered = json.loads(jinja2.Environment().from_string(backup["json_attr_tpl"]).render(value_json=listing))
    assert rendered == {"source": "custom", "action": "backup", "confirm": "Back up now?"}
    lights = json.loads(jinja2.Environment().from_string(cmps["system_custom_lights_on"]["json_attr_tpl"])
                        .render(value_json=listing))
    assert lights["confirm"] is None


def test_legacy_configs_are_recognised_only_for_this_base_topic() -> None:
    old = {"dev": {"ids": ["mqttprint_p1"]}, "o": {"name": "mqttprint", "sw": "0.1"},
           "avty": [{"t": "base/availability"}, {"t": "base/p1/status", "val_tpl": "x"}], "cmps": {}}
    assert is_legacy_config_of(old, "base", "p1")
    assert not is_legacy_config_of(old, "other", "p1")  # another gateway's printer: not ours to remove
    assert not is_legacy_config_of(old, "base", "p2")
    assert not is_legacy_config_of({**old, "o": {"name": "zigbee2mqtt"}}, "base", "p1")
    assert not is_legacy_config_of(None, "base", "p1") and not is_legacy_config_of([1], "base", "p1")
