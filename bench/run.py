"""Run every benchmark and write docs/benchmarks.md.  Usage: .venv/bin/python bench/run.py [--quick]

Each row is the median of several runs (min..max in brackets). Compare ratios measured side by
side on one machine, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stream import run_stream, summarize  # noqa: E402

from mqttprint import __version__  # noqa: E402
from mqttprint.protocol.sendqueue import Flow  # noqa: E402


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def fmt(median: float, low: float, high: float, digits: int = 0) -> str:
    return f"{median:,.{digits}f} ({low:,.{digits}f}..{high:,.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer lines and runs (smoke test)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    scenarios = [
        ("ping-pong", Flow.PING_PONG, 0.0, 2000 if args.quick else 20000),
        ("ping-pong", Flow.PING_PONG, 2.0, 500 if args.quick else 5000),
        ("window (127 B)", Flow.WINDOW, 0.0, 2000 if args.quick else 20000),
        ("window (127 B)", Flow.WINDOW, 2.0, 500 if args.quick else 5000),
    ]
    rows = []
    for label, flow, delay, lines in scenarios:
        print(f"streaming {lines} lines, {label}, {delay} ms round trip x{runs} ...", flush=True)
        results = [run_stream(lines, delay, flow) for _ in range(runs)]
        s = summarize(results)
        rows.append(
            f"| {label} | {delay:g} ms | {lines:,} | {fmt(s['rate_median'], s['rate_min'], s['rate_max'])} "
            f"| {fmt(s['cpu_median'], s['cpu_min'], s['cpu_max'])} "
            f"| {s['lat_p50']:.2f} / {s['lat_p99']:.2f} / {s['lat_max']:.2f} ({s['lat_n']}) |"
        )
    job_rows = []
    for label, extra in (("100,000-line job (3.5 MB)", ["--lines", "20000" if args.quick else "100000"]),
                         ("100 MB file, first 10 s", ["--size-mb", "100", "--seconds", "3" if args.quick else "10"])):
        print(f"job: {label} ...", flush=True)
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "job.py"), *extra], capture_output=True, text=True,
                             timeout=900, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        job_rows.append(f"| {label} | {r['lines_sent']:,} | {r['lines_per_s']:,} | {r['cpu_us_per_line']} "
                        f"| {r['idle_rss_mb']} | {r['peak_rss_mb']} |")
    today = datetime.date.today().isoformat()
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    text = f"""# Benchmarks

Produced by `{command}` (mqttprint {__version__}, {today}) on
{machine_line()}.

## Streaming through the serial link to a responder on a pseudo-terminal

A job of unique `G1 X.. Y.. E..` lines (~32 bytes) streamed by the real serial link thread
(`runtime/serial_link.py` + the protocol engine) to `bench/responder.py`, a minimal Marlin-like
responder in its own process that answers `ok` per line after the given round trip (the same
kind of responder the peers in `shared/reference/measured-peers.md` were measured against).
CPU is this process's CPU time (all threads) per line. Emergency latency: `emergency()` called
every 20 ms while the job streams at full speed -> the line's arrival at the responder
(CLOCK_MONOTONIC in both processes), p50 / p99 / max in ms (samples). M108 is used for the
samples: it takes the same fast path as M112, which would end the run. Median of {runs} run(s),
(min..max).

| flow control | round trip per ok | lines | lines/s | host CPU µs/line | emergency latency p50 / p99 / max ms |
|---|---|---|---|---|---|
""" + "\n".join(rows) + """

## Print jobs from stored files

`bench/job.py`: a file is uploaded to the file store and printed through the job service
(lazy reading, comments and blank lines skipped) to the same responder, ping-pong, 0 ms round
trip; each row is one fresh process so its peak RSS (VmHWM) is its own. Memory stays flat in
the file size: the file is read a line at a time.

| job | lines sent | lines/s | host CPU µs/line | RSS idle MB | peak RSS MB |
|---|---|---|---|---|---|
""" + "\n".join(job_rows) + """

Peers measured on this kind of machine (shared/reference/measured-peers.md, not re-run here):
OctoPrint 1.11.8 1,041 lines/s and 549 µs/line at 0 ms, 278 lines/s at 2 ms, REST M112 6.78 ms
median / 20.69 ms max; Printrun printcore 766 lines/s at 0 ms, 268 at 2 ms, `send_now` 1.02 / 4.56 ms.
A side-by-side run that installs and drives the peers is the benchmark issue's work.
"""
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
