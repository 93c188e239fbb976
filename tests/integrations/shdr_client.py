"""A minimal MTConnect agent's side of SHDR, written for the tests from the format as the standard
describes it (not from mqttprint's adapter code): it learns each data item's category from a
Devices.xml, then reads `timestamp|key|value...` lines over TCP.

- a line is `<timestamp>|<key>|<value>[|<key>|<value>...]`; a CONDITION key takes five fields,
  `<level>|<native code>|<native severity>|<qualifier>|<message>`, and ends its line;
- a key is `<data item name or id>` or `<device name>:<data item name or id>`;
- the timestamp is ISO 8601 UTC;
- lines starting with `*` are protocol commands (`* PONG <ms>` answers `* PING`).
Anything else (an unknown key, a bad timestamp, a short condition) is a protocol error.
"""

from __future__ import annotations

import datetime
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

CONDITION_FIELDS = 5


class ShdrError(AssertionError):
    """The adapter sent something an agent could not parse."""


@dataclass(frozen=True)
class ConditionValue:
    level: str
    native_code: str
    native_severity: str
    qualifier: str
    message: str


Observation = Union[str, ConditionValue]


def read_devices(xml_text: str) -> dict[str, dict[str, str]]:
    """device name -> {data item name or id -> category} from an MTConnectDevices document."""
    root = ET.fromstring(xml_text)
    devices: dict[str, dict[str, str]] = {}
    for device in root.iter():
        if not device.tag.endswith("}Device") and device.tag != "Device":
            continue
        items: dict[str, str] = {}
        for item in device.iter():
            if item.tag.endswith("DataItem") and not item.tag.endswith("DataItems"):
                category = item.attrib["category"]
                items[item.attrib["id"]] = category
                if "name" in item.attrib:
                    items[item.attrib["name"]] = category
        devices[device.attrib["name"]] = items
    return devices


def parse_timestamp(text: str) -> datetime.datetime:
    if not text.endswith("Z"):
        raise ShdrError(f"timestamp {text!r} is not UTC (no trailing Z)")
    try:
        return datetime.datetime.fromisoformat(text[:-1]).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ShdrError(f"timestamp {text!r} is not ISO 8601") from None


@dataclass
class ShdrAgent:
    """One agent connection. `state[(device, item)]` is the latest observation of each item."""

    devices: dict[str, dict[str, str]]
    sock: socket.socket
    state: dict[tuple[str, str], Observation] = field(default_factory=dict)
    updates: list[tuple[datetime.datetime, str, str, Observation]] = field(default_factory=list)
    pongs: list[int] = field(default_factory=list)
    buffer: bytes = b""
    closed: bool = False

    @classmethod
    def connect(cls, host: str, port: int, devices: dict[str, dict[str, str]], timeout: float = 5.0) -> "ShdrAgent":
        sock = socket.create_connection((host, port), timeout=timeout)
        return cls(devices, sock)

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("ascii"))

    # ------------------------------------------------------------------ parsing
    def _resolve(self, key: str) -> tuple[str, str, str]:
        device, sep, name = key.partition(":")
        if not sep:
            matches = [(d, key) for d, items in self.devices.items() if key in items]
            if len(matches) != 1:
                raise ShdrError(f"key {key!r} without a device matches {len(matches)} devices")
            device, name = matches[0]
        items = self.devices.get(device)
        if items is None:
            raise ShdrError(f"unknown device {device!r} in key {key!r}")
        if name not in items:
            raise ShdrError(f"device {device!r} has no data item {name!r}")
        return device, name, items[name]

    def feed_line(self, line: str) -> None:
        if line.startswith("*"):
            words = line[1:].split()
            if len(words) == 2 and words[0] == "PONG":
                self.pongs.append(int(words[1]))
                return
            raise ShdrError(f"unexpected protocol command {line!r}")
        fields = line.split("|")
        stamp = parse_timestamp(fields[0])
        index = 1
        if index >= len(fields):
            raise ShdrError(f"no key in {line!r}")
        while index < len(fields):
            device, name, category = self._resolve(fields[index])
            if category == "CONDITION":
                values = fields[index + 1:index + 1 + CONDITION_FIELDS]
                if len(values) != CONDITION_FIELDS or index + 1 + CONDITION_FIELDS != len(fields):
                    raise ShdrError(f"a condition needs exactly {CONDITION_FIELDS} fields to the end of the line: {line!r}")
                if values[0] not in ("NORMAL", "WARNING", "FAULT", "UNAVAILABLE"):
                    raise ShdrError(f"bad condition level {values[0]!r}")
                observation: Observation = ConditionValue(*values)
                index = len(fields)
            else:
                if index + 1 >= len(fields):
                    raise ShdrError(f"key {fields[index]!r} has no value: {line!r}")
                observation = fields[index + 1]
                index += 2
            self.state[(device, name)] = observation
            self.updates.append((stamp, device, name, observation))

    def pump(self, timeout: float) -> bool:
        """Read what arrives within `timeout` s; False once the adapter closed the connection."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        for raw in complete:
            text = raw.decode("utf-8").rstrip("\r")
            if text:
                self.feed_line(text)
        return True

    def wait(self, predicate: Callable[["ShdrAgent"], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what or predicate}; state: {self.state}")
            if not self.pump(min(0.2, remaining)) and not predicate(self):
                raise AssertionError(f"adapter closed the connection while waiting for {what}")

    def value(self, device: str, name: str) -> Optional[Observation]:
        return self.state.get((device, name))
