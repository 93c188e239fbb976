"""Moved to `tests.helpers.mqtt` (shared helpers live in `tests/helpers/`); this re-export keeps
older imports working. New tests: `from tests.helpers.mqtt import ...`, `from tests.helpers import wait_for`."""

from __future__ import annotations

from typing import Any, Callable

from tests.helpers import wait_for
from tests.helpers.mqtt import (  # noqa: F401
    Received, Watcher, executed, gateway_config, model, running_gateway, unique_base,
)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """The old name and signature of `tests.helpers.wait_for`."""
    return wait_for(predicate, timeout, message, interval=interval)
