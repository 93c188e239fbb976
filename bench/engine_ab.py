"""A/B: this tree's protocol engine and serial path against another revision's, interleaved.

Usage: .venv/bin/python bench/engine_ab.py [--base REV] [--rounds N] [--lines N]

`--base` (default b3e73b5, main before the issue 14 redesign) is checked out into a temporary
git worktree; every round runs A then B in fresh processes (PYTHONPATH selects the tree), so load
on a shared machine hits both alike. Two measurements:

- pure engine: CPU µs per job line with no I/O at all (virtual clock, the engine answered one `ok`
  per line; the minimum of 3 repeats inside each process), ping-pong and window;
- serial path: bench/stream.py's `run_stream` of each tree (real pty, bench/responder.py, 0 ms,
  an M108 every 20 ms): lines/s, host CPU µs/line, emergency p50/p99.

Each cell is the median over the rounds with (min..max); "B/A" is the ratio of medians. The table
goes into docs/benchmarks.md between the `section:engine-ab` markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from sections import write_section

SECTION = "engine-ab"

#: Run inside the tree under test (PYTHONPATH): CPU per job line of the pure engine.
ENGINE_PROBE = r'''
import json, sys, time
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow

class Job:
    name = "ab.gcode"
    def __init__(self, n): self.i, self.n = 0, n
    def next_line(self):
        if self.i >= self.n: return None
        i = self.i; self.i += 1
        return f"G1 X{(i % 200) + 0.123:.3f} Y{(i * 7) % 200 + 0.5:.3f} E{(i % 100000) * 0.01:.4f}"

def run(flow, lines):
    e = Engine(EngineParams(flow=Flow(flow), temperature_interval=0, position_interval=0))
    now = 0.0
    e.open_requested(now); e.connection_opened(now)
    for _ in range(10):
        out = e.data_to_send(now)
        for line in out.split(b"\n")[:-1]:
            e.receive_data(b"FIRMWARE_NAME:Marlin 2.1\nok\n" if b"M115" in line else b"ok\n", now)
    e.start_job(Job(lines), now)
    c0 = time.process_time()
    while e.job is not None:
        now += 0.001
        n = e.data_to_send(now).count(b"\n")
        if n: e.receive_data(b"ok\n" * n, now)
        e.tick(now)
    return (time.process_time() - c0) / lines * 1e6

print(json.dumps(min(run(sys.argv[1], int(sys.argv[2])) for _ in range(3))))
'''

#: Run inside the tree under test: one bench/stream.py run of that tree.
STREAM_PROBE = r'''
import json, sys
tree, flow, lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree + "/bench")
from stream import run_stream, percentile
from mqttprint.protocol.sendqueue import Flow
r = run_stream(lines, 0.0, Flow(flow), emergency_interval=0.02)
print(json.dumps({"rate": r.lines_per_s, "cpu": r.cpu_us_per_line,
                  "p50": percentile(r.latencies_ms, 50), "p99": percentile(r.latencies_ms, 99)}))
'''


def probe(tree: Path, code: str, *args: str) -> object:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=tree, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def revision_tree(rev: str) -> Iterator[tuple[Path, str]]:
    """`rev` checked out in a temporary git worktree (removed afterwards), and HEAD's short hash."""
    base_dir = Path(tempfile.mkdtemp(prefix="mqttprint-ab-"))
    base = base_dir / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), rev], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    try:
        yield base, head
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
        shutil.rmtree(base_dir, ignore_errors=True)


def cell(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}..{max(values):,.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="b3e73b5", help="revision A (default: main before issue 14)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    engine: dict[tuple[str, str], list[float]] = {}
    stream: dict[tuple[str, str], list[dict]] = {}
    with revision_tree(args.base) as (base, head):
        trees = {"A": base, "B": ROOT}
        for r in range(args.rounds):
            for flow in ("ping-pong", "window"):
                for name, tree in trees.items():
                    engine.setdefault((flow, name), []).append(float(probe(tree, ENGINE_PROBE, flow, str(args.lines))))  # type: ignore[arg-type]
                    stream.setdefault((flow, name), []).append(probe(tree, STREAM_PROBE, str(tree), flow, str(args.lines)))  # type: ignore[arg-type]
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    rows = []
    for flow in ("ping-pong", "window"):
        a, b = engine[(flow, "A")], engine[(flow, "B")]
        rows.append(f"| pure engine, {flow} | CPU µs/line | {cell(a, 2)} | {cell(b, 2)} | "
                    f"{statistics.median(b) / statistics.median(a):.3f} |")
        for key, label, digits in (("rate", "lines/s", 0), ("cpu", "host CPU µs/line", 1), ("p50", "emergency p50 ms", 2),
                                   ("p99", "emergency p99 ms", 2)):
            a = [x[key] for x in stream[(flow, "A")]]
            b = [x[key] for x in stream[(flow, "B")]]
            rows.append(f"| serial path, {flow}, 0 ms | {label} | {cell(a, digits)} | {cell(b, digits)} | "
                        f"{statistics.median(b) / statistics.median(a):.3f} |")
    body = (f"## Engine A/B: {args.base} (A) vs {head} (B)\n\n"
            f"Produced by `.venv/bin/python bench/engine_ab.py --base {args.base} --rounds {args.rounds}` "
            f"({args.lines:,}-line jobs, A and B interleaved in fresh processes, median (min..max) of "
            f"{args.rounds} rounds). A is main before the issue 14 redesign (engine collaborators, one rulebook). "
            "The pure-engine rows isolate the protocol core; the serial-path rows also include everything "
            "else that changed since A (e.g. the one I/O loop of issue 20). Only the ratio B/A means "
            "anything on a shared machine.\n\n"
            "| what | measure | A | B | B/A |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
