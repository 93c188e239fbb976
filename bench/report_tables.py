"""The tables of docs/benchmarks.md, computed from `measure.Results`: streaming, emergency (and
where its time goes), firmware report latency, memory, scale (with the notes on what limits it)."""

from __future__ import annotations

from dataclasses import dataclass

from measure import OP, PC, STREAM_HOSTS, Results
from report_format import fmt, med, ratio
from stream import percentile

LatStats = tuple[list[float], list[float], float, int]


def stream_rows(r: Results) -> list[str]:
    """Section 1: one row per host and round trip."""
    rows = []
    for delay in (0.0, 2.0):
        op_rate, op_cpu = med(r.rates(OP, delay)), med(r.cpus(OP, delay))
        pc_rate, pc_cpu = med(r.rates(PC, delay)), med(r.cpus(PC, delay))
        for host in STREAM_HOSTS:
            if (host, delay) not in r.stream:
                continue
            rate, cpu = med(r.rates(host, delay)), med(r.cpus(host, delay))
            vs_op = "—" if host == OP else f"{ratio(rate, op_rate)} / {ratio(cpu, op_cpu)}"
            vs_pc = "—" if host == PC else f"{ratio(rate, pc_rate)} / {ratio(cpu, pc_cpu)}"
            rows.append(f"| {host} | {delay:g} ms | {fmt(r.rates(host, delay))} | {fmt(r.cpus(host, delay))} | {vs_op} | {vs_pc} |")
    return rows


def lat_stats(values_per_run: list[list[float]]) -> LatStats:
    """(p50 of each run, p99 of each run, max of all, samples) of raw latency lists."""
    p50s = [percentile(v, 50) for v in values_per_run if v]
    p99s = [percentile(v, 99) for v in values_per_run if v]
    mx = max((max(v) for v in values_per_run if v), default=float("nan"))
    return p50s, p99s, mx, sum(len(v) for v in values_per_run)


def lat3(results: list[dict], key: str | None = None) -> LatStats:
    """The same from summaries that already hold p50/p99/max/n."""
    items = [x[key] if key else x for x in results]
    return ([x["p50"] for x in items], [x["p99"] for x in items], max((x["max"] or 0) for x in items),
            sum(x["n"] for x in items))


def _lat_row(name: str, path: str, p50s: list[float], p99s: list[float], mx: float, n: int, http: str = "—",
             m112: str = "—") -> str:
    return f"| {name} | {path} | {fmt(p50s, 2)} | {fmt(p99s, 2)} | {mx:.2f} | {n} | {http} | {m112} |"


def _brow(name: str, p50s: list[float], p99s: list[float], mx: float, n: int) -> str:
    return f"| {name} | {fmt(p50s, 2)} | {fmt(p99s, 2)} | {mx:.2f} | {n} |"


@dataclass
class Emergency:
    """Section 2 (and 3): the rows plus the numbers the targets and the gap notes quote."""

    rows: list[str]
    breakdown_rows: list[str]
    mq_p50: list[float]
    mq_p99: list[float]
    floor_same: LatStats
    floor_separate: LatStats
    idle: LatStats
    direct: LatStats
    report_rows: list[str]
    streamed: list[float]


