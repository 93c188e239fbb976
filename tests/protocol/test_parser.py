"""Table-driven tests of the firmware reply parser with real-world lines per firmware family.

Each case is (received line, expected Reply), compared with full dataclass equality.
Line formats come from shared/reference/firmware-protocol.md and octoprint.md §2.10.
"""

from __future__ import annotations

from typing import Optional

import pytest

from mqttprint.protocol.parser import (
    classify_error,
    parse_capability,
    parse_firmware_info,
    parse_position,
    parse_reply,
    parse_temperatures,
)
from mqttprint.protocol.replies import (
    Busy,
    Capability,
    Echo,
    ErrorKind,
    FirmwareError,
    FirmwareInfo,
    HeaterReading as H,
    HostAction,
    Ok,
    Position,
    Reply,
    Resend,
    SdStatus,
    Start,
    Temperatures,
    Unknown,
    Wait,
)

K = ErrorKind


def temps(wait: "int | str | None" = None, **heaters: H) -> Temperatures:
    return Temperatures(heaters=heaters, wait_seconds=wait)


def err(kind: ErrorKind, text: str, fatal: bool = False, last: Optional[int] = None) -> FirmwareError:
    return FirmwareError(text=text, kind=kind, fatal=fatal, last_line=last)


def ok_t(text: str, t: Temperatures) -> Ok:
    return Ok(text=text, temperatures=t)


def sd(event: str, printing: bool = False, pos: Optional[int] = None, size: Optional[int] = None,
       filename: Optional[str] = None) -> SdStatus:
    return SdStatus(printing=printing, position=pos, size=size, event=event, filename=filename)


def pos(x: float, y: float, z: float, e: Optional[float] = None, **extra: float) -> Position:
    return Position(x=x, y=y, z=z, e=e, extra=extra)


MARLIN_M115 = (
    "FIRMWARE_NAME:Marlin 2.1.2.1 (Jun 12 2023 10:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
    "PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff"
)
PRUSA_M115 = (
    "FIRMWARE_NAME:Prusa-Firmware 3.14.1+8237_a1b2c3d based on Marlin FIRMWARE_URL:https://github.com/"
    "prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1"
    "Cap:AUTOREPORT_TEMP:1"
)
RRF_M115 = (
    "FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.5.1 "
    "ELECTRONICS: Duet 3 MB6HC v1.02 or later FIRMWARE_DATE: 2024-04-19 14:41:25"
)
SMOOTHIE_M115 = (
    "FIRMWARE_NAME:Smoothieware, FIRMWARE_URL:http%3A//smoothieware.org, X-SOURCE_CODE_URL:https://"
    "github.com/Smoothieware/Smoothieware, FIRMWARE_VERSION:edge-94de12c, PROTOCOL_VERSION:1.0, "
    "X-FIRMWARE_BUILD_DATE:Jan 12 2021 17:39:42, X-SYSTEM_CLOCK:100MHz, X-AXES:5, X-GRBL_MODE:0, X-ARCS:1"
)
REPETIER_M115 = (
    "FIRMWARE_NAME:Repetier_1.0.3 COMPILED:Jan 1 2020 FIRMWARE_URL:https://github.com/repetier/"
    "Repetier-Firmware/ PROTOCOL_VERSION:1.0 MACHINE_TYPE:Mendel EXTRUDER_COUNT:1 REPETIER_PROTOCOL:3"
)
STOPPED = "Printer stopped due to errors. Fix the error and use M999 to restart."
STOPPED_FULL = STOPPED + " (Temperature is reset. Set it after restarting)"
SMOOTHIE_ESTOP = "Emergency Stop Requested - reset or M999 required to exit HALT state"

