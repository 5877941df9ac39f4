"""The core's conformance scenarios (``fooddelivery.testing.conformance``) on the Cosmos DB adapter set: the whole
business -- saga paths, at-least-once delivery, a crash at every saga step boundary, 50 orders racing for 5 drivers
with real etag checks, bad input, the change-stream relay -- over the four stores, against the stand-in, with the
saga instances in the orders container (the native unit of work)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from fooddelivery.testing.conformance import AdapterSet, ConformanceSuite
from fooddelivery_azure.cosmos import (
    CosmosDriverRepository,
    CosmosOrderRepository,
    CosmosRestaurantRepository,
    CosmosSagaStateStore,
)
from fooddelivery_azure.cosmos.unit_of_work import CosmosUnitOfWork


class TestCosmosConformance(ConformanceSuite):
    """The deployed layout: the saga instances in the orders container, so the order store's native unit of work
    (one query per load, one transactional batch per commit) runs every scenario."""

    adapter_set_name = "cosmos"

    @pytest.fixture
    def adapter_set(self, container: Any) -> AdapterSet:
        orders = cast(Any, container("orders"))
        adapters = AdapterSet(
            orders=CosmosOrderRepository(orders),
            restaurants=CosmosRestaurantRepository(cast(Any, container("restaurants"))),
            drivers=CosmosDriverRepository(cast(Any, container("drivers"))),
            sagas=CosmosSagaStateStore(orders, in_order_partition=True),
        )
        assert isinstance(adapters.native_unit(), CosmosUnitOfWork)
        return adapters
