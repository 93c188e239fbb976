"""Command line: argument parsing only; the work happens in daemon.py, config.py and sim/.

Exit codes: 0 success, 1 runtime failure (e.g. cannot bind the REST port), 2 invalid
configuration or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from mqttprint import __version__
from mqttprint.sim import options as sim_options

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mqttprint",
        description="A 3D printer's serial port as a first-class MQTT device, with an OctoPrint-compatible REST API.",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.",
    )
    parser.add_argument("--version", action="version", version=f"mqttprint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the gateway in the foreground (what systemd runs)")
    run.add_argument("--config", "-c", default="config.yaml", help="configuration file (default: %(default)s)")
    run.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="override logging.level")

    check = sub.add_parser("check-config", help="validate a configuration file and print every problem")
    check.add_argument("config", nargs="?", default="config.yaml", help="configuration file (default: %(default)s)")
    check.add_argument("--print", dest="print_config", action="store_true",
                       help="print the effective configuration (secrets redacted)")

    appkeys = sub.add_parser("appkeys", help="approve or deny app key requests (OctoPrint's Application Keys flow)")
    appkeys.add_argument("--config", "-c", default="config.yaml", help="configuration file (for the state directory)")
    appkeys_sub = appkeys.add_subparsers(dest="appkeys_command", metavar="ACTION")
    appkeys_sub.add_parser("list", help="pending requests and approved keys")
    for verb in ("approve", "deny"):
        verb_parser = appkeys_sub.add_parser(verb, help=f"{verb} a pending request")
        verb_parser.add_argument("token", help="the request's user token (shown by `appkeys list`)")
        if verb == "approve":
            verb_parser.add_argument("--role", choices=("admin", "user", "read"), default="user",
                                     help="what the key may do (default: user; admin also runs system commands,"
                                          " e.g. Home Assistant's Restart/Shutdown buttons)")
    revoke = appkeys_sub.add_parser("revoke", help="revoke every key of an app")
    revoke.add_argument("app", help="the app name")

    simulate = sub.add_parser("simulate", help="expose the built-in Marlin simulator on a pseudo-terminal")
    sim_options.add_arguments(simulate)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `mqttprint` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from mqttprint.runner import run_gateway

        return run_gateway(args.config, args.log_level)
    if args.command == "check-config":
        return _check_config(args.config, args.print_config)
    if args.command == "appkeys":
        return _appkeys(args)
    if args.command == "simulate":
        from mqttprint.sim.pty_link import serve

        return serve(args)
    parser.print_help()
    return EXIT_CONFIG


def _appkeys(args: argparse.Namespace) -> int:
    """The admin action that approves an app key request (the running gateway sees the change)."""
    from mqttprint.config import ConfigError, load_config
    from mqttprint.rest.appkeys import AppKeyStore
    from mqttprint.runtime.storage import state_dir

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return EXIT_CONFIG
    store = AppKeyStore(state_dir(config.storage.dir))
    command = args.appkeys_command
    if command in (None, "list"):
        pending = store.pending()
        print(f"{len(pending)} pending request(s):")
        for req in pending:
            print(f"  {req.user_token}  app={req.app!r} user={req.user!r}")
        keys = store.keys()
        print(f"{len(keys)} approved key(s):")
        for key in keys:
            print(f"  app={key.app!r} user={key.user!r} role={key.role}")
        return EXIT_OK
    if command in ("approve", "deny"):
        if not store.decide(args.token, command == "approve", getattr(args, "role", "user")):
            print(f"no pending request with token {args.token!r}", file=sys.stderr)
            return EXIT_FAILURE
        print(f"approved with role {args.role}" if command == "approve" else "denied")
        return EXIT_OK
    count = store.revoke(args.app)
    print(f"revoked {count} key(s) of {args.app!r}")
    return EXIT_OK if count else EXIT_FAILURE


def _check_config(path: str, print_config: bool) -> int:
    from mqttprint.config import ConfigError, dump_config, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.report(path), file=sys.stderr)
        return EXIT_CONFIG
    print(f"{path}: OK ({len(config.printers)} printer(s): {', '.join(p.id for p in config.printers)})")
    for printer in config.printers:
        if printer.port.startswith("sim://"):
            # An empty file runs one simulated printer: say so, nobody should mistake it for hardware.
            print(f"note: printer {printer.id!r} is the built-in simulator ({printer.port}), not a real printer")
    if print_config:
        print(dump_config(config))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
