"""Every printer's `B/availability` is its own connection's last will: after SIGKILL (no clean
shutdown, nothing published by the gateway) the broker itself turns each one `offline` (retained)
within 1.5 x keepalive; a restart turns them `online` again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.helpers.broker import Broker
from tests.helpers.mqtt import Watcher
from tests.integration.test_cli_daemon import start_cli, write_config

pytestmark = pytest.mark.integration

KEEPALIVE = 5  # seconds (write_config's value; the smallest the schema allows)


def retained(broker: Broker, topics: list[str]) -> dict[str, bytes]:
    """What a client connecting now is told on each topic: the retained values only."""
    late = Watcher(broker, topics)
    try:
        late.wait_for(topics[0], lambda m: m.retain)
        for topic in topics[1:]:
            late.wait_for(topic, lambda m: m.retain)
        return {t: late.messages(t)[-1].payload for t in topics}
    finally:
        late.close()


def test_sigkill_turns_every_printer_offline_by_last_will(tmp_path: Path, broker: Broker) -> None:
    base = "will1"
    printers = [f"{base}/a/availability", f"{base}/b/availability"]
    config = write_config(tmp_path, broker, base, [{"id": "a", "port": "sim://marlin"},
                                                   {"id": "b", "port": "sim://marlin2"}])
    live = Watcher(broker, [f"{base}/+/availability"])
    proc = start_cli(config)
    try:
        for topic in printers:
            live.wait_for(topic, lambda m: m.payload == b"online", timeout=15)
        assert retained(broker, printers) == {t: b"online" for t in printers}

        live.clear()
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for topic in printers:
            message = live.wait_for(topic, lambda m: m.payload == b"offline", timeout=1.5 * KEEPALIVE + 1)
            assert message.at - killed <= 1.5 * KEEPALIVE, f"{topic} went offline after {message.at - killed:.1f} s"
        assert retained(broker, printers) == {t: b"offline" for t in printers}

        live.clear()
        proc = start_cli(config)
        for topic in printers:
            live.wait_for(topic, lambda m: m.payload == b"online", timeout=15)
        assert retained(broker, printers) == {t: b"online" for t in printers}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        live.close()
