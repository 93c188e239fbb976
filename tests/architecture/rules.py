"""The architecture rules as data plus the checks that apply them to a source tree.

Each check takes a `Tree` (every module of a package, parsed once) and returns the violations as
readable strings, so `tests/test_architecture.py` can run it on the real `mqttprint/` (no
violations) and on a small fixture tree that breaks it (the violation is found).

To extend a rule, add one line to its table: a new pure package to `PURE_PACKAGES`, a new
third-party library and its one importer to `SINGLE_IMPORTERS`, a module that may start threads
to `THREAD_OWNERS` (say why), one that only guards shared state with locks to `LOCK_USERS`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

MAX_LINES = 500

#: Packages that are pure (sans-I/O): bytes/commands in, events out, time passed in.
PURE_PACKAGES = ("protocol", "printer", "gcodefile")
#: What a pure package may never import (I/O, clocks, threads, config, the shell's layers).
FORBIDDEN_IN_PURE = (
    "threading", "time", "serial", "socket", "subprocess", "asyncio", "paho", "flask", "waitress",
    "os", "select", "selectors", "signal", "multiprocessing", "queue", "random", "concurrent",
    "_thread", "yaml", "prometheus_client", "amqtt", "mqttprint.config", "mqttprint.config_schema", "mqttprint.config_model",
    "mqttprint.runtime", "mqttprint.mqtt", "mqttprint.rest", "mqttprint.sim",
)
#: Layers that never import each other: they meet in the runtime's command registry.
SEPARATE_LAYERS = (("mqtt", "rest"), ("rest", "mqtt"))

#: Third-party (or process-spawning) module -> the only modules that may import it.
#: Every third-party import anywhere in the package must be listed here.
SINGLE_IMPORTERS: Mapping[str, frozenset[str]] = {
    "serial": frozenset({"runtime/serial_link.py"}),
    "paho": frozenset({"mqtt/client.py"}),
    "flask": frozenset({"rest/app.py"}),
    "werkzeug": frozenset({"rest/app.py"}),
    "waitress": frozenset({"rest/server.py"}),
    "subprocess": frozenset({"runtime/system_runner.py"}),
    "yaml": frozenset({"config.py"}),
    "prometheus_client": frozenset({"integrations/metrics.py"}),
    "amqtt": frozenset({"mqtt/embedded_broker.py"}),
}

#: Modules that may start threads (or an event loop in one), and why. Nothing else may.
THREAD_OWNERS: Mapping[str, str] = {
    "runtime/io_loop.py": "the one I/O loop thread: a selector over every printer's port, services every engine",
    "runtime/serial_link.py": "a short-lived thread per port open (a DTR reset or a network connect never stalls the loop)",
    "runtime/port_channels.py": "a reader thread per port without a usable fd (rfc2217://, socket://, ...)",
    "mqtt/network_loop.py": "one network thread for every MQTT connection, and one connector (connects block)",
    "mqtt/lanes.py": "request workers on demand, at most one per lane, so a slow request never blocks the network thread",
    "mqtt/publisher.py": "the coalescing publisher: rate-limited retained state off the serial thread",
    "rest/server.py": "the WSGI server (waitress) and its worker threads",
    "runtime/job_actions.py": "the job progress ticker (about once a second while a job runs)",
    "runtime/system_runner.py": "asynchronous system commands (`async: true`) run in the background",
    "sim/inprocess_port.py": "the in-process simulator's firmware clock (sim:// ports)",
    "sim/pty_link.py": "the pty simulator's I/O loop (`mqttprint simulate`, tests)",
    "integrations/mtconnect.py": "the MTConnect SHDR adapter: one TCP server thread, a bounded set of agents",
    "integrations/webcam.py": "the webcam publisher: one thread fetching every camera in turn",
    "mqtt/embedded_broker.py": "the embedded amqtt broker's asyncio loop (`mqtt.host: auto`, no broker found)",
}
#: Modules that guard state shared between those threads with locks/events (but start none).
LOCK_USERS: Mapping[str, str] = {
    "daemon.py": "the stopped flag (stop() may be called from a signal handler and from run())",
    "runner.py": "the shutdown event the signal handlers set",
    "rest/appkeys.py": "the app-key store, read and written by waitress threads and the CLI",
    "runtime/bus.py": "the subscriber list (subscribe/unsubscribe from any thread)",
    "runtime/file_store.py": "uploads and deletes from REST and MQTT worker threads",
    "runtime/jobs.py": "the job clock and selection, read by REST/MQTT, written on the I/O loop",
    "runtime/printer_service.py": "command handles, completed on the I/O loop, created by callers",
    "integrations/metrics.py": "counters updated from bus callbacks, read by the scrape",
    "web/hub.py": "the dashboard's SSE fan-out: waitress threads wait on its condition",
    "mqtt/bridge.py": "pending replies and recent request ids, touched by the network thread and the lane workers",
    "mqtt/fleet.py": "the fleet view, shared by paho's thread and REST; REST threads wait for remote replies",
    "runtime/prompts.py": "prompt state: the I/O loop reduces, MQTT/REST workers answer",
    "mqtt/print_facts.py": "retained thumbnail/prompt: recorded on the I/O loop, published by the publisher",
}
#: Imports that mean concurrency (threads, locks, event loops).
CONCURRENCY_MODULES = ("threading", "_thread", "concurrent", "asyncio", "socketserver", "multiprocessing", "queue")
#: Calls (or base classes) that start a thread.
THREAD_STARTERS = ("Thread", "Timer", "ThreadPoolExecutor", "ProcessPoolExecutor", "ThreadingMixIn",
                   "ThreadingTCPServer", "ThreadingHTTPServer", "start_new_thread")
#: Imports that mean running an event loop or processes: as good as starting a thread.
LOOP_MODULES = ("asyncio", "socketserver", "multiprocessing", "_thread")

#: Import cycles tolerated for now, each with the step that removes it; a test fails once a
#: listed cycle is gone (so the list only shrinks).
KNOWN_CYCLES: Mapping[frozenset[str], str] = {}


@dataclass
class Module:
    """One parsed module: its dotted name, its path relative to the package, its imports."""

    name: str
    rel: str
    lines: int
    imports: set[str] = field(default_factory=set)  # every imported dotted name (absolute)
    calls: set[str] = field(default_factory=set)  # names of called functions/classes (last part)


@dataclass
class Tree:
    """Every module of a package."""

    package: str
    modules: dict[str, Module]

    def by_rel(self) -> dict[str, Module]:
        return {m.rel: m for m in self.modules.values()}


def _matches(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


def scan(root: Path, package: str) -> Tree:
    """Parse every module under `root` (the directory of `package`), counting every import:
    module level, inside functions and under `if TYPE_CHECKING:` alike."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        parts = [package] + list(path.relative_to(root).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        if is_init:
            parts = parts[:-1]
        name = ".".join(parts)
        text = path.read_text(encoding="utf-8")
        module = Module(name, rel, text.count("\n"))
        container = parts if is_init else parts[:-1]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                module.imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = container[: len(container) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                module.imports.add(target)
                module.imports.update(f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if called:
                    module.calls.add(called)
            elif isinstance(node, ast.ClassDef):
                for base_node in node.bases:
                    base_name = base_node.attr if isinstance(base_node, ast.Attribute) else getattr(base_node, "id", "")
                    if base_name:
                        module.calls.add(base_name)  # subclassing Thread starts threads too
        modules[name] = module
    return Tree(package, modules)


def internal_graph(tree: Tree) -> dict[str, set[str]]:
    """Module -> the package's modules it imports. `from pkg import sub` counts as importing
    `pkg.sub` (not `pkg`) when `sub` is a module: the parent package is imported anyway."""
    graph: dict[str, set[str]] = {}
    for name, module in tree.modules.items():
        deps: set[str] = set()
        for imported in module.imports:
            if imported in tree.modules:
                deps.add(imported)
        # `from pkg import sub`: drop `pkg` when only submodules were taken from it
        for imported in list(deps):
            children = {d for d in deps if d.startswith(imported + ".") and d.count(".") == imported.count(".") + 1}
            names_from = {i for i in module.imports if i.startswith(imported + ".") and i.count(".") == imported.count(".") + 1}
            if children and names_from == children:
                deps.discard(imported)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(tree: Tree) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = internal_graph(tree)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# ---------------------------------------------------------------------- the rules
def pure_import_violations(tree: Tree, pure: Iterable[str] = PURE_PACKAGES) -> list[str]:
    """Pure packages import nothing from FORBIDDEN_IN_PURE (own package names are rewritten)."""
    forbidden = [f.replace("mqttprint.", tree.package + ".", 1) for f in FORBIDDEN_IN_PURE]
    out = []
    for module in tree.modules.values():
        if module.rel.split("/")[0] not in pure:
            continue
        bad = sorted({i for i in module.imports for f in forbidden if _matches(i, f)})
        if bad:
            out.append(f"{module.rel} is pure (sans-I/O) but imports {bad}")
    return out


def layer_violations(tree: Tree) -> list[str]:
    """mqtt/ and rest/ never import each other."""
    out = []
    for module in tree.modules.values():
        for layer, other in SEPARATE_LAYERS:
            if module.rel.split("/")[0] == layer and any(_matches(i, f"{tree.package}.{other}") for i in module.imports):
                out.append(f"{module.rel}: {layer}/ may not import {other}/")
    return out


def _third_party(name: str, package: str) -> str | None:
    top = name.split(".")[0]
    if not top or top == package or top == "__future__":
        return None
    if top in sys.stdlib_module_names and top != "subprocess":
        return None
    return top


def single_importer_violations(tree: Tree, table: Mapping[str, frozenset[str]] = SINGLE_IMPORTERS) -> list[str]:
    """Every third-party library (and subprocess) is imported by exactly the module listed for it."""
    out = []
    for module in tree.modules.values():
        for library in sorted({t for i in module.imports if (t := _third_party(i, tree.package))}):
            allowed = table.get(library)
            if allowed is None:
                out.append(f"{module.rel} imports {library}, which has no entry in SINGLE_IMPORTERS")
            elif module.rel not in allowed:
                out.append(f"{module.rel} imports {library}; only {sorted(allowed)} may")
    return out


def cycle_violations(tree: Tree, known: Mapping[frozenset[str], str] = KNOWN_CYCLES) -> list[str]:
    """No import cycles (counting TYPE_CHECKING and in-function imports), except known ones."""
    return [f"import cycle: {' -> '.join(sorted(c))}" for c in cycles(tree) if c not in known]


def threading_violations(tree: Tree, owners: Mapping[str, str] = THREAD_OWNERS,
                         lock_users: Mapping[str, str] | frozenset[str] = LOCK_USERS) -> list[str]:
    """Only THREAD_OWNERS start threads; only they and LOCK_USERS touch concurrency modules."""
    out = []
    for module in tree.modules.values():
        concurrent = sorted({i for i in module.imports for c in CONCURRENCY_MODULES if _matches(i, c)})
        if not concurrent:
            continue
        starts = bool(module.calls & set(THREAD_STARTERS)) or any(_matches(i, m) for i in concurrent for m in LOOP_MODULES)
        if module.rel in owners:
            continue
        if starts:
            out.append(f"{module.rel} starts threads; only THREAD_OWNERS may ({sorted(owners)})")
        elif module.rel not in lock_users:
            out.append(f"{module.rel} imports {concurrent}; add it to LOCK_USERS (locks only) or THREAD_OWNERS")
    return out


def size_violations(paths: Iterable[tuple[str, int]], limit: int = MAX_LINES) -> list[str]:
    """No file over `limit` lines ((label, line count) pairs)."""
    return [f"{label} has {lines} lines (max {limit}): split it by job" for label, lines in paths if lines > limit]


def file_sizes(root: Path) -> list[tuple[str, int]]:
    """(path relative to root's parent, line count) of every .py file under `root` (hidden folders such
    as bench/.peers, the peers' virtualenvs, are not ours)."""
    return [(p.relative_to(root.parent).as_posix(), p.read_text(encoding="utf-8").count("\n"))
            for p in sorted(root.rglob("*.py"))
            if "__pycache__" not in p.parts and not any(part.startswith(".") for part in p.relative_to(root).parts)]
