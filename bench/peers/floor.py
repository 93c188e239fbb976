"""The Python floor: the least a Python host can do per line, for scale in the streaming table.

One thread, the pty opened with os.open in raw mode, ping-pong: os.write one numbered,
checksummed line, then os.read until its `ok` has arrived. No protocol engine, no pyserial, no
events: what any Python host pays at least for the round trip (system calls, the responder,
the scheduler). Not a printer host — a yardstick, like the floor in shared/reference/measured-peers.md.
Prints one JSON object: lines/s and CPU µs per line of this process.
Usage: python bench/peers/floor.py --port /dev/pts/N --lines 20000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tty


def checksum(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    fd = os.open(args.port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    lines = []
    for i in range(args.lines):
        body = f"N{i + 1} G1 X{(i % 200) + 0.123:.3f} Y{(i * 7) % 200 + 0.5:.3f} E{i * 0.01:.4f}".encode()
        lines.append(body + b"*%d\n" % checksum(body))
    os.write(fd, b"M110 N0\n")
    buffer = b""
    while b"ok" not in buffer:
        buffer += os.read(fd, 4096)
    buffer = b""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for line in lines:
        os.write(fd, line)
        while b"ok\n" not in buffer:
            buffer += os.read(fd, 4096)
        buffer = buffer[buffer.index(b"ok\n") + 3:]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    os.close(fd)
    print(json.dumps({"lines_per_s": args.lines / wall, "cpu_us_per_line": cpu / args.lines * 1e6}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
