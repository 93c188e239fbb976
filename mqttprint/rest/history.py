"""Temperature history per printer for `GET /api/printer?history=true`.

The bus callback runs on a printer's serial thread, so it only appends to a bounded deque (an
atomic operation); readers copy the deque and shape the samples on their own (HTTP) thread.
OctoPrint keeps 30 minutes of samples (`temperature.cutoff`); so does this.
"""

from __future__ import annotations

import collections
from typing import Callable, Iterable, Mapping, Optional

from mqttprint.protocol.events import TemperatureUpdate
from mqttprint.protocol.replies import HeaterReading
from mqttprint.runtime.bus import BusMessage, EventBus

#: OctoPrint's default `temperature.cutoff`, minutes.
CUTOFF_MINUTES = 30
#: Enough for one report per second over the cutoff; older samples fall off the deque's end.
MAX_SAMPLES = CUTOFF_MINUTES * 60

Sample = tuple[float, Mapping[str, HeaterReading]]


class TemperatureHistory:
    """Bounded (wall time, heaters) samples per printer, fed by TemperatureUpdate events."""

    def __init__(self, printer_ids: Iterable[str], max_samples: int = MAX_SAMPLES) -> None:
        # The dict is built once and never changes, so the serial threads never mutate it.
        self._samples: dict[str, collections.deque[Sample]] = {
            pid: collections.deque(maxlen=max_samples) for pid in printer_ids
        }
        self._unsubscribe: Optional[Callable[[], None]] = None

    def attach(self, bus: EventBus) -> None:
        """Start recording (idempotent)."""
        if self._unsubscribe is None:
            self._unsubscribe = bus.subscribe(self.record, (TemperatureUpdate,))

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def record(self, message: BusMessage) -> None:
        """Bus callback (serial thread): append only."""
        samples = self._samples.get(message.printer_id)
        if samples is not None:
            samples.append((message.wall_time, message.event.heaters))

    def samples(self, printer_id: str, now: float, limit: Optional[int] = None) -> list[Sample]:
        """Samples within the cutoff, oldest first; with `limit` the newest `limit` of them."""
        samples = self._samples.get(printer_id)
        if samples is None:
            return []
        recent = [s for s in samples.copy() if s[0] >= now - CUTOFF_MINUTES * 60]
        if limit is not None:
            recent = recent[-limit:] if limit > 0 else []
        return recent
