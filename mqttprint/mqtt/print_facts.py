"""The print-facts topics of the publisher: `B/progress`'s body, the retained `B/thumbnail` (raw
PNG, empty when none) and `B/prompt` (JSON) of every printer, and the prompt events.

Pure bookkeeping plus `publish` on the client it is handed (the publisher thread calls it).
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from mqttprint.mqtt import payloads
from mqttprint.mqtt.topics import PrinterTopics
from mqttprint.printer.prompt import Prompt
from mqttprint.runtime.bus import BusMessage
from mqttprint.runtime.jobs import JobProgress, SelectedFileChanged
from mqttprint.runtime.prompts import PromptChanged, PromptNotice

#: Bus events that change a retained topic (published like telemetry: latest wins).
STATE_TYPES: tuple[type, ...] = (SelectedFileChanged, PromptChanged)
#: Every bus event type this module handles (`PromptNotice` becomes `B/event/<name>`).
EVENT_TYPES: tuple[type, ...] = STATE_TYPES + (PromptNotice,)
#: The retained topics, as the publisher's dirty-kinds.
KINDS = ("thumbnail", "prompt")


def progress_body(progress: JobProgress, ts: float) -> dict[str, Any]:
    """`B/progress`: OctoPrint's progress names plus the file facts (docs/mqtt.md)."""
    return payloads.progress_payload(
        progress.file, progress.completion, progress.filepos, progress.size, progress.print_time,
        progress.print_time_left, progress.state, ts, layer=progress.layer, layers=progress.layers, z=progress.z,
        eta=progress.eta, estimate=progress.estimate, printTimeLeftOrigin=progress.print_time_left_origin,
        filament=progress.filament, m73=progress.m73_percent)


class RetainedFacts:
    """The latest thumbnail and prompt per printer (republished after every reconnect)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thumbnail: dict[str, bytes] = {}
        self._prompt: dict[str, Prompt] = {}

    def record(self, message: BusMessage) -> Optional[tuple[str, str]]:
        """Keep a state event; returns the (printer, kind) that is now due, or None."""
        event, pid = message.event, message.printer_id
        with self._lock:
            if isinstance(event, SelectedFileChanged):
                self._thumbnail[pid] = event.thumbnail
                return pid, "thumbnail"
            if isinstance(event, PromptChanged):
                self._prompt[pid] = event.prompt
                return pid, "prompt"
        return None

    def publish(self, client: Any, topics: PrinterTopics, pid: str, kind: str) -> None:
        """Publish one retained topic of one printer (QoS 1)."""
        with self._lock:
            thumbnail = self._thumbnail.get(pid, b"")
            prompt = self._prompt.get(pid, Prompt())
        if kind == "thumbnail":
            # Raw PNG bytes, not JSON; an empty retained payload means "no thumbnail".
            client.publish(topics.thumbnail, thumbnail, qos=1, retain=True)
        elif kind == "prompt":
            client.publish(topics.prompt, payloads.encode(prompt.to_dict()), qos=1, retain=True)