MARLIN_2 = [
    ("ok", Ok()),
    ("ok\r", Ok()),
    ("  ok  ", Ok()),
    ("ok N12 P15 B3", Ok("N12 P15 B3", line_number=12, planner_free=15, buffer_free=3)),
    ("ok N-1 P15 B3", Ok("N-1 P15 B3", line_number=-1, planner_free=15, buffer_free=3)),
    ("ok N6320 P6 B1", Ok("N6320 P6 B1", line_number=6320, planner_free=6, buffer_free=1)),
    ("ok P15 B3", Ok("P15 B3", planner_free=15, buffer_free=3)),
    ("ok T:210.00 /210.00 B:60.00 /60.00 @:127 B@:30",
     ok_t("T:210.00 /210.00 B:60.00 /60.00 @:127 B@:30",
          temps(T0=H(210.0, 210.0, 127), B=H(60.0, 60.0, 30)))),
    (" T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0", temps(T0=H(21.37, 0.0, 0), B=H(21.2, 0.0, 0))),
    (" T:185.13 /210.00 B:60.02 /60.00 @:127 B@:0 W:?",
     temps("?", T0=H(185.13, 210.0, 127), B=H(60.02, 60.0, 0))),
    (" T:209.41 /210.00 B:60.01 /60.00 @:64 B@:12 W:9",
     temps(9, T0=H(209.41, 210.0, 64), B=H(60.01, 60.0, 12))),
    (" T:210.02 /210.00 B:60.00 /60.00 @:58 B@:10 W:0",
     temps(0, T0=H(210.02, 210.0, 58), B=H(60.0, 60.0, 10))),
    ("ok T:200.00 /200.00 B:60.00 /60.00 T0:200.00 /200.00 T1:25.00 /0.00 @:127 B@:0 @0:127 @1:0",
     ok_t("T:200.00 /200.00 B:60.00 /60.00 T0:200.00 /200.00 T1:25.00 /0.00 @:127 B@:0 @0:127 @1:0",
          temps(T0=H(200.0, 200.0, 127), T1=H(25.0, 0.0, 0), B=H(60.0, 60.0, 0)))),
    # M105 T1 on a two-hotend machine: `@:` belongs to the reported hotend T1 (no @<n> fields)
    (" T:30.00 /40.00 B:20.00 /0.00 T0:25.00 /0.00 T1:30.00 /40.00 @:90 B@:0",
     temps(T0=H(25.0, 0.0), T1=H(30.0, 40.0, 90), B=H(20.0, 0.0, 0))),
    (" T:21.50 /0.00 B:21.30 /0.00 C:25.00 /0.00 @:0 B@:0 C@:0",
     temps(T0=H(21.5, 0.0, 0), B=H(21.3, 0.0, 0), C=H(25.0, 0.0, 0))),
    (" T:21.00 /0.00 B:20.00 /0.00 P:22.50 /0.00 M:35.10 /0.00 @:0 B@:0",
     temps(T0=H(21.0, 0.0, 0), B=H(20.0, 0.0, 0), P=H(22.5, 0.0), M=H(35.1, 0.0))),
    # SHOW_TEMP_ADC_VALUES raw readings are ignored
    (" T:21.37 /0.00 (4011) B:21.20 /0.00 (3990) @:0 B@:0", temps(T0=H(21.37, 0.0, 0), B=H(21.2, 0.0, 0))),
    ("T:-14.00 /0.00 B:21.20 /0.00 @:0 B@:0", temps(T0=H(-14.0, 0.0, 0), B=H(21.2, 0.0, 0))),
    ("ok T:0", ok_t("T:0", temps(T0=H(0.0)))),
    ("Resend: 42", Resend(42)),
    ("Error:checksum mismatch, Last Line: 41", err(K.CHECKSUM, "checksum mismatch, Last Line: 41", last=41)),
    ("Error:Line Number is not Last Line Number+1, Last Line: 41",
     err(K.LINE_NUMBER, "Line Number is not Last Line Number+1, Last Line: 41", last=41)),
    ("Error:No Checksum with line number, Last Line: 7",
     err(K.MISSING_CHECKSUM, "No Checksum with line number, Last Line: 7", last=7)),
    ("Error:Printer halted. kill() called!", err(K.KILLED, "Printer halted. kill() called!", True)),
    ("Error:Thermal Runaway, system stopped! Heater_ID: 0",
     err(K.THERMAL, "Thermal Runaway, system stopped! Heater_ID: 0", True)),
    ("Error:Heating failed, system stopped! Heater_ID: bed",
     err(K.THERMAL, "Heating failed, system stopped! Heater_ID: bed", True)),
    ("Error:MAXTEMP triggered, system stopped! Heater_ID: 0",
     err(K.THERMAL, "MAXTEMP triggered, system stopped! Heater_ID: 0", True)),
    ("Error:MINTEMP triggered, system stopped! Heater_ID: probe",
     err(K.THERMAL, "MINTEMP triggered, system stopped! Heater_ID: probe", True)),
    ("Error:" + STOPPED_FULL, err(K.STOPPED, STOPPED_FULL, True)),
    (STOPPED, err(K.STOPPED, STOPPED, True)),  # 2.1 repeats it without Error: while stopped
    ("!! KILL caused by KILL button/pin", err(K.KILLED, "KILL caused by KILL button/pin", True)),
    ("Error:volume.init failed", err(K.SD, "volume.init failed")),
    ("Error:openRoot failed", err(K.SD, "openRoot failed")),
    ("Error:workDir open failed", err(K.SD, "workDir open failed")),
    ("Error:open failed, File: missing.gco.", err(K.SD, "open failed, File: missing.gco.")),
    ("echo:busy: processing", Busy("processing")),
    ("echo:busy: paused for user", Busy("paused for user")),
    ("echo:busy: paused for input", Busy("paused for input")),
    ("wait", Wait()),
    ("start", Start()),
    ("start\r", Start()),
    ("echo:start", Echo("start")),
    ("starting", Unknown("starting")),
    ("Marlin 2.1.2.1", Unknown("Marlin 2.1.2.1")),
    (" External Reset", Unknown("External Reset")),
    ("PowerUp", Unknown("PowerUp")),
    ("echo: Last Updated: 2023-06-12 | Author: (none, default config)",
     Echo("Last Updated: 2023-06-12 | Author: (none, default config)")),
    ("echo:  M92 X80.00 Y80.00 Z400.00 E93.00", Echo("M92 X80.00 Y80.00 Z400.00 E93.00")),
    ('echo:Unknown command: "G999"', Echo('Unknown command: "G999"')),
    ("echo:M112 Shutdown", Echo("M112 Shutdown")),
    (MARLIN_M115, FirmwareInfo("Marlin 2.1.2.1 (Jun 12 2023 10:00:00)", {
        "FIRMWARE_NAME": "Marlin 2.1.2.1 (Jun 12 2023 10:00:00)",
        "SOURCE_CODE_URL": "github.com/MarlinFirmware/Marlin", "PROTOCOL_VERSION": "1.0",
        "MACHINE_TYPE": "3D Printer", "EXTRUDER_COUNT": "1",
        "UUID": "cede2a2f-41a2-4748-9b12-c55c62f367ff"})),
    ("Cap:EMERGENCY_PARSER:1", Capability("EMERGENCY_PARSER", True)),
    ("Cap:SERIAL_XON_XOFF:0", Capability("SERIAL_XON_XOFF", False)),
    ("cap:autoreport_temp:1 ", Capability("AUTOREPORT_TEMP", True)),
    ("Cap:FOO:2", Unknown("Cap:FOO:2")),
    ("Cap:FOO", Unknown("Cap:FOO")),
    ("Cap:FOO:1:0", Unknown("Cap:FOO:1:0")),
    ("X:10.00 Y:20.00 Z:0.30 E:0.00 Count X:800 Y:1600 Z:120", pos(10.0, 20.0, 0.3, 0.0)),
    ("X:0.00 Y:127.00 Z:145.00 E:0.00 Count X: 0 Y:10160 Z:116000", pos(0.0, 127.0, 145.0, 0.0)),
    ("X: 10.00 Y: 20.00 Z: 0.30 E: 1.50", pos(10.0, 20.0, 0.3, 1.5)),
    ("X:1.00 Y:2.00 Z:3.00 I:4.00 J:5.00 K:6.00 E:7.00 Count X:80 Y:160 Z:1200",
     pos(1.0, 2.0, 3.0, 7.0, i=4.0, j=5.0, k=6.0)),
    ("X:1.00 Y:2.00 Z:3.00 E:0.00 Count A:240 B:-80 Z:1200", pos(1.0, 2.0, 3.0, 0.0)),  # CoreXY counts
    ("X:-1.50 Y:2.00 Z:3.00", pos(-1.5, 2.0, 3.0)),  # S000 realtime report: no E
    ("Logical: X:10.00 Y:20.00 Z:0.30", Unknown("Logical: X:10.00 Y:20.00 Z:0.30")),
    ("Raw:     X:10.00 Y:20.00 Z:0.30", Unknown("Raw:     X:10.00 Y:20.00 Z:0.30")),
    ("Stepper: X:800 Y:1600 Z:120 E:0", Unknown("Stepper: X:800 Y:1600 Z:120 E:0")),
    ("Count E:0", Unknown("Count E:0")),
    ("SD printing byte 123/4567", sd("printing", True, 123, 4567)),
    ("Not SD printing", sd("not_printing")),
    ("Done printing file", sd("done")),
    ("echo:SD card ok", sd("card_ok")),
    ("echo:No SD card", sd("no_card")),
    ("File opened: benchy.gco Size: 123456", sd("file_opened", size=123456, filename="benchy.gco")),
    ("File selected", sd("file_selected")),
    ("//action:pause", HostAction("pause")),
    ("//action:paused", HostAction("paused")),
    ("//action:prompt_begin Paused", HostAction("prompt_begin", "Paused")),
    ("//action:prompt_button Continue", HostAction("prompt_button", "Continue")),
    ("//action:notification Hello world", HostAction("notification", "Hello world")),
    ("//action:prompt_end", HostAction("prompt_end")),
    ("//action:", Unknown("//action:")),
    ("", Unknown("")),
    ("   ", Unknown("")),
    ("\r", Unknown("")),
]

