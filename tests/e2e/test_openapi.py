"""GET /openapi.json: a valid OpenAPI 3.1 document, generated from the models that validate and serialize, that
describes what the API really answers.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate
from referencing.jsonschema import DRAFT202012 as DRAFT

from fooddelivery.domain.catalog import ID_PATTERN, MAX_ID_LENGTH, check_id
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.order import TRANSITIONS, OrderStatus
from fooddelivery.http.models import (
    NOT_BLANK,
    OrderOut,
    ProblemOut,
    RestaurantDetailOut,
    RestaurantPageOut,
    TrackingOut,
)

from ._world import World

#: The reference design's nine routes (SAM template), with their methods.
REFERENCE_ROUTES = {
    ("post", "/orders"),
    ("get", "/orders/{orderId}"),
    ("put", "/orders/{orderId}"),
    ("get", "/restaurants"),
    ("get", "/restaurants/{restaurantId}"),
    ("post", "/restaurants/search"),
    ("post", "/deliveries/assign"),
    ("get", "/deliveries/{orderId}/track"),
    ("put", "/deliveries/{orderId}/location"),
}


@pytest.fixture
def document(world: World) -> dict[str, Any]:
    response = world.call("GET", "/openapi.json", as_=None)
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    doc: dict[str, Any] = response.json()
    return doc


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)

    assert document["openapi"] == "3.1.0"


def test_the_document_declares_the_nine_reference_routes_with_the_same_methods(document: dict[str, Any]) -> None:
    declared = {(method, path) for path, operations in document["paths"].items() for method in operations}

    assert declared >= REFERENCE_ROUTES
    assert declared - REFERENCE_ROUTES == {
        ("get", "/orders"),
        ("post", "/orders/{orderId}/reject"),
        ("get", "/openapi.json"),
        ("get", "/health"),
    }


def test_every_reference_resolves_to_a_component_schema(document: dict[str, Any]) -> None:
    refs = set(_refs(document))
    schemas = document["components"]["schemas"]

    assert refs
    assert all(ref.startswith("#/components/schemas/") for ref in refs)
    assert {ref.rsplit("/", 1)[1] for ref in refs} <= set(schemas)


def test_the_order_body_schema_is_strict_camel_case_with_exact_decimal_prices(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    body = schemas["PlaceOrderIn"]
    item = schemas["OrderItemIn"]

    assert body["additionalProperties"] is False
    assert set(body["properties"]) == {
        "userId",
        "restaurantId",
        "items",
        "deliveryAddress",
        "paymentMethod",
        "tip",
        "promoCode",
    }
    assert set(body["required"]) == {"restaurantId", "items", "deliveryAddress", "paymentMethod"}
    assert body["properties"]["deliveryAddress"]["anyOf"][0] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 500,
        "pattern": NOT_BLANK,
    }
    price = item["properties"]["price"]["anyOf"][0]["anyOf"]
    assert {"type": "number"} in price
    assert item["properties"]["quantity"] == {"maximum": 99, "minimum": 1, "title": "Quantity", "type": "integer"}


def test_every_operation_documents_its_errors_as_problem_details(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if (path, status) == ("/health", "503"):  # degraded: the health body itself, saying what fails
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/HealthOut"}
                elif int(status) >= 400:
                    schema = response["content"]["application/problem+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ProblemOut"}, (method, path, status)


def test_credentials_are_required_except_for_health_and_the_document(document: dict[str, Any]) -> None:
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    open_operations = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == []
    }
    assert open_operations == {("get", "/health"), ("get", "/openapi.json")}


def test_place_order_documents_201_with_location_and_the_idempotent_200(document: dict[str, Any]) -> None:
    operation = document["paths"]["/orders"]["post"]

    assert "Location" in operation["responses"]["201"]["headers"]
    assert "200" in operation["responses"]
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]


def test_real_responses_match_the_documented_models(world: World) -> None:
    order_id = world.place()

    assert OrderOut.model_validate(world.call("GET", f"/orders/{order_id}").json()).order_id == order_id
    assert TrackingOut.model_validate(world.call("GET", f"/deliveries/{order_id}/track").json())
    assert RestaurantPageOut.model_validate(world.call("GET", "/restaurants").json()).items
    assert RestaurantDetailOut.model_validate(world.call("GET", "/restaurants/rest-1").json()).menu
    problem = ProblemOut.model_validate(world.call("GET", "/orders/none").json())
    assert (problem.status, problem.code) == (404, "not_found")


def test_the_document_is_built_once_and_served_from_memory(world: World) -> None:
    first = world.call("GET", "/openapi.json", as_=None)
    second = world.call("GET", "/openapi.json", as_=None)

    assert first.body is second.body
    assert first.header("Cache-Control") == "public, max-age=300"


# -- the document tells the truth: every rule the server enforces that OpenAPI can say ----------------------------
def test_every_path_id_states_the_rule_the_server_enforces(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    assert param["schema"]["pattern"] == ID_PATTERN, (path, param["name"])
                    assert param["schema"]["maxLength"] == MAX_ID_LENGTH
    pattern = re.compile(ID_PATTERN)
    for value in ["ord-1", "café-東京-😀", "with space", "a:b@c", "a/b", "a\nb", "a\u2028b", "tab\there", "x\x9fy"]:
        try:
            check_id(value, "id")
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == (pattern.match(value) is not None), value


def test_fields_that_go_together_or_either_one_are_stated(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert schemas["AddressIn"]["anyOf"][0]["required"] == ["lat", "lon"]
    assert schemas["SearchRestaurantsIn"]["anyOf"][0]["required"] == ["near", "radiusKm"]
    assert [alt["required"] for alt in schemas["OrderItemIn"]["anyOf"]] == [["itemId"], ["name"]]
    nearby = next(
        p for p in document["paths"]["/restaurants"]["get"]["parameters"] if p["name"] == "nearby"
    )
    assert (nearby["style"], nearby["explode"]) == ("form", True)
    assert set(nearby["schema"]["properties"]) == {"near", "radiusKm"}
    assert nearby["schema"]["anyOf"][0] == {"required": ["near", "radiusKm"]}


def test_every_operation_says_who_may_call_it(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["description"].startswith("**"), (method, path)


def test_the_status_change_operation_carries_the_lifecycle_table_generated_from_the_domain(
    document: dict[str, Any],
) -> None:
    description = document["paths"]["/orders/{orderId}"]["put"]["description"]
    rows = [line for line in description.splitlines() if line.startswith("| ") and "---" not in line][1:]

    assert len(rows) == len(TRANSITIONS)
    for (source, target), roles in TRANSITIONS.items():
        cells = next(r for r in rows if r.startswith(f"| {source.value} | {target.value} |")).split("|")[3:-1]
        allowed = {role.value for role in roles} | ({"restaurant"} if target is OrderStatus.CONFIRMED else set())
        for role, cell in zip(("customer", "restaurant", "driver", "admin"), cells, strict=True):
            assert cell.strip() == ("yes" if role in allowed else "-"), (source, target, role)


def test_every_example_is_valid_under_its_own_schema(document: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resource("urn:doc", Resource.from_contents(document, default_specification=DRAFT))
    checked = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            pairs = [(body["schema"], body["example"])] if "example" in body else []
            pairs += [(p["schema"], p["example"]) for p in operation.get("parameters", []) if "example" in p]
            for schema, example in pairs:
                resolved = json.loads(json.dumps(schema).replace('"#/components', '"urn:doc#/components'))
                Draft202012Validator(resolved, registry=registry).validate(example)
                checked += 1
    assert checked >= 10
