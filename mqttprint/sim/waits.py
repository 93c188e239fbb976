"""Blocking waits shared by command handlers: the planner draining, the user clicking."""

from __future__ import annotations

from mqttprint.sim.core import BUSY_PAUSED_FOR_USER, Firmware, HandlerGen


def synchronize(fw: Firmware) -> HandlerGen:
    """``planner.synchronize()``: wait until every queued block has run."""
    while len(fw.planner):
        yield None  # woken when the running block completes (a main-loop event)


def wait_for_user(fw: Firmware, message: str, timeout: float | None) -> HandlerGen:
    """M0/M1-style wait: a "Continue" prompt, busy "paused for user", until M108/M876 or `timeout`."""
    yield from synchronize(fw)
    fw.show_prompt(message, ["Continue"], reason="user_continue")
    fw.busy_state = BUSY_PAUSED_FOR_USER
    fw.wait_for_user = True
    deadline = fw.now + timeout if timeout else None
    while fw.wait_for_user and (deadline is None or fw.now < deadline):
        yield deadline
    fw.wait_for_user = False
    if fw.prompt_reason is not None and fw.config.host_action_commands and fw.config.prompt_support:
        fw.emit("//action:prompt_end")
    fw.prompt_reason = None
