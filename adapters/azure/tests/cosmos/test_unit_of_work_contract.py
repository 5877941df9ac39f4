"""The core's unit-of-work contract (``fooddelivery.testing.contracts.unit_of_work_contract``) on the Cosmos DB
native unit of work, against the stand-in: the saga instances in the orders container, in their orders' partitions.

What the stand-in cannot show (``azure_stand_ins``, gap 2): it runs no conditional batch operation, so the tests'
wrapper checks a batch's preconditions before running it operation by operation. "A refused commit wrote nothing"
is therefore shown for a refusal decided by a precondition, which is every case of the contract (the race of two
commits included: both batches begin with the order's etag-conditional replace, and the stand-in applies one
replace at a time); the service's own atomicity against a failure in the middle of a batch is Cosmos DB's.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores
from fooddelivery_azure.cosmos import CosmosOrderRepository, CosmosSagaStateStore
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork


class TestCosmosUnitOfWork(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self, container: Any) -> UnitOfWorkStores:  # type: ignore[override]
        orders_container = cast(Any, container("orders"))
        orders = CosmosOrderRepository(orders_container)
        sagas = CosmosSagaStateStore(orders_container, in_order_partition=True)
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, CosmosUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)
