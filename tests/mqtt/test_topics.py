"""Topic building and parsing (pure)."""

from __future__ import annotations

import pytest

from mqttprint.mqtt import topics
from mqttprint.mqtt.topics import Inbound, PrinterTopics, parse_inbound

IDS = ("p1", "p-2")


def test_printer_topics() -> None:
    t = PrinterTopics("farm/site", "p1")
    assert t.root == "farm/site/p1"
    assert t.availability == "farm/site/p1/availability"
    assert t.status == "farm/site/p1/status"
    assert t.position == "farm/site/p1/position"
    assert t.temperature == "farm/site/p1/temperature"
    assert t.progress == "farm/site/p1/progress"
    assert t.firmware == "farm/site/p1/firmware"
    assert t.system_list == "farm/site/p1/system"
    assert t.reply == "farm/site/p1/reply"
    assert t.terminal == "farm/site/p1/terminal"
    assert t.event("PrintDone") == "farm/site/p1/event/PrintDone"
    assert t.command == "farm/site/p1/command"
    assert t.emergency == "farm/site/p1/emergency"
    assert t.connection == "farm/site/p1/connection"
    assert t.job == "farm/site/p1/job"
    assert t.system_action("core", "reboot") == "farm/site/p1/system/core/reboot"
    assert t.subscriptions() == ["farm/site/p1/command", "farm/site/p1/emergency", "farm/site/p1/connection",
                                 "farm/site/p1/job", "farm/site/p1/system/#", "farm/site/p1/prompt/answer"]


def test_gateway_and_discovery_topics() -> None:
    assert topics.gateway_availability("mqttprint", "pi4") == "mqttprint/gateway/pi4/availability"
    assert topics.gateway_info("mqttprint", "pi4") == "mqttprint/gateway/pi4/info"
    assert topics.discovery_config("homeassistant", "gw1", "p1") == "homeassistant/device/mqttprint_gw1_p1/config"
    assert topics.legacy_discovery_config("homeassistant", "p1") == "homeassistant/device/mqttprint_p1/config"
    assert topics.discovery_status("ha") == "ha/status"
    assert topics.node_id("gw-a", "p-2") == "mqttprint_gw-a_p-2" != topics.node_id("gw-b", "p-2")
    assert topics.legacy_node_id("p-2") == "mqttprint_p-2"


@pytest.mark.parametrize("topic, expected", [
    ("base/p1/command", Inbound("p1", "command")),
    ("base/p-2/emergency", Inbound("p-2", "emergency")),
    ("base/p1/connection", Inbound("p1", "connection")),
    ("base/p1/job", Inbound("p1", "job")),
    ("base/p1/system/core/reboot", Inbound("p1", "system", "core", "reboot")),
    ("base/p1/system/custom", Inbound("p1", "system", problem="system topics are B/system/<source>/<action>")),
    ("base/p1/system/a/b/c", Inbound("p1", "system", problem="system topics are B/system/<source>/<action>")),
])
def test_parse_inbound(topic: str, expected: Inbound) -> None:
    assert parse_inbound("base", topic, IDS) == expected


@pytest.mark.parametrize("topic", [
    "base/p1/system",          # our own retained list of system commands
    "base/p1/status",          # outbound
    "base/p1/command/extra",
    "base/p9/command",         # unknown printer
    "other/p1/command",
    "base",
    "base/p1",
    "basement/p1/command",
])
def test_parse_inbound_ignores(topic: str) -> None:
    assert parse_inbound("base", topic, IDS) is None


def test_nested_base() -> None:
    assert parse_inbound("a/b", "a/b/p1/command", IDS) == Inbound("p1", "command")
    assert topics.is_own_inbound("a/b", "a/b/p1/emergency", IDS)
    assert not topics.is_own_inbound("a/b", "a/b/p1/reply", IDS)


def test_wildcards() -> None:
    assert topics.has_wildcard("a/+/b") and topics.has_wildcard("a/#")
    assert not topics.has_wildcard("a/b")
