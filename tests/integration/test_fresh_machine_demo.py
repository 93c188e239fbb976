"""README's first command on a fresh machine: `bash scripts/run-demo` in a fresh clone, inside a
network namespace with no broker and every mosquitto binary hidden, reaches Operational and
answers M114 over MQTT through its embedded broker (scripts/fresh-machine-demo does the work;
it needs root or user namespaces, which CI and this project's machines have)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent


def test_readme_demo_on_a_fresh_machine_without_a_broker(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/run-demo" in readme and "bash scripts/test" in readme
    result = subprocess.run(["bash", str(ROOT / "scripts" / "fresh-machine-demo"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "status is Operational" in output and "M114 over MQTT answered: X:" in output, output[-4000:]
    log = (tmp_path / "run-demo.log").read_text()
    assert "started the embedded broker" in log and "mqttprint is serving" in log, log[-4000:]
