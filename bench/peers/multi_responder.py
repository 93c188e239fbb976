"""One process serving N pseudo-terminals, each a minimal Marlin-like responder (for the scale run).

Same protocol as bench/responder.py (ok per complete line after `--ok-delay-ms`, an M115 identity
with EMERGENCY_PARSER, `ok T:..` for M105, no ok for M112), but one select() loop over N ptys,
so 32 simulated printers cost one process instead of 32 on a 2-core machine.
Prints the N pty paths, one per line; SIGTERM prints a JSON summary (lines per pty) and exits.
Usage: python bench/peers/multi_responder.py --ptys 32 [--ok-delay-ms 0]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/

from responder import command_body, open_pty, reply_for

def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ptys", type=int, default=1)
    parser.add_argument("--ok-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    delay = args.ok_delay_ms / 1000.0
    masters: list[int] = []
    slaves: list[int] = []  # kept open so a master never sees EIO before the host opens its end
    for _ in range(args.ptys):
        master, slave, path = open_pty()
        masters.append(master)
        slaves.append(slave)
        print(path, flush=True)
    index = {fd: i for i, fd in enumerate(masters)}
    buffers = [b""] * len(masters)
    counts = [0] * len(masters)
    pending: list[tuple[float, int, int, bytes]] = []  # (due, seq, fd, reply)
    seq = 0
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    poller = select.poll()
    for fd in masters:
        poller.register(fd, select.POLLIN)
    while not stop:
        timeout_ms = 200.0
        if pending:
            timeout_ms = max(0.0, (pending[0][0] - time.monotonic()) * 1000)
        try:
            events = poller.poll(timeout_ms)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            try:
                data = os.read(fd, 65536)
            except OSError:
                continue
            i = index[fd]
            buffer = buffers[i] + data
            out = []
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                body = command_body(line)
                counts[i] += 1
                reply = reply_for(body)
                if reply is None:
                    continue
                if delay:
                    seq += 1
                    heapq.heappush(pending, (now + delay, seq, fd, reply))
                else:
                    out.append(reply)
            buffers[i] = buffer
            if out:
                os.write(fd, b"".join(out))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, fd, reply = heapq.heappop(pending)
            os.write(fd, reply)
    print(json.dumps({"lines": counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
