"""A minimal Marlin-like responder on a pseudo-terminal, for benchmarks (run as its own process).

Answers `ok` to every complete line (after an optional delay, modelling USB adapter + firmware
turnaround), answers M115 with a Marlin identity, and records the arrival time
(CLOCK_MONOTONIC, shared by all processes on the machine) of every emergency line. It stands in
for the firmware the peers were measured against (shared/reference/measured-peers.md), so the
numbers compare; the full simulator (`mqttprint simulate`) is heavier and is not what is
measured here.

Usage: python bench/responder.py --ok-delay-ms 0 --window 0   (prints the pty path, then serves;
SIGTERM prints a JSON summary to stdout and exits).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import select
import signal
import sys
import termios
import time
import tty

M115 = (
    b"FIRMWARE_NAME:Marlin 2.1.2.1 (bench) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 "
    b"MACHINE_TYPE:3D Printer EXTRUDER_COUNT:1\nCap:EMERGENCY_PARSER:1\nCap:AUTOREPORT_TEMP:0\nok\n"
)
EMERGENCY = (b"M112", b"M108", b"M410", b"M876", b"M524")


def open_pty() -> tuple[int, int, str]:
    """A raw, no-echo pseudo-terminal: (master fd, slave fd, slave path for the host)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave, os.ttyname(slave)


def command_body(line: bytes) -> bytes:
    """The command of a received line, without `N<n>` and `*<checksum>`."""
    body = line.split(b"*")[0].strip()
    if body.startswith(b"N"):
        body = body.split(b" ", 1)[1] if b" " in body else b""
    return body


def reply_for(body: bytes) -> bytes | None:
    """What the firmware answers (None: M112 halts it, no `ok`)."""
    if body.startswith(b"M112"):
        return None
    if body.startswith(b"M115"):
        return M115
    if body.startswith(b"M105"):
        return b"ok T:21.0 /0.0 B:21.0 /0.0\n"
    return b"ok\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ok-delay-ms", type=float, default=0.0)
    parser.add_argument("--report-interval", type=float, default=0.0,
                        help="emit an unsolicited position report (X = sequence number) this often, seconds")
    args = parser.parse_args()
    delay = args.ok_delay_ms / 1000.0
    master, _slave, path = open_pty()
    print(path, flush=True)
    arrivals: list[tuple[str, float]] = []
    markers: list[tuple[str, float]] = []  # arrival of `M118 <marker>` lines (normal commands)
    reports: list[tuple[int, float]] = []  # (sequence, emit time) of position reports
    next_report = time.monotonic() + args.report_interval if args.report_interval else None
    lines = 0
    pending: list[tuple[float, int, bytes]] = []  # (due time, seq, reply)
    seq = 0
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    buffer = b""
    while not stop:
        timeout = 0.2
        if pending:
            timeout = max(0.0, pending[0][0] - time.monotonic())
        if next_report is not None:
            timeout = max(0.0, min(timeout, next_report - time.monotonic()))
        try:
            ready, _, _ = select.select([master], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                time.sleep(0.01)  # no slave open yet (EIO): wait for the host
                continue
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                body = command_body(line)
                if body.startswith(b"M118 "):
                    markers.append((body[5:].decode(errors="replace"), now))
                if body.startswith(EMERGENCY):
                    arrivals.append((body.decode(), now))
                reply = reply_for(body)
                if reply is None:
                    continue  # no ok for M112
                lines += 1
                if delay:
                    seq += 1
                    heapq.heappush(pending, (now + delay, seq, reply))
                else:
                    os.write(master, reply)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            os.write(master, heapq.heappop(pending)[2])
        if next_report is not None and now >= next_report:
            sequence = len(reports) + 1
            try:
                os.write(master, f"X:{sequence}.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0\n".encode())
                reports.append((sequence, time.monotonic()))
            except OSError:
                pass  # no host yet
            next_report = now + args.report_interval
    print(json.dumps({"lines": lines, "emergency": arrivals, "markers": markers, "reports": reports}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
