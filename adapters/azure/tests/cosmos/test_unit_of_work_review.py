"""Review of the Cosmos DB native unit of work (``fooddelivery_azure.cosmos.unit_of_work``), against the stand-in:
cases the unit's own tests and the core's contract do not cover."""

from __future__ import annotations

from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import make_order, make_saga_state
from fooddelivery_azure.cosmos import CosmosOrderRepository, CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork


class _Throttled:
    """The orders container whose next batch is refused whole with 429 (throttled after the SDK's own retries):
    the service ran none of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.throttle_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_item_batch(self, *args: Any, **kwargs: Any) -> Any:
        if self.throttle_next:
            self.throttle_next = False
            raise CosmosHttpResponseError(status_code=429, message="Request rate is large")
        return self.inner.execute_item_batch(*args, **kwargs)


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
