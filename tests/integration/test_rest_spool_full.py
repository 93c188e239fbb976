"""Uploads while the temporary directory is full: 507 `{"error": ...}` like a full upload
directory, never a 500 or a dropped connection; nothing stored, nothing left behind.

A real full file system, not a fake: the gateway runs as `mqttprint run` in a mount namespace of
its own (`unshare --mount`, plus `--map-root-user` when not root, as scripts/fresh-machine-demo
does), with TMPDIR on a 2 MiB tmpfs mounted there. Its storage directory stays on the big disk.
A body is received twice into TMPDIR (rest/app.py): waitress keeps a body over 512 KB in a
temporary file, then Werkzeug copies the file part over 500 KB into another. A 3 MB upload fills
the tmpfs in waitress's copy, a 1.5 MB one in Werkzeug's (1.5 MB + 0.5 MB > 2 MiB).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests
import yaml

from tests.helpers import free_port, wait_for
from tests.helpers.broker import Broker
from tests.helpers.rest import error_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "A" * 32
SPOOL_BYTES = 2 * 1024 * 1024
#: Mount the tmpfs over $1 and run the gateway ($2 -m mqttprint run --config $3) with TMPDIR there.
_IN_NAMESPACE = ('mount -t tmpfs -o size={size} tmpfs "$1" && TMPDIR="$1" exec "$2" -m mqttprint run '
                 '--config "$3"').format(size=SPOOL_BYTES)


class Gateway:
    """The gateway process in its mount namespace, seen from outside through /proc/<pid>/root."""

    def __init__(self, tmp_path: Path, broker: Broker) -> None:
        self.spool = tmp_path / "spool"
        self.spool.mkdir()
        self.uploads = tmp_path / "state" / "uploads"
        self.port = free_port()
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "mqtt": {"host": broker.host, "port": broker.port, "base_topic": "spool_full"},
            "rest": {"host": "127.0.0.1", "port": self.port,
                     "api_keys": [{"name": "admin", "key": KEY, "role": "admin"}]},
            "homeassistant": {"discovery": False},
            "storage": {"dir": str(tmp_path / "state")},
            "printers": [{"id": "p1", "port": "sim://marlin"}],
        }))
        unshare = ["unshare", "--mount"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
        self.log_path = tmp_path / "gateway.log"
        with self.log_path.open("wb") as log:
            command = unshare + ["sh", "-c", _IN_NAMESPACE, "sh", str(self.spool), sys.executable, str(config)]
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = KEY
        wait_for(self._serving, timeout=60, what="the gateway serving in its namespace", interval=0.1)
        # The spool as the gateway sees it (exec kept the pid: unshare, sh and python are one process).
        self.inside = Path(f"/proc/{self.proc.pid}/root") / self.spool.relative_to("/")
        assert os.statvfs(self.inside).f_blocks * os.statvfs(self.inside).f_frsize == SPOOL_BYTES

    def _serving(self) -> bool:
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        try:
            return self.session.get(self.base + "/api/version", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def upload(self, name: str, size: int) -> requests.Response:
        body = (b"G1 X10 Y10 E0.1\n" * (size // 16 + 1))[:size]
        return self.session.post(self.base + "/api/files/local", files={"file": (name, body)}, timeout=60)

    def spool_used(self) -> int:
        stat = os.statvfs(self.inside)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def spool_files_open(self) -> list[str]:
        """The gateway's open file descriptors into the spool (unlinked temporary files included)."""
        fds = Path(f"/proc/{self.proc.pid}/fd")
        targets = []
        for fd in fds.iterdir():
            try:
                targets.append(os.readlink(fd))
            except OSError:  # closed meanwhile
                continue
        return [t for t in targets if t.startswith(str(self.spool) + "/")]

    def stop(self) -> None:
        self.session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def gateway(tmp_path: Path, broker: Broker) -> Iterator[Gateway]:
    instance = Gateway(tmp_path, broker)
    try:
        yield instance
    finally:
        instance.stop()


def stored(gateway: Gateway) -> list[str]:
    listing = gateway.session.get(gateway.base + "/api/files", timeout=10)
    assert listing.status_code == 200, listing.text
    return sorted(f["name"] for f in listing.json()["files"])


def assert_nothing_left(gateway: Gateway) -> None:
    # waitress closes a request's body after the answer is written: wait for that, not a time.
    wait_for(lambda: gateway.spool_used() == 0 and not gateway.spool_files_open(), timeout=10,
             what=f"the spool to be empty (used {gateway.spool_used()}, open {gateway.spool_files_open()})")
    assert os.listdir(gateway.inside) == []
    on_disk = sorted(p.name for p in gateway.uploads.iterdir()) if gateway.uploads.exists() else []
    assert [name for name in on_disk if not name.startswith(".metadata")] == ["small.gcode"], on_disk


@pytest.mark.parametrize("size, where", [(3_000_000, "waitress's body buffer"),
                                         (1_500_000, "Werkzeug's copy of the file part")])
def test_full_temporary_directory_is_507(gateway: Gateway, size: int, where: str) -> None:
    small = gateway.upload("small.gcode", 100_000)  # fits: received in memory, stored on the big disk
    assert small.status_code == 201, small.text
    response = gateway.upload("big.gcode", size)
    assert response.status_code == 507, (where, response.status_code, response.text)
    assert "not enough space to receive the upload" in error_of(response), where
    assert stored(gateway) == ["small.gcode"]
    assert_nothing_left(gateway)
    again = gateway.upload("small2.gcode", 100_000)  # the gateway is fine afterwards
    assert again.status_code == 201 and stored(gateway) == ["small.gcode", "small2.gcode"]
    assert "request body refused: no room in the temporary directory" in gateway.log_path.read_text()
