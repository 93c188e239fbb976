"""Home Assistant device-based MQTT discovery: one retained config message per printer.

Pure: builds the JSON document; the publisher sends it to `<prefix>/device/<node>/config`, where
`<node>` = `mqttprint_<gateway id>_<printer id>` (`topics.node_id`). The gateway identity in the
node id, the device identifier and every unique id keeps two gateways with the same printer id
apart (they were one flapping Home Assistant device before). Unique ids are `<node>_<key>`, a pure
function of the configuration: stable across restarts.

The entities mirror Home Assistant's OctoPrint integration (state, temperatures and targets, job
percentage/file/times, printing and error binary sensors, pause/resume/stop buttons) and add what
users of Bambu Lab and Moonraker integrations expect: finish time, layers, Z, filament, the slicer's
estimate, the firmware's prompt, a thumbnail image, event entities, fan/feed/flow controls, target
temperatures of every heater the firmware reports, and a camera when one is configured.

Availability (`avty_mode: all`, chosen on purpose): an entity is available only while ALL of
  - `B/availability` is `online` (the printer's retained status with the connection's last will),
  - the printer link is up (`B/status` not Offline / Offline after error),
  - any further topics the caller names (the connection's last-will topic while it is not
    `B/availability`).
"latest" would let an old `online` on one topic hide an `offline` on another, and "any" would show
stale values while the link is down. The few entities that report or repair the link itself
(state, connected, error, connect, system commands) drop the link condition so they can show
"Offline" and be pressed.

Every template is written so Home Assistant never logs a template warning: every key that may
be missing is tested with `is defined` / `default` before use (HA logs a warning for each
undefined variable it renders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from mqttprint import __version__
from mqttprint.mqtt import topics
from mqttprint.protocol.states import PrinterState, is_closed

#: Origin `support_url` shown by Home Assistant; omitted while the project has no public home.
SUPPORT_URL: Optional[str] = None

#: Link states in which the printer's entities are unavailable (nothing to show or control).
OFFLINE_STATES = tuple(state.text for state in PrinterState if is_closed(state))

#: Core system commands as Home Assistant's OctoPrint integration shows them: name, device class.
CORE_BUTTONS = {"shutdown": ("Shutdown System", None), "reboot": ("Reboot System", "restart"),
                "restart": ("Restart mqttprint", "restart")}

#: `B/event/<Name>` -> event type of the "Print" event entity.
PRINT_EVENTS = {"PrintStarted": "started", "PrintDone": "done", "PrintFailed": "failed",
                "PrintCancelled": "cancelled", "PrintPaused": "paused", "PrintResumed": "resumed"}
#: `B/event/<Name>` -> event type of the "Printer Attention" event entity (firmware asks for a person).
ATTENTION_EVENTS = {"FilamentRunout": "filament_runout", "FilamentChange": "filament_change",
                    "PromptShown": "prompt_shown", "PromptClosed": "prompt_closed",
                    "PausedByFirmware": "paused_by_firmware", "FirmwareError": "firmware_error",
                    "EmergencyStop": "emergency_stop"}

#: Setpoint commands and limits per heater kind (what Marlin, Klipper and Prusa firmware accept).
TOOL_MAX, BED_MAX, CHAMBER_MAX = 300, 150, 90
#: Feed rate (M220) and flow (M221) limits offered in Home Assistant, percent.
FEED_RATE_RANGE, FLOW_RANGE = (10, 500), (10, 200)

_TOOL = re.compile(r"^tool(\d+)$")
_KEY_SAFE = re.compile(r"[^a-z0-9_]")


@dataclass(frozen=True, slots=True)
class SystemButton:
    """A configured, non-divider system command offered over MQTT as a Home Assistant button."""

    source: str
    action: str
    name: str
    confirm: Optional[str] = None


@dataclass(frozen=True, slots=True)
class PrinterDiscovery:
    """What the discovery document of one printer is built from (all plain configuration facts)."""

    gateway_id: str
    printer_id: str
    printer_name: str
    base_topic: str
    firmware_name: Optional[str] = None
    firmware_version: Optional[str] = None
    #: heaters in `B/temperature` naming (tool0, tool1, bed, chamber, ...), as the firmware reports them
    heaters: Sequence[str] = ("tool0", "bed")
    #: configured core system commands (shutdown/reboot/restart) offered over MQTT
    core_commands: Sequence[str] = ()
    #: configured custom system commands offered over MQTT
    system_buttons: Sequence[SystemButton] = ()
    #: JPEG snapshots are published on `B/camera` (a webcam with `mqtt_interval` > 0)
    camera: bool = False
    #: further availability topics (`online`/`offline`), e.g. the connection's last-will topic
    extra_availability: Sequence[str] = ()


def _defined(path: str) -> str:
    """A Jinja test that `value_json.<path>` exists and is not null, checking every level."""
    parts = path.split(".")
    checks = [f"value_json.{'.'.join(parts[:i + 1])} is defined" for i in range(len(parts))]
    return " and ".join(checks + [f"value_json.{path} is not none"])


def value(path: str, expression: str = "") -> str:
    """A template rendering `value_json.<path>` (or `expression` using it), None when missing.

    None renders as "None", which Home Assistant's MQTT entities take as "unknown"."""
    shown = expression or f"value_json.{path}"
    return f"{{{{ ({shown}) if value_json is mapping and {_defined(path)} else none }}}}"


