"""Every example in the OpenAPI document works on ``fooddelivery serve --demo``: each operation that has one is
called with its examples (request body, query and path parameters) by a role that may call it, and succeeds.

Order ids are minted per order, so the document has no example for them: the test places orders (with the
document's own ``POST /orders`` example) and uses their ids.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from ._live import LiveServer, placed_and_settled, token
from .conftest import StartServer

#: operationId -> who calls it ("customer", "restaurant" of rest-0, "driver" of the order).
CALLERS = {
    "create_order": "customer",
    "list_orders": "restaurant",
    "change_order_status": "restaurant",
    "reject_order": "restaurant",
    "list_restaurants": "customer",
    "get_restaurant": "customer",
    "search_restaurants": "customer",
    "update_location": "driver",
}


def _query(operation: dict[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for param in operation.get("parameters", []):
        if param["in"] != "query" or "example" not in param:
            continue
        example = param["example"]
        if isinstance(example, dict):  # an exploded object parameter: its properties are the parameters
            pairs += [(k, str(v)) for k, v in example.items()]
        else:
            pairs.append((param["name"], str(example)))
    return urlencode(pairs)


def _place(server: LiveServer, customer: str, body: dict[str, Any]) -> dict[str, Any]:
    _, settled = placed_and_settled(server, customer, body)  # the saga assigns a driver just after the answer
    return dict(settled)


def test_every_example_of_the_document_works_on_the_demo_server(start_server: StartServer) -> None:
    server = start_server("--demo", "--log-level", "warning")
    document = server.request("GET", "/openapi.json").json()
    customer = token("customer", "user-1")
    restaurant = token("restaurant", "owner-0", "--restaurant-id", "rest-0")
    order_example = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    to_confirm, to_reject = _place(server, customer, order_example), _place(server, customer, order_example)
    assert to_confirm["restaurantId"] == "rest-0" and to_confirm["driverId"]
    driver = token("driver", "courier-1", "--driver-id", to_confirm["driverId"])
    tokens = {"customer": customer, "restaurant": restaurant, "driver": driver}

    called = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            query = _query(operation)
            if body is None and not query and not any("example" in p for p in operation.get("parameters", [])):
                continue
            op = operation["operationId"]
            order_id = to_reject["orderId"] if op == "reject_order" else to_confirm["orderId"]
            url = path.replace("{orderId}", order_id)
            for param in operation.get("parameters", []):
                if param["in"] == "path" and "example" in param:
                    url = url.replace("{" + param["name"] + "}", param["example"])
            if query:
                url += "?" + query
            response = server.request(method.upper(), url, token=tokens[CALLERS[op]], json_body=body)
            called.append(op)
            assert 200 <= response.status < 300, f"{method.upper()} {url} {json.dumps(body)}: {response.body!r}"

    assert sorted(called) == sorted(CALLERS), called
    assert server.stop() == 0
