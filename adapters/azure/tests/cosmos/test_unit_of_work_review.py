"""Review of the Cosmos DB native unit of work (``fooddelivery_azure.cosmos.unit_of_work``), against the stand-in:
cases the unit's own tests and the core's contract do not cover."""

from __future__ import annotations

from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError

from fooddelivery.domain.errors import ConcurrencyConflict, DuplicateRequest, InfrastructureError
from fooddelivery.domain.order import order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import make_order, make_saga_state
from fooddelivery_azure.cosmos import CosmosOrderRepository, CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import LOAD_PAGE_SIZE, CosmosUnitOfWork
from fooddelivery_azure.metering import RequestChargeRecorder


class _Throttled:
    """The orders container whose next batch is refused whole with 429 (throttled after the SDK's own retries: the
    service ran none of it), or runs and then loses its answer (``lose_next``: the SDK raises
    ``ServiceResponseError`` and does not resend a write)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.throttle_next = False
        self.lose_next = False
        self.unsent_next = False  # the connection cannot be made: azure-core's ServiceRequestError, nothing sent
        self.time_out_next = False  # a 408 without running it: an outcome the caller cannot tell from a lost one

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_item_batch(self, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        if self.throttle_next:
            self.throttle_next = False
            raise CosmosHttpResponseError(status_code=429, message="Request rate is large")
        if self.unsent_next:
            self.unsent_next = False
            raise ServiceRequestError("Failed to establish a new connection")
        if self.time_out_next:
            self.time_out_next = False
            raise CosmosHttpResponseError(status_code=408, message="Request timed out")
        result = self.inner.execute_item_batch(*args, **kwargs)
        if self.lose_next:
            self.lose_next = False
            raise ServiceResponseError("Connection aborted: the answer was lost")
        return result


def test_a_throttled_placement_whose_binding_is_elsewhere_writes_nothing_and_can_be_retried(container: Any) -> None:
    """``commit`` says "InfrastructureError: ... nothing was written". A placement whose binding is not in the order's
    partition (a caller naming its own order id: the path the contract's placement cases take) writes the binding
    alone first; when the batch then fails with anything but a refusal (429 here: nothing of it ran), the binding
    stays, and the caller's retry of the same placement is told ``DuplicateRequest`` for an order never stored."""
    orders_container = _Throttled(container("orders"))
    orders = CosmosOrderRepository(orders_container)
    unit = CosmosUnitOfWork(orders, CosmosSagaStateStore(orders_container, in_order_partition=True))
    binding = IdempotencyRecord("cus-1", "key-1", "fp-1", "ord-chosen")
    order = make_order(order_id="ord-chosen", customer_id="cus-1")

    orders_container.throttle_next = True
    with pytest.raises(InfrastructureError) as caught:
        unit.commit(make_saga_state(saga_id="ord-chosen"), order, create_saga=True, idempotency=binding)
    assert caught.value.context["retryable"] is True
    assert orders.find_idempotent("cus-1", "key-1") is None  # nothing written: the binding neither

    unit.commit(make_saga_state(saga_id="ord-chosen"), order, create_saga=True, idempotency=binding)  # the retry
    stored, saga = unit.load("ord-chosen")
    assert stored.customer_id == "cus-1" and saga is not None and saga.version == 1


def test_a_resent_placement_whose_answer_was_lost_is_refused_as_a_duplicate_or_a_conflict(container: Any) -> None:
    """The unit's docstring says a resent commit whose answer was lost "would get ConcurrencyConflict (the order's
    etag moved on)". A placement has no etag to move on: a keyed one is refused by its binding (DuplicateRequest
    naming the order), an unkeyed one by the order's create (ConcurrencyConflict); nothing is written twice."""
    orders_container = _Throttled(container("orders"))
    orders = CosmosOrderRepository(orders_container)
    unit = CosmosUnitOfWork(orders, CosmosSagaStateStore(orders_container, in_order_partition=True))
    order_id = order_id_for_key("cus-1", "key-1")
    binding = IdempotencyRecord("cus-1", "key-1", "fp-1", order_id)
    keyed = make_order(order_id=order_id, customer_id="cus-1")
    orders_container.lose_next = True
    with pytest.raises(InfrastructureError):
        unit.commit(make_saga_state(saga_id=order_id), keyed, create_saga=True, idempotency=binding)
    with pytest.raises(DuplicateRequest) as duplicate:
        unit.commit(make_saga_state(saga_id=order_id), keyed, create_saga=True, idempotency=binding)
    assert duplicate.value.resource_id == order_id

    plain = make_order(customer_id="cus-1")
    orders_container.lose_next = True
    with pytest.raises(InfrastructureError):
        unit.commit(make_saga_state(saga_id=plain.order_id), plain, create_saga=True)
    with pytest.raises(ConcurrencyConflict):
        unit.commit(make_saga_state(saga_id=plain.order_id), plain, create_saga=True)

    assert sorted(r.event.order_id for r in orders.pending()) == sorted([order_id, plain.order_id])  # once each
    assert [unit.load(i)[1].version for i in (order_id, plain.order_id)] == [1, 1]  # type: ignore[union-attr]


def test_the_same_throttled_placement_through_orders_add_leaves_no_binding_either(container: Any) -> None:
    """The unit copies ``CosmosOrderRepository.add``'s handling of a binding outside the order's partition, fault
    included (older than the unit of work): ``add`` says "InfrastructureError: the store failed or throttled" and "on
    any error the order is left untouched", yet the binding it wrote alone stays after a throttled batch."""
    orders_container = _Throttled(container("orders"))
    orders = CosmosOrderRepository(orders_container)
    binding = IdempotencyRecord("cus-1", "key-1", "fp-1", "ord-chosen")
    orders_container.throttle_next = True
    with pytest.raises(InfrastructureError):
        orders.add(make_order(order_id="ord-chosen", customer_id="cus-1"), binding)
    assert orders.find_idempotent("cus-1", "key-1") is None
    orders.add(make_order(order_id="ord-chosen", customer_id="cus-1"), binding)  # the retry
    assert orders.get("ord-chosen").customer_id == "cus-1"


@pytest.mark.parametrize("through", ["unit", "add"])
def test_a_placement_whose_batch_was_never_sent_removes_its_binding_elsewhere(container: Any, through: str) -> None:
    """The second failure that certainly ran nothing: the request was never sent (azure-core's
    ``ServiceRequestError``). The binding written alone is removed; the retry stores the order."""
    orders_container = _Throttled(container("orders"))
    orders = CosmosOrderRepository(orders_container)
    unit = CosmosUnitOfWork(orders, CosmosSagaStateStore(orders_container, in_order_partition=True))
    binding = IdempotencyRecord("cus-1", "key-1", "fp-1", "ord-chosen")

    def place() -> None:
        order = make_order(order_id="ord-chosen", customer_id="cus-1")
        if through == "unit":
            unit.commit(make_saga_state(saga_id="ord-chosen"), order, create_saga=True, idempotency=binding)
        else:
            orders.add(order, binding)

    orders_container.unsent_next = True
    with pytest.raises(InfrastructureError) as caught:
        place()
    assert caught.value.context["retryable"] is True
    assert orders.find_idempotent("cus-1", "key-1") is None
    place()
    assert orders.get("ord-chosen").customer_id == "cus-1"
    assert orders.find_idempotent("cus-1", "key-1") == binding


@pytest.mark.parametrize("through", ["unit", "add"])
@pytest.mark.parametrize("failure", ["lost", "timeout"])
def test_after_an_unknown_outcome_the_binding_elsewhere_stays(container: Any, through: str, failure: str) -> None:
    """A lost answer (the batch ran) and a 408 (here it did not run, but a caller cannot tell the two apart) leave the
    binding written alone: removing it after a batch that ran would let a retry with the same key place a second
    order. Either way the retry is refused as ``DuplicateRequest`` naming the order id the caller chose, and no
    second order is written."""
    orders_container = _Throttled(container("orders"))
    orders = CosmosOrderRepository(orders_container)
    unit = CosmosUnitOfWork(orders, CosmosSagaStateStore(orders_container, in_order_partition=True))
    binding = IdempotencyRecord("cus-1", "key-1", "fp-1", "ord-chosen")

    def place() -> None:
        order = make_order(order_id="ord-chosen", customer_id="cus-1")
        if through == "unit":
            unit.commit(make_saga_state(saga_id="ord-chosen"), order, create_saga=True, idempotency=binding)
        else:
            orders.add(order, binding)

    if failure == "lost":
        orders_container.lose_next = True
    else:
        orders_container.time_out_next = True
    with pytest.raises(InfrastructureError):
        place()
    assert orders.find_idempotent("cus-1", "key-1") == binding
    with pytest.raises(DuplicateRequest) as duplicate:
        place()
    assert duplicate.value.resource_id == "ord-chosen"
    stored = [r.event.order_id for r in orders.pending()]
    assert stored == (["ord-chosen"] if failure == "lost" else [])  # the lost batch's events once, else none


class _Paged:
    """The orders container whose queries are cut into pages of ``page`` documents (as the service may cut a page
    short), recording each query's requested page size (``max_item_count``)."""

    def __init__(self, inner: Any, page: int | None = None) -> None:
        self.inner = inner
        self.page = page
        self.requested: list[int | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def query_items(self, *args: Any, **kwargs: Any) -> Any:
        self.requested.append(kwargs.get("max_item_count"))
        if self.page is not None:
            kwargs["max_item_count"] = self.page
        return self.inner.query_items(*args, **kwargs)


def test_a_load_asks_for_pages_larger_than_what_it_can_match_and_reads_every_page(container: Any) -> None:
    """A page of exactly the two documents the load can match may end with a continuation on the real service (it
    stops at a full page), a second round trip for nothing: the load asks for ``LOAD_PAGE_SIZE`` (more than two).
    Pages cut shorter still lose nothing: every page is read, each metered as one call of ``units.load``."""
    inner = container("orders")
    charges = RequestChargeRecorder()
    paged = _Paged(inner)
    orders = CosmosOrderRepository(paged, charges=charges)
    unit = CosmosUnitOfWork(orders, CosmosSagaStateStore(paged, charges=charges, in_order_partition=True))
    order = make_order()
    unit.commit(make_saga_state(saga_id=order.order_id), order, create_saga=True)

    charges.reset()
    loaded, saga = unit.load(order.order_id)
    assert paged.requested == [LOAD_PAGE_SIZE] and LOAD_PAGE_SIZE > 2
    assert loaded.order_id == order.order_id and saga is not None and saga.version == 1
    assert charges.snapshot()["units.load"].calls == 1

    paged.page = 1  # the service cuts every page at one document
    charges.reset()
    loaded, saga = unit.load(order.order_id)
    assert loaded.order_id == order.order_id and saga is not None and saga.version == 1
    assert charges.snapshot()["units.load"].calls == 2  # two pages, two round trips, both recorded