def heater_name(heater: str) -> str:
    """tool0 -> "Tool 0", bed -> "Bed", chamber -> "Chamber" (for entity names)."""
    match = _TOOL.match(heater)
    return f"Tool {match.group(1)}" if match else heater.replace("_", " ").capitalize()


def setpoint_command(heater: str, heaters: Sequence[str]) -> Optional[str]:
    """The G-code template that sets `heater`'s target, or None when it is not a settable heater.

    With several tools the tool is named (`M104 T1 S..`): a bare M104 heats the active tool."""
    match = _TOOL.match(heater)
    if match:
        several = sum(1 for h in heaters if _TOOL.match(h)) > 1
        return f"M104 T{match.group(1)} S{{{{ value | int }}}}" if several else "M104 S{{ value | int }}"
    return {"bed": "M140 S{{ value | int }}", "chamber": "M141 S{{ value | int }}"}.get(heater)


def _event_template(mapping: dict[str, str]) -> str:
    """Render `{"event_type": ..., <the event's data>}` for the listed events and "" for others
    (Home Assistant ignores an empty rendering quietly: one wildcard topic feeds the entity)."""
    table = "{" + ", ".join(f"'{k}': '{v}'" for k, v in mapping.items()) + "}"
    return ("{% set e = value_json.event if value_json is mapping and value_json.event is defined else '' %}"
            f"{{% set t = {table}.get(e) %}}"
            "{% if t %}{{ dict(value_json, event_type=t) | tojson }}{% endif %}")


