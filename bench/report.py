"""docs/benchmarks.md from `measure.Results`: the document's text around the tables."""

from __future__ import annotations

import datetime

from measure import OP, PC, Results
from report_format import fmt, machine_line, med
from report_tables import emergency, memory, scale_notes, scale_rows, stream_rows
from report_targets import gaps, targets

from mqttprint import __version__


def command_line(r: Results) -> str:
    """The command that reproduces this report."""
    s = r.settings
    return ".venv/bin/python bench/run.py" + (" --quick" if s.quick else "") + \
        (f" --runs {s.runs_arg}" if not s.quick and s.runs_arg != 3 else "")


def render(r: Results) -> str:
    """The whole document (every section measured)."""
    s = r.settings
    command = command_line(r)
    today = datetime.date.today().isoformat()
    em = emergency(r)
    mem = memory(r)
    target_rows = targets(r, em, mem)
    profile_text = "\n\n".join(f"### Profile {i + 1}: {label}\n\n{body}" for i, (label, body, _) in enumerate(r.profiles))
    pc_rss = [r.extra["peak_rss_mb"] for runs_ in (r.stream.get((PC, d), []) for d in (0.0, 2.0)) for r in runs_]
    op_rss = [r.extra["rss_mb"] for runs_ in (r.stream.get((OP, d), []) for d in (0.0, 2.0)) for r in runs_]

    return f"""# Benchmarks

Produced by `{command}` (mqttprint {__version__}, printcore {r.pc_version}, OctoPrint {r.op_version}, {today},
{r.elapsed / 60:.1f} minutes) on
{machine_line()}; 1-minute load average {r.load[0]:.1f} at the start, {r.load[1]:.1f} at the end
(the machine was shared with other engineers' builds: wall-clock rates are noisy, CPU per line and
side-by-side ratios are the trustworthy numbers).

Every host streams to the same minimal Marlin-like responder (`bench/responder.py`: its own process
on a pseudo-terminal, `ok` per line after the given round trip, emergency-line arrival times in
CLOCK_MONOTONIC). The peers are installed by the command itself from PyPI into their own
virtualenvs (`bench/peers/install.py` -> `bench/.peers/`; `pip install "OctoPrint>=1.11,<1.12"`,
`pip install --no-deps Printrun pyserial`) and only run: OctoPrint headless (`octoprint serve`
with a generated basedir, driven only through its REST API: connect, multipart upload, select and
print, `/api/job`), printcore through `printrun.printcore.printcore` in a small driver run by its
virtualenv's python (`bench/peers/printcore_drive.py`). Runs of different hosts are interleaved
(A B C D A B C D ...); every cell is the median of {s.runs} run(s) with (min..max). The machine is
a noisy 2-core VM: compare ratios taken side by side, not absolute numbers across machines.

## Targets

| target | wanted | measured | verdict |
|---|---|---|---|
""" + "\n".join(target_rows) + f"""

### Where targets are missed, and why

{gaps(r, em)}

## 1. Streaming throughput and host CPU per line

A {s.lines:,}-line job of unique `G1 X.. Y.. E..` lines (~32 bytes). mqttprint: the real serial
link thread and protocol engine (`PrinterService`, `bench/stream.py`) in the benchmark process,
both flow modes (ping-pong: one line in flight, like both peers; window: lines in flight up to 127
bytes of the firmware's receive buffer). In ping-pong mqttprint writes the next job line the moment a
plain `ok` arrives (the engine offers it ahead: `Engine.line_ahead`) and does its bookkeeping of that
`ok` while the responder handles the line, so at 0 ms it can outrun the bare floor, which does each
step in turn. printcore: `startprint(LightGCode)` until `endcb`.
OctoPrint: `POST /api/files/local/<job> {{"command": "select", "print": true}}` until the state
leaves "Printing" (taken from octoprint.log's millisecond timestamps, so polling `/api/job` does not
blur it). CPU: the host process's CPU time (all threads; for OctoPrint the server process, from
/proc/<pid>/stat) over the print, per line; OctoPrint's includes answering `GET /api/job` every
250 ms (how the driver sees the job end). No emergency samples during these runs. The Python floor
(`bench/peers/floor.py`, 0 ms only) is a yardstick, not a host: os.write one numbered line, os.read
until its `ok`, nothing else. Ratios are of medians: lines/s ratio / CPU-per-line ratio.

| host | round trip per ok | lines/s | host CPU µs/line | vs OctoPrint (lines/s / CPU) | vs printcore (lines/s / CPU) |
|---|---|---|---|---|---|
""" + "\n".join(stream_rows(r)) + f"""

## 2. Emergency latency under full streaming load

While a job streams at full speed to the 0 ms responder, an emergency line is sent every 20 ms
({s.samples} samples per run) and timed from just before the call/publish/request to the line's
arrival at the responder (CLOCK_MONOTONIC in both processes). M108 is used for the repeated
samples: in mqttprint it takes the very same fast path as M112 (written at once under the port's
write lock), and in OctoPrint a REST M108 and M112 both jump its queues from the request thread
(M108 via `_emergency_force_send`, given the responder's `Cap:EMERGENCY_PARSER:1`; M112 via
`_trigger_emergency_stop`), but M112 also closes the port — so one M112 per run is taken at the
end of each REST run (column M112, median of runs), which ends that run. printcore's `send_now` is
a priority queue: the line waits for the current line's `ok`. p50 and p99 are the median of the
runs' p50 and p99 (min..max of runs); max is over all samples.

mqttprint MQTT: `bench/mqtt_latency.py` (a whole `Gateway` with the MQTT bridge to a local
mosquitto, the job streaming from the file store); REST: `bench/peers/mqttprint_rest_latency.py`
(the same daemon with the REST shim, one keep-alive connection with an API key, like the OctoPrint
client); in-process: `bench/stream.py`'s `emergency()` call.

| host | path | p50 ms | p99 ms | max ms | samples | HTTP round trip p50 ms | M112 -> wire ms |
|---|---|---|---|---|---|---|---|
""" + "\n".join(em.rows) + f"""

Where the MQTT emergency time goes (same rounds, {s.samples} samples per run each):

| path | p50 ms | p99 ms | max ms | samples |
|---|---|---|---|---|
""" + "\n".join(em.breakdown_rows) + f"""

## 3. Firmware report -> MQTT subscriber (mqttprint only)

The responder emits an unsolicited position report every 50 ms (sequence number as X) while a job
streams at full speed; time from its write to the retained `B/position` publish reaching a
subscriber (paho with TCP_NODELAY, through a local mosquitto). First row: the daemon of the REST
runs (`bench/peers/mqttprint_rest_latency.py`), counting only reports emitted while the samples
were taken. Second row: `bench/mqtt_latency.py` ({med(em.streamed):,.0f} job lines streamed per run), which also
counts the reports emitted while it starts up and builds and uploads its 400,000-line load file in
the same process; those arrive tens of ms late and are what its p99 shows (checked by listing the
late reports of three runs: nearly all were emitted before its sampling began). Third row: an
ordinary command (`M118 <marker>` on `B/command`, queued behind the job's line in flight) -> its
line at the printer.

| path | p50 ms | p99 ms | max ms | samples |
|---|---|---|---|---|
""" + "\n".join(em.report_rows) + f"""

## 4. Memory (RSS)

Files: {r.memory['files']['small_lines']:,} lines ({r.memory['files']['small_mb']:.1f} MB) and {r.memory['files']['big_mb']:.0f} MB ({r.memory['files']['big_lines']:,} lines), with
comments and blank lines (`bench/job.py`'s generator), ping-pong to the 0 ms responder. mqttprint:
`bench/job.py`, one fresh process per file (upload to the file store, then print; the small file to
the end, the big one for {s.mem_seconds} s); idle = after connecting and storing the file, peak = VmHWM.
printcore: the driver process, idle = after coming online, peak = VmHWM, printing each file for
{s.mem_seconds} s. OctoPrint: the server process, idle = connected before printing, "printing" = the
highest VmRSS sampled while printing each file for {s.mem_seconds} s (its VmHWM is the start-up
peak). One run each. RSS in the streaming runs above: printcore peak {fmt(pc_rss, 1)} MB, OctoPrint
{fmt(op_rss, 1)} MB.

| host | idle MB | printing small file MB | printing big file MB | peak (VmHWM) MB | note |
|---|---|---|---|---|---|
""" + "\n".join(mem.rows) + f"""

mqttprint's streaming rate in these runs: {r.memory['mq_small']['lines_per_s']:,} lines/s, {r.memory['mq_small']['cpu_us_per_line']} µs/line
(the {s.small_lines:,}-line file through the job service: file reading, comment stripping, progress).

## 5. Scale: N printers in one mqttprint process

`bench/peers/scale.py`: N `PrinterService`s (all serviced by the one I/O loop thread, as the daemon builds them) in ONE
process, each on its own pty at 0 ms, one fresh process per run. The ptys are served either by N
responder processes (`bench/responder.py`, one per printer) or, for 32 printers, also by ONE
responder process serving all 32 ptys from one poll() loop (`bench/peers/multi_responder.py`),
to check that 32 responder processes on 2 cores are not what limits the host. Every printer
streams an endless job; after a warm-up the lines each printer sends in {s.scale_seconds:g} s are counted:
aggregate lines/s, the slowest and the median printer, host CPU per line (user+system) and the
share of it spent in the kernel, the host's and the responders' CPU in cores, the whole machine's
busy share, the host's RSS and its thread count while streaming.

| printers | flow | responders | aggregate lines/s | slowest printer lines/s | median printer lines/s | host CPU µs/line | host cores | host kernel share | responder cores | machine busy | host RSS MB | host threads |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(scale_rows(r)) + f"""

{scale_notes(r)}

## Profiles (cProfile of the I/O loop thread)

`bench/peers/profile_serial.py` wraps `IoLoop._run` (the one thread that services every printer) in this process only (mqttprint is not
changed) with a `cProfile.Profile` timed by the thread's CPU clock, so a system call's own time
is the CPU it costs, not time spent blocked in it or waiting for the GIL afterwards. The profiler
multiplies the cost of every Python call, so the absolute µs are inflated (compare the unprofiled
µs/line above); the shares and the calls per line are what explain the cost.

{profile_text}

## Reproduce

```
.venv/bin/python bench/run.py            # this file, ~{max(1, round(r.elapsed / 60))} minutes
.venv/bin/python bench/run.py --quick    # smoke test, ~3 minutes
.venv/bin/python bench/run.py --sections stream,emergency   # only those tables, to bench/.peers/sections.md
.venv/bin/python bench/peers/install.py  # only install the peers into bench/.peers/
```
"""
