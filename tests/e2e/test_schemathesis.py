"""Schemathesis against GET /openapi.json, in process through a WSGI adapter: every operation with generated
valid and invalid inputs, as a customer; zero 5xx and responses that conform to the document.

Every check runs, "positive data acceptance" (ST202) included: every rule the server enforces is in the document
where OpenAPI can say it, so a request the document calls valid is never refused as invalid (422); what the
document cannot know -- an unknown id, a menu item, a cursor no listing issued -- is a 404 or a 409.

Bounded (``max_examples`` per operation) so it fits CI.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import CHECKS, load_all_checks

from ._idempotency import fresh_idempotency_key
from ._world import build_world
from ._wsgi import wsgi_app

_world = build_world()
_world.place()
_TOKEN = _world.token("customer")
schema = schemathesis.openapi.from_wsgi("/openapi.json", wsgi_app(_world.api))


schema.hook("map_headers")(fresh_idempotency_key)


@schema.auth()
class _CustomerToken:
    """The bearer token of ``user-1``, registered as schemathesis auth so its negative cases know about it."""

    def get(self, case: Case, ctx: Any) -> str:
        return _TOKEN

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def test_every_check_is_on_in_both_generation_modes() -> None:
    load_all_checks()
    config = schema.config.checks_config_for()
    names = CHECKS.get_all_names()
    assert {name: config.get_by_name(name=name).enabled for name in names} == dict.fromkeys(names, True)
    assert "positive_data_acceptance" in names  # ST202
    assert [mode.value for mode in schema.config.generation_for().modes] == ["positive", "negative"]


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_own_document_and_never_answers_5xx(case: Case) -> None:
    response = case.call()

    assert response.status_code < 500, response.text
    case.validate_response(response)  # every check, none excluded