def build_discovery(spec: PrinterDiscovery) -> dict[str, Any]:
    """The device-discovery document for one printer (abbreviated keys, as HA documents them)."""
    t = topics.PrinterTopics(spec.base_topic, spec.printer_id)
    node = topics.node_id(spec.gateway_id, spec.printer_id)
    legacy = topics.legacy_node_id(spec.printer_id)
    offline = ", ".join(f"'{s}'" for s in OFFLINE_STATES)
    printer_online = [{"t": t.availability}] + [{"t": topic} for topic in spec.extra_availability]
    link = {"t": t.status, "val_tpl": ("{{ 'offline' if value_json is mapping and value_json.state is defined "
                                        f"and value_json.state in [{offline}] else 'online' }}}}")}
    device: dict[str, Any] = {"ids": [node], "name": spec.printer_name, "mf": "mqttprint",
                              "mdl": spec.firmware_name or "3D printer"}
    if spec.firmware_version:
        device["sw"] = spec.firmware_version

    def entity(key: str, platform: str, name: str, **options: Any) -> dict[str, Any]:
        # The suggested entity id keeps the pre-gateway-id form, so an install migrated from it
        # (old entities removed first) keeps its entity ids, automations and history.
        return {"p": platform, "name": name, "uniq_id": f"{node}_{key}",
                "def_ent_id": f"{platform}.{legacy}_{key}", **options}

    link_exempt = {"avty": printer_online, "avty_mode": "all"}
    flags = {"stat_t": t.status}
    progress = {"stat_t": t.progress}
    duration = {"dev_cla": "duration", "unit_of_meas": "s", **progress}
    position = {"dev_cla": "distance", "unit_of_meas": "mm", "stat_cla": "measurement", "sug_dsp_prc": 2,
                "ent_cat": "diagnostic", "stat_t": t.position}
    components: dict[str, dict[str, Any]] = {
        "state": entity("state", "sensor", "Current State", dev_cla="enum", options=[s.text for s in PrinterState],
                        val_tpl=value("state"), **flags, **link_exempt),
        "connected": entity("connected", "binary_sensor", "Connected", dev_cla="connectivity", ent_cat="diagnostic",
                            val_tpl=value("state", f"'OFF' if value_json.state in [{offline}] else 'ON'"),
                            **flags, **link_exempt),
        "printing": entity("printing", "binary_sensor", "Printing", dev_cla="running",
                           val_tpl=value("flags.printing", "'ON' if value_json.flags.printing else 'OFF'"), **flags),
        "error": entity("error", "binary_sensor", "Printing Error", dev_cla="problem",
                        val_tpl=value("flags.error", "'ON' if value_json.flags.error else 'OFF'"),
                        json_attr_t=t.status,
                        json_attr_tpl="{{ {'error': value_json.error | default(none)} | tojson }}",
                        **flags, **link_exempt),
    }
    components.update(_temperatures(spec, t, entity))
    components.update({
        "job_percentage": entity("job_percentage", "sensor", "Job Percentage", unit_of_meas="%",
                                 stat_cla="measurement", sug_dsp_prc=1, val_tpl=value("completion"), **progress),
        "current_file": entity("current_file", "sensor", "Current File", icon="mdi:file",
                               val_tpl=value("file", "value_json.file.name if value_json.file is mapping "
                                                     "else value_json.file"), **progress),
        "print_time": entity("print_time", "sensor", "Print Time", val_tpl=value("printTime"), **duration),
        "print_time_left": entity("print_time_left", "sensor", "Print Time Left", val_tpl=value("printTimeLeft"),
                                  json_attr_t=t.progress,
                                  json_attr_tpl="{{ {'origin': value_json.printTimeLeftOrigin | default(none)} "
                                                "| tojson }}",
                                  **duration),
        "finish_time": entity("finish_time", "sensor", "Estimated Finish Time", dev_cla="timestamp",
                              val_tpl=value("eta", "as_datetime(value_json.eta)"), **progress),
        "slicer_estimate": entity("slicer_estimate", "sensor", "Slicer Estimate", val_tpl=value("estimate"),
                                  **duration),
        "current_layer": entity("current_layer", "sensor", "Current Layer", icon="mdi:layers",
                                stat_cla="measurement", val_tpl=value("layer"), **progress),
        "total_layers": entity("total_layers", "sensor", "Total Layers", icon="mdi:layers-triple",
                               val_tpl=value("layers"), **progress),
        "current_z": entity("current_z", "sensor", "Current Z", dev_cla="distance", unit_of_meas="mm",
                            stat_cla="measurement", sug_dsp_prc=2, val_tpl=value("z"), **progress),
        "filament_used": entity("filament_used", "sensor", "Filament Used", dev_cla="distance", unit_of_meas="mm",
                                stat_cla="measurement", sug_dsp_prc=0, icon="mdi:printer-3d-nozzle",
                                val_tpl=_filament_template(), **progress),
        "prompt": entity("prompt", "sensor", "Firmware Prompt", icon="mdi:message-alert", stat_t=t.prompt,
                         val_tpl=value("text", "value_json.text[:255] if value_json.open | default(false) else none"),
                         json_attr_t=t.prompt,
                         json_attr_tpl=("{{ {'open': value_json.open | default(false), "
                                        "'buttons': value_json.buttons | default([]), "
                                        "'source': value_json.source | default(none)} | tojson }}")),
        "thumbnail": entity("thumbnail", "image", "Thumbnail", img_t=t.thumbnail, cont_type="image/png"),
        "print_event": entity("print_event", "event", "Print", stat_t=t.event("+"), icon="mdi:printer-3d",
                              evt_typ=list(PRINT_EVENTS.values()), val_tpl=_event_template(PRINT_EVENTS)),
        "attention_event": entity("attention_event", "event", "Printer Attention", stat_t=t.event("+"),
                                  icon="mdi:alert-circle", evt_typ=list(ATTENTION_EVENTS.values()),
                                  val_tpl=_event_template(ATTENTION_EVENTS)),
        "pause": entity("pause", "button", "Pause Job", cmd_t=t.job, pl_prs="pause", icon="mdi:pause"),
        "resume": entity("resume", "button", "Resume Job", cmd_t=t.job, pl_prs="resume", icon="mdi:play"),
        "cancel": entity("cancel", "button", "Stop Job", cmd_t=t.job, pl_prs="cancel", icon="mdi:stop"),
        "emergency_stop": entity("emergency_stop", "button", "Emergency Stop", cmd_t=t.emergency, pl_prs="M112",
                                 icon="mdi:alert-octagon"),
        "home": entity("home", "button", "Home", cmd_t=t.command, pl_prs="G28", icon="mdi:home"),
        "connect": entity("connect", "button", "Connect", cmd_t=t.connection, pl_prs="connect",
                          ent_cat="config", icon="mdi:connection", **link_exempt),
        # The firmware reports neither fan speed nor feed/flow factors: these controls are
        # optimistic (no state topic; Home Assistant marks them as assumed state).
        "part_fan": entity("part_fan", "fan", "Part Cooling Fan", cmd_t=t.command, icon="mdi:fan",
                           cmd_tpl="{{ 'M106 S255' if value == 'ON' else 'M107' }}",
                           pct_cmd_t=t.command, pct_cmd_tpl="M106 S{{ value | int }}",
                           spd_rng_min=1, spd_rng_max=255),
        "feed_rate": entity("feed_rate", "number", "Feed Rate", cmd_t=t.command, cmd_tpl="M220 S{{ value | int }}",
                            min=FEED_RATE_RANGE[0], max=FEED_RATE_RANGE[1], step=1, mode="box", unit_of_meas="%",
                            icon="mdi:speedometer"),
        "flow_rate": entity("flow_rate", "number", "Flow Rate", cmd_t=t.command, cmd_tpl="M221 S{{ value | int }}",
                            min=FLOW_RANGE[0], max=FLOW_RANGE[1], step=1, mode="box", unit_of_meas="%",
                            icon="mdi:water-percent"),
        "position_x": entity("position_x", "sensor", "Position X", val_tpl=value("x"), **position),
        "position_y": entity("position_y", "sensor", "Position Y", val_tpl=value("y"), **position),
        "position_z": entity("position_z", "sensor", "Position Z", val_tpl=value("z"), **position),
    })
    if spec.camera:
        components["camera"] = entity("camera", "camera", "Camera", t=t.camera)
    components.update(_system_buttons(spec, t, entity, link_exempt))
    origin: dict[str, Any] = {"name": "mqttprint", "sw": __version__}
    if SUPPORT_URL:
        origin["url"] = SUPPORT_URL
    return {"dev": device, "o": origin, "avty": printer_online + [link], "avty_mode": "all", "qos": 1,
            "cmps": components}


