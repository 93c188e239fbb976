"""A/B: this tree's MQTT side against another revision's, interleaved (issue 20: one network thread).

Usage: .venv/bin/python bench/mqtt_ab.py [--base REV] [--rounds N] [--samples N]

`--base` (default bb7ac2c: main just before the shared network loop, with a paho thread per
connection and two request workers per printer) is checked out into a temporary git worktree. Every round runs each tree's own
`bench/mqtt_latency.py` in a fresh process (A then B, so load on a shared machine hits both
alike): a whole gateway on a local mosquitto, a job streaming at full speed to the 0 ms responder,
and every 20 ms an `M118` on `B/command` and an `M108` on `B/emergency`, timed from the publish to
the line at the printer; the responder's position reports are timed to the retained `B/position`.
Each cell is the median over the rounds of the runs' p50/p99, with (min..max); "B/A" is the ratio of
medians. The table goes into docs/benchmarks.md between the `section:mqtt-ab` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from engine_ab import cell, revision_tree
from sections import write_section

SECTION = "mqtt-ab"
PATHS = (("emergency", "MQTT publish `B/emergency` M108 -> wire"), ("command", "MQTT publish `B/command` M118 -> wire"),
         ("position_report", "firmware position report -> retained `B/position` at a subscriber"))


def latency_run(tree: Path, samples: int) -> dict:
    """One `bench/mqtt_latency.py` run of `tree` (its own code on PYTHONPATH)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "bench" / "mqtt_latency.py"), "--samples", str(samples)], env=env,
                         cwd=tree, capture_output=True, text=True, timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="bb7ac2c", help="revision A (default: main before the shared network loop)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--section", default=SECTION, help="the docs/benchmarks.md section to write")
    parser.add_argument("--what", default=("A has a paho network thread per MQTT connection (one per printer plus "
                                           "the gateway's) and two request workers per printer; B has one network "
                                           "thread for every connection and request workers on demand (issue 20)."),
                        help="what differs between A and B (one sentence for the document)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    with revision_tree(args.base) as (base, head):
        for r in range(args.rounds):
            for name, tree in (("A", base), ("B", ROOT)):
                runs[name].append(latency_run(tree, args.samples))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    rows = []
    for key, label in PATHS:
        for stat in ("p50", "p99"):
            a = [run[key][stat] for run in runs["A"]]
            b = [run[key][stat] for run in runs["B"]]
            rows.append(f"| {label} | {stat} ms | {cell(a, 2)} | {cell(b, 2)} | "
                        f"{statistics.median(b) / statistics.median(a):.3f} |")
    a = [float(run["job_lines_streamed"]) for run in runs["A"]]
    b = [float(run["job_lines_streamed"]) for run in runs["B"]]
    rows.append(f"| job lines streamed meanwhile | lines | {cell(a, 0)} | {cell(b, 0)} | "
                f"{statistics.median(b) / statistics.median(a):.3f} |")
    load = os.getloadavg()[0]
    extra = "" if args.section == SECTION else f" --section {args.section} --what '...'"
    body = (f"## MQTT A/B: {args.base} (A) vs {head} (B)\n\n"
            f"Produced by `.venv/bin/python bench/mqtt_ab.py --base {args.base} --rounds {args.rounds} "
            f"--samples {args.samples}{extra}` on {os.cpu_count()} CPU(s), 1-minute load average {load:.1f} at the end "
            f"(each tree's `bench/mqtt_latency.py`, A and B interleaved in fresh processes, median (min..max) of "
            f"{args.rounds} runs' p50/p99, {args.samples} samples per path per run). {args.what} Only B/A means "
            "anything on a shared machine.\n\n"
            "| path | measure | A | B | B/A |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(body)
    if not args.no_write:
        write_section(args.section, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
