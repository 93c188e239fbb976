"""Command dispatch and the non-temperature command handlers of the simulator.

A handler gets the `Firmware` and the parsed `GCode` and returns one of:
* None        - done, the main loop sends the ``ok``;
* `NO_OK`     - done, and no generic ``ok`` (M105 printed its own, M112 killed the board);
* a generator - a blocking command (G4, G28, M109, M400, M0, a G1 waiting for the planner);
  it yields wake-up times and the ``ok`` follows when it returns. Busy keepalive lines and
  auto-reports keep flowing meanwhile because the main loop runs them between resumptions.
"""

from __future__ import annotations

from collections.abc import Callable

from mqttprint.sim import gcode_temps
from mqttprint.sim.core import M112_KILL_REASON, NO_OK, Firmware, HandlerGen
from mqttprint.sim.filament import filament_change
from mqttprint.sim.planner import move_duration
from mqttprint.sim.reports import m115_lines, position_line
from mqttprint.sim.waits import synchronize as _synchronize
from mqttprint.sim.waits import wait_for_user as _wait_for_user
from mqttprint.sim.words import GCode, parse

Handler = Callable[[Firmware, GCode], object]

#: Accepted and ignored: slicer start-code staples with no observable effect in the sim.
_NO_OPS = frozenset(
    {"G21", "M17", "M18", "M84", "M73", "M75", "M76", "M77", "M80", "M81", "M117", "M201", "M203",
     "M204", "M205", "M220", "M221", "M300", "M500", "M501", "M502", "M900"}
)


def execute(fw: Firmware, text: str) -> object:
    """Run one command (normalised text); see the module docstring for the return contract."""
    if not text:
        return None  # e.g. "N5*37": a numbered line with nothing in it
    g = parse(text)
    handler = _HANDLERS.get(g.code)
    if handler is not None:
        return handler(fw, g)
    if g.code in _NO_OPS:
        return None
    if g.letter == "T":
        _tool_change(fw, g)
    else:
        unknown_command(fw, g)
    return None


def unknown_command(fw: Firmware, g: GCode) -> None:
    """Marlin never uses ``Error:`` here: ``echo:Unknown command: "<cmd>"`` and a normal ok."""
    fw.emit(f'echo:Unknown command: "{g.text}"')


def _tool_change(fw: Firmware, g: GCode) -> None:
    if g.number != 0:  # single-extruder machine
        fw.emit(f"echo:T{g.number} Invalid extruder")


# -- motion ---------------------------------------------------------------------------------
def _target(fw: Firmware, g: GCode) -> list[float]:
    motion = fw.motion
    target = list(motion.position)
    for i, axis in enumerate("XYZ"):
        if g.has_value(axis):
            value = g.get_float(axis)
            target[i] = target[i] + value if motion.relative_xyz else value
    if g.has_value("E"):
        value = g.get_float("E")
        # G91 makes E relative too; M83 makes only E relative (Marlin 2.1 axis_relative bits).
        relative_e = motion.relative_xyz or motion.relative_e
        target[3] = target[3] + value if relative_e else value
    if g.has_value("F") and g.get_float("F") > 0:
        motion.feedrate_mm_s = g.get_float("F") / 60.0
    return target


def g0_g1(fw: Firmware, g: GCode) -> HandlerGen | None:
    """Linear move. Without move_timing the move completes at once; with it the block goes
    into the planner and the ``ok`` is withheld while the planner is full."""
    target = _target(fw, g)
    if not fw.config.move_timing:
        fw.motion.position = target
        return None
    return _planned_move(fw, target)


def _planned_move(fw: Firmware, target: list[float]) -> HandlerGen:
    quickstops = fw.quickstops
    while fw.planner.free <= 0:
        yield None  # "while (moves_free() < count) idle();"
    if fw.quickstops != quickstops:
        return  # M410 while waiting: Marlin refuses the pending move after quick_stop()
    start = fw.motion.machine()
    fw.motion.position = target
    end = fw.motion.machine()
    duration = move_duration(start, end, fw.motion.feedrate_mm_s)
    if duration > 0:
        fw.planner.push(start, end, duration, fw.now)


def g4(fw: Firmware, g: GCode) -> HandlerGen:
    """Dwell ``P<ms>`` or ``S<s>`` after the planner empties."""
    seconds = g.get_float("P") / 1000.0 if g.has_value("P") else 0.0
    if g.has_value("S"):
        seconds = g.get_float("S")
    return _dwell(fw, seconds)


