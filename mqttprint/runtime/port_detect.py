"""`port: auto`: find a printer's serial device without opening anything."""

from __future__ import annotations

import glob
import os
from typing import Optional

#: Where USB printers show up on Linux, most specific first: by-id names are stable across
#: re-plugging; ttyACM is native USB (CDC: STM32/LPC/SAMD boards, Prusa MK3's 32U2), ttyUSB a
#: USB-serial bridge (CH340, FTDI, CP210x on RAMPS/Mega boards).
PATTERNS = ("/dev/serial/by-id/*", "/dev/ttyACM*", "/dev/ttyUSB*")


def candidate_ports(patterns: tuple[str, ...] = PATTERNS) -> list[str]:
    """Every existing candidate device, in preference order, without duplicates of one device."""
    seen: set[str] = set()
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            found.append(path)
    return found


def detect_port(patterns: tuple[str, ...] = PATTERNS) -> Optional[str]:
    """The first candidate port, or None when no printer is plugged in."""
    ports = candidate_ports(patterns)
    return ports[0] if ports else None
