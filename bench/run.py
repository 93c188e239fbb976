"""Run every benchmark, side by side with the peers, and write docs/benchmarks.md.

Usage: .venv/bin/python bench/run.py [--quick] [--runs N] [--sections stream,emergency,...]

The peers (OctoPrint 1.11 and Printrun's printcore) are installed by this command from PyPI into
their own virtualenvs under bench/.peers/ (bench/peers/install.py), never into the project, and
are only run. Every host streams to the same minimal Marlin-like responder on a pseudo-terminal
(bench/responder.py). Runs of different hosts are interleaved (A B C A B C ...) and each number
is the median of the runs with (min..max). Compare ratios measured side by side on one machine,
not absolute numbers across machines. --quick: 2,000-line jobs, one run each, a 10 MB "big" file,
short latency, memory and scale runs (a smoke test, ~3 minutes). --sections stream,emergency:
only those phases, their tables written to --output (default bench/.peers/sections.md) instead of
docs/benchmarks.md (to compare a change side by side without the 20-minute full run).

Modules: measure.py (the phases), report.py / report_tables.py / report_targets.py (the document),
report_format.py (medians, ratios, keeping other benchmarks' sections).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "peers"))

import install
from measure import SECTIONS, Results, Settings, measure
from report import command_line, render
from report_format import Log, write_keeping_sections
from report_tables import emergency, stream_rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000-line jobs, one run each (smoke test)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds (default 3; --quick: 1)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated phases to run (default all: {','.join(SECTIONS)}); a subset writes "
                             "only its tables, to bench/.peers/sections.md unless --output is given")
    parser.add_argument("--output", default=None, help="default docs/benchmarks.md (all sections)")
    args = parser.parse_args(argv)
    sections = tuple(s for s in SECTIONS if s in args.sections.split(","))
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown or not sections:
        parser.error(f"--sections: unknown {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    args.section_list = sections
    return args


def main() -> int:
    args = parse_args()
    settings = Settings(quick=args.quick, runs=1 if args.quick else args.runs, runs_arg=args.runs,
                        sections=args.section_list)
    partial = settings.sections != SECTIONS
    output = Path(args.output or (ROOT / "bench" / ".peers" / "sections.md" if partial else ROOT / "docs" / "benchmarks.md"))
    log = Log()
    started = time.monotonic()

    log("installing the peers (once) into bench/.peers/ ...")
    pc_python, pc_version = install.ensure("printcore", log)
    op_python, op_version = install.ensure("octoprint", log)
    log(f"printcore {pc_version}, OctoPrint {op_version}")
    results = Results(settings, pc_version=pc_version, op_version=op_version)
    load_at_start = os.getloadavg()[0]
    measure(settings, pc_python, op_python, log, results)
    results.elapsed = time.monotonic() - started
    results.load = (load_at_start, os.getloadavg()[0])
    suffix = "-quick" if settings.quick else ""
    raw_path = ROOT / "bench" / ".peers" / f"results{suffix}{'-' + '-'.join(settings.sections) if partial else ''}.json"
    raw_path.write_text(json.dumps(results.raw(), default=str, indent=1))
    log(f"raw results: {raw_path}")
    if partial:
        text = partial_report(results)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        text = render(results)
        write_keeping_sections(output, text)
    print(text)
    log(f"wrote {output}")
    return 0


def partial_report(results: Results) -> str:
    """Only the streaming and/or emergency tables (the phases that were run)."""
    s = results.settings
    parts = [f"# Benchmarks: {', '.join(s.sections)} only\n\nProduced by `{command_line(results)} --sections "
             f"{','.join(s.sections)}` ({results.elapsed / 60:.1f} minutes, printcore {results.pc_version}, "
             f"OctoPrint {results.op_version}); median (min..max) of {s.runs} run(s)."]
    if "stream" in s.sections:
        parts.append("## Streaming throughput and host CPU per line\n\n| host | round trip per ok | lines/s | host CPU µs/line "
                     "| vs OctoPrint (lines/s / CPU) | vs printcore (lines/s / CPU) |\n|---|---|---|---|---|---|\n"
                     + "\n".join(stream_rows(results)))
    if "emergency" in s.sections:
        em = emergency(results)
        parts.append("## Emergency latency under full streaming load\n\n| host | path | p50 ms | p99 ms | max ms | samples "
                     "| HTTP round trip p50 ms | M112 -> wire ms |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(em.rows)
                     + "\n\n| path | p50 ms | p99 ms | max ms | samples |\n|---|---|---|---|---|\n" + "\n".join(em.breakdown_rows))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