def _dwell(fw: Firmware, seconds: float) -> HandlerGen:
    yield from _synchronize(fw)
    end = fw.now + seconds
    while fw.now < end:
        yield end


def g28(fw: Firmware, g: GCode) -> HandlerGen:
    """Home: synchronize, take ``homing_time`` (move_timing only), zero the homed axes,
    report the position (``report_current_position()`` at the end of G28)."""
    axes = [i for i, axis in enumerate("XYZ") if g.has(axis)] or [0, 1, 2]
    return _home(fw, axes)


def _home(fw: Firmware, axes: list[int]) -> HandlerGen:
    yield from _synchronize(fw)
    if fw.config.move_timing and fw.config.homing_time > 0:
        end = fw.now + fw.config.homing_time
        while fw.now < end:
            yield end
    for i in axes:
        fw.motion.position[i] = 0.0
        fw.motion.shift[i] = 0.0  # homing clears the G92 position shift
    fw.emit(position_line(fw.motion.position, fw.motion.machine()))


def g90(fw: Firmware, g: GCode) -> None:
    """Absolute positioning (E follows unless M83 is active)."""
    fw.motion.relative_xyz = False


def g91(fw: Firmware, g: GCode) -> None:
    """Relative positioning for all axes, E included."""
    fw.motion.relative_xyz = True


def g92(fw: Firmware, g: GCode) -> None:
    """Set position: XYZ through the position shift (M114 Count keeps the stepper counts)."""
    motion = fw.motion
    for i, axis in enumerate("XYZ"):
        if g.has_value(axis):
            value = g.get_float(axis)
            motion.shift[i] += value - motion.position[i]
            motion.position[i] = value
    if g.has_value("E"):
        motion.position[3] = g.get_float("E")


def m82(fw: Firmware, g: GCode) -> None:
    """Absolute E."""
    fw.motion.relative_e = False


def m83(fw: Firmware, g: GCode) -> None:
    """Relative E."""
    fw.motion.relative_e = True


def m114(fw: Firmware, g: GCode) -> None:
    """Projected position (Marlin 2.x default, no planner sync); ``M114 R`` = realtime."""
    motion = fw.motion
    if g.has("R"):
        machine = fw.planner.realtime(fw.now) or motion.machine()
        fw.emit(position_line(motion.logical_from_machine(machine), machine))
    else:
        fw.emit(position_line(motion.position, motion.machine()))


def m154(fw: Firmware, g: GCode) -> None:
    """Position auto-report interval (only in builds with AUTO_REPORT_POSITION)."""
    if not fw.config.autoreport_pos:
        unknown_command(fw, g)
    elif g.has_value("S"):
        fw.set_pos_report(g.get_float("S"))


def m400(fw: Firmware, g: GCode) -> HandlerGen:
    """Wait for all moves to finish."""
    return _synchronize(fw)


# -- host / emergency -------------------------------------------------------------------------
def m0_m1(fw: Firmware, g: GCode) -> HandlerGen:
    """Unconditional stop: wait for the user (M108 / M876 on the continue prompt) or timeout."""
    timeout: float | None = None
    if g.has_value("P"):
        timeout = g.get_float("P") / 1000.0
    if g.has_value("S"):
        timeout = g.get_float("S")
    message = g.string_arg
    if message[:1] in ("S", "P") and (g.has_value("S") or g.has_value("P")):
        message = message.split(" ", 1)[1] if " " in message else ""
    return _wait_for_user(fw, message or f"M{g.number} Stop", timeout)


def m600(fw: Firmware, g: GCode) -> HandlerGen:
    """Filament change: see `mqttprint.sim.filament`."""
    return filament_change(fw)


def m108(fw: Firmware, g: GCode) -> None:
    """With the emergency parser the queue copy is a no-op (the EP already acted) - it still
    costs exactly one ``ok``, which hosts must account for."""
    if not fw.config.emergency_parser:
        fw.release_waits()


def m110(fw: Firmware, g: GCode) -> None:
    """Set the line number (the line layer already applied the M110 framing rules).

    Marlin quirk kept on purpose: this runs when M110 is *executed*, so numbered lines the line
    layer accepted after it while it waited in the ring are "forgotten" - a host must wait for
    the ok of its M110 before sending the next numbered line.
    """
    if g.has_value("N"):
        fw.last_n = g.get_int("N")


