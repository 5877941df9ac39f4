"""What one full order lifecycle costs in store calls on the Cosmos DB stores, against the stand-in: 25 with the saga
instances in the orders container (the native unit of work, as on the in-memory and SQLite stores), 30 with them
in a container of their own (the core's composed unit: earlier deployments' layout).

The counting is the core's (``tests/contract/test_lifecycle_operations.py``): port methods wrapped on the adapters,
one lifecycle driven by ``fooddelivery.testing.lifecycle.deliver_orders``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.application import PlaceOrder
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
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
from fooddelivery_azure.cosmos import (
    CosmosDriverRepository,
    CosmosOrderRepository,
    CosmosRestaurantRepository,
    CosmosSagaStateStore,
)
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork
from fooddelivery_azure.metering import RequestChargeRecorder

START = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
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
#: The native figures of the in-memory and SQLite stores (the core's test): the Cosmos stores make the same calls.
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


def _boot(container: Any, *, sagas_in_orders: bool, charges: RequestChargeRecorder) -> Bootstrapped:
    orders_container = cast(Any, container("orders"))
    orders = CosmosOrderRepository(orders_container, charges=charges)
    sagas = (
        CosmosSagaStateStore(orders_container, charges=charges, in_order_partition=True)
        if sagas_in_orders
        else CosmosSagaStateStore(cast(Any, container("sagas")), charges=charges)
    )
    return bootstrap(
        Settings(),
        clock=VirtualClock(START),
        ids=SequentialIdGenerator(),
        orders=orders,
        sagas=sagas,
        restaurants=CosmosRestaurantRepository(cast(Any, container("restaurants")), charges=charges),
        drivers=CosmosDriverRepository(cast(Any, container("drivers")), charges=charges),
    )


def _lifecycle(app: Bootstrapped, charges: RequestChargeRecorder) -> tuple[Counter[str], dict[str, int]]:
    """One order from placement to the door; the store calls made meanwhile, by port method, and the Cosmos DB
    calls, by the adapters' operation names (``charges`` records them)."""
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
        if port == "unit_of_work" and not adapter.atomic:
            continue  # composed of the order and saga stores' calls: those are counted
        for name in methods:
            method = getattr(adapter, name)

            def wrapped(*args: Any, _m: Any = method, _n: str = f"{port}.{name}", **kwargs: Any) -> Any:
                counted[_n] += 1
                return _m(*args, **kwargs)

            setattr(adapter, name, wrapped)
    command = PlaceOrder("rest-1", [LineRequest(1, name="Pizza")], DeliveryAddress("1 Main St"), "tok_visa")
    charges.reset()
    [order_id] = deliver_orders(svc, [(Actor.customer("cus-1"), command)])
    made = Counter(counted)
    cosmos_calls = {name: c.calls for name, c in charges.snapshot().items() if c.calls}
    delivered = svc.get_order(Actor.admin(), order_id)
    assert delivered.status is OrderStatus.DELIVERED and delivered.driver_id == "drv-1"
    assert app.adapters["drivers"].get("drv-1").status is DriverStatus.AVAILABLE  # the delivery freed it
    return made, cosmos_calls


def test_a_full_lifecycle_costs_the_native_25_store_calls_with_the_sagas_in_the_orders_container(
    container: Any,
) -> None:
    charges = RequestChargeRecorder()
    app = _boot(container, sagas_in_orders=True, charges=charges)
    assert isinstance(app.adapters["unit_of_work"], CosmosUnitOfWork)
    counted, calls = _lifecycle(app, charges)
    assert dict(counted) == NATIVE
    assert sum(counted.values()) == 25
    # what Cosmos DB was asked meanwhile (operation names of the adapters' charge records): one query for the load,
    # one transactional batch per commit that writes the order with its saga, and the one step that changes the
    # saga alone is its single conditional replace (sagas.save). Port calls and Cosmos calls differ where one port
    # call is several requests: mark_published deletes each of the 11 events' outbox documents, and available_near
    # widens its search ring by ring (4 queries here).
    assert calls == {
        "units.load": 1,
        "units.commit": 4,
        "sagas.save": 1,
        "orders.get": 4,
        "orders.save": 4,
        "outbox.mark_published": 11,
        "restaurants.get": 1,
        "drivers.available_near": 4,
        "drivers.get": 1,
        "drivers.save": 2,
    }


def test_with_the_sagas_in_a_container_of_their_own_the_composed_unit_costs_30(container: Any) -> None:
    charges = RequestChargeRecorder()
    app = _boot(container, sagas_in_orders=False, charges=charges)
    assert app.adapters["unit_of_work"].atomic is False
    counted, calls = _lifecycle(app, charges)
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
    assert calls["sagas.save"] == 4 and calls["sagas.create"] == 1 and "units.commit" not in calls
