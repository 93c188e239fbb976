"""Heater physics for the simulator: a closed-form, deterministic first-order-ish model.

Each heater approaches its goal (target, or ambient when off) at most ``heating_rate``
degrees per second; within ``heating_rate * TAU`` degrees of the goal the approach turns
exponential with time constant ``TAU``. Closed form (no integration steps) so the pure model
can compute *when* a temperature window will be reached and jump the virtual clock there.
"""

from __future__ import annotations

import math

#: Idle readings; chosen to match the examples of reference §0/§7 ("T:21.37", "B:21.20").
AMBIENT_HOTEND = 21.37
AMBIENT_BED = 21.20
#: Time constant of the exponential tail (s). Small so tests reach temperature in ~2 s.
TAU = 0.25
#: Marlin reports soft-PWM power as 0..127.
MAX_POWER = 127
_SNAP = 0.0005  # closer than this to the goal counts as "at goal" (prints e.g. 210.00)


def fmt_temp(value: float) -> str:
    """Marlin's temperature number format: two decimals, never ``-0.00``."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


class Heater:
    """One heater (hotend or bed) with a target and a closed-form temperature curve."""

    def __init__(self, ambient: float, rate: float, now: float) -> None:
        self.ambient = ambient
        self.rate = rate
        self._target = 0.0
        self._ref_time = now
        self._ref_temp = ambient

    @property
    def target(self) -> float:
        """Current target in degrees (0 = off)."""
        return self._target

    def _goal(self) -> float:
        # A heater can only heat: targets below ambient (and "off") settle at ambient.
        return max(self._target, self.ambient) if self._target > 0 else self.ambient

    def _distance(self, elapsed: float) -> float:
        """Distance from the goal `elapsed` seconds after the reference point."""
        start = abs(self._goal() - self._ref_temp)
        knee = self.rate * TAU
        if start > knee:
            linear_time = (start - knee) / self.rate
            if elapsed <= linear_time:
                return start - self.rate * elapsed
            remaining = knee * math.exp(-(elapsed - linear_time) / TAU)
        else:
            remaining = start * math.exp(-elapsed / TAU)
        return 0.0 if remaining < _SNAP else remaining

    def temperature(self, now: float) -> float:
        """Temperature at time `now` (never earlier than the last target change)."""
        goal = self._goal()
        direction = 1.0 if goal >= self._ref_temp else -1.0
        return goal - direction * self._distance(max(0.0, now - self._ref_time))

    def set_target(self, target: float, now: float) -> None:
        """Change the target at `now`; the curve restarts from the current temperature."""
        self._ref_temp = self.temperature(now)
        self._ref_time = now
        self._target = max(0.0, target)

    def power(self, now: float) -> int:
        """Soft-PWM duty 0..127: full while heating, tapering in the tail, a holding share at goal."""
        if self._target <= self.ambient:
            return 0
        temp = self.temperature(now)
        if temp > self._target:
            return 0
        holding = (self._target - self.ambient) * 0.2
        heating = MAX_POWER * (self._target - temp) / (self.rate * TAU)
        return max(0, min(MAX_POWER, round(holding + heating)))

    def time_within(self, band: float, now: float) -> float | None:
        """Earliest time >= `now` at which ``|temperature - target| < band``; None if never."""
        offset = abs(self._goal() - self._target)  # non-zero only for targets below ambient
        margin = band - offset
        if margin <= 0:
            return None
        if abs(self.temperature(now) - self._target) < band:
            return now
        start = abs(self._goal() - self._ref_temp)
        knee = self.rate * TAU
        if start > knee:
            linear_time = (start - knee) / self.rate
            if margin >= knee:
                elapsed = (start - margin) / self.rate
            else:
                elapsed = linear_time + TAU * math.log(knee / margin)
        else:
            elapsed = TAU * math.log(start / margin)
        return max(now, self._ref_time + elapsed)


class Heaters:
    """The simulated machine's heaters: one hotend (T0) and a heated bed."""

    def __init__(self, rate: float, now: float) -> None:
        self.hotend = Heater(AMBIENT_HOTEND, rate, now)
        self.bed = Heater(AMBIENT_BED, rate, now)

    def by_name(self, name: str) -> Heater:
        """``"T"``/``"T0"``/``"0"`` -> hotend, ``"B"``/``"bed"`` -> bed."""
        if name in ("B", "bed"):
            return self.bed
        if name in ("T", "T0", "0"):
            return self.hotend
        raise KeyError(name)

    def all_off(self, now: float) -> None:
        """Targets to 0 (kill, reset): the hardware then cools towards ambient."""
        self.hotend.set_target(0.0, now)
        self.bed.set_target(0.0, now)

    def report(self, now: float) -> str:
        """``print_heater_states`` body: `` T:21.37 /0.00 B:21.20 /0.00 @:0 B@:0`` (leading space)."""
        hot, bed = self.hotend, self.bed
        return (
            f" T:{fmt_temp(hot.temperature(now))} /{fmt_temp(hot.target)}"
            f" B:{fmt_temp(bed.temperature(now))} /{fmt_temp(bed.target)}"
            f" @:{hot.power(now)} B@:{bed.power(now)}"
        )

    def snapshot(self, now: float) -> dict[str, tuple[float, float]]:
        """``{"T0": (actual, target), "B": (actual, target)}`` for inspection."""
        return {
            "T0": (self.hotend.temperature(now), self.hotend.target),
            "B": (self.bed.temperature(now), self.bed.target),
        }
