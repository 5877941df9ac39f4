"""What one full order lifecycle costs in store calls on the Cosmos DB stores, against the stand-in: the native 25
with the saga instances in the orders container (as on the in-memory and SQLite stores), 30 with them in a container
of their own (the core's composed unit: earlier deployments' layout). Counted by the shipped kit's
``fooddelivery.testing.lifecycle.count_lifecycle_store_calls``; the Cosmos DB requests behind them by the adapters'
charge records.
"""

from __future__ import annotations

from typing import Any, cast

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.testing.lifecycle import (
    COMPOSED_LIFECYCLE_STORE_CALLS,
    LIFECYCLE_START,
    NATIVE_LIFECYCLE_STORE_CALLS,
    count_lifecycle_store_calls,
)
from fooddelivery_azure.cosmos import (
    CosmosDriverRepository,
    CosmosOrderRepository,
    CosmosRestaurantRepository,
    CosmosSagaStateStore,
)
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork
from fooddelivery_azure.metering import RequestChargeRecorder


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
        clock=VirtualClock(LIFECYCLE_START),
        ids=SequentialIdGenerator(),
        orders=orders,
        sagas=sagas,
        restaurants=CosmosRestaurantRepository(cast(Any, container("restaurants")), charges=charges),
        drivers=CosmosDriverRepository(cast(Any, container("drivers")), charges=charges),
    )


def _cosmos_calls(charges: RequestChargeRecorder) -> dict[str, int]:
    return {name: c.calls for name, c in charges.snapshot().items() if c.calls}


def test_a_full_lifecycle_costs_the_native_25_store_calls_with_the_sagas_in_the_orders_container(
    container: Any,
) -> None:
    charges = RequestChargeRecorder()
    app = _boot(container, sagas_in_orders=True, charges=charges)
    assert isinstance(app.adapters["unit_of_work"], CosmosUnitOfWork)
    charges.reset()
    counted = count_lifecycle_store_calls(app)
    assert dict(counted) == NATIVE_LIFECYCLE_STORE_CALLS
    assert sum(counted.values()) == 25
    # The Cosmos DB requests meanwhile (the adapters' operation names), the kit's uncounted set-up and checks
    # included (restaurants.add, drivers.add; one orders.get and one drivers.get after the delivery): one query for
    # the load, one transactional batch per commit that writes the order with its saga, and the one step that
    # changes the saga alone is its single conditional replace (sagas.save). Port calls and requests differ where
    # one port call is several requests: mark_published deletes each of the 11 events' outbox documents, and
    # available_near widens its search ring by ring (4 queries here).
    assert _cosmos_calls(charges) == {
        "units.load": 1,
        "units.commit": 4,
        "sagas.save": 1,
        "orders.get": 4 + 1,
        "orders.save": 4,
        "outbox.mark_published": 11,
        "restaurants.add": 1,
        "restaurants.get": 1,
        "drivers.add": 1,
        "drivers.available_near": 4,
        "drivers.get": 1 + 1,
        "drivers.save": 2,
    }


def test_with_the_sagas_in_a_container_of_their_own_the_composed_unit_costs_30(container: Any) -> None:
    charges = RequestChargeRecorder()
    app = _boot(container, sagas_in_orders=False, charges=charges)
    assert app.adapters["unit_of_work"].atomic is False
    counted = count_lifecycle_store_calls(app)
    assert dict(counted) == COMPOSED_LIFECYCLE_STORE_CALLS
    assert sum(counted.values()) == 30
    calls = _cosmos_calls(charges)
    assert (calls["sagas.create"], calls["sagas.save"]) == (1, 4) and "units.commit" not in calls
