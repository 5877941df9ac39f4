"""The native unit of work on Cosmos DB (``fooddelivery_azure.cosmos.unit_of_work``), against the stand-in: which
layouts get it, one call per load and per commit, and nothing of either side written when the other's condition
fails.

The stand-in runs no conditional batch operation (gap 2 of ``azure_stand_ins``): a batch with a ``replace`` goes
through the tests' wrapper, which checks every operation's precondition before running any. So "nothing written on
a refusal" is shown here for one batch against one writer; the service's atomicity under concurrent writers is
Cosmos DB's, not exercised offline.
"""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.application.unit_of_work import ComposedUnitOfWork, unit_of_work_for
from fooddelivery.domain.errors import ConcurrencyConflict, DuplicateRequest, InfrastructureError, NotFound
from fooddelivery.domain.order import Order, OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.testing.builders import advance, make_order, make_saga_state
from fooddelivery_azure.cosmos import CosmosOrderRepository, CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork
from fooddelivery_azure.metering import RequestChargeRecorder


@pytest.fixture
def charges() -> RequestChargeRecorder:
    return RequestChargeRecorder()


@pytest.fixture
def orders_container(container: Any) -> Any:
    return container("orders")


@pytest.fixture
def orders(orders_container: Any, charges: RequestChargeRecorder) -> CosmosOrderRepository:
    return CosmosOrderRepository(orders_container, charges=charges)


@pytest.fixture
def sagas(orders_container: Any, charges: RequestChargeRecorder) -> CosmosSagaStateStore:
    return CosmosSagaStateStore(orders_container, charges=charges, in_order_partition=True)


@pytest.fixture
def unit(orders: CosmosOrderRepository, sagas: CosmosSagaStateStore) -> CosmosUnitOfWork:
    built = orders.unit_of_work(sagas)
    assert isinstance(built, CosmosUnitOfWork)
    return built


def _calls(charges: RequestChargeRecorder) -> dict[str, int]:
    return {name: c.calls for name, c in charges.snapshot().items() if c.calls}


def _placed(unit: CosmosUnitOfWork, charges: RequestChargeRecorder) -> tuple[Any, Any]:
    order = make_order()
    saga = make_saga_state(saga_id=order.order_id)
    unit.commit(saga, order, create_saga=True)
    charges.reset()
    return order, saga


def _placed_and_loaded(unit: CosmosUnitOfWork, charges: RequestChargeRecorder) -> tuple[Order, SagaState]:
    """An order placed with its saga (see :func:`_placed`), then both loaded through ``unit`` (their etags known to
    the unit; the load's call recorded in ``charges``)."""
    order, _ = _placed(unit, charges)
    loaded, saga = unit.load(order.order_id)
    assert saga is not None
    return loaded, saga


def test_only_sagas_in_the_orders_containers_order_partitions_get_the_native_unit(
    container: Any, orders: CosmosOrderRepository, sagas: CosmosSagaStateStore
) -> None:
    assert isinstance(unit_of_work_for(orders, sagas), CosmosUnitOfWork)
    assert unit_of_work_for(orders, sagas).atomic is True
    separate = CosmosSagaStateStore(container("sagas"))  # the earlier layout: a container of their own
    assert orders.unit_of_work(separate) is None
    assert isinstance(unit_of_work_for(orders, separate), ComposedUnitOfWork)
    # the orders container, but the own-container layout (ids, partition key field): not the native unit either
    assert orders.unit_of_work(CosmosSagaStateStore(orders.container)) is None
    with pytest.raises(ValueError):
        CosmosUnitOfWork(orders, separate)


