"""Filament sensor and filament change: Marlin's runout event and M600 (ADVANCED_PAUSE_FEATURE
with HOST_PROMPT_SUPPORT), simplified to the host-visible lines (firmware-protocol.md section 10).

Runout (``FILAMENT_RUNOUT_SCRIPT "M600"``): ``//action:paused filament_runout 0``, then an M600
injected ahead of the host's queued lines (it has no ring slot and no ``ok``). M600: park
(``//action:paused``), wait for the user ("Nozzle Parked" + Continue, busy "paused for user"), then
the purge question "Paused" [PurgeMore, Continue] until Continue (``M876 S1``), then
``//action:resumed``. M108 skips the waits like on a real board.
"""

from __future__ import annotations

from mqttprint.sim.core import BUSY_PAUSED_FOR_USER, BUSY_PROCESSING, Firmware, HandlerGen
from mqttprint.sim.waits import synchronize, wait_for_user


def filament_change(fw: Firmware) -> HandlerGen:
    """M600 as a blocking handler."""
    yield from synchronize(fw)
    host = fw.config.host_action_commands
    if host:
        fw.emit("//action:paused")
    yield from wait_for_user(fw, "Nozzle Parked", None)
    while fw.config.prompt_support and host:
        fw.prompt_choice = None
        fw.wait_for_user = True
        fw.show_prompt("Paused", ["PurgeMore", "Continue"], reason="filament_purge")
        fw.busy_state = BUSY_PAUSED_FOR_USER
        while fw.prompt_choice is None and fw.wait_for_user:
            yield None
        fw.wait_for_user = False
        if fw.prompt_choice != 0:  # 1 = Continue (M108 also ends the question)
            break
    if host:
        if fw.config.prompt_support:
            fw.emit("//action:prompt_end")
        fw.emit("//action:resumed")
    fw.prompt_reason = None
    fw.busy_state = BUSY_PROCESSING


def runout_due(fw: Firmware) -> bool:
    """Whether the sensor trips before the next command: asked for (`inject_runout`), or the next
    host line is numbered at least `SimConfig.runout_after_line` (once per boot)."""
    if fw.runout_fired or fw.killed:
        return False
    if fw.runout_requested:
        return True
    limit = fw.config.runout_after_line
    return bool(limit and fw.ring and fw.ring[0].number is not None and fw.ring[0].number >= limit)


def start_runout(fw: Firmware, now: float) -> None:
    """``event_filament_runout``: tell the host the firmware pauses by itself, then run M600."""
    fw.runout_fired, fw.runout_requested = True, False
    if fw.config.host_action_commands:
        fw.emit("//action:paused filament_runout 0")
    fw.busy_state = BUSY_PROCESSING
    fw.current = filament_change(fw)
    fw.injected = True
    interval = fw.keepalive_interval
    fw.next_keepalive = now + interval if interval > 0 else None