MARLIN_1 = [
    ("T:200.1 E:0 W:8", temps(8, T0=H(200.1))),  # no bogus "E" heater
    ("T:183.8 E:0 W:?", temps("?", T0=H(183.8))),
    ("ok T:21.5 /0.0 B:21.2 /0.0 T0:21.5 /0.0 @:0 B@:0",
     ok_t("T:21.5 /0.0 B:21.2 /0.0 T0:21.5 /0.0 @:0 B@:0", temps(T0=H(21.5, 0.0, 0), B=H(21.2, 0.0, 0)))),
    ("Error:0", err(K.OTHER, "0")),
    (": Extruder switched off. MAXTEMP triggered !", Unknown(": Extruder switched off. MAXTEMP triggered !")),
    ("echo:PowerUp", Echo("PowerUp")),
    ("echo: External Reset", Echo("External Reset")),
    ("echo:Marlin 1.1.9", Echo("Marlin 1.1.9")),
    ("Error:Line Number is not Last Line Number+1, Last Line: 12",
     err(K.LINE_NUMBER, "Line Number is not Last Line Number+1, Last Line: 12", last=12)),
    ("Resend:13", Resend(13)),
    ("echo:SD init fail", sd("no_card")),
    ("X:0.00 Y:0.00 Z:0.00 E:0.00 Count X: 0.00 Y:0.00 Z:0.00", pos(0.0, 0.0, 0.0, 0.0)),
    ("Error:Line Number out of sequence. Expected: 2 Got: 1",
     err(K.LINE_NUMBER, "Line Number out of sequence. Expected: 2 Got: 1")),
    ('Error:Unknown command: "G999"', err(K.UNKNOWN_COMMAND, 'Unknown command: "G999"')),
    ("Error:SD read error", err(K.SD, "SD read error")),
]