def _filament_template() -> str:
    """Filament used so far in mm: `filament` as a number, or its `used`/`length` field."""
    return ("{% set f = value_json.filament if value_json is mapping and value_json.filament is defined else none %}"
            "{% if f is number %}{{ f }}"
            "{% elif f is mapping and f.used is defined and f.used is number %}{{ f.used }}"
            "{% elif f is mapping and f.length is defined and f.length is number %}{{ f.length }}"
            "{% else %}{{ none }}{% endif %}")


def _temperatures(spec: PrinterDiscovery, t: topics.PrinterTopics, entity: Any) -> dict[str, dict[str, Any]]:
    """Actual and target sensors for every reported heater, plus a setpoint number for settable ones."""
    out: dict[str, dict[str, Any]] = {}
    sensor = {"dev_cla": "temperature", "unit_of_meas": "°C", "stat_cla": "measurement", "sug_dsp_prc": 1,
              "stat_t": t.temperature}
    for heater in dict.fromkeys(spec.heaters):
        key = _KEY_SAFE.sub("_", heater.lower())
        if not key:
            continue
        label = heater_name(heater)
        out[f"{key}_actual"] = entity(f"{key}_actual", "sensor", f"Actual {label} temp",
                                      val_tpl=value(f"{heater}.actual"), **sensor)
        out[f"{key}_target"] = entity(f"{key}_target", "sensor", f"Target {label} temp",
                                      val_tpl=value(f"{heater}.target"), **sensor)
        command = setpoint_command(heater, spec.heaters)
        if command is None:
            continue
        limit = BED_MAX if heater == "bed" else CHAMBER_MAX if heater == "chamber" else TOOL_MAX
        out[f"{key}_setpoint"] = entity(f"{key}_setpoint", "number", f"{label} target temperature",
                                        dev_cla="temperature", unit_of_meas="°C", min=0, max=limit, step=1,
                                        mode="box", cmd_t=t.command, cmd_tpl=command, stat_t=t.temperature,
                                        val_tpl=value(f"{heater}.target"))
    return out


