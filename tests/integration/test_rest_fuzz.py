"""Property-based fuzzing of the live REST API against docs/openapi.yaml (schemathesis).

Schema-valid and schema-violating requests go over real HTTP to a gateway with the simulated
printer behind it. Every answer must be documented (status code, content type, JSON schema),
never a 500, and errors must be `{"error": ...}` JSON. The printer is brought back after a
generated request disconnects or halts it, so later examples still reach the printer.

What is fuzzed with care, and why:

* Job starts are never generated. `POST /api/job` `start`/`restart` and the `print` flag of an
  upload or a `select` command would stream whatever file the fuzzer uploaded (random bytes) to
  the printer, and the print would turn every later example into a 409 (and hold the printer
  for its whole length). `_tame` rewrites those requests: `start`/`restart` become `pause` (409
  while idle, still exercising the endpoint's checks), `print` becomes false. Every example
  checks afterwards that no job is running.
* `POST /api/system/commands/{source}/{action}` is fuzzed because this gateway configures no
  system commands (asserted below): every generated request can only end in 404 or the
  divider's 400, never run anything. With commands configured it would execute them (and a
  failing synchronous one answers 500 by design), so it would have to be excluded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from tests.helpers.rest import ADMIN_KEY, Api, ensure_operational, rest_api  # noqa: E402,F401

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(str(SPEC))
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=30,
                                with_security_parameters=False)

#: Keep a generated `"reply": true` from holding a worker for minutes.
MAX_FUZZ_TIMEOUT = 1.0


def _tame(case: Any) -> None:
    """Keep generated requests from waiting minutes or starting a print (see the module docstring)."""
    body = case.body
    if not isinstance(body, dict):
        return
    if body.get("reply") is True:
        body["timeout"] = MAX_FUZZ_TIMEOUT
    if case.path == "/api/job" and body.get("command") in ("start", "restart"):
        body["command"] = "pause"
    if case.path.startswith("/api/files/local") and "print" in body:
        body["print"] = False if case.path != "/api/files/local" else "false"


def _no_job(api: Api) -> None:
    assert not api.printer().snapshot().flags["printing"], "a fuzzed request started a print"
    assert not api.printer().snapshot().flags["paused"]


@pytest.fixture(scope="module", autouse=True)
def _nothing_to_execute(rest_api: Api) -> None:
    """Fuzzing system-command execution is only safe while no system command is configured."""
    specs = rest_api.gateway.system.specs
    assert not specs, "the fuzz gateway must not configure system commands"


def _checks() -> dict[str, Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return {"checks": [not_a_server_error, status_code_conformance, content_type_conformance,
                       response_headers_conformance, response_schema_conformance]}


@SCHEMA.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case: Any, rest_api: Api) -> None:
    _tame(case)
    response = case.call(base_url=rest_api.base, session=rest_api.session,
                         headers={"X-Api-Key": ADMIN_KEY}, timeout=10)
    case.validate_response(response, **_checks())
    assert response.status_code < 500 or response.status_code in (503, 504), response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str)
    _no_job(rest_api)
    ensure_operational(rest_api)


@SCHEMA.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=10)
def test_api_without_key_never_fails_badly(case: Any, rest_api: Api) -> None:
    """Anonymous callers get 403 (or the open endpoints' documented answers), never a 500."""
    _tame(case)
    response = case.call(base_url=rest_api.base, session=rest_api.session, timeout=10)
    case.validate_response(response, **_checks())
    assert response.status_code != 500
    _no_job(rest_api)
