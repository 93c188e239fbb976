"""Fixed-format text the simulated firmware prints: boot banner, M115 report, position line.

Formats follow Marlin 2.1.2.1 as recorded in reference §0, §5, §6 and §9.4.
"""

from __future__ import annotations

from mqttprint.sim.config import SimConfig
from mqttprint.sim.planner import Vector, counts

#: Compile stamp the fake build reports (banner "Compiled:" and M115 FIRMWARE_NAME).
BUILD_DATE = "Jun 12 2023"
BUILD_TIME = "10:00:00"
SOURCE_CODE_URL = "github.com/MarlinFirmware/Marlin"

#: Reset causes as Marlin 2.1 prints them (no "echo:" prefix; note the leading space).
RESET_POWER_UP = "PowerUp"
RESET_EXTERNAL = " External Reset"


def fmt_mm(value: float) -> str:
    """Two decimals (``SERIAL_FLOAT_PRECISION``), never ``-0.00``."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def position_line(logical: Vector | list[float], machine: Vector) -> str:
    """``X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120`` (M114, M154, end of G28)."""
    cx, cy, cz = counts(machine)
    x, y, z, e = (fmt_mm(v) for v in logical)
    return f"X:{x} Y:{y} Z:{z} E:{e} Count X:{cx} Y:{cy} Z:{cz}"


def banner_lines(config: SimConfig, reset_cause: str) -> list[str]:
    """What a freshly reset board prints before it reads its first command."""
    lines = [
        "start",
        reset_cause,
        config.full_version,
        "echo: Last Updated: 2023-06-12 | Author: (mqttprint, simulator)",
        f"echo: Compiled: {BUILD_DATE}",
        "echo: Free Memory: 4095  PlannerBufferBytes: 1344",
        "echo:V86 stored settings retrieved (642 bytes; crc 25396)",
        "echo:; Steps per unit:",
        "echo:  M92 X80.00 Y80.00 Z400.00 E93.00",
        "echo:; Max feedrates (units/s):",
        "echo:  M203 X300.00 Y300.00 Z5.00 E25.00",
        "echo:; Hotend PID:",
        "echo:  M301 P22.20 I1.08 D114.00",
    ]
    if config.sdcard:
        lines.append("echo:SD card ok")
    if config.host_action_commands and config.prompt_support:
        # Marlin closes any dialog a previous run left open on the host.
        lines.append("//action:prompt_end")
    return lines


def m115_lines(config: SimConfig) -> list[str]:
    """FIRMWARE_NAME line plus ``Cap:`` lines in Marlin 2.1 order (the ``ok`` is not included)."""

    def flag(enabled: bool) -> str:
        return "1" if enabled else "0"

    name = (
        f"FIRMWARE_NAME:{config.full_version} ({BUILD_DATE} {BUILD_TIME})"
        f" SOURCE_CODE_URL:{SOURCE_CODE_URL} PROTOCOL_VERSION:1.0"
        f" MACHINE_TYPE:{config.machine_type} EXTRUDER_COUNT:1"
    )
    if config.uuid:
        name += f" UUID:{config.uuid}"
    caps: list[tuple[str, bool]] = [
        ("SERIAL_XON_XOFF", False),
        ("BINARY_FILE_TRANSFER", False),
        ("EEPROM", True),
        ("VOLUMETRIC", True),
        ("AUTOREPORT_POS", config.autoreport_pos),
        ("AUTOREPORT_TEMP", config.autoreport_temp),
        ("PROGRESS", False),
        ("PRINT_JOB", True),
        ("AUTOLEVEL", False),
        ("RUNOUT", False),
        ("Z_PROBE", False),
        ("LEVELING_DATA", False),
        ("BUILD_PERCENT", False),
        ("SOFTWARE_POWER", False),
        ("TOGGLE_LIGHTS", False),
        ("CASE_LIGHT_BRIGHTNESS", False),
        ("EMERGENCY_PARSER", config.emergency_parser),
        ("HOST_ACTION_COMMANDS", config.host_action_commands),
        ("PROMPT_SUPPORT", config.prompt_support),
        ("SDCARD", config.sdcard),
    ]
    if config.sdcard:
        caps.append(("MULTI_VOLUME", False))  # only printed by builds with SD support
    caps += [
        ("REPEAT", False),
        ("SD_WRITE", False),
        ("AUTOREPORT_SD_STATUS", False),
        ("LONG_FILENAME", False),
        ("LFN_WRITE", False),
        ("CUSTOM_FIRMWARE_UPLOAD", False),
        ("EXTENDED_M20", False),
        ("THERMAL_PROTECTION", True),
        ("MOTION_MODES", False),
        ("ARCS", False),  # G2/G3 are not simulated, so the capability is honestly 0
        ("BABYSTEPPING", False),
        ("CHAMBER_TEMPERATURE", False),
        ("COOLER_TEMPERATURE", False),
        ("MEATPACK", False),
        ("CONFIG_EXPORT", False),
    ]
    return [name] + [f"Cap:{cap}:{flag(on)}" for cap, on in caps]
