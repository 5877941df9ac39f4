"""An in-memory deployment of the HTTP API for end-to-end tests.

``build_world()`` bootstraps every port in memory with a :class:`VirtualClock` and sequential ids, seeds a
catalogue, and puts :class:`HttpApi` with a :class:`DevAuthenticator` in front. Requests are made as named
personas (``world.call("GET", "/orders/ord-1", as_="customer")``), each a development token:

- ``customer``: ``user-1``, who places the orders of the tests;
- ``other_customer``: ``user-2``;
- ``restaurant``: staff of ``rest-1`` (the restaurant of the orders);
- ``other_restaurant``: staff of ``rest-2``;
- ``driver``: ``drv-near``, 0.5 km from ``rest-1``, which the saga assigns;
- ``other_driver``: ``drv-far``, 40 km away, never assigned by the saga;
- ``admin``: an operator;
- None: no credentials.

``rest-1`` serves the reference payload's items (Pizza 15.99, Soda 2.99) in USD at 8.875 % tax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import Driver, DriverStatus, GeoPoint, MenuItem, Money, Order, Restaurant
from fooddelivery.http import DevAuthenticator, HttpApi, HttpRequest, HttpResponse, issue_dev_token
from fooddelivery.testing.builders import point_at

T0: Final[datetime] = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
DOWNTOWN: Final[GeoPoint] = GeoPoint(40.7128, -74.0060)
SECRET: Final[str] = "e2e-tests-development-secret-of-32+bytes"

#: The reference design's k6 payload (scripts/load-test.js), with the customer's id as userId.
REFERENCE_PAYLOAD: Final[bytes] = (
    b'{"userId": "user-1", "restaurantId": "rest-1", "items": ['
    b'{"name": "Pizza", "price": 15.99, "quantity": 1}, {"name": "Soda", "price": 2.99, "quantity": 2}], '
    b'"deliveryAddress": "123 Main St", "paymentMethod": "card"}'
)

PERSONAS: Final[dict[str, dict[str, str]]] = {
    "customer": {"role": "customer", "sub": "user-1"},
    "other_customer": {"role": "customer", "sub": "user-2"},
    "restaurant": {"role": "restaurant", "sub": "owner-1", "restaurant_id": "rest-1"},
    "other_restaurant": {"role": "restaurant", "sub": "owner-2", "restaurant_id": "rest-2"},
    "driver": {"role": "driver", "sub": "dana", "driver_id": "drv-near"},
    "other_driver": {"role": "driver", "sub": "femi", "driver_id": "drv-far"},
    "admin": {"role": "admin", "sub": "ops-1"},
}
ROLES: Final[tuple[str | None, ...]] = (*PERSONAS, None)


def _menu(currency: str = "USD", **prices: str) -> tuple[MenuItem, ...]:
    return tuple(
        MenuItem(item_id.lower(), item_id.replace("_", " "), Money.of(price, currency))
        for item_id, price in prices.items()
    )


def _restaurants() -> list[Restaurant]:
    pizza = _menu(Pizza="15.99", Soda="2.99", Tiramisu="6.50")
    return [
        Restaurant("rest-1", "Luigi's", "pizza", Decimal("4.6"), DOWNTOWN, "USD", Decimal("0.08875"), 15, pizza),
        Restaurant(
            "rest-2",
            "Sora",
            "sushi",
            Decimal("4.8"),
            point_at(DOWNTOWN, km_east=2),
            "USD",
            Decimal("0.08875"),
            25,
            _menu(Nigiri="12.00"),
        ),
        Restaurant(
            "rest-3",
            "Nonna",
            "pizza",
            Decimal("4.1"),
            point_at(DOWNTOWN, km_north=3),
            "USD",
            Decimal("0.08875"),
            20,
            _menu(Pizza="13.50"),
        ),
        Restaurant(
            "rest-4",
            "Forno",
            "pizza",
            Decimal("3.9"),
            point_at(DOWNTOWN, km_north=60),
            "USD",
            Decimal("0.08875"),
            20,
            _menu(Pizza="11.00"),
        ),
        Restaurant(
            "rest-5",
            "Crust",
            "pizza",
            Decimal("4.6"),
            point_at(DOWNTOWN, km_east=1),
            "USD",
            Decimal("0.08875"),
            20,
            _menu(Pizza="14.00"),
        ),
    ]


@dataclass
class World:
    """The bootstrapped core, the HTTP API in front of it, and helpers to call it as a persona."""

    boot: Bootstrapped
    api: HttpApi
    clock: VirtualClock

    # -- calling -------------------------------------------------------------------------------------------
    def token(self, persona: str) -> str:
        """A development token of ``persona`` issued now (virtual time), valid one hour."""
        claims = PERSONAS[persona]
        return issue_dev_token(
            claims["role"],
            claims["sub"],
            restaurant_id=claims.get("restaurant_id"),
            driver_id=claims.get("driver_id"),
            secret=SECRET,
            now=self.clock.now(),
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        as_: str | None = "customer",
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        query: str | None = None,
    ) -> HttpResponse:
        """Send one request through :meth:`HttpApi.handle` as ``as_`` (None: no credentials).

        ``json_body`` is sent as ``application/json``; ``body`` as given (with ``Content-Type:
        application/json`` unless ``headers`` names another).
        """
        all_headers: dict[str, str] = {}
        if as_ is not None:
            all_headers["Authorization"] = f"Bearer {self.token(as_)}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        return self.api.handle(HttpRequest.build(method, path, query=query, headers=all_headers, body=body))

    def place(self, payload: bytes = REFERENCE_PAYLOAD, *, as_: str = "customer", **headers: str) -> str:
        """Place an order (the reference payload by default); returns its id."""
        response = self.call("POST", "/orders", as_=as_, body=payload, headers=headers)
        assert response.status == 201, response.body
        return str(response.json()["orderId"])

    # -- state ---------------------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        """The stored order."""
        order: Order = self.boot.orders.get(order_id)
        return order

    def driver(self, driver_id: str) -> Driver:
        """The stored driver."""
        driver: Driver = self.boot.drivers.get(driver_id)
        return driver

    def set_driver(self, driver_id: str, status: DriverStatus) -> None:
        """Force a driver's availability (test set-up)."""
        driver = self.driver(driver_id)
        self.boot.drivers.save(replace(driver, status=status))

    def advance(self, seconds: float) -> int:
        """Move the virtual clock and deliver every saga timer now due; returns how many."""
        self.clock.advance(seconds)
        return self.boot.run_due()

    def footprint(self) -> tuple[Any, ...]:
        """Everything a request could have stored or published: order count and versions, outbox, bus,
        notifications, location stream, sagas, payment calls, drivers.
        """
        orders = self.boot.orders
        ids = sorted(self.boot.sagas.ids())
        return (
            len(orders),
            tuple((i, orders.get(i).version) for i in ids),
            orders.outbox_size,
            self.boot.publisher.total,
            self.boot.notifier.total,
            self.boot.location.total,
            len(self.boot.sagas),
            self.boot.payments.calls,
            tuple((d.driver_id, d.status, d.version) for d in self.boot.drivers.all_drivers()),
        )


