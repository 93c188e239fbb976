"""Status polls: when the next M105/M114 is due on a firmware that does not auto-report. Pure."""

from __future__ import annotations


class PollSchedule:
    """The next temperature and position poll times."""

    def __init__(self, temperature_interval: float, position_interval: float) -> None:
        self.temperature_interval = temperature_interval
        self.position_interval = position_interval
        self._next_temperature = 0.0
        self._next_position = 0.0

    def start(self, now: float) -> None:
        """The printer became operational: poll at once."""
        self._next_temperature = now
        self._next_position = now

    def temperature_due(self, now: float) -> bool:
        """Whether an M105 poll is due now; if so the next one is scheduled."""
        if self.temperature_interval <= 0 or now < self._next_temperature:
            return False
        self._next_temperature = now + self.temperature_interval
        return True

    def position_due(self, now: float) -> bool:
        """Whether an M114 poll is due now; if so the next one is scheduled."""
        if self.position_interval <= 0 or now < self._next_position:
            return False
        self._next_position = now + self.position_interval
        return True

    def deadlines(self) -> list[float]:
        """When polls are next due (for the shell's select timeout)."""
        times: list[float] = []
        if self.temperature_interval > 0:  # off: never due (else the shell would wake at once forever)
            times.append(self._next_temperature)
        if self.position_interval > 0:
            times.append(self._next_position)
        return times