PRUSA = [
    ("ok T:20.2 /0.0 B:19.1 /0.0 T0:20.2 /0.0 @:0 B@:0 P:19.8 A:26.4",
     ok_t("T:20.2 /0.0 B:19.1 /0.0 T0:20.2 /0.0 @:0 B@:0 P:19.8 A:26.4",
          temps(T0=H(20.2, 0.0, 0), B=H(19.1, 0.0, 0), P=H(19.8), A=H(26.4)))),
    ("T:210.1 /215.0 B:60.0 /60.0 T0:210.1 /215.0 @:90 B@:40 P:35.2 A:28.0",
     temps(T0=H(210.1, 215.0, 90), B=H(60.0, 60.0, 40), P=H(35.2), A=H(28.0))),
    ("Error:No Line Number with checksum, Last Line: 7",
     err(K.MISSING_LINE_NUMBER, "No Line Number with checksum, Last Line: 7", last=7)),
    ("Error:Line Number is not Last Line Number+1, Last Line: 12330",
     err(K.LINE_NUMBER, "Line Number is not Last Line Number+1, Last Line: 12330", last=12330)),
    ("Resend: 12331", Resend(12331)),
    ("Full RX Buffer", Unknown("Full RX Buffer")),
    ("X:10.00 Y:20.00 Z:0.30 E:0.00 Count X: 10.00 Y:20.00 Z:0.30 E:0.00", pos(10.0, 20.0, 0.3, 0.0)),
    (PRUSA_M115, FirmwareInfo("Prusa-Firmware 3.14.1+8237_a1b2c3d based on Marlin", {
        "FIRMWARE_NAME": "Prusa-Firmware 3.14.1+8237_a1b2c3d based on Marlin",
        "FIRMWARE_URL": "https://github.com/prusa3d/Prusa-Firmware", "PROTOCOL_VERSION": "1.0",
        "MACHINE_TYPE": "Prusa i3 MK3S", "EXTRUDER_COUNT": "1"}, (Capability("AUTOREPORT_TEMP", True),))),
    ("Cap:AUTOREPORT_POSITION:1", Capability("AUTOREPORT_POSITION", True)),
    ('echo:Unknown command: "XYZ"(2)', Echo('Unknown command: "XYZ"(2)')),
    ("M112 called. Emergency Stop.", Unknown("M112 called. Emergency Stop.")),
    ("echo: 3.14.1-8237", Echo("3.14.1-8237")),
    ("//action:uvlo_recovery_ready", HostAction("uvlo_recovery_ready")),
    ("SD printing byte 1234/56789", sd("printing", True, 1234, 56789)),
    ("echo:busy: processing", Busy("processing")),
    ("Error:Printer halted. kill() called!", err(K.KILLED, "Printer halted. kill() called!", True)),
    ("File opened: 3DBENC~1.GCO Size: 2345678", sd("file_opened", size=2345678, filename="3DBENC~1.GCO")),
]

