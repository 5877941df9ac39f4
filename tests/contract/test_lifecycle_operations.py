"""What one full order lifecycle costs in store calls, on each adapter set: one unit of work per command and per saga
step (place -> pay, notify, assign -> wait -> confirm -> prepare -> ready -> pick up -> deliver)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application import PlaceOrder
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)
from fooddelivery.testing.lifecycle import AdapterSet, boot_adapter_set, deliver_orders

START = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
#: Port methods that are store calls (a round trip to a deployment's stores).
STORE_CALLS = {
    "orders": (
        "add",
        "get",
        "save",
        "find_idempotent",
        "list_by_customer",
        "list_by_restaurant",
        "pending",
        "mark_published",
        "mark_failed",
    ),
    "unit_of_work": ("load", "commit"),
    "sagas": ("create", "get", "save"),
    "drivers": ("add", "get", "save", "available_near"),
    "restaurants": ("add", "get", "save", "search"),
}
#: One lifecycle on a native unit of work, call by call.
NATIVE: dict[str, int] = {
    "unit_of_work.commit": 5,  # placement with its saga; payment + restaurant notice + driver checkpoint; the
    # wait with the driver and the customer notice; the confirmation; the confirmed order with its notice
    "unit_of_work.load": 1,  # the restaurant's confirmation reads the order with its saga
    "orders.get": 4,  # the four status changes read the order
    "orders.save": 4,  # ... and write it
    "orders.mark_published": 6,  # one per command: place, confirm, four status changes
    "restaurants.get": 1,  # the placement reads the restaurant (the driver search reuses it)
    "drivers.available_near": 1,
    "drivers.save": 2,  # the reservation; the release after the delivery
    "drivers.get": 1,  # the release reads the driver first
}


def _lifecycle(app: Any, counted: Counter[str]) -> None:
    """One order from placement to the door, counting the store calls made meanwhile (only)."""
    svc = app.service
    svc.restaurants.add(
        Restaurant(
            "rest-1",
            "Trattoria",
            "pizza",
            Decimal("4.5"),
            GeoPoint(40.7128, -74.0060),
            "USD",
            Decimal("0.08875"),
            15,
            (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),),
        )
    )
    svc.drivers.add(Driver("drv-1", "Dana", DriverStatus.AVAILABLE, GeoPoint(40.715, -74.002), "scooter", START))
    for port, methods in STORE_CALLS.items():
        adapter = app.adapters[port]
        if port == "unit_of_work" and not adapter.atomic:
            continue  # composed of the order and saga stores' calls: those are counted
        for name in methods:
            method = getattr(adapter, name)

            def wrapped(*args: Any, _m: Any = method, _n: str = f"{port}.{name}", **kwargs: Any) -> Any:
                counted[_n] += 1
                return _m(*args, **kwargs)

            setattr(adapter, name, wrapped)
    command = PlaceOrder("rest-1", [LineRequest(1, name="Pizza")], DeliveryAddress("1 Main St"), "tok_visa")
    [order_id] = deliver_orders(svc, [(Actor.customer("cus-1"), command)])
    made = Counter(counted)
    delivered = svc.get_order(Actor.admin(), order_id)
    assert delivered.driver_id == "drv-1"
    assert app.adapters["drivers"].get("drv-1").status is DriverStatus.AVAILABLE  # the delivery freed it
    assert delivered.status is OrderStatus.DELIVERED
    counted.clear()
    counted.update(made)


def _boot(stores: AdapterSet, tmp_path: Path) -> Any:
    return boot_adapter_set(stores, clock=VirtualClock(START), sqlite_path=tmp_path / "ops.db")


@pytest.mark.parametrize("stores", ["memory", "sqlite"])
def test_a_full_lifecycle_costs_25_store_calls_on_a_native_unit_of_work(stores: AdapterSet, tmp_path: Path) -> None:
    app = _boot(stores, tmp_path)
    counted: Counter[str] = Counter()
    _lifecycle(app, counted)
    assert dict(counted) == NATIVE
    assert sum(counted.values()) == 25


def test_a_unit_of_work_composed_of_the_two_ports_costs_30_store_calls(tmp_path: Path) -> None:
    # what a cloud store costs until it implements the unit of work natively: each commit that changes the order
    # is an order write and a saga write; the placement is not combined with the saga's creation
    app = _boot("composed", tmp_path)
    counted: Counter[str] = Counter()
    _lifecycle(app, counted)
    assert dict(counted) == {
        "orders.add": 1,
        "orders.get": 5,
        "orders.save": 7,
        "orders.mark_published": 6,
        "sagas.create": 1,
        "sagas.get": 1,
        "sagas.save": 4,
        "restaurants.get": 1,
        "drivers.available_near": 1,
        "drivers.save": 2,
        "drivers.get": 1,
    }
    assert sum(counted.values()) == 30