def m112(fw: Firmware, g: GCode) -> object:
    """Reached only without the EP (or numbered, which the non-EP early check misses)."""
    if fw.config.emergency_parser:
        return None
    fw.kill(M112_KILL_REASON)
    return NO_OK


def m113(fw: Firmware, g: GCode) -> None:
    """Host keepalive interval 0..60 s; without S report it as ``echo:M113 S2``."""
    if g.has_value("S"):
        fw.keepalive_interval = min(60.0, max(0.0, g.get_float("S")))
    else:
        value = fw.keepalive_interval
        shown = str(int(value)) if float(value).is_integer() else str(value)
        fw.emit(f"echo:M113 S{shown}")


def m115(fw: Firmware, g: GCode) -> None:
    """Firmware name and capability lines."""
    for line in m115_lines(fw.config):
        fw.emit(line)


def m118(fw: Firmware, g: GCode) -> None:
    """Echo text; leading ``A1`` prefixes ``//`` (host action), ``E1`` prefixes ``echo:``."""
    text = g.string_arg
    has_a = has_e = False
    for _ in range(3):  # A1, E1 and Pn are always parsed off the front, in any order
        if text[:2] in ("A1", "E1") or (text[:1] == "P" and text[1:2].isdigit()):
            has_a |= text[0] == "A"
            has_e |= text[0] == "E"
            text = text[2:].lstrip(" ")
        else:
            break
    fw.emit(("echo:" if has_e else "") + ("//" if has_a else "") + text)


def m410(fw: Firmware, g: GCode) -> None:
    """Quick stop; a no-op copy (plus ok) when the EP already acted."""
    if not fw.config.emergency_parser:
        fw.quickstop()


def m524(fw: Firmware, g: GCode) -> None:
    """Abort SD print; the EP copy is a no-op plus ok."""
    fw.sd_abort_requested = True


def m876(fw: Firmware, g: GCode) -> None:
    """Prompt response; handled by the EP when enabled (the queue copy is then a no-op)."""
    if not fw.config.prompt_support:
        unknown_command(fw, g)
    elif not fw.config.emergency_parser and g.has_value("S"):
        fw.prompt_response(g.get_int("S"))


def m999(fw: Firmware, g: GCode) -> object:
    """Leave the Stopped state; without ``S1`` request a resend (Resend + one ok)."""
    if g.has_value("S") and g.get_int("S"):
        return None
    fw.request_resend()
    return NO_OK


def m106(fw: Firmware, g: GCode) -> None:
    """Fan on (S0..255, default full)."""
    fw.fan_speed = max(0, min(255, g.get_int("S", 255)))


def m107(fw: Firmware, g: GCode) -> None:
    """Fan off."""
    fw.fan_speed = 0


def m20_m21_m27(fw: Firmware, g: GCode) -> None:
    """Minimal SD card: an empty card that is never printing."""
    if not fw.config.sdcard:
        unknown_command(fw, g)
    elif g.number == 20:
        fw.emit("Begin file list")
        fw.emit("End file list")
    elif g.number == 21:
        fw.emit("echo:SD card ok")
    else:
        fw.emit("Not SD printing")


_HANDLERS: dict[str, Handler] = {
    "G0": g0_g1,
    "G1": g0_g1,
    "G4": g4,
    "G28": g28,
    "G90": g90,
    "G91": g91,
    "G92": g92,
    "M0": m0_m1,
    "M1": m0_m1,
    "M20": m20_m21_m27,
    "M21": m20_m21_m27,
    "M27": m20_m21_m27,
    "M82": m82,
    "M83": m83,
    "M104": gcode_temps.m104,
    "M105": gcode_temps.m105,
    "M106": m106,
    "M107": m107,
    "M108": m108,
    "M109": gcode_temps.m109,
    "M110": m110,
    "M112": m112,
    "M113": m113,
    "M114": m114,
    "M115": m115,
    "M118": m118,
    "M140": gcode_temps.m140,
    "M154": m154,
    "M155": gcode_temps.m155,
    "M190": gcode_temps.m190,
    "M400": m400,
    "M410": m410,
    "M524": m524,
    "M876": m876,
    "M600": m600,
    "M999": m999,
}
