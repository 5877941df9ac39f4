"""The registered ``http`` function, called with real ``azure.functions.HttpRequest`` objects: every route of the
core's API answers through it, client mistakes are 4xx (never 500) with nothing stored, the function key's ``code``
parameter never reaches the API, and the caller's identity comes from the platform only when it is trusted."""

from __future__ import annotations

import base64
import json
from typing import Any

import azure.functions as func
import pytest
from azure_world import REFERENCE_PAYLOAD, AzureWorld

from fooddelivery.http import HttpApi, HttpRequest
from fooddelivery_azure.functions.http import claims_from_principal, request_from_function
from fooddelivery_azure.settings import AuthMode


@pytest.fixture
def customer(world: AzureWorld) -> str:
    return world.token("customer", "user-1")


@pytest.fixture
def placed(world: AzureWorld, customer: str) -> str:
    order_id: str = world.json(world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer))["orderId"]
    world.settle()
    return order_id


def test_every_route_answers_through_the_function(world: AzureWorld, customer: str, placed: str) -> None:
    restaurant = world.token("restaurant", "owner-0", restaurant_id="rest-0")
    driver = world.token("driver", "courier-0", driver_id="drv-0")
    other = world.json(world.call("POST", "/orders", REFERENCE_PAYLOAD, token=customer))["orderId"]
    world.settle()
    cases: list[tuple[str, str, str | None, str | None, int]] = [
        ("GET", "/health", None, None, 200),
        ("GET", "/openapi.json", None, None, 200),
        ("OPTIONS", "/orders", None, None, 204),
        ("GET", f"/orders/{placed}", None, customer, 200),
        ("GET", "/restaurants?cuisine=pizza&limit=5", None, customer, 200),
        ("GET", "/restaurants/rest-0", None, customer, 200),
        ("POST", "/restaurants/search", '{"cuisine": "pizza"}', customer, 200),
        ("PUT", f"/orders/{placed}", '{"status": "CONFIRMED"}', restaurant, 200),
        ("POST", f"/orders/{other}/reject", '{"reason": "out of dough"}', restaurant, 200),
        ("POST", "/deliveries/assign", json.dumps({"orderId": placed}), restaurant, 409),
        ("PUT", f"/deliveries/{placed}/location", '{"lat": 40.7130, "lon": -74.0050}', driver, 200),
        ("GET", f"/deliveries/{placed}/track", None, customer, 200),
        ("GET", "/nowhere", None, customer, 404),
        ("DELETE", f"/orders/{placed}", None, customer, 405),
        ("GET", f"/orders/{placed}", None, None, 401),
    ]
    for method, path, body, token, status in cases:
        response = world.call(method, path, body, token=token)
        assert response.status_code == status, (method, path, response.get_body()[:300])
    assert world.json(world.call("GET", "/restaurants/rest-0", token=customer))["restaurantId"] == "rest-0"
    tracked = world.json(world.call("GET", f"/deliveries/{placed}/track", token=customer))
    assert tracked["status"] == "CONFIRMED"


#: (name, body, status, problem code): the core's answers to client mistakes, through the function.
BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("empty body", b"", 400, "empty_body"),
    ("a JSON string instead of an object", b'"order"', 422, "validation_error"),
    ("truncated JSON", REFERENCE_PAYLOAD[:-20], 400, "malformed_json"),
    ("not JSON", b"restaurantId=rest-0", 400, "malformed_json"),
    ("a JSON array", b"[1, 2]", 422, "validation_error"),
    ("null", b"null", 422, "validation_error"),
    ("not UTF-8", b'{"restaurantId": "\xff\xfe"}', 400, "malformed_json"),
    ("a float quantity", REFERENCE_PAYLOAD.replace(b'"quantity": 1', b'"quantity": 1.5'), 422, "validation_error"),
    ("a stale price", REFERENCE_PAYLOAD.replace(b"15.99", b"14.99"), 409, "price_changed"),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_client_mistake_is_a_4xx_problem_and_leaves_no_trace(
    world: AzureWorld, customer: str, name: str, body: bytes, status: int, code: str
) -> None:
    response = world.call("POST", "/orders", body, token=customer)
    assert response.status_code == status, response.get_body()[:300]
    assert response.mimetype == "application/problem+json" or "problem+json" in response.headers["Content-Type"]
    assert world.json(response)["code"] == code
    assert world.app.orders.list_by_customer("user-1").items == []
    assert world.app.orders.pending(10) == []


def test_the_function_key_parameter_is_stripped_before_the_api_sees_the_query(world: AzureWorld, customer: str) -> None:
    with_key = world.call("GET", "/restaurants?cuisine=pizza&code=the-function-key", token=customer)
    assert with_key.status_code == 200, with_key.get_body()
    assert world.json(with_key) == world.json(world.call("GET", "/restaurants?cuisine=pizza", token=customer))
    unknown = world.call("GET", "/restaurants?cuisine=pizza&colour=red", token=customer)
    assert unknown.status_code == 422  # any other undeclared parameter is still refused


def test_the_function_answers_as_the_core_api_does_for_the_same_request(world: AzureWorld, customer: str) -> None:
    api = HttpApi(world.app.boot.service, world.app.http_api().authenticator)
    for method, path in (("GET", "/restaurants/rest-0"), ("GET", "/orders/ord-none"), ("GET", "/health")):
        via_function = world.call(method, path, token=customer)
        direct = api.handle(
            HttpRequest.build(method, path, headers={"Authorization": f"Bearer {customer}", "X-Request-Id": "r-1"})
        )
        again = world.call(method, path, token=customer, headers={"X-Request-Id": "r-1"})
        assert (via_function.status_code, again.get_body()) == (direct.status, direct.body)


def _principal(claims: list[dict[str, str]], role_typ: str = "roles") -> str:
    body = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": role_typ}
    return base64.b64encode(json.dumps(body).encode()).decode()


def test_the_platforms_principal_header_is_decoded_into_entra_claims() -> None:
    header = _principal(
        [
            {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "oid-1"},
            {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "restaurant"},
            {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "customer"},
            {"typ": "restaurant_id", "val": "rest-0"},
        ],
        role_typ="http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    )
    assert claims_from_principal(header) == {
        "oid": "oid-1",
        "roles": ["restaurant", "customer"],
        "restaurant_id": "rest-0",
    }
    assert claims_from_principal("%%% not base64") is None
    assert claims_from_principal(base64.b64encode(b'"a string"').decode()) is None


def test_the_principal_header_is_read_only_when_easy_auth_is_trusted(world: AzureWorld) -> None:
    header = _principal([{"typ": "oid", "val": "user-1"}, {"typ": "roles", "val": "customer"}])
    req = func.HttpRequest("GET", "https://x/orders/ord-1", headers={"X-MS-CLIENT-PRINCIPAL": header}, body=b"")
    assert request_from_function(req, trust_principal=False).claims is None
    assert request_from_function(req, trust_principal=True).claims == {"oid": "user-1", "roles": ["customer"]}
    # with easyauth on, the header is the caller: the customer sees their order
    object.__setattr__(world.app.settings, "auth", AuthMode.EASYAUTH)
    world.app._api = None
    order_id = world.json(
        world.call("POST", "/orders", REFERENCE_PAYLOAD, headers={"X-MS-CLIENT-PRINCIPAL": header})
    )["orderId"]
    seen: Any = world.json(world.call("GET", f"/orders/{order_id}", headers={"X-MS-CLIENT-PRINCIPAL": header}))
    assert seen["customerId"] == "user-1"
    assert world.call("GET", f"/orders/{order_id}").status_code == 401
