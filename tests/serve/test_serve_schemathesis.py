"""Schemathesis against the live server's ``GET /openapi.json``: every operation over real HTTP (uvicorn, the ASGI
translation, SQLite), generated valid and invalid inputs as a customer; zero 5xx and responses that conform to the
document.

Every check runs, "positive data acceptance" (ST202) included (see ``tests/e2e/test_schemathesis.py``). Bounded
(``MAX_EXAMPLES`` per operation and generation mode) to fit CI. ``tests/e2e/test_schemathesis.py`` runs
the same checks in process through WSGI; this one adds what only a real server has: the wire, the body limit while
reading, SQLite.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.schemas import APIOperation, BaseSchema

from tests.e2e._idempotency import fresh_idempotency_key

from ._live import token
from .conftest import StartServer

MAX_EXAMPLES = 20


@cache
def _customer_token() -> str:
    return token("customer", "user-1")


class _CustomerToken:
    """The bearer token of ``user-1``, registered as schemathesis auth so its negative cases know about it."""

    def get(self, case: Case, ctx: Any) -> str:
        return _customer_token()

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _problems(schema: BaseSchema, operation: APIOperation, mode: GenerationMode, calls: list[int]) -> list[str]:
    """Run up to ``MAX_EXAMPLES`` generated cases of one operation (each call counted in ``calls``); returns what went
    wrong (nothing when all passed)."""

    @given(case=operation.as_strategy(mode, auth_storage=schema.auth))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Case) -> None:
        response = case.call(timeout=10)
        calls.append(response.status_code)
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
        case.validate_response(response)  # every check, none excluded

    try:
        run()
    except Unsatisfiable:  # nothing to generate in this mode (no parameters or body to make invalid)
        return []
    except Exception as exc:
        return [f"{operation.label} ({mode.value}): {type(exc).__name__}: {exc}"]
    return []


def test_the_live_server_conforms_to_its_own_document_and_never_answers_5xx(start_server: StartServer) -> None:
    # pytest 9 broke schemathesis.pytest.from_fixture (it reads Function._nodeid), and a module-level
    # from_url would need the server at collection time: so the operations are driven here, one by one.
    server = start_server("--demo", "--log-level", "warning")
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=10)
    schema.auth()(_CustomerToken)
    schema.hook("map_headers")(fresh_idempotency_key)
    load_all_checks()
    enabled = schema.config.checks_config_for()
    assert all(enabled.get_by_name(name=name).enabled for name in CHECKS.get_all_names())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    calls: list[int] = []

    problems = [
        problem
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for problem in _problems(schema, operation, mode, calls)
    ]

    assert problems == [], "\n\n".join(problems)
    assert len(calls) >= 10 * len(operations), "schemathesis sent too few requests to mean anything"
    assert {200, 401, 404, 422} <= set(calls)  # it got past authentication, and was refused too
    assert server.stop() == 0, server.output()
