"""HTTP parity: the core's scripted requests (``fooddelivery.testing.http_parity``) answered by the Azure ``http``
function -- real ``azure.functions.HttpRequest`` objects through the registered function, over the Cosmos DB stand-in,
the in-memory Service Bus, the change-feed relay and the runtime queue's function -- exactly as ``fooddelivery serve``'s
ASGI app answers them on SQLite: same statuses, same headers that matter, same bodies (ids and times aside). With the
saga on Durable Functions the same holds except for the answers to the restaurant's two signals, given before the
orchestration took the event (compared without the saga's progress: status, payment, driver, failure reason, version).
The deployment's virtual clock moves one second after each request (and everything settles), as time passes between
``serve``'s requests: two orders are never placed at the same instant, so listings order them as ``serve`` does.

Each persona reaches the function the two ways this deployment identifies callers:

- ``easyauth``: App Service authentication verified the caller and put it in ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON
  of ``{auth_typ, claims: [{typ, val}], name_typ, role_typ}``, Entra's long claim types, one claim per app role);
- ``entra``: a bearer access token of Entra ID v2.0 (RS256, ``iss`` ``https://login.microsoftonline.com/<tenant>/v2.0``,
  ``aud`` the API, ``oid`` the user, ``roles`` its app roles), verified by the function against the tenant's key set
  (a key made for the test, handed to the authenticator as the JWKS document).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import jwt
import pytest
from azure_world import AzureWorld, FunctionsLoop
from cryptography.hazmat.primitives.asymmetric import rsa
from durable_stand_in import DurableRpcServer

from fooddelivery.bootstrap import Settings
from fooddelivery.http import JwksAuthenticator
from fooddelivery.http.auth import DevAuthenticator
from fooddelivery.server.app import LocalServer
from fooddelivery.testing.http_parity import (
    SCRIPT,
    Answer,
    Exchange,
    Persona,
    Send,
    asgi_send,
    assert_same,
    comparable,
    dev_token_credentials,
    run_script,
    seed,
)
from fooddelivery_azure.bootstrap import reset_azure_app
from fooddelivery_azure.functions.http import PRINCIPAL_HEADER
from fooddelivery_azure.settings import AuthMode, SagaMode

SECRET = "parity-tests-development-secret-0123456789"
TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://fooddelivery"
ROLE_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
OBJECT_ID_TYPE = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def principal_header(persona: Persona) -> dict[str, str]:
    """``X-MS-CLIENT-PRINCIPAL`` as App Service authentication fills it for an Entra user of ``persona``."""
    claims = [
        {"typ": OBJECT_ID_TYPE, "val": persona.subject},
        {"typ": "name", "val": persona.subject},
        {"typ": ROLE_TYPE, "val": persona.role},
    ]
    claims += [{"typ": "restaurant_id", "val": persona.restaurant_id}] if persona.restaurant_id else []
    claims += [{"typ": "driver_id", "val": persona.driver_id}] if persona.driver_id else []
    body = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": ROLE_TYPE}
    return {PRINCIPAL_HEADER: base64.b64encode(json.dumps(body).encode()).decode()}


class EntraTenant:
    """A signing key standing in for the tenant's, its JWKS document, and access tokens for personas."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "parity-key", "use": "sig", "alg": "RS256"}]}

    def authenticator(self) -> JwksAuthenticator:
        return JwksAuthenticator.for_entra(tenant_id=TENANT, audience=AUDIENCE, jwks=self.jwks)

    def credentials(self, persona: Persona) -> dict[str, str]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
            "aud": AUDIENCE,
            "oid": persona.subject,
            "sub": f"pairwise-{persona.subject}",
            "tid": TENANT,
            "roles": [persona.role],
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        if persona.restaurant_id:
            claims["restaurant_id"] = persona.restaurant_id
        if persona.driver_id:
            claims["driver_id"] = persona.driver_id
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "parity-key"})
        return {"Authorization": f"Bearer {token}"}


def function_send(world: AzureWorld, credentials: Callable[[Persona], Mapping[str, str]]) -> Send:
    """Requests as ``azure.functions.HttpRequest`` objects through the registered ``http`` function."""

    def send(
        method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None, persona: Persona | None
    ) -> Answer:
        all_headers = {**(credentials(persona) if persona is not None else {}), **headers}
        url = f"https://fdparity-func.azurewebsites.net{path}" + (f"?{query}" if query else "")
        response = world.http(func.HttpRequest(method, url, headers=all_headers, body=body or b""))
        return Answer(response.status_code, dict(response.headers), response.get_body())

    return send


