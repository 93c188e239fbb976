"""The options of ``mqttprint simulate``, defined once: `mqttprint.cli` adds them to its
`simulate` sub-command and `python -m mqttprint.sim.pty_link` to its own parser, and
`config_from_args` turns them into a `SimConfig` (every simulator knob is reachable)."""

from __future__ import annotations

import argparse

from mqttprint.sim.config import SimConfig


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the simulator's options to `parser` (returns it)."""
    parser.add_argument("--link", help="create a symlink to the pseudo-terminal at this path (e.g. /tmp/printer)")
    parser.add_argument("--advanced-ok", action="store_true", help="answer with ADVANCED_OK (ok N<n> P<p> B<b>)")
    parser.add_argument("--no-emergency-parser", action="store_true", help="build without EMERGENCY_PARSER")
    parser.add_argument("--legacy-resend", action="store_true", help="2.0.9-style: no ok after Resend")
    parser.add_argument("--checksum-error-rate", type=float, default=0.0, metavar="P", help="inject checksum errors (0..1)")
    parser.add_argument("--drop-ok-rate", type=float, default=0.0, metavar="P", help="drop this fraction of oks (0..1)")
    parser.add_argument("--ok-latency", type=float, default=0.0, metavar="SECONDS", help="delay every ok by this long")
    parser.add_argument("--move-timing", action="store_true", help="moves take distance/feedrate (the planner fills up)")
    parser.add_argument("--heating-rate", type=float, default=SimConfig.heating_rate, metavar="DEG_PER_S")
    parser.add_argument("--residency-time", type=float, default=SimConfig.residency_time, metavar="SECONDS")
    parser.add_argument("--boot-delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--rx-buffer-size", type=int, default=SimConfig.rx_buffer_size, metavar="BYTES")
    parser.add_argument("--bufsize", type=int, default=SimConfig.bufsize, metavar="COMMANDS")
    parser.add_argument("--sdcard", action="store_true", help="announce a (empty) SD card")
    parser.add_argument("--reset-on-open", action="store_true", help="reboot when a host opens the port (AVR DTR)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for fault injection")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Translate parsed options into a `SimConfig` (ValueError for impossible values)."""
    return SimConfig(
        advanced_ok=args.advanced_ok,
        emergency_parser=not args.no_emergency_parser,
        ok_after_resend=not args.legacy_resend,
        checksum_error_rate=args.checksum_error_rate,
        drop_ok_rate=args.drop_ok_rate,
        ok_latency=args.ok_latency,
        move_timing=args.move_timing,
        heating_rate=args.heating_rate,
        residency_time=args.residency_time,
        boot_delay=args.boot_delay,
        rx_buffer_size=args.rx_buffer_size,
        bufsize=args.bufsize,
        sdcard=args.sdcard,
        seed=args.seed,
    )
