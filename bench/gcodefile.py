"""G-code metadata benchmark: scan a 100 MB file built from real PrusaSlicer output.

    .venv/bin/python bench/gcodefile.py [--size-mb 100] [--no-write]

The file is the PrusaSlicer 2.5.0 fixture (tests/fixtures/gcode) with its layers repeated until
it reaches the size, plus the real BambuStudio thumbnail block in the header. Each measurement
runs in a fresh process so its peak RSS (VmHWM) is its own:
* `scan`: `gcodefile.scan` alone (1 MB reads);
* `upload`: `FileStore.save` as an upload runs it (64 KB chunks: write to disk, count lines, scan).
The table goes into docs/benchmarks.md between the `section:gcodefile` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "gcode"
SECTION = "gcodefile"


def build_file(path: Path, size_mb: int) -> None:
    prusa = (FIXTURES / "prusaslicer-2.5.0_box20x20x10_trimmed.gcode").read_bytes()
    bambu = (FIXTURES / "bambustudio-01.09.07.52_square_ring.gcode").read_bytes()
    thumb = bambu[bambu.index(b"; thumbnail begin"):bambu.index(b"; thumbnail end") + len(b"; thumbnail end\n")]
    first = prusa.index(b";LAYER_CHANGE")
    cut = prusa.index(b"; [mqttprint test fixture")
    head, body, foot = prusa[:first], prusa[first:cut], prusa[cut:]
    target = size_mb * 1024 * 1024
    with open(path, "wb") as out:
        out.write(head.replace(b"\n\n", b"\n" + thumb, 1))
        written = len(head)
        while written < target:
            out.write(body)
            written += len(body)
        out.write(foot)


def measure(mode: str, path: Path) -> dict:
    """Run in this (fresh) process: time one pass, report MB/s and memory."""
    sys.path.insert(0, str(ROOT))
    from mqttprint.gcodefile import scan
    from mqttprint.runtime.file_store import FileStore

    def status(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    size = path.stat().st_size
    before = status("VmRSS")
    started = time.perf_counter()
    cpu = time.process_time()
    if mode == "scan":
        with open(path, "rb") as stream:
            meta = scan(stream)
    else:
        with tempfile.TemporaryDirectory() as tmp, open(path, "rb") as stream:
            stored = FileStore(Path(tmp), 1 << 40).save("bench.gcode", stream)
            meta = stored.analysis
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    layers = meta.layer_count if mode == "scan" else meta["layer_count"]  # type: ignore[union-attr,index]
    return {"mode": mode, "mb": size / 1e6, "seconds": elapsed, "cpu_seconds": cpu, "mb_per_s": size / 1e6 / elapsed,
            "rss_before_mb": before, "peak_rss_mb": status("VmHWM"), "layers": layers}


def write_section(doc: Path, table: str) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"<!-- section:{SECTION} -->\n{table}<!-- /section:{SECTION} -->\n"
    pattern = re.compile(rf"<!-- section:{SECTION} -->.*?<!-- /section:{SECTION} -->\n?", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    doc.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.gcode"
        build_file(path, args.size_mb)
        results = []
        for mode in ("scan", "upload"):
            out = subprocess.run([sys.executable, __file__, "--measure", mode, str(path)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
            results.append(json.loads(out.stdout))
    rows = "".join(
        f"| {r['mode']} | {r['mb']:.0f} | {r['seconds']:.2f} | {r['mb_per_s']:.0f} | {r['cpu_seconds']:.2f} | "
        f"{r['mb'] / r['cpu_seconds']:.0f} | "
        f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['layers']} |\n" for r in results)
    table = (
        "## G-code metadata (upload-time scan)\n\n"
        f"`{' '.join(['.venv/bin/python', 'bench/gcodefile.py'] + sys.argv[1:])}` on {os.cpu_count()} CPU(s), "
        f"{time.strftime('%Y-%m-%d')}. A {args.size_mb} MB file made of real PrusaSlicer 2.5.0 layers (with a real "
        "BambuStudio thumbnail in its header). `scan`: the metadata reader alone; `upload`: `FileStore.save` "
        "(write to disk + line count + metadata + thumbnail files), which is what an upload costs. Peak RSS is "
        "the process's VmHWM (Python + the package included), before = RSS before the pass. Wall time "
        "depends on how busy the machine is (it is shared); MB per CPU second does not.\n\n"
        "| pass | MB | seconds | MB/s (wall) | CPU s | MB per CPU s | RSS before (MB) | peak RSS (MB) | layers found |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + rows + "\n")
    print(table)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
