"""Property-based fuzzing of the live REST API against docs/openapi.yaml (schemathesis).

Schema-valid and schema-violating requests go over real HTTP to a gateway with the simulated
printer behind it. Every answer must be documented (status code, content type, JSON schema),
never a 500, and errors must be `{"error": ...}` JSON. The printer is brought back after a
generated request disconnects or halts it, so later examples still reach the printer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from tests.integration.rest_helpers import ADMIN_KEY, Api, ensure_operational, rest_api  # noqa: E402,F401

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(str(SPEC))
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=30,
                                with_security_parameters=False)

#: Keep a generated `"reply": true` from holding a worker for minutes.
MAX_FUZZ_TIMEOUT = 1.0


def _tame(case: Any) -> None:
    body = case.body
    if isinstance(body, dict) and body.get("reply") is True:
        body["timeout"] = MAX_FUZZ_TIMEOUT


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
    ensure_operational(rest_api)


@SCHEMA.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), max_examples=10)
def test_api_without_key_never_fails_badly(case: Any, rest_api: Api) -> None:
    """Anonymous callers get 403 (or the open endpoints' documented answers), never a 500."""
    _tame(case)
    response = case.call(base_url=rest_api.base, session=rest_api.session, timeout=10)
    case.validate_response(response, **_checks())
    assert response.status_code != 500