KLIPPER = [
    ("ok B:60.0 /60.0 T0:210.0 /210.0",
     ok_t("B:60.0 /60.0 T0:210.0 /210.0", temps(B=H(60.0, 60.0), T0=H(210.0, 210.0)))),
    ("B:60.0 /60.0 T0:187.3 /210.0", temps(B=H(60.0, 60.0), T0=H(187.3, 210.0))),
    ("ok B:22.1 /0.0 T0:23.0 /0.0 T1:22.8 /0.0",
     ok_t("B:22.1 /0.0 T0:23.0 /0.0 T1:22.8 /0.0", temps(B=H(22.1, 0.0), T0=H(23.0, 0.0), T1=H(22.8, 0.0)))),
    ("ok T:0", ok_t("T:0", temps(T0=H(0.0)))),
    ("X:10.000 Y:20.000 Z:0.300 E:0.000", pos(10.0, 20.0, 0.3, 0.0)),
    ("ok FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-123-gabcdef12",
     Ok("FIRMWARE_NAME:Klipper FIRMWARE_VERSION:v0.12.0-123-gabcdef12", firmware=FirmwareInfo(
         "Klipper", {"FIRMWARE_NAME": "Klipper", "FIRMWARE_VERSION": "v0.12.0-123-gabcdef12"}))),
    ("!! Shutdown due to M112 command", err(K.KILLED, "Shutdown due to M112 command", True)),
    ("!! Move out of range: 250.000 10.000 0.300 [0.000]",
     err(K.OTHER, "Move out of range: 250.000 10.000 0.300 [0.000]")),
    ("!! Must home axis first: 10.000 0.000 0.300 [0.000]",
     err(K.OTHER, "Must home axis first: 10.000 0.000 0.300 [0.000]")),
    ("!! MCU 'mcu' shutdown: Timer too close", err(K.KILLED, "MCU 'mcu' shutdown: Timer too close", True)),
    ("!! Lost communication with MCU 'mcu'", err(K.KILLED, "Lost communication with MCU 'mcu'", True)),
    ("!! Heater extruder not heating at expected rate",
     err(K.THERMAL, "Heater extruder not heating at expected rate", True)),
    ("// Klipper state: Shutdown", err(K.KILLED, "Klipper state: Shutdown", True)),
    ("// Klipper state: Ready", Echo("Klipper state: Ready")),
    ("// Klipper state: Disconnect", Echo("Klipper state: Disconnect")),
    ('// Unknown command:"G999"', Echo('Unknown command:"G999"')),
    ("// probe at 100.000,100.000 is z=1.234000", Echo("probe at 100.000,100.000 is z=1.234000")),
    ("// action:paused", HostAction("paused")),
    ("// action:resumed", HostAction("resumed")),
    ("//    action:cancel", HostAction("cancel")),
    ("Not SD printing.", sd("not_printing")),
    ("SD printing byte 2048/1048576", sd("printing", True, 2048, 1048576)),
    ("Done printing file", sd("done")),
]

