"""`mqttprint simulate` reaches every simulator knob through the one option definition."""

from __future__ import annotations

import pytest

from mqttprint.cli import build_parser
from mqttprint.sim import options
from mqttprint.sim.pty_link import build_parser as pty_parser


def test_cli_reaches_every_simulator_option() -> None:
    args = build_parser().parse_args(["simulate", "--legacy-resend", "--sdcard", "--reset-on-open",
                                      "--no-emergency-parser", "--rx-buffer-size", "64", "--ok-latency", "0.01"])
    config = options.config_from_args(args)
    assert (config.ok_after_resend, config.sdcard, config.emergency_parser, config.rx_buffer_size) == (False, True, False, 64)
    assert config.ok_latency == 0.01 and args.reset_on_open is True


def test_cli_and_module_parsers_have_the_same_options() -> None:
    cli = build_parser()
    simulate = next(a for a in cli._subparsers._group_actions if a.dest == "command").choices["simulate"]  # type: ignore[union-attr]
    flags = lambda p: sorted(s for a in p._actions for s in a.option_strings)  # noqa: E731
    assert flags(simulate) == flags(pty_parser())


def test_impossible_values_are_refused() -> None:
    with pytest.raises(ValueError):
        options.config_from_args(build_parser().parse_args(["simulate", "--drop-ok-rate", "2"]))
