"""Home Assistant device discovery document (pure)."""

from __future__ import annotations

import json

from mqttprint import __version__
from mqttprint.mqtt.discovery import build_discovery
from mqttprint.protocol.states import PrinterState


def test_device_origin_availability() -> None:
    doc = build_discovery("p1", "Prusa MK3", "base", "Marlin", "2.1.2.1")
    json.dumps(doc)  # serialisable
    assert doc["dev"] == {"ids": ["mqttprint_p1"], "name": "Prusa MK3", "mf": "mqttprint", "mdl": "Marlin",
                          "sw": "2.1.2.1"}
    assert doc["o"]["name"] == "mqttprint" and doc["o"]["sw"] == __version__
    assert doc["avty_mode"] == "all"
    assert doc["avty"][0] == {"t": "base/availability"}
    assert doc["avty"][1]["t"] == "base/p1/status"
    assert "Offline after error" in doc["avty"][1]["val_tpl"]


def test_unknown_firmware() -> None:
    doc = build_discovery("p1", "p1", "base")
    assert doc["dev"]["mdl"] == "3D printer" and "sw" not in doc["dev"]


def test_components() -> None:
    cmps = build_discovery("p1", "P", "base")["cmps"]
    for key, comp in cmps.items():
        assert comp["uniq_id"] == f"mqttprint_p1_{key}"
        assert comp["p"] in ("sensor", "binary_sensor", "button", "number")
        assert comp["default_entity_id"] == f"{comp['p']}.mqttprint_p1_{key}"
    state = cmps["state"]
    assert state["dev_cla"] == "enum" and state["options"] == [s.text for s in PrinterState]
    assert state["stat_t"] == "base/p1/status"
    assert state["avty"] == [{"t": "base/availability"}]  # shows "Offline" instead of unavailable
    for key in ("tool0_actual", "tool0_target", "bed_actual", "bed_target"):
        assert cmps[key]["p"] == "sensor" and cmps[key]["dev_cla"] == "temperature"
        assert cmps[key]["unit_of_meas"] == "°C" and cmps[key]["stat_t"] == "base/p1/temperature"
    assert cmps["printing"]["p"] == "binary_sensor" and "flags.printing" in cmps["printing"]["val_tpl"]
    assert cmps["error"]["dev_cla"] == "problem" and "flags.error" in cmps["error"]["val_tpl"]
    for key, payload in (("pause", "pause"), ("resume", "resume"), ("cancel", "cancel")):
        assert cmps[key]["cmd_t"] == "base/p1/job" and cmps[key]["pl_prs"] == payload
    assert cmps["emergency_stop"]["cmd_t"] == "base/p1/emergency" and cmps["emergency_stop"]["pl_prs"] == "M112"
    assert cmps["home"]["cmd_t"] == "base/p1/command" and cmps["home"]["pl_prs"] == "G28"
    assert cmps["tool0_setpoint"]["p"] == "number" and cmps["tool0_setpoint"]["cmd_tpl"] == "M104 S{{ value }}"
    assert cmps["bed_setpoint"]["cmd_tpl"] == "M140 S{{ value }}" and cmps["bed_setpoint"]["cmd_t"] == "base/p1/command"
    for key in ("job_percentage", "current_file", "print_time_left"):
        assert cmps[key]["stat_t"] == "base/p1/progress"
    for axis in "xyz":
        assert cmps[f"position_{axis}"]["stat_t"] == "base/p1/position"


def test_templates_render_with_jinja_when_available() -> None:
    """The value templates tolerate missing data (rendered with jinja2 if it is installed)."""
    jinja2 = __import__("pytest").importorskip("jinja2")
    env = jinja2.Environment()
    cmps = build_discovery("p1", "P", "base")["cmps"]

    def render(key: str, value_json: object) -> str:
        return env.from_string(cmps[key]["val_tpl"]).render(value_json=value_json).strip()

    assert render("tool0_actual", {"tool0": {"actual": 21.5, "target": None}, "ts": 1}) == "21.5"
    assert render("tool0_target", {"tool0": {"actual": 21.5, "target": None}}) == "None"
    assert render("bed_actual", {"ts": 1}) == "None"
    assert render("job_percentage", {}) == "None"
    assert render("job_percentage", {"completion": 42.5}) == "42.5"
    assert render("current_file", {"file": {"name": "a.gcode"}}) == "a.gcode"
    assert render("current_file", {"file": "b.gcode"}) == "b.gcode"
    assert render("printing", {"flags": {"printing": True}}) == "ON"


def test_core_system_buttons() -> None:
    cmps = build_discovery("p1", "P", "base", core_commands=["reboot", "shutdown"])["cmps"]
    assert cmps["system_reboot"]["cmd_t"] == "base/p1/system/core/reboot"
    assert cmps["system_reboot"]["dev_cla"] == "restart" and cmps["system_reboot"]["pl_prs"] == "PRESS"
    assert "dev_cla" not in cmps["system_shutdown"]
    assert "system_restart" not in cmps
    assert "system_reboot" not in build_discovery("p1", "P", "base")["cmps"]


def test_custom_system_commands_become_buttons_with_confirm_attributes() -> None:
    import jinja2

    from mqttprint.mqtt.discovery import SystemButton

    cmps = build_discovery("p1", "P", "base", core_commands=["shutdown"], system_buttons=[
        SystemButton("custom", "backup", "Backup", "Back up now?"),
        SystemButton("custom", "divider", ""),
        SystemButton("custom", "lights-on", "Lights"),
    ])["cmps"]
    assert "system_shutdown" in cmps
    backup = cmps["system_custom_backup"]
    assert backup["p"] == "button" and backup["cmd_t"] == "base/p1/system/custom/backup" and backup["name"] == "Backup"
    assert "system_custom_lights_on" in cmps and not [k for k in cmps if "divider" in k]
    listing = {"core": [], "plugin": [], "custom": [
        {"action": "backup", "name": "Backup", "confirm": "Back up now?", "source": "custom", "resource": "x"},
        {"action": "lights-on", "name": "Lights", "source": "custom", "resource": "y"}]}
    env = jinja2.Environment()
    rendered = json.loads(env.from_string(backup["json_attr_tpl"]).render(value_json=listing))
    assert rendered == {"source": "custom", "action": "backup", "confirm": "Back up now?"}
    lights = json.loads(env.from_string(cmps["system_custom_lights_on"]["json_attr_tpl"]).render(value_json=listing))
    assert lights["confirm"] is None