RRF = [
    ("ok T:210.0 /210.0 T0:210.0 /210.0 B:60.0 /60.0 C:30.0 /0.0",
     ok_t("T:210.0 /210.0 T0:210.0 /210.0 B:60.0 /60.0 C:30.0 /0.0",
          temps(T0=H(210.0, 210.0), B=H(60.0, 60.0), C=H(30.0, 0.0)))),
    ("T:25.0 /0.0 T0:25.0 /0.0 T1:26.0 /0.0 B:24.0 /0.0 B1:23.5 /0.0",
     temps(T0=H(25.0, 0.0), T1=H(26.0, 0.0), B=H(24.0, 0.0), B1=H(23.5, 0.0))),
    ("X:10.000 Y:20.000 Z:0.300 E:0.000 E0:0.0 Count 800 1600 120 Machine 10.000 20.000 0.300 Bed comp 0.000",
     pos(10.0, 20.0, 0.3, 0.0, e0=0.0)),
    ("X:10.000 Y:20.000 Z:0.300 U:5.000 E:1.000 E0:1.0 E1:0.0 Count 800 1600 120 400",
     pos(10.0, 20.0, 0.3, 1.0, u=5.0, e0=1.0, e1=0.0)),
    (RRF_M115, FirmwareInfo("RepRapFirmware for Duet 3 MB6HC", {
        "FIRMWARE_NAME": "RepRapFirmware for Duet 3 MB6HC", "FIRMWARE_VERSION": "3.5.1",
        "ELECTRONICS": "Duet 3 MB6HC v1.02 or later", "FIRMWARE_DATE": "2024-04-19 14:41:25"})),
    ("Error: G0/G1: insufficient axes homed", err(K.OTHER, "G0/G1: insufficient axes homed")),
    ("Warning: M999: Command is not supported", Echo("Warning: M999: Command is not supported")),
    ("Error: Heater 1 fault: temperature rising much more slowly than the expected 1.8°C/sec",
     err(K.THERMAL, "Heater 1 fault: temperature rising much more slowly than the expected 1.8°C/sec", True)),
    ("Emergency Stop! Reset the controller to continue.",
     err(K.KILLED, "Emergency Stop! Reset the controller to continue.", True)),
    ("Error: Bad command: G999", err(K.UNKNOWN_COMMAND, "Bad command: G999")),
    ("ok", Ok()),
]