def test_a_placement_with_its_saga_is_one_batch_and_a_load_one_query(
    unit: CosmosUnitOfWork, orders: CosmosOrderRepository, sagas: CosmosSagaStateStore, charges: Any
) -> None:
    order = make_order()
    saga = make_saga_state(saga_id=order.order_id)
    unit.commit(saga, order, create_saga=True)
    assert _calls(charges) == {"units.commit": 1}
    assert (order.persisted_version, order.pending_events, saga.version) == (1, [], 1)
    assert order.concurrency_token is not None

    charges.reset()
    loaded, loaded_saga = unit.load(order.order_id)
    assert _calls(charges) == {"units.load": 1}
    assert charges.snapshot()["units.load"].request_units == 1.0  # the stand-in's flat charge, recorded
    assert loaded.order_id == order.order_id and loaded.persisted_version == 1
    assert loaded.concurrency_token == order.concurrency_token
    assert loaded_saga is not None and loaded_saga.version == 1 and loaded_saga.data == saga.data
    # the same documents through each store's own port, and the outbox holds the placement's event only
    assert sagas.get(order.order_id).current == saga.current
    assert orders.get(order.order_id).status is OrderStatus.PENDING
    assert [r.event.type.value for r in orders.pending()] == ["OrderPlaced"]


def test_a_step_writes_order_events_and_saga_in_one_batch_then_loads_them_back(
    unit: CosmosUnitOfWork, orders: CosmosOrderRepository, charges: Any
) -> None:
    loaded, loaded_saga = _placed_and_loaded(unit, charges)
    advance(loaded, OrderStatus.CONFIRMED)
    loaded_saga.current = "Done"
    charges.reset()
    unit.commit(loaded_saga, loaded)
    assert _calls(charges) == {"units.commit": 1}  # the saga's etag was known from the load: no read first
    assert (loaded.persisted_version, loaded_saga.version) == (2, 2)
    again, again_saga = unit.load(loaded.order_id)
    assert again.status is OrderStatus.CONFIRMED and again_saga is not None and again_saga.current == "Done"
    assert [r.event.type.value for r in orders.pending()] == ["OrderPlaced", "OrderStatusChanged"]


def test_a_lost_race_on_the_saga_writes_nothing_of_the_order(
    unit: CosmosUnitOfWork, orders: CosmosOrderRepository, sagas: CosmosSagaStateStore, charges: Any
) -> None:
    loaded, stale_saga = _placed_and_loaded(unit, charges)
    winner = sagas.get(loaded.order_id)
    winner.current = "Winner"
    sagas.save(winner)  # someone else advanced the saga
    advance(loaded, OrderStatus.CONFIRMED)
    with pytest.raises(ConcurrencyConflict):
        unit.commit(stale_saga, loaded)
    assert loaded.persisted_version == 1 and len(loaded.pending_events) == 1  # left as it was
    stored, stored_saga = unit.load(loaded.order_id)
    assert stored.status is OrderStatus.PENDING and stored.persisted_version == 1
    assert stored_saga is not None and stored_saga.current == "Winner"
    assert [r.event.type.value for r in orders.pending()] == ["OrderPlaced"]


def test_a_lost_race_on_the_order_writes_nothing_of_the_saga(
    unit: CosmosUnitOfWork, orders: CosmosOrderRepository, charges: Any
) -> None:
    loaded, saga = _placed_and_loaded(unit, charges)
    winner = orders.get(loaded.order_id)
    advance(winner, OrderStatus.CONFIRMED)
    orders.save(winner)
    advance(loaded, OrderStatus.CONFIRMED)
    saga.current = "Loser"
    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga, loaded)
    assert saga.version == 1
    _, stored_saga = unit.load(loaded.order_id)
    assert stored_saga is not None and stored_saga.version == 1 and stored_saga.current != "Loser"


def test_a_replayed_placement_creates_nothing_and_names_the_first_order(unit: CosmosUnitOfWork, charges: Any) -> None:
    customer, key = "cus-1", "key-1"
    order_id = order_id_for_key(customer, key)
    binding = IdempotencyRecord(customer, key, "fp-1", order_id)
    first = make_order(order_id=order_id, customer_id=customer)
    unit.commit(make_saga_state(saga_id=order_id), first, create_saga=True, idempotency=binding)
    assert _calls(charges) == {"units.commit": 1}  # the binding is in the order's partition: the same batch
    replay = make_order(order_id=order_id, customer_id=customer)
    with pytest.raises(DuplicateRequest) as caught:
        unit.commit(make_saga_state(saga_id=order_id), replay, create_saga=True, idempotency=binding)
    assert caught.value.resource_id == order_id


