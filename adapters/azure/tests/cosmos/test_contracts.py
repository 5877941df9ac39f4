"""The core's contract suites (``fooddelivery.testing.contracts``) on the Cosmos DB adapters, against the stand-in."""

from __future__ import annotations

from typing import Any, cast

import pytest

from fooddelivery.testing.contracts import (
    DriverRepositoryContract,
    OrderRepositoryContract,
    RestaurantRepositoryContract,
    SagaStateStoreContract,
)
from fooddelivery_azure.cosmos import (
    CosmosDriverRepository,
    CosmosOrderRepository,
    CosmosRestaurantRepository,
    CosmosSagaStateStore,
)


class TestCosmosOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self, container: Any) -> CosmosOrderRepository:  # type: ignore[override]
        return CosmosOrderRepository(cast(Any, container("orders")))


class TestCosmosRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self, container: Any) -> CosmosRestaurantRepository:  # type: ignore[override]
        return CosmosRestaurantRepository(cast(Any, container("restaurants")))


class TestCosmosDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self, container: Any) -> CosmosDriverRepository:  # type: ignore[override]
        return CosmosDriverRepository(cast(Any, container("drivers")))


class TestCosmosSagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self, container: Any) -> CosmosSagaStateStore:  # type: ignore[override]
        return CosmosSagaStateStore(cast(Any, container("sagas")))


class TestCosmosSagaStateStoreInTheOrdersContainer(SagaStateStoreContract):
    """The deployed layout: each instance in its order's partition of the orders container."""

    @pytest.fixture
    def store(self, container: Any) -> CosmosSagaStateStore:  # type: ignore[override]
        return CosmosSagaStateStore(cast(Any, container("orders")), in_order_partition=True)