SMOOTHIE = [
    ("ok T:210.0 /210.0 @64 B:60.0 /60.0 @32 ",
     ok_t("T:210.0 /210.0 @64 B:60.0 /60.0 @32", temps(T0=H(210.0, 210.0, 64), B=H(60.0, 60.0, 32)))),
    ("ok T:210.0 /210.0 @64 T1:200.0 /200.0 @32 B:60.0 /60.0 @16",  # T + T1, no T0 -> T is T0
     ok_t("T:210.0 /210.0 @64 T1:200.0 /200.0 @32 B:60.0 /60.0 @16",
          temps(T0=H(210.0, 210.0, 64), T1=H(200.0, 200.0, 32), B=H(60.0, 60.0, 16)))),
    ("ok T:21.3/0.0 @0 B:20.1/0.0 @0",
     ok_t("T:21.3/0.0 @0 B:20.1/0.0 @0", temps(T0=H(21.3, 0.0, 0), B=H(20.1, 0.0, 0)))),
    ("T:21.3/0.0", temps(T0=H(21.3, 0.0))),
    ("ok C: X:10.0000 Y:20.0000 Z:0.3000 E:0.0000 ",
     Ok("C: X:10.0000 Y:20.0000 Z:0.3000 E:0.0000", position=pos(10.0, 20.0, 0.3, 0.0))),
    ("ok C: X:0.0000 Y:0.0000 Z:0.0000", Ok("C: X:0.0000 Y:0.0000 Z:0.0000", position=pos(0.0, 0.0, 0.0))),
    ("rs N12", Resend(12)),
    ("ok " + SMOOTHIE_ESTOP, Ok(SMOOTHIE_ESTOP)),
    ("HALTED, M999 or $X to exit HALT state", err(K.KILLED, "HALTED, M999 or $X to exit HALT state", True)),
    ("Error: MINTEMP triggered on P0.23! check your thermistors!",
     err(K.THERMAL, "MINTEMP triggered on P0.23! check your thermistors!", True)),
    ("Entering Alarm/Halt state", err(K.KILLED, "Entering Alarm/Halt state", True)),
    ("!!", err(K.KILLED, "", True)),  # command refused while halted
    ("WARNING: After HALT you should HOME as position is currently unknown",
     Echo("WARNING: After HALT you should HOME as position is currently unknown")),
    (SMOOTHIE_M115, FirmwareInfo("Smoothieware", {
        "FIRMWARE_NAME": "Smoothieware", "FIRMWARE_URL": "http%3A//smoothieware.org",
        "X-SOURCE_CODE_URL": "https://github.com/Smoothieware/Smoothieware",
        "FIRMWARE_VERSION": "edge-94de12c", "PROTOCOL_VERSION": "1.0",
        "X-FIRMWARE_BUILD_DATE": "Jan 12 2021 17:39:42", "X-SYSTEM_CLOCK": "100MHz",
        "X-AXES": "5", "X-GRBL_MODE": "0", "X-ARCS": "1"})),
    ("ok\r", Ok()),
]

REPETIER = [
    ("Resend:205", Resend(205)),
    ("busy:processing", Busy("processing")),
    ("busy:paused for user", Busy("paused for user")),
    ("wait", Wait()),
    ("start", Start()),
    ("fatal:Heater/sensor failed. Printer set into dry run mode until restart!",
     err(K.KILLED, "Heater/sensor failed. Printer set into dry run mode until restart!", True)),
    ("Error:Wrong checksum", err(K.CHECKSUM, "Wrong checksum")),
    ("Error:Missing checksum", err(K.MISSING_CHECKSUM, "Missing checksum")),
    ("Error:expected line 5 got 7", err(K.LINE_NUMBER, "expected line 5 got 7")),
    ("Error:Missing linenumber", err(K.MISSING_LINE_NUMBER, "Missing linenumber")),
    ("Error:format error", err(K.CHECKSUM, "format error")),
    ("ok 42", Ok("42", line_number=42)),
    ("ok T:20.10 /0 B:20.00 /0 B@:0 @:0",
     ok_t("T:20.10 /0 B:20.00 /0 B@:0 @:0", temps(T0=H(20.1, 0.0, 0), B=H(20.0, 0.0, 0)))),
    ("Echo:N12 G1 X10", Echo("N12 G1 X10")),
    (REPETIER_M115, FirmwareInfo("Repetier_1.0.3", {
        "FIRMWARE_NAME": "Repetier_1.0.3", "COMPILED": "Jan 1 2020",
        "FIRMWARE_URL": "https://github.com/repetier/Repetier-Firmware/", "PROTOCOL_VERSION": "1.0",
        "MACHINE_TYPE": "Mendel", "EXTRUDER_COUNT": "1", "REPETIER_PROTOCOL": "3"})),
    ("X:0.00 Y:0.00 Z:0.000 E:0.0000", pos(0.0, 0.0, 0.0, 0.0)),
    ("TargetExtr0:200", Unknown("TargetExtr0:200")),
    ("Info:Power up", Unknown("Info:Power up")),
]