def emergency(r: Results) -> Emergency:
    em = r.emergency
    mq, rest, direct, pcs, ops = em["mqtt"], em["rest"], em["direct"], em["pc"], em["op"]
    mq_p50 = [x["emergency"]["p50"] for x in mq]
    mq_p99 = [x["emergency"]["p99"] for x in mq]
    rows = [
        _lat_row("mqttprint", "MQTT publish `B/emergency` M108 -> wire", mq_p50, mq_p99,
                 max(x["emergency"]["max"] for x in mq), sum(x["emergency"]["n"] for x in mq)),
        _lat_row("mqttprint", "REST `POST /api/printer/command` M108 -> wire",
                 [x["emergency"]["p50"] for x in rest], [x["emergency"]["p99"] for x in rest],
                 max(x["emergency"]["max"] for x in rest), sum(x["emergency"]["n"] for x in rest),
                 fmt([x["http_ms"]["p50"] for x in rest], 2), fmt([x["m112_ms"] for x in rest], 2)),
        _lat_row("mqttprint", "in-process `PrinterService.emergency(\"M108\")` -> wire",
                 *lat_stats([x.latencies_ms for x in direct])),
        _lat_row("printcore", "in-process `send_now(\"M108\")` -> wire", *lat_stats([x.latencies_ms for x in pcs])),
        _lat_row("OctoPrint", "REST `POST /api/printer/command` M108 -> wire",
                 *lat_stats([x.latencies_ms for x in ops]),
                 http=fmt([percentile(x.extra["http_ms"], 50) for x in ops], 2),
                 m112=fmt([x.extra.get("m112_ms") for x in ops], 2)),
    ]
    fs, fsep = lat3(em["floor_same"]), lat3(em["floor_separate"])
    idle, loaded = lat3(em["mqtt_idle"], "emergency"), lat3(mq, "emergency")
    direct_stats = lat_stats([x.latencies_ms for x in direct])
    breakdown = [
        _brow("MQTT alone (no mqttprint): publish -> a subscriber's callback, publisher in the same process, as in "
              "`bench/mqtt_latency.py` (`bench/peers/mqtt_floor.py`)", *fs),
        _brow("MQTT alone, publisher in another process (`mqtt_floor.py --separate-publisher`)", *fsep),
        _brow("mqttprint: MQTT publish `B/emergency` M108 -> wire, no job streaming (`mqtt_latency.py --no-load`)", *idle),
        _brow("mqttprint: the same under full streaming load (the table above)", *loaded),
        _brow("mqttprint: in-process `emergency()` -> wire under full load (no MQTT)", *direct_stats),
    ]
    report_rows = [
        "| position report -> retained `B/position` at a subscriber (sampling window) | "
        + _cells(lat3(rest, "position_report")),
        "| the same, `bench/mqtt_latency.py` (includes start-up) | " + _cells(lat3(mq, "position_report")),
        "| MQTT publish `B/command` (ordinary) -> wire | " + _cells(lat3(mq, "command")),
    ]
    return Emergency(rows, breakdown, mq_p50, mq_p99, fs, fsep, idle, direct_stats, report_rows,
                     [x["job_lines_streamed"] for x in mq])


def _cells(stats: LatStats) -> str:
    p50s, p99s, mx, n = stats
    return f"{fmt(p50s, 2)} | {fmt(p99s, 2)} | {mx:.2f} | {n} |"


@dataclass
class Memory:
    rows: list[str]
    ok: bool  # the RSS target: <= 50 MB and flat in file size
    flat: float  # MB between the small and the big file


def memory(r: Results) -> Memory:
    mem = r.memory
    mq_small, mq_big = mem["mq_small"], mem["mq_big"]
    pc_small, pc_big = mem["pc_small"], mem["pc_big"]
    op_small, op_big = mem["op_small"], mem["op_big"]
    rows = [
        f"| mqttprint (bench/job.py, one fresh process per file) | {mq_small['idle_rss_mb']:.1f} | {mq_small['peak_rss_mb']:.1f} "
        f"| {mq_big['peak_rss_mb']:.1f} | {mq_big['peak_rss_mb']:.1f} | the file is read a line at a time |",
        f"| printcore (driver process) | {pc_small['idle_rss_mb']:.1f} | {pc_small['peak_rss_mb']:.1f} "
        f"| {pc_big['peak_rss_mb']:.1f} | {pc_big['peak_rss_mb']:.1f} | loads and parses the whole file before printing "
        f"({pc_small['load_s']:.1f} s / {pc_big['load_s']:.1f} s); RSS while printing {pc_small['loaded_rss_mb']:.0f} / "
        f"{pc_big['loaded_rss_mb']:.0f} MB |",
        f"| OctoPrint (server process) | {op_small['idle_rss_mb']:.1f} | {op_small['sampled_peak_rss_mb']:.1f} "
        f"| {op_big['sampled_peak_rss_mb']:.1f} | {mem['op_peak']:.1f} | {r.op_start_rss:.0f} MB right after start-up, "
        f"VmHWM {r.op_start_peak:.0f} MB already then (the start-up peak) |",
    ]
    flat = abs(mq_big["peak_rss_mb"] - mq_small["peak_rss_mb"])
    return Memory(rows, max(mq_big["peak_rss_mb"], mq_small["peak_rss_mb"]) <= 50 and flat <= 5, flat)


