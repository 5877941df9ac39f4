"""API Gateway events for the HTTP entrypoint tests, built from the SAM CLI samples (``events/``), and the catalogue
the tests order from.

- :func:`rest_event`: a REST API (payload 1.0) proxy event, body base64-encoded like the sample's, verified claims
  at ``requestContext.authorizer.claims`` (a Cognito user pool authorizer);
- :func:`http_api_event`: an HTTP API (payload 2.0) event, claims at ``requestContext.authorizer.jwt.claims``;
- claims of the personas as Cognito puts them in an ID token (groups in ``cognito:groups``, the bindings in custom
  attributes);
- :func:`seed`: ``rest-1`` serving the reference payload's items (Pizza 15.99, Soda 2.99, USD) and two drivers.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from aws_stack import sample_event

from fooddelivery.domain import Driver, DriverStatus, GeoPoint, MenuItem, Money, Restaurant
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.restaurants import RestaurantRepository

#: The reference design's k6 payload (scripts/load-test.js), with the customer's id as userId.
REFERENCE_PAYLOAD: Final[bytes] = (
    b'{"userId": "user-1", "restaurantId": "rest-1", "items": ['
    b'{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}], '
    b'"deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)

CUSTOMER: Final[dict[str, str]] = {
    "sub": "user-1",
    "cognito:groups": "customer",
    "email": "ana@example.com",
    "token_use": "id",
}
OTHER_CUSTOMER: Final[dict[str, str]] = {"sub": "user-2", "cognito:groups": "customer"}
RESTAURANT: Final[dict[str, str]] = {
    "sub": "owner-1",
    "cognito:groups": "restaurant",
    "custom:restaurant_id": "rest-1",
}
DRIVER: Final[dict[str, str]] = {"sub": "dana", "cognito:groups": "driver", "custom:driver_id": "drv-near"}
ADMIN: Final[dict[str, str]] = {"sub": "ops-1", "cognito:groups": "[admin restaurant]"}

DOWNTOWN: Final[GeoPoint] = GeoPoint(40.7128, -74.0060)
NEAR: Final[GeoPoint] = GeoPoint(40.7173, -74.0060)  # 0.5 km north
FAR: Final[GeoPoint] = GeoPoint(41.0725, -74.0060)  # 40 km north


def rest_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    base64_body: bool = True,
    stage: str = "prod",
) -> dict[str, Any]:
    """A REST API proxy event (the sample ``apigw-rest-v1.json`` with this request).

    ``headers`` replace the sample's (both ``headers`` and ``multiValueHeaders``); ``Content-Type:
    application/json`` is added when there is a body and no content type. ``query`` None makes both query fields
    null.
    """
    event = sample_event("apigw-rest-v1")
    all_headers = dict(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in all_headers):
        all_headers["Content-Type"] = "application/json"
    raw = body.encode() if isinstance(body, str) else body
    event.update(
        httpMethod=method,
        path=path,
        resource="/{proxy+}",
        pathParameters={"proxy": path.lstrip("/")},
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        queryStringParameters={k: v[-1] for k, v in query.items()} if query else None,
        multiValueQueryStringParameters=query,
        body=None if raw is None else (base64.b64encode(raw).decode() if base64_body else raw.decode()),
        isBase64Encoded=base64_body and raw is not None,
    )
    context = event["requestContext"]
    context.update(httpMethod=method, path=f"/{stage}{path}", stage=stage, requestId="rest-req-1")
    if claims is not None:
        context["authorizer"] = {"claims": dict(claims)}
    return event


def http_api_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    claims: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_query: str = "",
    stage: str = "$default",
    base64_body: bool = False,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event (the sample ``apigw-http-v2.json`` with this request).

    With a named ``stage``, ``rawPath`` carries it as a prefix (as API Gateway sends it).
    """
    event = sample_event("apigw-http-v2")
    all_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if body is not None:
        all_headers.setdefault("content-type", "application/json")
    raw = body.encode() if isinstance(body, str) else body
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event.update(
        rawPath=raw_path,
        rawQueryString=raw_query,
        headers=all_headers,
        cookies=cookies,
        queryStringParameters=None,
        pathParameters=None,
        routeKey="$default",
        body=None if raw is None else (base64.b64encode(raw).decode() if base64_body else raw.decode()),
        isBase64Encoded=base64_body and raw is not None,
    )
    if cookies is None:
        del event["cookies"]
    context = event["requestContext"]
    context["http"].update(method=method, path=raw_path)
    context.update(stage=stage, requestId="http-req-1", routeKey="$default")
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    else:
        context.pop("authorizer", None)
    return event


def body_of(response: dict[str, Any]) -> Any:
    """The JSON body of a proxy integration result."""
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return json.loads(text) if text else None


def seed(restaurants: RestaurantRepository, drivers: DriverRepository) -> None:
    """``rest-1`` (the reference payload's items) and drivers ``drv-near`` (0.5 km) and ``drv-far`` (40 km)."""
    now = datetime.now(UTC)
    menu = (
        MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),
        MenuItem("soda", "Soda", Money.of("2.99", "USD")),
    )
    restaurants.add(
        Restaurant("rest-1", "Luigi's", "pizza", Decimal("4.6"), DOWNTOWN, "USD", Decimal("0.08875"), 15, menu)
    )
    drivers.add(Driver("drv-near", "Dana", DriverStatus.AVAILABLE, NEAR, "bicycle", now))
    drivers.add(Driver("drv-far", "Femi", DriverStatus.AVAILABLE, FAR, "car", now))