def _system_buttons(spec: PrinterDiscovery, t: topics.PrinterTopics, entity: Any,
                    availability: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One config button per configured core and custom system command."""
    out: dict[str, dict[str, Any]] = {}
    for action in spec.core_commands:
        if action in CORE_BUTTONS:
            name, device_class = CORE_BUTTONS[action]
            extra = {"dev_cla": device_class} if device_class else {}
            out[f"system_{action}"] = entity(f"system_{action}", "button", name, ent_cat="config",
                                             cmd_t=t.system_action("core", action), pl_prs="PRESS",
                                             **availability, **extra)
    for button in spec.system_buttons:
        if button.source == "core" or button.action == "divider":
            continue
        key = "system_custom_" + _KEY_SAFE.sub("_", button.action.lower())
        attributes = ("{{ {'source': 'custom', 'action': '%s', 'confirm': (value_json.custom | default([]) "
                      "| selectattr('action', 'equalto', '%s') | map(attribute='confirm', default=none) "
                      "| list | first | default(none))} | tojson }}") % (button.action, button.action)
        out[key] = entity(key, "button", button.name, ent_cat="config",
                          cmd_t=t.system_action(button.source, button.action), pl_prs="PRESS",
                          json_attr_t=t.system_list, json_attr_tpl=attributes, **availability)
    return out


def is_legacy_config_of(document: Any, base_topic: str, printer_id: str) -> bool:
    """Whether a retained document on the pre-gateway-id topic `<prefix>/device/mqttprint_<id>/config`
    was published by mqttprint for this printer under this base topic (and so is ours to retire).

    A document another gateway published (other base topic) is left alone."""
    if not isinstance(document, dict):
        return False
    origin = document.get("o") or document.get("origin")
    if not isinstance(origin, dict) or origin.get("name") != "mqttprint":
        return False
    status = topics.PrinterTopics(base_topic, printer_id).status
    availability = document.get("avty") or document.get("availability") or []
    return isinstance(availability, list) and any(
        isinstance(a, dict) and (a.get("t") or a.get("topic")) == status for a in availability)
