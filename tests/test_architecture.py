"""Architecture rules: the pure core imports no I/O, each third-party library has one importer,
mqtt/ and rest/ never import each other, and no module grows past ~500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mqttprint"
MAX_LINES = 500
PURE_PACKAGES = ("protocol", "printer", "gcodefile")
FORBIDDEN_IN_PURE = {
    "threading", "time", "serial", "socket", "subprocess", "asyncio", "paho", "flask", "waitress",
    "os", "select", "selectors", "signal", "multiprocessing", "queue", "random", "mqttprint.config",
    "mqttprint.runtime", "mqttprint.mqtt", "mqttprint.rest", "mqttprint.sim", "yaml",
}
#: third-party (or process-spawning) module -> the only places allowed to import it
SINGLE_IMPORTERS = {
    "serial": {"runtime/serial_link.py"},
    "paho": {"mqtt/client.py"},
    "amqtt": {"mqtt/embedded_broker.py"},
    "flask": {"rest/app.py"},
    "waitress": {"rest/server.py"},
    "subprocess": {"runtime/system_runner.py"},
    "yaml": {"config.py", "config_load.py"},
    "prometheus_client": {"integrations/metrics.py"},
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _matches(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


def test_modules_exist() -> None:
    assert len(_modules()) > 10


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (max {MAX_LINES}): split it by job"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_rules(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    imports = _imports(path)
    top = rel.split("/")[0]
    if top in PURE_PACKAGES:
        bad = sorted(n for n in imports if any(_matches(n, f) for f in FORBIDDEN_IN_PURE))
        assert not bad, f"{rel} is pure (sans-I/O) but imports {bad}"
        if top == "protocol":
            assert not [n for n in imports if _matches(n, "mqttprint.printer")], f"{rel}: protocol/ may not import printer/"
    for library, allowed in SINGLE_IMPORTERS.items():
        if any(_matches(n, library) for n in imports):
            assert rel in allowed, f"{rel} imports {library}; only {sorted(allowed)} may"
    if top == "mqtt":
        assert not [n for n in imports if _matches(n, "mqttprint.rest")], f"{rel}: mqtt/ may not import rest/"
    if top == "rest":
        assert not [n for n in imports if _matches(n, "mqttprint.mqtt")], f"{rel}: rest/ may not import mqtt/"


def test_rule_catches_violation(tmp_path: Path) -> None:
    """The import scanner sees `import threading` and `from time import monotonic`."""
    sample = tmp_path / "sample.py"
    sample.write_text("import threading\nfrom time import monotonic\nfrom . import sibling\n")
    assert _imports(sample) == {"threading", "time"}
