"""Engine parameters: a frozen value the composition root fills from config (the core never reads config)."""

from __future__ import annotations

from dataclasses import dataclass

from mqttprint.protocol.sendqueue import Flow


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Tunables of one printer's protocol engine. Times are seconds of the caller's clock."""

    flow: Flow = Flow.PING_PONG
    #: firmware receive buffer (Marlin AVR default 128); window mode keeps rx_buffer - 1 bytes in flight
    rx_buffer: int = 128
    #: window mode: at most this many lines in flight whatever their size
    max_lines_in_flight: int = 32
    #: handshake: resend `M110 N0` this often until the firmware answers, this many times
    hello_interval: float = 2.0
    hello_attempts: int = 8
    #: no `ok` for this long is a communication timeout (OctoPrint: 30 s)
    ok_timeout: float = 10.0
    #: once the firmware has shown busy keepalives (every 2 s), silence is noticed sooner
    busy_ok_timeout: float = 5.0
    #: wait this long for the `ok` that Marlin sends after `Resend:` before assuming it never comes
    resend_ok_timeout: float = 0.5
    #: consecutive timeouts before the printer is declared dead (OctoPrint: idle 2, printing 5)
    max_timeouts_idle: int = 2
    max_timeouts_printing: int = 5
    #: the same line requested this many times in a row is a resend loop
    max_resends_same_line: int = 10
    #: numbered lines kept for resends
    history_size: int = 1024
    #: temperature report interval (auto-report M155 when available, else M105 polling)
    temperature_interval: float = 2.0
    #: position report interval (M154 auto-report when available, else M114 polling); 0 = off
    position_interval: float = 5.0
    #: emit LineSent/LineReceived events (terminal topic, traffic debugging)
    emit_traffic: bool = False
