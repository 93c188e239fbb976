"""Home Assistant device-based MQTT discovery: one retained config message per printer.

Pure: builds the JSON document; the bridge publishes it to `<prefix>/device/mqttprint_<id>/config`.
The entities mirror what Home Assistant's OctoPrint integration shows (current state, tool/bed
temperatures and targets, job percentage/file/time left, printing and error binary sensors,
pause/resume/cancel buttons, target-temperature numbers) plus emergency stop, home, connect and
the X/Y/Z position. Unique ids are `mqttprint_<printer id>_<key>`: stable across restarts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Any, Optional, Sequence

from mqttprint import __version__
from mqttprint.mqtt import topics
from mqttprint.protocol.states import PrinterState

#: Origin `support_url` shown by Home Assistant; omitted while the project has no public home.
SUPPORT_URL: Optional[str] = None

#: Link states in which the printer's entities are unavailable (nothing to show or control).
OFFLINE_STATES = (PrinterState.OFFLINE.text, PrinterState.OFFLINE_AFTER_ERROR.text)


def _field(name: str, key: str) -> str:
    """A template reading `value_json.<name>.<key>` that renders None (HA: unknown) when absent."""
    return (f"{{% set h = value_json.{name} | default(none) %}}"
            f"{{{{ h.{key} if h is mapping and h.{key} is not none else none }}}}")


def _value(key: str) -> str:
    """A template reading a top-level key, None when absent (e.g. before the first job)."""
    return f"{{{{ value_json.{key} if value_json.{key} is defined and value_json.{key} is not none else none }}}}"


#: Core system commands as Home Assistant's OctoPrint integration shows them: name, device class.
CORE_BUTTONS = {"shutdown": ("Shutdown System", None), "reboot": ("Reboot System", "restart"),
                "restart": ("Restart mqttprint", "restart")}


@dataclass(frozen=True, slots=True)
class SystemButton:
    """A configured, non-divider system command offered over MQTT as a Home Assistant button."""

    source: str
    action: str
    name: str
    confirm: Optional[str] = None


def build_discovery(printer_id: str, printer_name: str, base_topic: str,
                    firmware_name: Optional[str] = None, firmware_version: Optional[str] = None,
                    core_commands: Sequence[str] = (), system_buttons: Sequence[SystemButton] = ()) -> dict[str, Any]:
    """The device-discovery document for one printer (abbreviated keys, as HA documents them).

    `core_commands`: the configured core system commands (shutdown/reboot/restart) offered over
    MQTT; each becomes a button publishing to `B/system/core/<action>`. `system_buttons`: custom
    commands, each a button publishing to `B/system/custom/<action>` whose attributes carry the
    command's confirm text (read from the retained `B/system` listing).
    """
    t = topics.PrinterTopics(base_topic, printer_id)
    node = topics.node_id(printer_id)
    gateway = {"t": topics.gateway_availability(base_topic)}
    offline = ", ".join(f"'{s}'" for s in OFFLINE_STATES)
    link = {"t": t.status, "val_tpl": f"{{{{ 'offline' if value_json.state in [{offline}] else 'online' }}}}"}
    device: dict[str, Any] = {"ids": [node], "name": printer_name, "mf": "mqttprint",
                              "mdl": firmware_name or "3D printer"}
    if firmware_version:
        device["sw"] = firmware_version

    def entity(key: str, platform: str, name: str, **options: Any) -> dict[str, Any]:
        return {"p": platform, "name": name, "uniq_id": f"{node}_{key}",
                "default_entity_id": f"{platform}.{node}_{key}", **options}

    # Entities that must stay readable while the printer link is down (they report exactly that)
    # use only the gateway's availability instead of the device-wide "gateway AND link" rule.
    gateway_only = {"avty": [gateway], "avty_mode": "all"}
    temperature = {"dev_cla": "temperature", "unit_of_meas": "°C", "stat_cla": "measurement",
                   "sug_dsp_prc": 1, "stat_t": t.temperature}
    target = {"dev_cla": "temperature", "unit_of_meas": "°C", "min": 0, "step": 1, "mode": "box",
              "cmd_t": t.command, "stat_t": t.temperature}
    position = {"dev_cla": "distance", "unit_of_meas": "mm", "stat_cla": "measurement", "sug_dsp_prc": 2,
                "ent_cat": "diagnostic", "stat_t": t.position}
    components = {
        "state": entity("state", "sensor", "Current State", stat_t=t.status, dev_cla="enum",
                        options=[s.text for s in PrinterState], val_tpl="{{ value_json.state }}", **gateway_only),
        "connected": entity("connected", "binary_sensor", "Connected", stat_t=t.status, dev_cla="connectivity",
                            ent_cat="diagnostic",
                            val_tpl=f"{{{{ 'OFF' if value_json.state in [{offline}] else 'ON' }}}}", **gateway_only),
        "printing": entity("printing", "binary_sensor", "Printing", stat_t=t.status, dev_cla="running",
                           val_tpl="{{ 'ON' if value_json.flags.printing else 'OFF' }}"),
        "error": entity("error", "binary_sensor", "Printing Error", stat_t=t.status, dev_cla="problem",
                        val_tpl="{{ 'ON' if value_json.flags.error else 'OFF' }}",
                        json_attr_t=t.status, json_attr_tpl="{{ {'error': value_json.error} | tojson }}",
                        **gateway_only),
        "tool0_actual": entity("tool0_actual", "sensor", "Actual tool0 temp", val_tpl=_field("tool0", "actual"),
                               **temperature),
        "tool0_target": entity("tool0_target", "sensor", "Target tool0 temp", val_tpl=_field("tool0", "target"),
                               **temperature),
        "bed_actual": entity("bed_actual", "sensor", "Actual bed temp", val_tpl=_field("bed", "actual"),
                             **temperature),
        "bed_target": entity("bed_target", "sensor", "Target bed temp", val_tpl=_field("bed", "target"),
                             **temperature),
        "tool0_setpoint": entity("tool0_setpoint", "number", "Tool0 target temperature", max=300,
                                 cmd_tpl="M104 S{{ value }}", val_tpl=_field("tool0", "target"), **target),
        "bed_setpoint": entity("bed_setpoint", "number", "Bed target temperature", max=150,
                               cmd_tpl="M140 S{{ value }}", val_tpl=_field("bed", "target"), **target),
        "job_percentage": entity("job_percentage", "sensor", "Job Percentage", stat_t=t.progress,
                                 unit_of_meas="%", stat_cla="measurement", sug_dsp_prc=1,
                                 val_tpl=_value("completion")),
        "current_file": entity("current_file", "sensor", "Current File", stat_t=t.progress,
                               val_tpl=("{% set f = value_json.file | default(none) %}"
                                        "{{ f.name if f is mapping else f }}")),
        "print_time": entity("print_time", "sensor", "Print Time", stat_t=t.progress, dev_cla="duration",
                             unit_of_meas="s", val_tpl=_value("printTime")),
        "print_time_left": entity("print_time_left", "sensor", "Print Time Left", stat_t=t.progress,
                                  dev_cla="duration", unit_of_meas="s", val_tpl=_value("printTimeLeft")),
        "pause": entity("pause", "button", "Pause Job", cmd_t=t.job, pl_prs="pause", icon="mdi:pause"),
        "resume": entity("resume", "button", "Resume Job", cmd_t=t.job, pl_prs="resume", icon="mdi:play"),
        "cancel": entity("cancel", "button", "Stop Job", cmd_t=t.job, pl_prs="cancel", icon="mdi:stop"),
        "emergency_stop": entity("emergency_stop", "button", "Emergency Stop", cmd_t=t.emergency, pl_prs="M112",
                                 icon="mdi:alert-octagon"),
        "home": entity("home", "button", "Home", cmd_t=t.command, pl_prs="G28", icon="mdi:home"),
        "connect": entity("connect", "button", "Connect", cmd_t=t.connection, pl_prs="connect",
                          ent_cat="config", icon="mdi:connection", **gateway_only),
        "position_x": entity("position_x", "sensor", "Position X", val_tpl=_value("x"), **position),
        "position_y": entity("position_y", "sensor", "Position Y", val_tpl=_value("y"), **position),
        "position_z": entity("position_z", "sensor", "Position Z", val_tpl=_value("z"), **position),
    }
    for action in core_commands:
        if action in CORE_BUTTONS:
            name, device_class = CORE_BUTTONS[action]
            extra = {"dev_cla": device_class} if device_class else {}
            components[f"system_{action}"] = entity(f"system_{action}", "button", name, ent_cat="config",
                                                    cmd_t=t.system_action("core", action), pl_prs="PRESS",
                                                    **gateway_only, **extra)
    for button in system_buttons:
        if button.source == "core" or button.action == "divider":
            continue
        key = "system_custom_" + re.sub(r"[^a-z0-9_]", "_", button.action.lower())
        attributes = ("{{ {'source': 'custom', 'action': '%s', 'confirm': (value_json.custom | default([]) "
                      "| selectattr('action', 'equalto', '%s') | map(attribute='confirm', default=none) "
                      "| list | first | default(none))} | tojson }}") % (button.action, button.action)
        components[key] = entity(key, "button", button.name, ent_cat="config",
                                 cmd_t=t.system_action(button.source, button.action), pl_prs="PRESS",
                                 json_attr_t=t.system_list, json_attr_tpl=attributes, **gateway_only)
    origin: dict[str, Any] = {"name": "mqttprint", "sw": __version__}
    if SUPPORT_URL:
        origin["url"] = SUPPORT_URL
    return {
        "dev": device,
        "o": origin,
        "avty": [gateway, link],
        "avty_mode": "all",
        "qos": 1,
        "cmps": components,
    }
