"""Temperature commands: M104/M140 (set), M105 (report), M109/M190 (wait), M155 (auto-report).

The wait loop reproduces Marlin 2.1 ``Temperature::wait_for_hotend/bed`` (reference §3.3):
a heater-state line with `` W:?`` / `` W:<s>`` once per second, residency timer started when
the temperature first enters the 1 degree window and restarted when it leaves the 3 degree
hysteresis band, M108 (``wait_for_heatup = false``) ends the wait, ``S`` does not wait for
cooling while ``R`` does, and a cooling wait gives up when the temperature fails to drop
1.5 degrees in 60 s.
"""

from __future__ import annotations

from mqttprint.sim.core import NO_OK, Firmware, HandlerGen
from mqttprint.sim.heaters import Heater
from mqttprint.sim.words import GCode

TEMP_WINDOW = 1.0  # TEMP_WINDOW / TEMP_BED_WINDOW
TEMP_HYSTERESIS = 3.0  # TEMP_HYSTERESIS / TEMP_BED_HYSTERESIS
REPORT_PERIOD = 1.0  # wait loops print the heater states once per second
MIN_COOLING_SLOPE_DEG = 1.5
MIN_COOLING_SLOPE_TIME = 60.0
_EPS = 1e-6


def m104(fw: Firmware, g: GCode) -> None:
    """Set the hotend target (no wait)."""
    if g.has_value("S"):
        fw.heaters.hotend.set_target(g.get_float("S"), fw.now)


def m140(fw: Firmware, g: GCode) -> None:
    """Set the bed target (no wait)."""
    if g.has_value("S"):
        fw.heaters.bed.set_target(g.get_float("S"), fw.now)


def m105(fw: Firmware, g: GCode) -> object:
    """``ok T:.. /.. B:.. /.. @:.. B@:..`` on ONE line; the generic ok is skipped (and no
    ADVANCED_OK fields, reference §2.3)."""
    fw.emit_ok("ok" + fw.heaters.report(fw.now))
    return NO_OK


def m155(fw: Firmware, g: GCode) -> None:
    """Temperature auto-report interval (seconds; fractional values accepted by the sim).

    Builds without AUTO_REPORT_TEMPERATURES do not know M155 at all.
    """
    if not fw.config.autoreport_temp:
        fw.emit(f'echo:Unknown command: "{g.text}"')
    elif g.has_value("S"):
        fw.set_temp_report(g.get_float("S"))


def m109(fw: Firmware, g: GCode) -> HandlerGen | None:
    """Set hotend target and wait."""
    return _set_and_wait(fw, g, fw.heaters.hotend)


def m190(fw: Firmware, g: GCode) -> HandlerGen | None:
    """Set bed target and wait."""
    return _set_and_wait(fw, g, fw.heaters.bed)


def _set_and_wait(fw: Firmware, g: GCode, heater: Heater) -> HandlerGen | None:
    if g.has_value("S"):
        target, no_wait_for_cooling = g.get_float("S"), True
    elif g.has_value("R"):
        target, no_wait_for_cooling = g.get_float("R"), False
    else:
        return None  # Marlin: no S/R -> nothing to set, nothing to wait for
    heater.set_target(target, fw.now)
    return _wait_loop(fw, heater, target, no_wait_for_cooling)


def _remaining_seconds(residency: float, start: float, now: float) -> int:
    # Marlin: long((SEC_TO_MS(TEMP_RESIDENCY_TIME) - (now - residency_start_ms)) / 1000UL)
    remaining_ms = round(residency * 1000) - (round(now * 1000) - round(start * 1000))
    return max(0, remaining_ms) // 1000


def _wait_loop(fw: Firmware, heater: Heater, target: float, no_wait_for_cooling: bool) -> HandlerGen:
    residency = fw.config.residency_time
    wants_to_cool = heater.temperature(fw.now) > target
    if no_wait_for_cooling and wants_to_cool:
        return  # "M109 S" never waits for a hotend to cool down
    fw.wait_for_heatup = True
    residency_start: float | None = None
    next_report = fw.now  # Marlin prints the first line immediately
    old_temp = 9999.0
    next_cool_check = fw.now
    while fw.wait_for_heatup:
        now = fw.now
        if now >= next_report:
            line = fw.heaters.report(now)
            if residency > 0:  # W: only exists in builds with a residency time
                if residency_start is None:
                    line += " W:?"
                else:
                    line += f" W:{_remaining_seconds(residency, residency_start, now)}"
            fw.emit(line)
            next_report = now + REPORT_PERIOD
        temp = heater.temperature(now)
        diff = abs(target - temp)
        if residency_start is None:
            if diff < TEMP_WINDOW:
                residency_start = now
        elif diff > TEMP_HYSTERESIS:
            residency_start = now  # fell out of the band: restart the residency timer
        if residency_start is not None and now >= residency_start + residency:
            break
        if wants_to_cool and now >= next_cool_check:
            if old_temp - temp < MIN_COOLING_SLOPE_DEG:
                break  # cannot cool any further (e.g. target below ambient): give up
            old_temp, next_cool_check = temp, now + MIN_COOLING_SLOPE_TIME
        wakes = [next_report]
        if residency_start is None:
            entry = heater.time_within(TEMP_WINDOW - _EPS, now)
            if entry is not None:
                wakes.append(entry if entry > now else now + 1e-3)
        else:
            wakes.append(residency_start + residency)
        if wants_to_cool:
            wakes.append(next_cool_check)
        yield min(wakes)
    fw.wait_for_heatup = False
