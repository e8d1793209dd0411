"""Schemathesis fuzzing of the service's OpenAPI schema: no input makes it answer 5xx.

Every operation of ``/openapi.json`` gets at most :data:`EXAMPLES` generated
requests (schema-valid ones and, for the negative mode, schema-breaking ones).
GET routes are fuzzed without credentials, POST routes with the valid bearer
token, so the fuzzer reaches the handlers and not only the 401.

(Schemathesis 4's pytest plugin, ``from_fixture``, does not run under this
pytest; the operations are driven by Hypothesis directly instead.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from conftest import AUTH

EXAMPLES = 15


def _fuzz(operation, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        headers = AUTH if case.method.upper() == "POST" else None
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body,
                                            response.text[:500])
    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # negative mode: the operation has no input that could break its schema (e.g. /api/health)


@pytest.mark.slow
def test_no_server_error(make_client) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_client().app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 18
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(op, mode)
