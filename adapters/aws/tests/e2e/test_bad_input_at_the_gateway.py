"""Client mistakes at the gateway, on the stack: each is a 4xx problem, and nothing is stored, streamed, published,
charged or notified. The HTTP issue's list (bodies, media types, fields, identity) sent as API Gateway events of both
payload formats, plus the mistakes only an event can carry (base64 flags, null maps, a missing body)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_stack import Stack
from deployment import Deployment
from gateway import CUSTOMER, DRIVER, OTHER_CUSTOMER, REFERENCE_PAYLOAD, RESTAURANT, body_of, http_api_event, rest_event

_REF: dict[str, Any] = json.loads(REFERENCE_PAYLOAD)


def _order(**overrides: Any) -> bytes:
    return json.dumps({**_REF, **overrides}).encode()


def _item(**overrides: Any) -> bytes:
    return _order(items=[{"name": "Pizza", "price": 15.99, "quantity": 1, **overrides}])


def _rest(body: bytes | None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("claims", CUSTOMER)
    return rest_event(kw.pop("method", "POST"), kw.pop("path", "/orders"), body=body, **kw)


def _http(body: bytes | None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("claims", CUSTOMER)
    return http_api_event(kw.pop("method", "POST"), kw.pop("path", "/orders"), body=body, **kw)


def _without(event: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        event.pop(key, None)
    return event


def _with(event: dict[str, Any], **values: Any) -> dict[str, Any]:
    event.update(values)
    return event


# (id, event, status, problem code)
CASES: list[tuple[str, dict[str, Any], int, str]] = [
    # -- bodies (REST, base64 as API Gateway sends binary-safe bodies)
    ("body null JSON", _rest(b"null"), 422, "validation_error"),
    ("body empty", _rest(b""), 400, "empty_body"),
    ("body not JSON", _rest(b"restaurantId=rest-1"), 400, "malformed_json"),
    ("body truncated", _rest(REFERENCE_PAYLOAD[:-20]), 400, "malformed_json"),
    ("body a JSON array", _rest(b"[1, 2]"), 422, "validation_error"),
    ("body with NaN", _rest(_order().replace(b"15.99", b"NaN")), 400, "malformed_json"),
    (
        "body with a duplicate key",
        _rest(b'{"restaurantId": "rest-1", "restaurantId": "rest-2"}'),
        400,
        "malformed_json",
    ),
    ("body not UTF-8", _rest(b'{"restaurantId": "\xff\xfe"}'), 400, "malformed_json"),
    ("body with a byte-order mark", _rest(b"\xef\xbb\xbf" + REFERENCE_PAYLOAD), 400, "malformed_json"),
    ("body over 256 KB", _rest(_order(deliveryAddress="x" * 270_000)), 413, "payload_too_large"),
    # -- media types
    ("text/plain", _rest(REFERENCE_PAYLOAD, headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
    ("no content type", _rest(REFERENCE_PAYLOAD, headers={"Content-Type": ""}), 415, "unsupported_media_type"),
    # -- fields
    ("unknown field", _rest(_order(coupon="FREE")), 422, "validation_error"),
    (
        "restaurantId missing",
        _rest(json.dumps({k: v for k, v in _REF.items() if k != "restaurantId"}).encode()),
        422,
        "validation_error",
    ),
    ("no items", _rest(_order(items=[])), 422, "validation_error"),
    ("quantity zero", _rest(_item(quantity=0)), 422, "validation_error"),
    ("negative price", _rest(_item(price=-1)), 422, "validation_error"),
    ("price not the menu's", _rest(_item(price=14.99)), 409, "price_changed"),
    ("unknown restaurant", _rest(_order(restaurantId="rest-404")), 404, "not_found"),
    ("userId of another customer", _rest(_order(userId="user-2")), 403, "not_allowed"),
    # -- identity (the authorizer's claims)
    ("no claims", _rest(REFERENCE_PAYLOAD, claims=None), 401, "not_authenticated"),
    ("a driver places an order", _rest(REFERENCE_PAYLOAD, claims=DRIVER), 403, "not_allowed"),
    ("a restaurant places an order", _rest(REFERENCE_PAYLOAD, claims=RESTAURANT), 403, "not_allowed"),
    (
        "claims without a subject",
        _rest(REFERENCE_PAYLOAD, claims={"cognito:groups": "customer"}),
        401,
        "not_authenticated",
    ),
    (
        "claims granting no role",
        _rest(REFERENCE_PAYLOAD, claims={"sub": "x", "cognito:groups": "bakers"}),
        403,
        "not_allowed",
    ),
    # -- what only an event can get wrong
    (
        "REST body flagged base64 but not",
        _with(_rest(REFERENCE_PAYLOAD, base64_body=False), isBase64Encoded=True),
        400,
        "bad_event",
    ),
    ("REST body null", _with(_rest(REFERENCE_PAYLOAD), body=None, isBase64Encoded=False), 400, "empty_body"),
    ("REST body missing", _without(_rest(REFERENCE_PAYLOAD), "body", "isBase64Encoded"), 400, "empty_body"),
    (
        "REST null maps and no claims",
        _with(
            _rest(REFERENCE_PAYLOAD, claims=None),
            headers=None,
            multiValueHeaders=None,
            queryStringParameters=None,
            multiValueQueryStringParameters=None,
            pathParameters=None,
        ),
        401,
        "not_authenticated",
    ),
    (
        "REST null header maps: no content type",
        _with(_rest(REFERENCE_PAYLOAD), headers=None, multiValueHeaders=None),
        415,
        "unsupported_media_type",
    ),
    ("REST unknown query parameter", _rest(REFERENCE_PAYLOAD, query={"foo": ["bar"]}), 422, "validation_error"),
    ("HTTP API body base64 of non-UTF-8", _http(b"\xff\xfe{}", base64_body=True), 400, "malformed_json"),
    ("HTTP API body flagged base64 but not", _with(_http(REFERENCE_PAYLOAD), isBase64Encoded=True), 400, "bad_event"),
    ("HTTP API body null", _with(_http(REFERENCE_PAYLOAD), body=None), 400, "empty_body"),
    ("HTTP API no claims", _http(REFERENCE_PAYLOAD, claims=None), 401, "not_authenticated"),
    ("HTTP API claims of another customer", _http(_order(), claims=OTHER_CUSTOMER), 403, "not_allowed"),
    (
        "HTTP API stage prefix and an unknown route",
        _http(REFERENCE_PAYLOAD, path="/order", stage="prod"),
        404,
        "no_route",
    ),
    ("HTTP API wrong method", _http(REFERENCE_PAYLOAD, method="DELETE"), 405, "method_not_allowed"),
    (
        "neither payload format",
        {"path": "/orders", "body": base64.b64encode(REFERENCE_PAYLOAD).decode()},
        400,
        "bad_event",
    ),
]


@pytest.mark.parametrize(("case", "event", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_a_client_mistake_is_a_4xx_and_leaves_no_trace(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, case: str, event: dict[str, Any], status: int, code: str
) -> None:
    deployment = Deployment(stack, monkeypatch)
    stack.stream_records()  # the seed's writes; from here the stream must stay silent

    response = deployment.http(json.loads(json.dumps(event)))

    assert response["statusCode"] == status, (case, response["body"])
    problem = body_of(response)
    assert problem["code"] == code, problem
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert deployment.order_items() == []
    assert stack.stream_records() == []
    assert deployment.app.relay.sweep() == 0
    assert stack.drain(stack.saga_queue_url) == []
    assert stack.drain(stack.notifications_queue_url) == []
    assert deployment.app.boot.payments.calls == 0
    assert stack.clients["dynamodb"].scan(TableName=stack.tables["sagas"])["Items"] == []