@pytest.fixture(scope="module")
def on_serve(tmp_path_factory: pytest.TempPathFactory) -> list[Exchange]:
    """The baseline: ``fooddelivery serve``'s ASGI app on SQLite, with development tokens."""
    server = LocalServer(
        Path(tmp_path_factory.mktemp("serve")) / "parity.db",
        settings=Settings(),
        authenticator=DevAuthenticator(SECRET),
    )
    try:
        seed(server.adapters.restaurants, server.adapters.drivers, datetime.now(UTC))
        server.recover()
        return run_script(asgi_send(server.app, dev_token_credentials(SECRET)))
    finally:
        server.close()


@pytest.fixture
def parity_world(
    container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer
) -> Iterator[AzureWorld]:
    world = AzureWorld.build(container, functions_loop, durable_rpc, catalog=False)
    seed(world.app.boot.restaurants, world.app.boot.drivers, world.clock.now())
    try:
        yield world
    finally:
        durable_rpc.host = None
        reset_azure_app()


def test_the_function_behind_easy_auth_answers_the_script_as_serve_does(
    parity_world: AzureWorld, on_serve: list[Exchange]
) -> None:
    object.__setattr__(parity_world.app.settings, "auth", AuthMode.EASYAUTH)
    answers = run_script(function_send(parity_world, principal_header), settle=lambda: parity_world.advance(1))

    assert [e.answer.status for e in answers] == [r.status for r in SCRIPT]
    assert_same(on_serve, answers, label="Azure Functions (EasyAuth)")
    read = next(e for e in answers if e.request.name == "read the order")
    assert json.loads(read.answer.body)["paymentStatus"] == "CAPTURED"  # the queue-driven saga ran in between
    # the principal header is the only credential: a bearer token is never read in this mode
    assert parity_world.app.http_api().authenticator.__class__.__name__ == "GatewayClaimsAuthenticator"


def test_the_function_verifying_entra_tokens_answers_the_script_as_serve_does(
    parity_world: AzureWorld, on_serve: list[Exchange]
) -> None:
    tenant = EntraTenant()
    parity_world.app.authenticator_factory = tenant.authenticator
    answers = run_script(function_send(parity_world, tenant.credentials), settle=lambda: parity_world.advance(1))

    assert [e.answer.status for e in answers] == [r.status for r in SCRIPT]
    assert_same(on_serve, answers, label="Azure Functions (Entra bearer)")



#: The answers a workflow engine gives before it took the event: the restaurant's signals are raised to the
#: orchestration, which confirms or fails the order after the answer was sent (Step Functions behaves alike).
SIGNAL_ANSWERS = frozenset({"confirm as the restaurant", "reject it"})


#: What the saga's progress shows in an order (what the orchestration changes after the answer).
PROGRESS = ("status", "paymentStatus", "driverId", "failureReason", "version", "statusTimes")


def _without_progress(exchange: Exchange) -> dict[str, Any]:
    seen = comparable(exchange)
    for name in PROGRESS:
        seen["body"].pop(name)
    return seen


def test_with_the_durable_saga_only_the_answers_to_the_restaurants_signals_are_eventual(
    container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer, on_serve: list[Exchange]
) -> None:
    world = AzureWorld.build(container, functions_loop, durable_rpc, catalog=False, saga_mode=SagaMode.DURABLE)
    seed(world.app.boot.restaurants, world.app.boot.drivers, world.clock.now())
    object.__setattr__(world.app.settings, "auth", AuthMode.EASYAUTH)
    try:
        answers = run_script(function_send(world, principal_header), settle=lambda: world.advance(1))
    finally:
        durable_rpc.host = None
        reset_azure_app()

    assert [e.answer.status for e in answers] == [r.status for r in SCRIPT]
    with pytest.raises(AssertionError) as differing:
        assert_same(on_serve, answers)
    assert differing.value.args[0].startswith(f"{len(SIGNAL_ANSWERS)} answers differ")
    others = [i for i, e in enumerate(answers) if e.request.name not in SIGNAL_ANSWERS]
    assert_same([on_serve[i] for i in others], [answers[i] for i in others], label="Azure Functions (Durable saga)")
    for baseline, exchange in zip(on_serve, answers, strict=True):
        if exchange.request.name in SIGNAL_ANSWERS:
            assert _without_progress(exchange) == _without_progress(baseline)
            assert json.loads(exchange.answer.body)["status"] == "PENDING"  # the orchestration had not run yet
    assert world.durable.failures() == []
