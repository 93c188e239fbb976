"""`port: auto`: find a printer's serial device without opening anything."""

from __future__ import annotations

import glob
import os
from typing import Optional, Sequence

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


#: What a connection request may name instead of a port: detect among local serial devices.
AUTO = "auto"


def allowed_ports(configured: str, candidates: Sequence[str]) -> list[str]:
    """The ports a connection request may choose for a printer: its configured port and the
    local serial devices auto-detection finds. Never a port the request names by itself: a
    `socket://host:port` URL would open a TCP connection anywhere, and a file path is not a port."""
    ports = list(dict.fromkeys(candidates))
    if configured and configured != AUTO and configured not in ports:
        ports.append(configured)
    return ports


def port_problem(requested: str, configured: str, candidates: Sequence[str]) -> Optional[str]:
    """Why a connection request may not use `requested`, or None. One rule for MQTT and REST."""
    if requested.lower() == AUTO:
        return None
    allowed = allowed_ports(configured, candidates)
    if requested in allowed:
        return None
    shown = ", ".join(allowed[:8]) or "none"
    return (f"port {requested[:64]!r} is not allowed: a request may choose the configured port or a detected "
            f"serial device (allowed: {shown}, or auto); other ports are set in the configuration")
