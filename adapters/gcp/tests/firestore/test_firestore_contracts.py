"""The core's port contract suites on the Firestore adapters, against the official Firestore emulator."""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.testing.contracts import (
    DriverRepositoryContract,
    OrderRepositoryContract,
    RestaurantRepositoryContract,
    SagaStateStoreContract,
)
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreOrderRepository,
    FirestoreRestaurantRepository,
    FirestoreSagaStateStore,
)


class TestFirestoreOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self, firestore_client: Any, prefix: str) -> FirestoreOrderRepository:
        return FirestoreOrderRepository(firestore_client, prefix=prefix)


class TestFirestoreRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self, firestore_client: Any, prefix: str) -> FirestoreRestaurantRepository:
        return FirestoreRestaurantRepository(firestore_client, prefix=prefix)


class TestFirestoreDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self, firestore_client: Any, prefix: str) -> FirestoreDriverRepository:
        return FirestoreDriverRepository(firestore_client, prefix=prefix)


class TestFirestoreSagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self, firestore_client: Any, prefix: str) -> FirestoreSagaStateStore:
        return FirestoreSagaStateStore(firestore_client, prefix=prefix)


class TestFirestoreUnitOfWork(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self, firestore_client: Any, prefix: str) -> UnitOfWorkStores:
        orders = FirestoreOrderRepository(firestore_client, prefix=prefix)
        sagas = FirestoreSagaStateStore(firestore_client, prefix=prefix)
        unit = orders.unit_of_work(sagas)
        assert unit is not None
        return UnitOfWorkStores(orders, sagas, unit)