def test_a_saga_created_twice_is_a_conflict_and_its_order_is_not_written(
    unit: CosmosUnitOfWork, orders: CosmosOrderRepository, sagas: CosmosSagaStateStore, charges: Any
) -> None:
    order = make_order()
    sagas.create(make_saga_state(saga_id=order.order_id))  # the saga exists, the order does not
    with pytest.raises(ConcurrencyConflict):
        unit.commit(make_saga_state(saga_id=order.order_id), order, create_saga=True)
    with pytest.raises(NotFound):
        orders.get(order.order_id)
    assert orders.pending() == []


def test_loading_an_order_without_saga_or_a_missing_order(unit: CosmosUnitOfWork, orders: Any, charges: Any) -> None:
    order = make_order()
    orders.add(order)
    loaded, saga = unit.load(order.order_id)
    assert loaded.order_id == order.order_id and saga is None
    with pytest.raises(NotFound):
        unit.load("ord-missing")


def test_one_sided_commits_are_each_stores_single_write(
    unit: CosmosUnitOfWork, sagas: CosmosSagaStateStore, charges: Any
) -> None:
    loaded, loaded_saga = _placed_and_loaded(unit, charges)
    charges.reset()
    loaded_saga.current = "Next"
    unit.commit(loaded_saga, loaded)  # the order did not change: the saga alone
    assert _calls(charges) == {"sagas.save": 1}
    charges.reset()
    advance(loaded, OrderStatus.CONFIRMED)
    unit.commit(None, loaded)  # no saga: the order alone
    assert _calls(charges) == {"orders.save": 1}
    assert sagas.get(loaded.order_id).version == 2


def test_a_saga_read_elsewhere_costs_one_read_before_the_batch(
    unit: CosmosUnitOfWork, orders_container: Any, charges: Any
) -> None:
    order, _ = _placed(unit, charges)
    other = CosmosUnitOfWork(
        CosmosOrderRepository(orders_container, charges=charges),
        CosmosSagaStateStore(orders_container, charges=charges, in_order_partition=True),
    )
    loaded, saga = unit.load(order.order_id)
    assert saga is not None
    advance(loaded, OrderStatus.CONFIRMED)
    charges.reset()
    other.commit(saga, loaded)  # this process never read that saga: its etag is looked up first
    assert _calls(charges) == {"units.commit.read": 1, "units.commit": 1}
    assert other.load(order.order_id)[1] is not None


class _AnswerLost:
    """The orders container whose next batch runs in the store and then loses its answer (a connection reset after
    the service committed it): the SDK raises ``ServiceResponseError`` and, for a write, does not resend it (it
    resends writes only with ``retry_write`` / ``RetryNonIdempotentWrites``, off by default)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lose_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_item_batch(self, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import ServiceResponseError

        result = self.inner.execute_item_batch(*args, **kwargs)
        if self.lose_next:
            self.lose_next = False
            raise ServiceResponseError("Connection aborted: the answer was lost")
        return result


def test_a_commit_whose_answer_is_lost_is_retryable_and_its_retry_applies_nothing_twice(container: Any) -> None:
    lossy = _AnswerLost(container("orders"))
    unit = CosmosUnitOfWork(CosmosOrderRepository(lossy), CosmosSagaStateStore(lossy, in_order_partition=True))
    order = make_order()
    unit.commit(make_saga_state(saga_id=order.order_id), order, create_saga=True)
    loaded, saga = unit.load(order.order_id)
    assert saga is not None
    advance(loaded, OrderStatus.CONFIRMED)
    saga.current = "Confirmed"
    lossy.lose_next = True
    with pytest.raises(InfrastructureError) as caught:
        unit.commit(saga, loaded)
    assert caught.value.context["retryable"] is True
    assert (loaded.persisted_version, len(loaded.pending_events), saga.version) == (1, 1, 1)  # not marked written
    # it was written, once: the order, its event and the saga together
    stored, stored_saga = unit.load(order.order_id)
    assert stored.status is OrderStatus.CONFIRMED and stored_saga is not None and stored_saga.current == "Confirmed"
    # the same commit again (a caller retrying blindly) is refused whole: the order's etag moved on
    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga, loaded)
    assert [r.event.type.value for r in unit.orders.pending()] == ["OrderPlaced", "OrderStatusChanged"]
    assert unit.load(order.order_id)[1].version == 2  # type: ignore[union-attr]