OTHERS = [  # Teacup, Malyan, generic robustness
    ("RS N2 Expected checksum 67", Resend(2)),
    ("rs 12", Resend(12)),
    ("Resend: N:7", Resend(7)),
    ("RS485 link up", Unknown("RS485 link up")),
    ("Resend", Unknown("Resend")),
    ("NAME. Malyan VER: 3.7 MODEL: M200 HW: HA02",
     FirmwareInfo("Malyan 3.7", {"NAME": "Malyan", "VER": "3.7", "MODEL": "M200", "HW": "HA02"})),
    ("X:1.00 Y:2.00 Z:3.00 E0:1.0 E1:2.0", pos(1.0, 2.0, 3.0, 1.0, e0=1.0, e1=2.0)),
    ("okay", Unknown("okay")),
    ("OK then", Unknown("OK then")),
    ("Hello T:5", Unknown("Hello T:5")),
    ("P:19.8 A:26.4", Unknown("P:19.8 A:26.4")),  # no hotend/bed reading
    ("Card successfully initialized.", sd("card_ok")),
    ("SD card ok", sd("card_ok")),
    ("echo:No media", sd("no_card")),
]


def _cases() -> list:
    families = {"marlin2": MARLIN_2, "marlin1": MARLIN_1, "prusa": PRUSA, "klipper": KLIPPER, "rrf": RRF,
                "smoothie": SMOOTHIE, "repetier": REPETIER, "other": OTHERS}
    return [pytest.param(line, expected, id=f"{fam}-{i}:{line[:40]}")
            for fam, table in families.items() for i, (line, expected) in enumerate(table)]


@pytest.mark.parametrize(("line", "expected"), _cases())
def test_parse_reply(line: str, expected: Reply) -> None:
    assert parse_reply(line) == expected


def test_table_is_large_enough() -> None:
    assert len(_cases()) >= 100


@pytest.mark.parametrize(("text", "expected"), [
    ("Printer halted. kill() called!", (K.KILLED, True)),
    ("Thermal Malfunction", (K.THERMAL, True)),
    ("No Line Number with checksum, Last Line: 3", (K.MISSING_LINE_NUMBER, False)),
    ("No Checksum with line number, Last Line: 3", (K.MISSING_CHECKSUM, False)),
    ("checksum mismatch, Last Line: 3", (K.CHECKSUM, False)),
    ("Cannot open subdir", (K.SD, False)),
    ("Unknown command: \"M4242\"", (K.UNKNOWN_COMMAND, False)),
    ("0", (K.OTHER, False)),
    ("", (K.OTHER, False)),
])
def test_classify_error(text: str, expected: tuple[ErrorKind, bool]) -> None:
    assert classify_error(text) == expected


def test_helper_functions_reject_other_lines() -> None:
    assert parse_temperatures("echo:busy: processing") is None
    assert parse_temperatures("W:?") is None
    assert parse_position("Y:1 X:2 Z:3") is None
    assert parse_position("X:1 Y:2") is None
    assert parse_firmware_info("MACHINE_TYPE:Foo") is None
    assert parse_firmware_info("hello FIRMWARE_NAME:x") is None
    assert parse_capability("Cap:EEPROM:yes") is None
    assert parse_capability("Cap:EEPROM:1") == Capability("EEPROM", True)


def test_firmware_info_keeps_values_with_spaces() -> None:
    info = parse_firmware_info(MARLIN_M115 + " KINEMATICS:Cartesian")
    assert info is not None
    assert info.fields["MACHINE_TYPE"] == "3D Printer"
    assert info.fields["KINEMATICS"] == "Cartesian"
