"""The core's conformance scenarios (``fooddelivery.testing.conformance``) on the Cosmos DB adapter set: the whole
business -- saga paths, at-least-once delivery, a crash at every saga step boundary, 50 orders racing for 5 drivers
with real etag checks, bad input, the change-stream relay -- over the four stores, against the stand-in."""

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


class TestCosmosConformance(ConformanceSuite):
    adapter_set_name = "cosmos"

    @pytest.fixture
    def adapter_set(self, container: Any) -> AdapterSet:
        return AdapterSet(
            orders=CosmosOrderRepository(cast(Any, container("orders"))),
            restaurants=CosmosRestaurantRepository(cast(Any, container("restaurants"))),
            drivers=CosmosDriverRepository(cast(Any, container("drivers"))),
            sagas=CosmosSagaStateStore(cast(Any, container("sagas"))),
        )
