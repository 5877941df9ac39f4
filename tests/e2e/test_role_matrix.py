"""Every role against every route, allowed and refused, as one table.

Roles (see ``_world.py``): the order's ``customer``, ``other_customer``, the order's ``restaurant``,
``other_restaurant``, the order's assigned ``driver`` (``drv-near``), ``other_driver`` (``drv-far``), ``admin``
and ``None`` (no credentials). The order is the reference payload, paid and waiting for the restaurant with
``drv-near`` assigned; for ``POST /deliveries/assign`` it has no driver yet (``drv-near`` was offline when it
was placed and is available again). A refused call leaves no trace.

Rules in short: no credentials, 401; a role that may never call a route (a customer assigning drivers or
reporting positions, anyone but a customer placing orders, anyone but a restaurant or admin rejecting) gets
403 without any order being read; otherwise someone unrelated to the order gets 404 (its existence is not
revealed) and someone related whose role may not make this change gets 403.
"""

from __future__ import annotations

import json

import pytest

from fooddelivery.domain import DriverStatus

from ._world import REFERENCE_PAYLOAD, ROLES, World, build_world

_NEW_ORDER = json.dumps({**json.loads(REFERENCE_PAYLOAD), "userId": None}).encode()

#: route -> (method, path template, body, {role: expected status}); "{id}" is the order's id.
# fmt: off
MATRIX: dict[str, tuple[str, str, bytes | None, dict[str | None, int]]] = {
    "place an order": (
        "POST", "/orders", _NEW_ORDER,
        {"customer": 201, "other_customer": 201, "restaurant": 403, "other_restaurant": 403, "driver": 403,
         "other_driver": 403, "admin": 403, None: 401},
    ),
    "list orders": (  # an admin lists by customerId or restaurantId: without either, 422
        "GET", "/orders", None,
        {"customer": 200, "other_customer": 200, "restaurant": 200, "other_restaurant": 200, "driver": 403,
         "other_driver": 403, "admin": 422, None: 401},
    ),
    "read an order": (
        "GET", "/orders/{id}", None,
        {"customer": 200, "other_customer": 404, "restaurant": 200, "other_restaurant": 404, "driver": 200,
         "other_driver": 404, "admin": 200, None: 401},
    ),
    "cancel an order": (
        "PUT", "/orders/{id}", b'{"status": "CANCELLED", "reason": "no longer wanted"}',
        {"customer": 200, "other_customer": 404, "restaurant": 200, "other_restaurant": 404, "driver": 403,
         "other_driver": 404, "admin": 200, None: 401},
    ),
    "confirm an order": (
        "PUT", "/orders/{id}", b'{"status": "CONFIRMED"}',
        {"customer": 403, "other_customer": 404, "restaurant": 200, "other_restaurant": 404, "driver": 403,
         "other_driver": 404, "admin": 200, None: 401},
    ),
    "reject an order": (
        "POST", "/orders/{id}/reject", b'{"reason": "closed"}',
        {"customer": 403, "other_customer": 403, "restaurant": 200, "other_restaurant": 404, "driver": 403,
         "other_driver": 403, "admin": 200, None: 401},
    ),
    "list restaurants": (
        "GET", "/restaurants", None,
        {"customer": 200, "other_customer": 200, "restaurant": 200, "other_restaurant": 200, "driver": 200,
         "other_driver": 200, "admin": 200, None: 401},
    ),
    "read a restaurant": (
        "GET", "/restaurants/rest-1", None,
        {"customer": 200, "other_customer": 200, "restaurant": 200, "other_restaurant": 200, "driver": 200,
         "other_driver": 200, "admin": 200, None: 401},
    ),
    "search restaurants": (
        "POST", "/restaurants/search", b'{"cuisine": "pizza"}',
        {"customer": 200, "other_customer": 200, "restaurant": 200, "other_restaurant": 200, "driver": 200,
         "other_driver": 200, "admin": 200, None: 401},
    ),
    "assign a driver": (
        "POST", "/deliveries/assign", b'{"orderId": "{id}"}',
        {"customer": 403, "other_customer": 403, "restaurant": 200, "other_restaurant": 404, "driver": 200,
         "other_driver": 200, "admin": 200, None: 401},
    ),
    "track a delivery": (
        "GET", "/deliveries/{id}/track", None,
        {"customer": 200, "other_customer": 404, "restaurant": 200, "other_restaurant": 404, "driver": 200,
         "other_driver": 404, "admin": 200, None: 401},
    ),
    "report a position": (
        "PUT", "/deliveries/{id}/location", b'{"lat": 40.72, "lon": -74.0}',
        {"customer": 403, "other_customer": 403, "restaurant": 403, "other_restaurant": 403, "driver": 200,
         "other_driver": 404, "admin": 403, None: 401},
    ),
    "read the OpenAPI document": (
        "GET", "/openapi.json", None, dict.fromkeys(ROLES, 200),
    ),
    "check health": (
        "GET", "/health", None, dict.fromkeys(ROLES, 200),
    ),
}
# fmt: on

CASES = [
    pytest.param(route, role, MATRIX[route][3][role], id=f"{route} as {role or 'anonymous'}")
    for route in MATRIX
    for role in ROLES
]


def _world_for(route: str) -> tuple[World, str]:
    if route == "assign a driver":
        world = build_world(drivers_near=False)
        order_id = world.place()
        world.set_driver("drv-near", DriverStatus.AVAILABLE)
    else:
        world = build_world()
        order_id = world.place()
    return world, order_id


@pytest.mark.parametrize(("route", "role", "expected"), CASES)
def test_each_role_is_allowed_or_refused_on_each_route(route: str, role: str | None, expected: int) -> None:
    world, order_id = _world_for(route)
    method, template, body, _ = MATRIX[route]
    path = template.replace("{id}", order_id)
    payload = body.replace(b"{id}", order_id.encode()) if body is not None else None
    before = world.footprint()

    response = world.call(method, path, as_=role, body=payload)

    assert response.status == expected, response.body
    if expected >= 400:
        assert response.header("Content-Type") == "application/problem+json"
        assert world.footprint() == before
    if expected == 401:
        assert response.header("WWW-Authenticate") == 'Bearer realm="fooddelivery"'


def test_the_matrix_covers_every_route_of_the_api() -> None:
    from fooddelivery.http import ROUTES

    covered = {(method, template.replace("{id}", "{orderId}")) for method, template, _, _ in MATRIX.values()}
    declared = {(r.method, r.path.replace("{restaurantId}", "rest-1")) for r in ROUTES}

    assert declared == covered
