"""Motion state and the look-ahead planner of the simulator.

`Motion` holds the *projected* logical position (where the last queued move ends - what
Marlin 2.x's M114 reports without ``M114_LEGACY``) plus modal state (G90/G91, M82/M83,
feedrate, G92 shift). `Planner` is a FIFO of timed blocks: blocks run back to back, a block
starts when the previous one finishes, and the queue holds ``BLOCK_BUFFER_SIZE - 1`` blocks
because Marlin always keeps one slot empty.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

#: Default steps/mm of a typical cartesian printer (M114 "Count" = position * steps/mm).
STEPS_PER_MM: tuple[float, float, float, float] = (80.0, 80.0, 400.0, 93.0)
#: Marlin's power-up feedrate: 1500 mm/min.
DEFAULT_FEEDRATE_MM_S = 25.0
AXES = ("X", "Y", "Z", "E")

Vector = tuple[float, float, float, float]


def lround(value: float) -> int:
    """C ``lround``: halves round away from zero (Python's round() would go to even)."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


@dataclass
class Motion:
    """Modal motion state. Positions are logical mm; machine = logical - shift (XYZ only)."""

    position: list[float]
    shift: list[float]
    relative_xyz: bool = False
    relative_e: bool = False
    feedrate_mm_s: float = DEFAULT_FEEDRATE_MM_S

    @classmethod
    def power_up(cls) -> Motion:
        """State after reset: everything at 0, absolute mode, default feedrate."""
        return cls(position=[0.0, 0.0, 0.0, 0.0], shift=[0.0, 0.0, 0.0])

    def machine(self) -> Vector:
        """Machine coordinates (logical position without the G92 shift)."""
        p, s = self.position, self.shift
        return (p[0] - s[0], p[1] - s[1], p[2] - s[2], p[3])

    def logical_from_machine(self, machine: Vector) -> list[float]:
        """Inverse of `machine` (used after a quick stop re-syncs from the steppers)."""
        s = self.shift
        return [machine[0] + s[0], machine[1] + s[1], machine[2] + s[2], machine[3]]


def counts(machine: Vector) -> tuple[int, int, int]:
    """Stepper counts of X, Y, Z for a machine position (M114 ``Count`` part)."""
    return (
        lround(machine[0] * STEPS_PER_MM[0]),
        lround(machine[1] * STEPS_PER_MM[1]),
        lround(machine[2] * STEPS_PER_MM[2]),
    )


def move_duration(start: Vector, end: Vector, feedrate_mm_s: float) -> float:
    """Seconds for a straight move: XYZ length (or E length for pure extrusion) / feedrate."""
    dx, dy, dz, de = (end[i] - start[i] for i in range(4))
    length = math.sqrt(dx * dx + dy * dy + dz * dz) or abs(de)
    return length / feedrate_mm_s if feedrate_mm_s > 0 else 0.0


@dataclass(frozen=True)
class Block:
    """One planned move in machine coordinates, with its scheduled execution window."""

    start: Vector
    end: Vector
    begin: float
    finish: float


class Planner:
    """FIFO of timed blocks; at most `capacity` blocks queued."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._blocks: deque[Block] = deque()

    def __len__(self) -> int:
        return len(self._blocks)

    @property
    def free(self) -> int:
        """``planner.moves_free()``: the ``P`` value of ADVANCED_OK."""
        return self.capacity - len(self._blocks)

    def retire(self, now: float) -> bool:
        """Drop blocks that finished by `now`; True if any did."""
        retired = False
        while self._blocks and self._blocks[0].finish <= now:
            self._blocks.popleft()
            retired = True
        return retired

    def push(self, start: Vector, end: Vector, duration: float, now: float) -> None:
        """Queue a move; it starts when the previous block ends (or now if idle)."""
        if self.free <= 0:
            raise RuntimeError("planner full: caller must wait for a free block")
        begin = max(now, self._blocks[-1].finish) if self._blocks else now
        self._blocks.append(Block(start=start, end=end, begin=begin, finish=begin + duration))

    def next_completion(self) -> float | None:
        """When the running block finishes (None if idle)."""
        return self._blocks[0].finish if self._blocks else None

    def realtime(self, now: float) -> Vector | None:
        """Machine position of the steppers at `now`, or None when the planner is idle."""
        if not self._blocks:
            return None
        block = self._blocks[0]
        if now <= block.begin or block.finish <= block.begin:
            return block.start
        frac = min(1.0, (now - block.begin) / (block.finish - block.begin))
        s, e = block.start, block.end
        return (
            s[0] + (e[0] - s[0]) * frac,
            s[1] + (e[1] - s[1]) * frac,
            s[2] + (e[2] - s[2]) * frac,
            s[3] + (e[3] - s[3]) * frac,
        )

    def clear(self, now: float) -> Vector | None:
        """Quick stop (M410/kill): drop every block; return where the steppers stopped."""
        stopped = self.realtime(now)
        self._blocks.clear()
        return stopped
