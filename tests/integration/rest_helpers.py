"""Moved to `tests.helpers.rest` (shared helpers live in `tests/helpers/`); this re-export keeps
older imports working. New tests: `from tests.helpers.rest import ...`."""

from __future__ import annotations

from tests.helpers import wait_for  # noqa: F401
from tests.helpers.rest import (  # noqa: F401
    ADMIN_KEY, KEYS, READ_KEY, USER_KEY, WRONG_KEY, Api, ensure_operational, error_of, make_config, rest_api,
    start_gateway,
)
