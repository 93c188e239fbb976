"""What a serial link is configured with, and what it needs of a port object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol


class Port(Protocol):
    """What the link needs of a port (pyserial's Serial, or the in-process simulator)."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> Optional[int]: ...
    def close(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to reach one printer."""

    port: str  # device path, "auto", "sim://marlin", "rfc2217://host:port", "socket://host:port"
    baudrate: int = 115200
    autoconnect: bool = True
    #: pulse DTR when opening to reset the board (AVR boards reset on open anyway; this forces it)
    reset_on_connect: bool = False
    reconnect_min: float = 0.5
    reconnect_max: float = 10.0
    #: when an engine deadline has passed but cannot be acted on yet (a poll held behind G28),
    #: look again after this long instead of spinning
    idle_read_timeout: float = 0.05
