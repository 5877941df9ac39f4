"""What one full order lifecycle costs in store calls on the Firestore adapter set (the core built on the Firestore
stores against the emulator, as the conformance test builds it): the native unit of work makes it the 25 calls of
the in-memory and SQLite stores, not the 30 of a unit composed of the two ports."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.testing.lifecycle import (
    LIFECYCLE_START,
    NATIVE_LIFECYCLE_STORE_CALLS,
    count_lifecycle_store_calls,
)
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreOrderRepository,
    FirestoreRestaurantRepository,
    FirestoreSagaStateStore,
    FirestoreUnitOfWork,
)
from fooddelivery_gcp.metering import FirestoreMeter


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
        clock=VirtualClock(LIFECYCLE_START),
        ids=SequentialIdGenerator(),
    )
    assert isinstance(app.adapters["unit_of_work"], FirestoreUnitOfWork)
    meter.reset()
    calls = count_lifecycle_store_calls(app)  # adds rest-1 and drv-1 (uncounted), delivers one order, checks it
    documents = meter.snapshot()

    assert calls == Counter(NATIVE_LIFECYCLE_STORE_CALLS)
    assert sum(calls.values()) == 25
    # Billed document operations of the lifecycle, with the kit's set-up (adding the restaurant and the driver) and
    # its checks after the delivery (reading the order and the driver back). The native unit saves round trips, not
    # documents: its load reads two documents, as orders.get + sagas.get did, and each commit writes what the two
    # ports' writes wrote; so these are the figures of the unit composed of the two ports too.
    assert documents == {
        "firestore.orders.reads": 6,  # the load's order, the four status changes' gets, the kit's check
        "firestore.sagas.reads": 1,  # the load's saga
        "firestore.orders.writes": 8,  # four of the five commits change the order, + the four saves
        "firestore.sagas.writes": 5,  # every commit writes the saga (the first creates it)
        "firestore.outbox.writes": 11,  # one record per event
        "firestore.outbox.deletes": 11,  # ... each deleted once published
        "firestore.restaurants.writes": 1,  # the kit adds it
        "firestore.restaurants.reads": 1,  # the placement
        "firestore.drivers.writes": 3,  # the kit adds it; the reservation; the release
        "firestore.drivers.reads": 6,  # the search's grid-cell queries (4 reads), the release's get, the kit's check
    }
