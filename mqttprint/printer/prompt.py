"""Firmware prompts: what the printer asks and which buttons it offers, as one state.

Pure: `PromptTracker` is fed host actions (`//action:prompt_begin|button|show|end`, `paused`,
`pause`, `resumed`, `notification`), busy reasons (`echo:busy: paused for user`) and "an M600 was
sent"; it returns the new `Prompt` and the events to publish. Wall time is passed in.

Marlin facts (firmware-protocol.md section 10): a dialog is `prompt_end`, `prompt_begin <text>`,
`prompt_button <label>`..., `prompt_show`; the answer is `M876 S<index>` (0-based). A filament
runout prints `//action:paused filament_runout <tool>` when the runout script is M600 (the
firmware parks by itself) or `//action:pause filament_runout <tool>` (the host should pause).
`echo:busy: paused for user` means the firmware waits for a click or M108 (M0/M1, M600).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

#: Marlin's prompt has at most this many buttons (M876 S takes one digit).
MAX_BUTTONS = 10
_BUSY_WAITING = ("paused for user", "paused for input")


@dataclass(frozen=True, slots=True)
class Prompt:
    """The printer's current question. `source`: action (host prompt), busy (only a busy line said
    it waits), M600 (a filament change), runout (a filament runout)."""

    open: bool = False
    text: str = ""
    buttons: tuple[str, ...] = ()
    source: str = ""
    ts: Optional[float] = None
    notification: str = ""  # the last `//action:notification` text (informational)

    def to_dict(self) -> dict[str, Any]:
        return {"open": self.open, "text": self.text, "buttons": list(self.buttons), "source": self.source,
                "ts": self.ts, "notification": self.notification}

    @property
    def answer_command(self) -> str:
        """How to answer button `n`: `M876 S<n>`, or M108 when only a busy line asked."""
        return "M108" if self.source == "busy" and not self.buttons else "M876 S{choice}"


@dataclass(frozen=True, slots=True)
class PromptEvent:
    """An event to publish as `B/event/<name>` (FilamentRunout, FilamentChange, PromptShown,
    PromptClosed, PausedByFirmware)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


class PromptTracker:
    """Reduces firmware output to the current `Prompt`. One per printer; not thread-safe."""

    def __init__(self) -> None:
        self.prompt = Prompt()
        self._draft: Optional[tuple[str, list[str]]] = None
        self._pending_source = ""  # set by a runout or an M600 until the firmware's dialog shows
        self._firmware_paused = False  # `//action:paused` seen, not yet `resumed` (report it once)

    def host_action(self, name: str, params: str, wall: float) -> list[PromptEvent]:
        """One `//action:<name> <params>` line."""
        name = name.lower()
        if name == "prompt_begin":
            self._draft = (params.strip(), [])
            return []
        if name in ("prompt_button", "prompt_choice"):
            if self._draft is not None and len(self._draft[1]) < MAX_BUTTONS:
                self._draft[1].append(params.strip())
            return []
        if name == "prompt_show":
            text, buttons = self._draft if self._draft is not None else (self.prompt.text, list(self.prompt.buttons))
            self._draft = None
            return self._show(text, tuple(buttons), self._pending_source or "action", wall)
        if name == "prompt_end":
            self._draft = None
            return self.close("firmware", wall)
        if name == "notification":
            self.prompt = replace(self.prompt, notification=params.strip())
            return []
        if name in ("paused", "pause"):
            return self._paused(name, params, wall)
        if name in ("resumed", "resume"):
            self._pending_source = ""
            self._firmware_paused = False
        return []

    def _paused(self, name: str, params: str, wall: float) -> list[PromptEvent]:
        words = params.split()
        events = []
        if words and words[0] == "filament_runout":
            tool = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            self._pending_source = "runout"
            events.append(PromptEvent("FilamentRunout", {"tool": tool}))
        if name == "paused" and not self._firmware_paused:
            # Marlin's runout prints `paused filament_runout 0`, then its M600 prints `paused` again.
            self._firmware_paused = True
            events.append(PromptEvent("PausedByFirmware", {"reason": params.strip()}))
        if self.prompt.open and self.prompt.source == "action" and self._pending_source:
            self.prompt = replace(self.prompt, source=self._pending_source)
        return events

    def busy(self, reason: str, wall: float) -> list[PromptEvent]:
        """An `echo:busy: <reason>` line."""
        waiting = reason.strip().lower() in _BUSY_WAITING
        if waiting and not self.prompt.open:
            text = "Paused for user" if reason.strip().lower() == "paused for user" else "Paused for input"
            return self._show(text, (), self._pending_source or "busy", wall)
        if not waiting and self.prompt.open and self.prompt.source == "busy":
            return self.close("busy ended", wall)  # the firmware went back to work
        return []

    def m600_sent(self, wall: float) -> list[PromptEvent]:
        """An M600 went to the printer: the next dialog is a filament change."""
        self._pending_source = "M600"
        return [PromptEvent("FilamentChange", {})]

    def close(self, reason: str, wall: float) -> list[PromptEvent]:
        """Close the open prompt (the firmware ended it, or it was answered)."""
        if not self.prompt.open:
            return []
        closed = self.prompt
        # A runout/M600 source stays until `//action:resumed`: a change shows several dialogs.
        self.prompt = replace(closed, open=False, ts=wall)
        return [PromptEvent("PromptClosed", {"text": closed.text, "source": closed.source, "reason": reason})]

    def reset(self, wall: float) -> list[PromptEvent]:
        """The link went away or the firmware rebooted: nothing is being asked any more."""
        self._draft, self._pending_source, self._firmware_paused = None, "", False
        return self.close("disconnected", wall)

    def _show(self, text: str, buttons: tuple[str, ...], source: str, wall: float) -> list[PromptEvent]:
        self.prompt = Prompt(True, text, buttons, source, wall, self.prompt.notification)
        return [PromptEvent("PromptShown", {"text": text, "buttons": list(buttons), "source": source})]
