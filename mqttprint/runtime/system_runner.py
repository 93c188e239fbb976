"""Runs configured system commands. The only subprocess importer.

The command line comes from config.yaml only; it is split with shlex and executed without a shell
unless the action opts in with `shell: true` (the documented risky exception). Nothing from a
request (topic segments, payloads, query strings) is ever part of it. Output is captured (bounded),
logged, and returned; a timeout kills the process.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

log = logging.getLogger(__name__)

#: Captured output kept per stream (a runaway command must not fill memory or an MQTT payload).
MAX_OUTPUT = 16 * 1024


@dataclass(frozen=True, slots=True)
class SystemCommandResult:
    """How one execution ended. `returncode` is None when it could not start or timed out."""

    source: str
    action: str
    returncode: Optional[int]
    stdout: str
    stderr: str
    duration: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.error


def build_argv(command: str, shell: bool) -> list[str]:
    """The argv for a configured command line: shlex-split, or `/bin/sh -c <line>` when `shell`."""
    if shell:
        return ["/bin/sh", "-c", command]
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    return argv


def _clip(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n[output truncated]"


def run_command(source: str, action: str, command: str, *, shell: bool = False, timeout: float = 60.0) -> SystemCommandResult:
    """Run one configured command to completion (or timeout) and return its result."""
    started = time.monotonic()
    try:
        argv = build_argv(command, shell)
    except ValueError as exc:
        return SystemCommandResult(source, action, None, "", "", 0.0, f"cannot parse the configured command: {exc}")
    log.info("system command %s:%s: running %s", source, action, argv)
    try:
        completed = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        result = SystemCommandResult(source, action, None, _clip(exc.stdout or b""), _clip(exc.stderr or b""),
                                     time.monotonic() - started, f"timed out after {timeout:g} s")
    except OSError as exc:
        result = SystemCommandResult(source, action, None, "", "", time.monotonic() - started,
                                     f"cannot start {argv[0]}: {exc.strerror or exc}")
    else:
        result = SystemCommandResult(source, action, completed.returncode, _clip(completed.stdout), _clip(completed.stderr),
                                     time.monotonic() - started)
    level = logging.INFO if result.ok else logging.WARNING
    log.log(level, "system command %s:%s finished: code %s%s%s%s", source, action, result.returncode,
            f", error: {result.error}" if result.error else "",
            f"\nSTDOUT:\n{result.stdout}" if result.stdout else "", f"\nSTDERR:\n{result.stderr}" if result.stderr else "")
    return result


def run_in_background(source: str, action: str, command: str, *, shell: bool, timeout: float,
                      on_done: Callable[[SystemCommandResult], None]) -> None:
    """Start the command on a daemon thread; `on_done(result)` is called when it ends."""

    def work() -> None:
        result = run_command(source, action, command, shell=shell, timeout=timeout)
        try:
            on_done(result)
        except Exception:  # the report callback must not kill the worker silently
            log.exception("reporting the result of %s:%s failed", source, action)

    threading.Thread(target=work, name=f"system-{source}-{action}", daemon=True).start()