def scale_rows(r: Results) -> list[str]:
    rows = []
    for (n, flow, shared), results in sorted(r.scale.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        def g(key: str) -> list[float]:
            return [x[key] for x in results]
        resp = "1 process, N ptys" if shared else "N processes"
        rows.append(f"| {n} | {flow} | {resp} | {fmt(g('aggregate_lines_per_s'))} | {fmt(g('per_printer_min'))} "
                    f"| {fmt(g('per_printer_median'))} | {fmt(g('host_cpu_us_per_line'))} | {fmt(g('host_cpu_cores'), 2)} "
                    f"| {fmt(g('host_kernel_share_pct'))}% | {fmt(g('responder_cpu_cores'), 2)} | {fmt(g('machine_busy_pct'))}% "
                    f"| {fmt(g('rss_mb'), 1)} | {fmt([x.get('threads', float('nan')) for x in results])} |")
    return rows


def scale_notes(r: Results) -> str:
    """What limits N printers in one process (the GIL), in the run's own numbers."""
    sc = r.sc
    max_cores = max((x["host_cpu_cores"] for results in r.scale.values() for x in results), default=float("nan"))
    max_busy = max((x["machine_busy_pct"] for results in r.scale.values() for x in results), default=float("nan"))

    def split(n: int, flow: str, shared: bool = False) -> tuple[float, float]:
        """(user, kernel) µs per line."""
        total, kshare = sc(n, flow, shared, "host_cpu_us_per_line"), sc(n, flow, shared, "host_kernel_share_pct") / 100
        return total * (1 - kshare), total * kshare

    u1, k1 = split(1, "ping-pong")
    u32, k32 = split(32, "ping-pong")
    w_sep, w_shared = sc(32, "window", False, "aggregate_lines_per_s"), sc(32, "window", True, "aggregate_lines_per_s")
    return (
        f"What limits it: the host process never used more than {max_cores:.2f} of the 2 cores, however many "
        f"printers streamed, while the machine stayed at most {max_busy:.0f}% busy: one CPython process runs Python "
        f"code on one core at a time (the GIL), and each line costs the I/O loop a fixed amount of Python "
        f"(profile 2: mostly the protocol engine). N printers divide that core. One loop thread services every "
        f"printer (host threads stay at {sc(1, 'ping-pong', False, 'threads'):.0f} from 1 to 32 printers), so the "
        f"CPU per line no longer grows with threads waking and handing the GIL to each other (ping-pong: "
        f"{sc(1, 'ping-pong', False, 'host_cpu_us_per_line'):,.0f} µs/line for 1 printer, "
        f"{sc(32, 'ping-pong', False, 'host_cpu_us_per_line'):,.0f} for 32 — user {u1:,.0f} -> {u32:,.0f}, kernel "
        f"{k1:,.0f} -> {k32:,.0f}; window: {sc(1, 'window', False, 'host_cpu_us_per_line'):,.0f} -> "
        f"{sc(32, 'window', False, 'host_cpu_us_per_line'):,.0f}); with many printers one wake-up often finds "
        f"several ports ready. The window mode needs fewer system "
        f"calls per line (several lines per write, several `ok`s per read: profile 2), so at 32 printers it "
        f"streams {w_sep / max(sc(32, 'ping-pong', False, 'aggregate_lines_per_s'), 1):.1f}x the aggregate of "
        f"ping-pong. One responder process instead of 32: window aggregate {w_shared:,.0f} instead of {w_sep:,.0f} "
        f"lines/s, host {sc(32, 'window', True, 'host_cpu_us_per_line'):,.0f} instead of "
        f"{sc(32, 'window', False, 'host_cpu_us_per_line'):,.0f} µs/line, responders "
        f"{sc(32, 'window', True, 'responder_cpu_cores'):.2f} instead of {sc(32, 'window', False, 'responder_cpu_cores'):.2f} "
        f"cores. Neither layout saturates the machine; real printers' firmware costs the host nothing, so the "
        f"layout that takes less from the host is the closer one."
    )
