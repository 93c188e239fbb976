"""Broker authentication and TLS: a private mosquitto with a password file and a TLS listener."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.broker import Broker
from tests.helpers import wait_for
from tests.helpers.mqtt import Watcher, gateway_availability, running_gateway, unique_base

pytestmark = pytest.mark.integration

USER, PASSWORD = "gateway", "s3cret-pass"


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class SecureBroker(Broker):
    """mosquitto with `allow_anonymous false`, a password file and a TLS listener on 127.0.0.1."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        _run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=mqttprint test CA", cwd=workdir)
        _run("openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=workdir)
        (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "1", "-extfile", "san.ext", cwd=workdir)
        _run("mosquitto_passwd", "-c", "-b", "passwd", USER, PASSWORD, cwd=workdir)
        for path in workdir.iterdir():
            path.chmod(0o644)  # mosquitto may drop privileges before reading them
        workdir.chmod(0o755)
        self.ca_file = str(workdir / "ca.crt")
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {workdir / 'passwd'}\n"
            f"cafile {workdir / 'ca.crt'}\ncertfile {workdir / 'server.crt'}\nkeyfile {workdir / 'server.key'}\n"
            f"persistence false\nlog_dest file {workdir / 'mosquitto.log'}\n"
        )


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureBroker]:
    for tool in ("openssl", "mosquitto_passwd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    # Not under pytest's tmp_path: its parents are private (0700), and mosquitto started as root
    # reads the password file after dropping to its own user.
    workdir = Path(tempfile.mkdtemp(prefix="mqttprint-secure-broker-"))
    try:
        broker = SecureBroker(workdir)
        broker.start()
        yield broker
        broker.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_tls_and_password(secure_broker: SecureBroker) -> None:
    base = unique_base()
    w = Watcher(secure_broker, [f"{base}/#"], username=USER, password=PASSWORD, ca_file=secure_broker.ca_file)
    try:
        mqtt = {"username": USER, "password": PASSWORD, "tls": {"enabled": True, "ca_file": secure_broker.ca_file}}
        with running_gateway(secure_broker, base, mqtt=mqtt):
            w.wait_for(gateway_availability(base), lambda m: m.payload == b"online")
            w.publish(f"{base}/p1/command", {"command": "M114", "id": "tls"})
            assert w.wait_json(f"{base}/p1/reply", lambda d: d["id"] == "tls")["ok"] is True
    finally:
        w.close()


def test_wrong_password_never_hurts_the_printer(secure_broker: SecureBroker) -> None:
    base = unique_base()
    mqtt = {"username": USER, "password": "wrong", "tls": {"enabled": True, "ca_file": secure_broker.ca_file}}
    with running_gateway(secure_broker, base, mqtt=mqtt, operational=False) as gw:
        printer = gw.printers["p1"]
        wait_for(lambda: printer.snapshot().operational, what="printer Operational")
        assert all(h.result(5).ok for h in printer.submit("M114"))
        assert not gw.mqtt.publisher.is_connected() and not gw.mqtt.publisher.is_connected("p1")  # type: ignore[union-attr]
        assert gw.mqtt.healthy()  # type: ignore[union-attr]
