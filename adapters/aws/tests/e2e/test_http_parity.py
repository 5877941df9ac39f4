"""HTTP parity: the core's scripted requests (``fooddelivery.testing.http_parity``) answered by the AWS HTTP function
-- as REST API (payload 1.0) and HTTP API (payload 2.0) events, over DynamoDB, the stream relay and the SQS saga
consumer on moto -- exactly as ``fooddelivery serve``'s ASGI app answers them on SQLite: same statuses, same headers
that matter, same bodies (ids and times aside)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aws_stack import Stack
from deployment import Deployment
from gateway import http_api_event, rest_event

from fooddelivery.testing.http_parity import (
    SCRIPT,
    Answer,
    Exchange,
    Persona,
    Send,
    assert_same,
    run_script,
    seed,
    serve_baseline,
)
from fooddelivery_aws.entrypoints import http


def cognito_claims(persona: Persona) -> dict[str, str]:
    """What a Cognito user pool puts in the ID token of a persona (the stack's authorizer verifies it)."""
    claims = {"sub": persona.subject, "cognito:groups": persona.role, "token_use": "id"}
    if persona.restaurant_id:
        claims["custom:restaurant_id"] = persona.restaurant_id
    if persona.driver_id:
        claims["custom:driver_id"] = persona.driver_id
    return claims


def lambda_send(version: str, stage: str) -> Send:
    """Requests as API Gateway events of ``version`` ("1.0" or "2.0") on ``stage``, through the Lambda handler."""

    def send(
        method: str, path: str, query: str, headers: Mapping[str, str], body: bytes | None, persona: Persona | None
    ) -> Answer:
        claims = cognito_claims(persona) if persona is not None else None
        if version == "1.0":
            multi = dict(parse_qs(query, keep_blank_values=True)) or None
            event = rest_event(method, path, body=body, claims=claims, headers=dict(headers), query=multi, stage=stage)
        else:
            event = http_api_event(
                method, path, body=body, claims=claims, headers=dict(headers), raw_query=query, stage=stage
            )
        result: dict[str, Any] = http.handler(event, None)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        answer_headers = dict(result.get("headers") or {})
        for name in [n for n in answer_headers if n.lower() == "location"]:
            prefix = f"/{stage}"
            if answer_headers[name].startswith(prefix + "/"):  # the stage is the deployment's base path
                answer_headers[name] = answer_headers[name][len(prefix) :]
        return Answer(int(result["statusCode"]), answer_headers, payload)

    return send


@pytest.fixture(scope="module")
def on_serve(tmp_path_factory: pytest.TempPathFactory) -> list[Exchange]:
    return serve_baseline(Path(tmp_path_factory.mktemp("serve")) / "parity.db")


def on_aws(stack: Stack, monkeypatch: pytest.MonkeyPatch, send: Callable[[], Send]) -> list[Exchange]:
    deployment = Deployment(stack, monkeypatch, seed_catalog=False)
    seed(deployment.app.boot.restaurants, deployment.app.boot.drivers, datetime.now(UTC))
    return run_script(send(), settle=deployment.settle)


@pytest.mark.parametrize(("version", "stage"), [("1.0", "prod"), ("2.0", "$default")], ids=["rest-v1", "http-api-v2"])
def test_the_lambda_http_function_answers_the_script_as_serve_does(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, on_serve: list[Exchange], version: str, stage: str
) -> None:
    answers = on_aws(stack, monkeypatch, lambda: lambda_send(version, stage))

    assert [e.answer.status for e in answers] == [r.status for r in SCRIPT]
    assert_same(on_serve, answers, label=f"API Gateway {version}")
    read = next(e for e in answers if e.request.name == "read the order")
    assert json.loads(read.answer.body)["paymentStatus"] == "CAPTURED"  # the queue-driven saga ran in between
