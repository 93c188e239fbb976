"""Formatting helpers for the benchmark report: medians with (min..max), ratios, the machine line,
a timestamped log, and writing docs/benchmarks.md without losing other benchmarks' sections."""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import time
from pathlib import Path


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.node()}: {os.cpu_count()} cores, {cpu}{mem}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")



def med(values: list[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def fmt(values: list[float], digits: int = 0) -> str:
    """median (min..max) of the runs; just the value for one run."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "—"
    m = statistics.median(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}"
    return f"{m:,.{digits}f} ({min(values):,.{digits}f}..{max(values):,.{digits}f})"


def ratio(a: float, b: float, digits: int = 2) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:.{digits}f}x"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


class Log:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.0f} s] {text}", flush=True)



def kept_sections(doc: Path) -> str:
    """The `<!-- section:<name> -->` blocks other benchmarks (bench/<name>.py) wrote into the file:
    kept, in order, at the end of the rewritten file."""
    if not doc.exists():
        return ""
    text = doc.read_text(encoding="utf-8")
    found = re.finditer(r"<!-- section:([\w-]+) -->.*?<!-- /section:\1 -->\n?", text, re.S)
    return "".join("\n" + match.group(0) for match in found)


def write_keeping_sections(path: Path, text: str) -> None:
    """Write `text` to `path`, keeping the `<!-- section:<name> -->` blocks the file already has
    (other benchmarks append their own sections: bench/<name>.py)."""
    path.write_text(text + kept_sections(path), encoding="utf-8")
