"""What one full order lifecycle costs in store calls on the Firestore adapter set (the core built on the Firestore
stores against the emulator, as the conformance test builds it): the native unit of work makes it the 25 calls of
the in-memory and SQLite stores, not the 30 of a unit composed of the two ports."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.application import PlaceOrder
from fooddelivery.bootstrap import Settings, bootstrap
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
from fooddelivery.testing.lifecycle import deliver_orders
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreOrderRepository,
    FirestoreRestaurantRepository,
    FirestoreSagaStateStore,
)
from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork
from fooddelivery_gcp.metering import FirestoreMeter

START = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
#: Port methods that are store calls (as tests/contract/test_lifecycle_operations.py counts them).
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
#: One lifecycle on a native unit of work (the core's figures, tests/contract/test_lifecycle_operations.py).
NATIVE: dict[str, int] = {
    "unit_of_work.commit": 5,
    "unit_of_work.load": 1,
    "orders.get": 4,
    "orders.save": 4,
    "orders.mark_published": 6,
    "restaurants.get": 1,
    "drivers.available_near": 1,
    "drivers.save": 2,
    "drivers.get": 1,
}


def test_a_full_lifecycle_on_firestore_costs_the_25_store_calls_of_a_native_unit_of_work(
    firestore_client: Any, prefix: str
) -> None:
    meter = FirestoreMeter()
    app = bootstrap(
        Settings(),
        orders=FirestoreOrderRepository(firestore_client, prefix=prefix, meter=meter),
        restaurants=FirestoreRestaurantRepository(firestore_client, prefix=prefix, meter=meter),
        drivers=FirestoreDriverRepository(firestore_client, prefix=prefix, meter=meter),
        sagas=FirestoreSagaStateStore(firestore_client, prefix=prefix, meter=meter),
        clock=VirtualClock(START),
        ids=SequentialIdGenerator(),
    )
    assert isinstance(app.adapters["unit_of_work"], FirestoreUnitOfWork)
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
    counted: Counter[str] = Counter()
    for port, methods in STORE_CALLS.items():
        adapter = app.adapters[port]
        for name in methods:
            method = getattr(adapter, name)

            def wrapped(*args: Any, _m: Any = method, _n: str = f"{port}.{name}", **kwargs: Any) -> Any:
                counted[_n] += 1
                return _m(*args, **kwargs)

            setattr(adapter, name, wrapped)
    meter.reset()
    command = PlaceOrder("rest-1", [LineRequest(1, name="Pizza")], DeliveryAddress("1 Main St"), "tok_visa")

    [order_id] = deliver_orders(svc, [(Actor.customer("cus-1"), command)])

    made = dict(counted)
    documents = meter.snapshot()
    delivered = svc.get_order(Actor.admin(), order_id)
    assert (delivered.status, delivered.driver_id) == (OrderStatus.DELIVERED, "drv-1")
    assert app.adapters["drivers"].get("drv-1").status is DriverStatus.AVAILABLE  # the delivery freed it
    assert made == NATIVE
    assert sum(made.values()) == 25
    # Billed document operations: the same as a unit composed of the two ports (the native unit saves round trips,
    # not documents): the load reads two documents, as orders.get + sagas.get did; each commit writes what the
    # two ports' writes wrote
    assert documents == {
        "firestore.orders.reads": 5,  # the load's order + the four status changes' gets
        "firestore.sagas.reads": 1,  # the load's saga
        "firestore.orders.writes": 8,  # four of the five commits change the order, + the four saves
        "firestore.sagas.writes": 5,  # every commit writes the saga (the first creates it)
        "firestore.outbox.writes": 11,  # one record per event
        "firestore.outbox.deletes": 11,  # ... each deleted once published
        "firestore.restaurants.reads": 1,
        "firestore.drivers.reads": 5,  # the search's grid-cell queries (4) and the release's get
        "firestore.drivers.writes": 2,
    }