def build_world(*, drivers_near: bool = True, **injected: Any) -> World:
    """A fresh world.

    Args:
        drivers_near: when False, ``drv-near`` starts OFFLINE (orders then wait for a driver; the saga retries
            every 30 s and fails the order after its retries).
        injected: adapters passed to :func:`bootstrap` instead of the in-memory ones.
    """
    clock = VirtualClock(T0)
    boot = bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), **injected)
    for restaurant in _restaurants():
        boot.restaurants.add(restaurant)
    boot.drivers.add(
        Driver(
            "drv-near",
            "Dana",
            DriverStatus.AVAILABLE if drivers_near else DriverStatus.OFFLINE,
            point_at(DOWNTOWN, km_north=0.5),
            "bicycle",
            T0,
        )
    )
    boot.drivers.add(Driver("drv-far", "Femi", DriverStatus.AVAILABLE, point_at(DOWNTOWN, km_north=40), "car", T0))
    api = HttpApi(boot.service, DevAuthenticator(SECRET, clock=clock))
    return World(boot, api, clock)


PROBLEM_TYPE = "urn:fooddelivery:problem:"


def assert_problem(response: HttpResponse, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status and code (and an error naming ``field``)."""
    assert response.status == status, response.body
    assert response.header("Content-Type") == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == PROBLEM_TYPE + code
    assert body["title"]
    assert body["detail"]
    assert body["requestId"] == response.header("X-Request-Id")
    assert isinstance(body["errors"], list)
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, fields
    return body
