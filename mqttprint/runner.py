"""`mqttprint run`: load the config, set up logging, run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Optional

from mqttprint.config import ConfigError, load_config

log = logging.getLogger("mqttprint")


def setup_logging(level: str, serial_traffic: bool, levels: Optional[dict[str, str]] = None) -> None:
    """Plain lines that read well in journald (which adds its own timestamps) and terminals."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("mqttprint.serial.traffic").setLevel(logging.DEBUG if serial_traffic else logging.WARNING)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    for subsystem, subsystem_level in (levels or {}).items():
        logging.getLogger(f"mqttprint.{subsystem}").setLevel(subsystem_level)


def run_gateway(config_path: str, log_level: Optional[str] = None) -> int:
    """Run until a stop signal. Returns the process exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc.report(config_path), file=sys.stderr)
        return 2
    setup_logging(log_level or config.logging.level, config.logging.serial_traffic, dict(config.logging.levels))
    from mqttprint.daemon import Gateway

    from mqttprint.runtime.sd_notify import Notifier

    notifier = Notifier()
    gateway = Gateway(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        gateway.start()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        gateway.stop()
        return 1
    log.info("mqttprint running with %d printer(s)", len(gateway.printers))
    notifier.ready(gateway.status_line())
    interval = min(1.0, notifier.watchdog_interval or 1.0)
    last_status = ""
    while not stop.wait(interval):
        if notifier.watchdog_interval is not None and gateway.healthy():
            notifier.watchdog()  # withheld while a loop is stuck: systemd restarts us
        status = gateway.status_line()
        if status != last_status:
            notifier.status(status)
            last_status = status
    notifier.stopping()
    gateway.stop()
    log.info("stopped")
    return 0
