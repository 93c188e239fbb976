"""Architecture rules (tables and checks in `tests/architecture/rules.py`), each applied to the real
tree and to a small fixture tree that breaks it, so every rule is seen to fail.

Rules: pure packages import no I/O; each third-party library has one importer; mqtt/ and rest/
never import each other; no import cycles (counting TYPE_CHECKING and in-function imports); only
the listed modules start threads or use locks; no file over 500 lines in mqttprint/ and bench/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture import rules

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mqttprint"


@pytest.fixture(scope="module")
def tree() -> rules.Tree:
    return rules.scan(PACKAGE, "mqttprint")


def make_tree(tmp_path: Path, files: dict[str, str]) -> rules.Tree:
    """A fixture package `fx` with the given modules (path relative to the package -> source)."""
    root = tmp_path / "fx"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name != "__init__.py" and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(text)
    return rules.scan(root, "fx")


# ---------------------------------------------------------------------- the real tree
def test_scanner_sees_the_package(tree: rules.Tree) -> None:
    rels = set(tree.by_rel())
    assert {"protocol/engine.py", "runtime/serial_link.py", "mqtt/client.py", "rest/app.py"} <= rels
    assert "mqttprint.protocol.engine" in rules.internal_graph(tree)["mqttprint.runtime.serial_link"]


def test_pure_packages_import_no_io(tree: rules.Tree) -> None:
    assert rules.pure_import_violations(tree) == []


def test_mqtt_and_rest_never_import_each_other(tree: rules.Tree) -> None:
    assert rules.layer_violations(tree) == []


def test_each_third_party_library_has_one_importer(tree: rules.Tree) -> None:
    assert rules.single_importer_violations(tree) == []


def test_no_import_cycles(tree: rules.Tree) -> None:
    assert rules.cycle_violations(tree) == []


def test_known_cycles_still_exist(tree: rules.Tree) -> None:
    """A tolerated cycle that is gone must leave KNOWN_CYCLES (the list only shrinks)."""
    found = set(rules.cycles(tree))
    assert [sorted(c) for c in rules.KNOWN_CYCLES if c not in found] == []


def test_threads_only_where_the_design_says(tree: rules.Tree) -> None:
    assert rules.threading_violations(tree) == []
    listed = set(rules.THREAD_OWNERS) | set(rules.LOCK_USERS)
    assert sorted(listed - set(tree.by_rel())) == []  # no stale entries


def test_single_importer_table_names_existing_modules(tree: rules.Tree) -> None:
    """An importer listed for a library that is used must exist (catches renamed modules)."""
    rels = set(tree.by_rel())
    used = {lib for m in tree.modules.values() for i in m.imports if (lib := rules._third_party(i, "mqttprint"))}
    assert sorted(m for lib in used for m in rules.SINGLE_IMPORTERS[lib] if m not in rels) == []


def test_no_file_over_500_lines() -> None:
    sizes = rules.file_sizes(PACKAGE) + rules.file_sizes(ROOT / "bench")
    assert len(sizes) > 20
    assert rules.size_violations(sizes) == []


# ---------------------------------------------------------------------- each rule fails on a fixture
def test_pure_rule_fails_on_io_in_a_pure_package(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "protocol/clean.py": "from fx.protocol import other\n",
        "protocol/other.py": "import enum\n",
        "protocol/sneaky.py": "def now():\n    import time\n    return time.monotonic()\n",
        "printer/model.py": "from fx.runtime.bus import EventBus\n",
        "runtime/bus.py": "import time\n",  # not pure: allowed
    })
    assert rules.pure_import_violations(tree) == [
        "printer/model.py is pure (sans-I/O) but imports ['fx.runtime.bus', 'fx.runtime.bus.EventBus']",
        "protocol/sneaky.py is pure (sans-I/O) but imports ['time']",
    ]


def test_layer_rule_fails_when_mqtt_imports_rest(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {"mqtt/bridge.py": "from fx.rest import app\n", "rest/app.py": "", "rest/ok.py": "import fx.runtime\n",
                                "runtime/__init__.py": ""})
    assert rules.layer_violations(tree) == ["mqtt/bridge.py: mqtt/ may not import rest/"]


def test_single_importer_rule_fails_on_a_second_importer_and_an_unlisted_library(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "mqtt/client.py": "import paho.mqtt.client as mqtt\n",
        "mqtt/bridge.py": "from paho.mqtt.properties import Properties\n",
        "util.py": "import requests\nimport json\n",
    })
    assert rules.single_importer_violations(tree) == [
        "mqtt/bridge.py imports paho; only ['mqtt/client.py'] may",
        "util.py imports requests, which has no entry in SINGLE_IMPORTERS",
    ]


def test_cycle_rule_counts_type_checking_and_function_imports(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "a.py": "from fx import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fx.a import Thing\n",
        "c.py": "from fx.d import x\n",
        "d.py": "def f():\n    from fx import c\n",
        "e.py": "from fx.a import y\n",  # imports into a cycle, is not part of one
    })
    assert rules.cycle_violations(tree, known={}) == ["import cycle: fx.a -> fx.b", "import cycle: fx.c -> fx.d"]
    assert rules.cycle_violations(tree, known={frozenset({"fx.a", "fx.b"}): "why"}) == ["import cycle: fx.c -> fx.d"]


def test_cycle_rule_ignores_the_parent_package_of_a_submodule(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {"sim/__init__.py": "from fx.sim.model import Model\n",
                                "sim/model.py": "from fx.sim import words\n", "sim/words.py": ""})
    assert rules.cycle_violations(tree, known={}) == []


def test_threading_rule_fails_on_a_thread_or_lock_outside_the_lists(tmp_path: Path) -> None:
    tree = make_tree(tmp_path, {
        "runtime/serial_link.py": "import threading\nthreading.Thread(target=print).start()\n",
        "runtime/bus.py": "import threading\nLOCK = threading.Lock()\n",
        "rest/worker.py": "from threading import Thread\nThread(target=print).start()\n",
        "mqtt/publisher.py": "import threading\n",
        "integrations/loop.py": "import asyncio\n",
        "runtime/cache.py": "import threading\nLOCK = threading.Lock()\n",
    })
    owners = {"runtime/serial_link.py": "serial thread", "mqtt/publisher.py": "publisher"}
    assert rules.threading_violations(tree, owners=owners, lock_users=frozenset({"runtime/bus.py"})) == [
        "integrations/loop.py starts threads; only THREAD_OWNERS may (['mqtt/publisher.py', 'runtime/serial_link.py'])",
        "rest/worker.py starts threads; only THREAD_OWNERS may (['mqtt/publisher.py', 'runtime/serial_link.py'])",
        "runtime/cache.py imports ['threading']; add it to LOCK_USERS (locks only) or THREAD_OWNERS",
    ]


def test_size_rule_fails_on_a_long_file(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "ok.py").write_text("x = 1\n" * 500)
    (tmp_path / "bench" / "long.py").write_text("x = 1\n" * 501)
    assert rules.size_violations(rules.file_sizes(tmp_path / "bench")) == [
        "bench/long.py has 501 lines (max 500): split it by job"]
