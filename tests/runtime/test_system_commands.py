"""System commands through the registry: listing shape, sync/async/ignore/failing runs, no smuggling."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mqttprint.config import parse_config
from mqttprint.protocol.errors import InvalidCommand
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.commands import CommandRegistry, Context, NotFound, Request
from mqttprint.runtime.system_commands import SystemCommandFailed, SystemCommandFinished, SystemCommands, register_system_actions
from mqttprint.runtime.system_runner import build_argv


def registry_for(tmp_path: Path, bus: EventBus | None = None) -> CommandRegistry:
    marker = tmp_path / "ran"
    config = parse_config({
        "system": {
            "commands": {"shutdown": f"touch {tmp_path / 'shutdown'}", "reboot": None},
            "actions": [
                {"action": "make", "name": "Make file", "command": f"touch {marker}", "confirm": "Sure?"},
                {"action": "divider"},
                {"action": "fail", "name": "Fails", "command": "sh -c 'echo out; echo err >&2; exit 3'"},
                {"action": "failok", "name": "Fails, ignored", "command": "false", "ignore": True},
                {"action": "later", "name": "Async", "command": f"touch {tmp_path / 'async'}", "async": True},
                {"action": "quoted", "name": "Args", "command": f"touch '{tmp_path / 'a b'}'"},
            ],
        },
        "printers": [{"id": "p", "port": "sim://marlin", "autoconnect": False}],
    })
    bus = bus or EventBus()
    registry = CommandRegistry(Context({}, None))
    register_system_actions(registry, SystemCommands(config.system, bus))
    return registry


def test_listing_has_octoprint_shape_and_never_the_command(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    data = registry.dispatch(Request("system.list", {"base_url": "http://h:5000"})).data
    assert set(data) == {"core", "custom", "plugin"}
    assert data["plugin"] == []
    assert [c["action"] for c in data["core"]] == ["shutdown"]  # reboot/restart not configured: not listed
    assert data["core"][0]["name"] == "Shutdown system"
    assert data["core"][0]["resource"] == "http://h:5000/api/system/commands/core/shutdown"
    assert [c["action"] for c in data["custom"]] == ["make", "divider", "fail", "failok", "later", "quoted"]
    assert data["custom"][1] == {"action": "divider", "source": "custom", "resource": "http://h:5000/api/system/commands/custom/divider"}
    assert all("command" not in c for c in data["core"] + data["custom"])
    assert data["custom"][0]["confirm"] == "Sure?"
    with pytest.raises(NotFound):
        registry.dispatch(Request("system.list", {"source": "bogus"}))


def test_sync_command_runs_exactly_what_is_configured(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    result = registry.dispatch(Request("system.execute", {"source": "custom", "action": "make"})).data
    assert result.ok and (tmp_path / "ran").exists()
    registry.dispatch(Request("system.execute", {"source": "custom", "action": "quoted"}))
    assert (tmp_path / "a b").exists()  # shlex kept the quoted argument whole, no shell involved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a b", "ran"]


def test_failing_command_reports_code_and_output(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    with pytest.raises(SystemCommandFailed) as failure:
        registry.dispatch(Request("system.execute", {"source": "custom", "action": "fail"}))
    assert failure.value.result.returncode == 3
    assert "out" in failure.value.result.stdout and "err" in failure.value.result.stderr
    assert "return code 3" in str(failure.value)
    assert registry.dispatch(Request("system.execute", {"source": "custom", "action": "failok"})).data.returncode == 1


def test_async_answers_at_once_and_reports_an_event(tmp_path: Path) -> None:
    bus = EventBus()
    finished = threading.Event()
    seen: list[BusMessage] = []
    bus.subscribe(lambda m: (seen.append(m), finished.set()), (SystemCommandFinished,))
    registry = registry_for(tmp_path, bus)
    assert registry.dispatch(Request("system.execute", {"source": "custom", "action": "later"})).data is None
    assert finished.wait(10)
    assert seen[0].event.ok and (tmp_path / "async").exists()


@pytest.mark.parametrize("source,action,error", [
    ("custom", "divider", InvalidCommand),
    ("custom", "nope", NotFound),
    ("core", "reboot", NotFound),          # not configured
    ("bogus", "make", NotFound),
    ("custom", "make; touch /tmp/x", NotFound),
    ("custom", "make ../../x", NotFound),
    ("core/../custom", "make", NotFound),
])
def test_unknown_divider_and_smuggling_attempts_run_nothing(tmp_path: Path, source: str, action: str, error: type) -> None:
    registry = registry_for(tmp_path)
    with pytest.raises(error):
        registry.dispatch(Request("system.execute", {"source": source, "action": action}))
    assert list(tmp_path.iterdir()) == []


def test_extra_arguments_are_not_passed_to_the_command(tmp_path: Path) -> None:
    registry = registry_for(tmp_path)
    registry.dispatch(Request("system.execute", {"source": "custom", "action": "make", "args": ["; rm -rf /"], "command": "id"}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ran"]


def test_build_argv_no_shell_unless_opted_in() -> None:
    assert build_argv("echo 'a b' c", shell=False) == ["echo", "a b", "c"]
    assert build_argv("echo $HOME | cat", shell=True) == ["/bin/sh", "-c", "echo $HOME | cat"]
