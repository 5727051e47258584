"""Schema-driven fuzz of the API from its own /openapi.json: no request gets a 500."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from harness.services import RedisServer
from tests.api.conftest import Woken, make_app


def test_no_request_gets_a_server_error(api_redis: RedisServer) -> None:
    app = make_app(api_redis, Woken())
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checked = []
    for found in schema.get_all_operations():
        operation = found.ok()
        checked.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call()
            # /readyz is 503 by design here: no worker consumes from this Redis.
            not_ready = case.formatted_path == "/readyz" and response.status_code == 503
            assert response.status_code < 500 or not_ready, (
                case.method,
                case.formatted_path,
                response.text,
            )
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message", "details"}

        no_server_error()
    assert len(checked) >= 9, checked
