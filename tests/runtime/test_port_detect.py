"""`port: auto` detection order and de-duplication (by-id links to the same device count once)."""

from __future__ import annotations

import os
from pathlib import Path

from mqttprint.runtime.port_detect import candidate_ports, detect_port


def test_by_id_first_and_each_device_once(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    by_id = dev / "serial" / "by-id"
    by_id.mkdir(parents=True)
    for name in ("ttyACM0", "ttyUSB0", "ttyUSB1"):
        (dev / name).touch()
    os.symlink(dev / "ttyUSB1", by_id / "usb-Prusa_MK3-if00")
    patterns = (str(by_id / "*"), str(dev / "ttyACM*"), str(dev / "ttyUSB*"))
    assert candidate_ports(patterns) == [str(by_id / "usb-Prusa_MK3-if00"), str(dev / "ttyACM0"), str(dev / "ttyUSB0")]
    assert detect_port(patterns) == str(by_id / "usb-Prusa_MK3-if00")


def test_nothing_plugged_in(tmp_path: Path) -> None:
    assert detect_port((str(tmp_path / "nothing*"),)) is None
