"""What an operator sees (issue 12 item 13): a bad port is logged, a clean stop logs no paho
error, and a connect request answers with the attempt's outcome."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mqttprint.protocol.states import PrinterState
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, running_gateway, unique_base

pytestmark = pytest.mark.integration


def test_bad_port_is_logged_once(broker: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mqttprint")
    base = unique_base()
    with running_gateway(broker, base, operational=False,
                         printers=[{"id": "p1", "port": "/dev/ttyNOPE-i12"}]) as gw:
        wait_for(lambda: gw.printers["p1"].link.last_error, what="the failed open")
        wait_for(lambda: [r for r in caplog.records if r.levelno == logging.WARNING
                          and "/dev/ttyNOPE-i12" in r.getMessage()], what="a warning naming the port")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "ttyNOPE-i12" in r.getMessage()]
    assert len(warnings) == 1  # not once per retry


def test_clean_stop_logs_no_paho_error(broker: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mqttprint")
    for _ in range(3):  # the old race showed up in some stops, not all
        with running_gateway(broker, unique_base()):
            pass
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def test_connect_reply_reports_the_outcome(broker: Any) -> None:
    base = unique_base()
    with running_gateway(broker, base) as gw:
        w = Watcher(broker, [f"{base}/p1/reply"])
        try:
            w.publish(f"{base}/p1/connection", {"command": "disconnect", "id": "off"})
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "off")["data"]["state"] == "Offline"
            wait_for(lambda: gw.printers["p1"].snapshot().state is PrinterState.OFFLINE, what="offline")
            w.publish(f"{base}/p1/connection", {"command": "connect", "id": "on"})
            reply = w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "on")
            assert reply["ok"] is True and reply["data"]["state"] == "Operational", reply
        finally:
            w.close()
