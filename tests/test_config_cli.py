"""Configuration validation, the CLI's check-config, and the systemd units."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mqttprint.config import ConfigError, dump_config, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mqttprint", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_shipped_config_is_valid_and_uses_the_simulator() -> None:
    config = load_config(ROOT / "config.yaml")
    assert [p.port for p in config.printers] == ["sim://marlin"]
    result = cli("check-config", "config.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_every_problem_reported_at_once_with_key_paths(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "mqtt:\n  hots: x\n  port: '1883'\n  tls: {enabled: true, ca_file: /nope/ca.pem}\n"
        "rest:\n  api_keys:\n    - {name: a, key: short, role: god}\n"
        "printers:\n  - {id: 'Bad Id', port: /dev/ttyUSB0}\n  - {id: two, port: /dev/ttyUSB0, flow_control: fast}\n"
        "  - {id: two, port: sim://marlin}\n"
        "system:\n  actions:\n    - {action: x}\n    - {action: y, command: a}\n    - {action: y, command: b}\n"
        "surprise: 1\n"
    )
    result = cli("check-config", str(bad))
    assert result.returncode == 2
    err = result.stderr
    for expected in (
        "mqtt.hots: unknown key (did you mean 'host'?)",
        "mqtt.port: must be an integer",
        "mqtt.tls.ca_file: file not found: /nope/ca.pem",
        "rest.api_keys[0].key: must be at least 16 characters",
        "rest.api_keys[0].role: must be one of admin, user, read",
        "printers[0].id: must match [a-z0-9_-]+",
        "printers[1].port: port '/dev/ttyUSB0' is already used",
        "printers[1].flow_control: must be one of ping-pong, window",
        "printers[2].id: duplicate printer id 'two'",
        "system.actions[0].command: required",
        "system.actions[2].action: duplicate action 'y'",
        "surprise: unknown key",
    ):
        assert expected in err, f"missing {expected!r} in:\n{err}"
    assert "13 problem(s)" in err or err.count("\n  ") >= 12


def test_yaml_syntax_error_is_one_clear_problem(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("mqtt: {host: [\n")
    with pytest.raises(ConfigError) as error:
        load_config(bad)
    assert "not valid YAML" in error.value.problems[0] and "line" in error.value.problems[0]


def test_secrets_from_environment_and_files_are_redacted(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 32 + "\n")
    config = parse_config(
        {"mqtt": {"username": "u"}, "rest": {"api_keys": [{"name": "ha", "key_file": str(key_file), "role": "user"}]}},
        environ={"MQTTPRINT_MQTT_PASSWORD": "s3cret-password"},
    )
    assert config.mqtt.password == "s3cret-password"
    assert config.rest.api_keys[0].key == "k" * 32
    dumped = dump_config(config)
    assert "s3cret" not in dumped and "k" * 32 not in dumped and "***" in dumped


def test_check_config_print_redacts(tmp_path: Path) -> None:
    result = cli("check-config", "config.yaml", "--print")
    assert result.returncode == 0
    assert "change-me-0123456789abcdef" not in result.stdout and "key: '***'" in result.stdout


def test_version_and_help() -> None:
    from mqttprint import __version__

    assert cli("--version").stdout.strip() == f"mqttprint {__version__}"
    help_text = cli("--help").stdout
    for word in ("run", "check-config", "simulate", "Exit codes"):
        assert word in help_text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["mqttprint.service", "mqttprint@.service"])
def test_systemd_units_verify(tmp_path: Path, unit: str) -> None:
    # The units name the installed path; point them at this checkout's entry point to verify.
    entry = shutil.which("mqttprint") or str(Path(sys.executable).with_name("mqttprint"))
    text = (ROOT / "systemd" / unit).read_text().replace("/usr/local/bin/mqttprint", entry)
    target = tmp_path / (unit.replace("@", "@example") if "@" in unit else unit)
    target.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "Failed to connect" not in line and "System has not been booted" not in line]
    assert not problems, problems
    for directive in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "SupplementaryGroups=dialout",
                      "ProtectSystem=strict", "StateDirectory=", "DeviceAllow=char-ttyUSB rw", "DeviceAllow=char-ttyACM rw"):
        assert directive in text


def test_appkeys_cli_approves_a_pending_request(tmp_path: Path) -> None:
    from mqttprint.rest.appkeys import AppKeyStore

    config = tmp_path / "c.yaml"
    config.write_text(f"storage: {{dir: {tmp_path / 'state'}}}\n")
    (tmp_path / "state").mkdir()
    store = AppKeyStore(tmp_path / "state")
    request = store.request("Home Assistant", None)
    listed = cli("appkeys", "--config", str(config), "list")
    assert listed.returncode == 0 and request.user_token in listed.stdout and "Home Assistant" in listed.stdout
    assert cli("appkeys", "--config", str(config), "approve", "wrong-token").returncode == 1
    assert cli("appkeys", "--config", str(config), "approve", request.user_token).returncode == 0
    status, key = AppKeyStore(tmp_path / "state").poll(request.app_token)
    assert key and len(key) >= 16, status
    assert AppKeyStore(tmp_path / "state").credentials() == [("Home Assistant", key, "user")]  # the safe default
    admin = store.request("Home Assistant", None)
    assert cli("appkeys", "--config", str(config), "approve", admin.user_token, "--role", "superuser").returncode == 2
    approved = cli("appkeys", "--config", str(config), "approve", admin.user_token, "--role", "admin")
    assert approved.returncode == 0 and "role admin" in approved.stdout
    _, admin_key = AppKeyStore(tmp_path / "state").poll(admin.app_token)
    assert ("Home Assistant", admin_key, "admin") in AppKeyStore(tmp_path / "state").credentials()
    assert "role=admin" in cli("appkeys", "--config", str(config), "list").stdout


def test_empty_config_says_it_runs_the_simulator_and_bad_sim_options_are_refused(tmp_path: Path) -> None:
    """Issue 12 items 13/14: an empty file silently ran a simulator; `sim://marlin?bogus=1` passed."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = cli("check-config", str(empty))
    assert result.returncode == 0 and "built-in simulator (sim://marlin)" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("printers:\n  - {id: p1, port: 'sim://marlin?bogus=1'}\n")
    result = cli("check-config", str(bad))
    assert result.returncode != 0 and "unknown simulator option 'bogus'" in result.stderr
