"""cProfile of mqttprint's I/O loop thread while streaming: where the CPU per line goes.

Builds N `PrinterService`s (as bench/peers/scale.py does) on responders at the given round trip,
streams endless jobs for `--seconds`, with a `cProfile.Profile` enabled inside the I/O loop thread
that services every printer (this process wraps `IoLoop._run`; mqttprint itself is not changed). Prints a Markdown
fragment: lines streamed, the profiled CPU per line, system calls per line, and the functions with
the most own time, per line; then one line `JSON {...}` with the same
figures for bench/run.py.
Usage: python bench/peers/profile_serial.py [--printers 1] [--delay-ms 0] [--flow ping-pong] [--seconds 5]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

from fleet import fleet

from mqttprint.runtime import io_loop

PROFILES: list[cProfile.Profile] = []
_original_run = io_loop.IoLoop._run


def _profiled_run(self: io_loop.IoLoop) -> None:
    # CPU time of this thread, not wall time: a system call's own time is then the CPU it costs,
    # not the time the thread slept in it or waited for the GIL afterwards.
    profile = cProfile.Profile(time.thread_time)
    PROFILES.append(profile)
    profile.enable()
    try:
        _original_run(self)
    finally:
        profile.disable()


io_loop.IoLoop._run = _profiled_run  # type: ignore[method-assign]

SYSCALLS = {
    "epoll": "<method 'poll' of 'select.epoll' objects>",
    "select": "<built-in method select.select>",
    "os.read": "<built-in method posix.read>",
    "os.write": "<built-in method posix.write>",
    "ioctl (in_waiting)": "<built-in method fcntl.ioctl>",
}


def label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = Path(filename)
    parts = path.parts
    for anchor in ("mqttprint", "serial", "bench"):
        if anchor in parts:
            path = Path(*parts[len(parts) - 1 - parts[::-1].index(anchor):])
            break
    else:
        path = Path(path.name)
    return f"{path}:{line} {name}"


def layer(func: tuple[str, int, str]) -> str:
    filename, _, name = func
    if filename == "~":
        if name in SYSCALLS.values():
            return "system calls (epoll, read, write)"
        return "built-ins (len, max, monotonic, str/bytes methods, locks)"
    parts = Path(filename).parts
    if "mqttprint" in parts:
        sub = parts[len(parts) - 1 - parts[::-1].index("mqttprint") + 1]
        return {"protocol": "mqttprint.protocol (engine, framing, queue, parser)",
                "runtime": "mqttprint.runtime (I/O loop, serial link, service callbacks)"}.get(sub, f"mqttprint.{sub}")
    if "serial" in parts:
        return "pyserial (Serial.read/write/in_waiting, Timeout)"
    if filename.endswith("enum.py"):
        return "enum (Enum.__hash__ etc.)"
    if "bench" in parts:
        return "benchmark job source"
    return "other stdlib (threading, queue, ...)"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--printers", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--flow", default="ping-pong", choices=("ping-pong", "window"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args()
    with fleet(args.printers, args.flow, args.delay_ms) as printers:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        printers.start_jobs()
        time.sleep(args.seconds)
        lines = sum(printers.lines_sent())
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = pstats.Stats(PROFILES[0], stream=io.StringIO())
    for profile in PROFILES[1:]:
        stats.add(profile)
    raw = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())
    by_name = {label(func): v for func, v in raw.items()}
    out = [f"Profiled: {args.printers} printer(s), {args.flow}, {args.delay_ms:g} ms round trip, {wall:.1f} s, "
           f"{lines:,} lines ({lines / wall:,.0f} lines/s under the profiler), process CPU {cpu / max(lines, 1) * 1e6:,.0f} µs/line "
           f"(the profiler itself adds to it), the I/O loop's profiled CPU {total_tt / max(lines, 1) * 1e6:,.0f} µs/line.", ""]
    calls = []
    for name, key in SYSCALLS.items():
        v = by_name.get(key)
        if v:
            calls.append(f"{name} {v[1] / max(lines, 1):.2f}")
    total_calls = sum(v[1] for v in raw.values())
    out.append("System calls per line: " + ", ".join(calls) + f"; Python-level calls per line (all functions): "
               f"{total_calls / max(lines, 1):.0f}.")
    out.append("")
    groups: dict[str, float] = {}
    for func, v in raw.items():
        groups[layer(func)] = groups.get(layer(func), 0.0) + v[2]
    out.append("| layer (own CPU) | µs/line | share |")
    out.append("|---|---|---|")
    for name, tt in sorted(groups.items(), key=lambda item: item[1], reverse=True):
        out.append(f"| {name} | {tt / max(lines, 1) * 1e6:.0f} | {100 * tt / total_tt:.0f}% |")
    out.append("")
    out.append("| function (own time) | calls/line | own µs/line | share |")
    out.append("|---|---|---|---|")
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:args.top]
    for func, (cc, nc, tt, ct, callers) in ranked:
        out.append(f"| `{label(func)}` | {nc / max(lines, 1):.2f} | {tt / max(lines, 1) * 1e6:.1f} | {100 * tt / total_tt:.0f}% |")
    metrics = {
        "lines": lines, "cpu_us_per_line": cpu / max(lines, 1) * 1e6, "python_calls_per_line": total_calls / max(lines, 1),
        "syscalls_per_line": {name: by_name[key][1] / max(lines, 1) for name, key in SYSCALLS.items() if key in by_name},
        "layers": {name: tt / total_tt for name, tt in groups.items()},
        "functions": {label(func): {"calls_per_line": v[1] / max(lines, 1), "share": v[2] / total_tt}
                      for func, v in sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:40]},
    }
    print("\n".join(out))
    print("JSON " + json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
