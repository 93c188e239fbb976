"""Shared fixtures: a real mosquitto broker on a free port (one per test session).

Helpers live in `tests.helpers`; `Broker` and `free_port` are re-exported here for older imports.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.helpers import free_port
from tests.helpers.broker import Broker, mosquitto_binary

__all__ = ["Broker", "broker", "free_port", "mosquitto_binary"]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real mosquitto on a free port for the whole test session."""
    try:
        mosquitto_binary()
    except RuntimeError as exc:  # one clear line instead of an error per integration test
        pytest.exit(str(exc), returncode=4)
    instance = Broker(tmp_path_factory.mktemp("mosquitto"))
    instance.start()
    yield instance
    instance.stop()
