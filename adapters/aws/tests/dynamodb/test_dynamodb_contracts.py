"""The core's port contract suites and its conformance scenarios, unchanged, on the DynamoDB repositories.

On moto server: orders + outbox (outbox in the orders table; and again with a dedicated, 3-shard outbox table),
restaurants, drivers and saga state, the native unit of work over orders and sagas (both outbox layouts), and the
conformance scenarios over all four (which run on that unit of work). On dynalite (a second, independent
DynamoDB implementation): restaurants, drivers and saga state, whose writes are single-item conditional writes. The
order repository is NOT run on dynalite: dynalite has no TransactWriteItems, and every order write is one (see
``TestDynaliteOrderRepository``).
"""

from __future__ import annotations

from typing import Any

import pytest

from fooddelivery.domain.errors import InfrastructureError, NotFound
from fooddelivery.ports import DriverRepository, OrderRepository, Outbox, RestaurantRepository, SagaStateStore
from fooddelivery.testing.builders import make_order
from fooddelivery.testing.conformance import AdapterSet, ConformanceSuite
from fooddelivery.testing.contracts.driver_repository_contract import DriverRepositoryContract
from fooddelivery.testing.contracts.order_repository_contract import OrderRepositoryContract
from fooddelivery.testing.contracts.restaurant_repository_contract import RestaurantRepositoryContract
from fooddelivery.testing.contracts.saga_store_contract import SagaStateStoreContract
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores
from fooddelivery_aws.dynamodb import (
    DynamoDBDriverRepository,
    DynamoDBOrderRepository,
    DynamoDBRestaurantRepository,
    DynamoDBSagaStateStore,
    DynamoDBUnitOfWork,
)
from fooddelivery_aws.dynamodb.tables import DRIVERS, ORDERS, OUTBOX, RESTAURANTS, SAGAS, TableSpec


# -- moto ---------------------------------------------------------------------------------------------------
class TestMotoOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> OrderRepository:
        return DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb)

    def test_it_is_both_an_order_repository_and_an_outbox(self, repo: OrderRepository) -> None:
        assert isinstance(repo, OrderRepository)
        assert isinstance(repo, Outbox)


class TestMotoOrderRepositoryWithAShardedOutboxTable(OrderRepositoryContract):
    """The same contract with the outbox in its own table, spread over three index partitions."""

    @pytest.fixture
    def repo(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> OrderRepository:
        return DynamoDBOrderRepository(
            moto_tables[ORDERS], client=moto_dynamodb, outbox_table=moto_tables[OUTBOX], outbox_shards=3
        )


class TestMotoUnitOfWork(OrderUnitOfWorkContract):
    """The native unit of work (order + outbox + binding + saga in one TransactWriteItems, one BatchGetItem per
    load) over the orders table and the sagas table."""

    @pytest.fixture
    def stores(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> UnitOfWorkStores:
        orders = DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb)
        sagas = DynamoDBSagaStateStore(moto_tables[SAGAS], client=moto_dynamodb)
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, DynamoDBUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)


class TestMotoUnitOfWorkWithAShardedOutboxTable(OrderUnitOfWorkContract):
    """The same contract with the outbox in its own table (a transaction over three tables)."""

    @pytest.fixture
    def stores(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> UnitOfWorkStores:
        orders = DynamoDBOrderRepository(
            moto_tables[ORDERS], client=moto_dynamodb, outbox_table=moto_tables[OUTBOX], outbox_shards=3
        )
        sagas = DynamoDBSagaStateStore(moto_tables[SAGAS], client=moto_dynamodb)
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, DynamoDBUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)


class TestMotoRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> RestaurantRepository:
        return DynamoDBRestaurantRepository(moto_tables[RESTAURANTS], client=moto_dynamodb)


class TestMotoDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> DriverRepository:
        return DynamoDBDriverRepository(moto_tables[DRIVERS], client=moto_dynamodb)


class TestMotoSagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> SagaStateStore:
        return DynamoDBSagaStateStore(moto_tables[SAGAS], client=moto_dynamodb)


# -- dynalite -----------------------------------------------------------------------------------------------
class TestDynaliteRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self, dynalite_tables: dict[TableSpec, str], dynalite_dynamodb: Any) -> RestaurantRepository:
        return DynamoDBRestaurantRepository(dynalite_tables[RESTAURANTS], client=dynalite_dynamodb)


class TestDynaliteDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self, dynalite_tables: dict[TableSpec, str], dynalite_dynamodb: Any) -> DriverRepository:
        return DynamoDBDriverRepository(dynalite_tables[DRIVERS], client=dynalite_dynamodb)


class TestDynaliteSagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self, dynalite_tables: dict[TableSpec, str], dynalite_dynamodb: Any) -> SagaStateStore:
        return DynamoDBSagaStateStore(dynalite_tables[SAGAS], client=dynalite_dynamodb)


class TestDynaliteOrderRepository:
    """The order repository writes every order as one TransactWriteItems (order + outbox records + idempotency
    binding), which dynalite does not implement, so its contract suite runs on moto only (above). This test
    keeps that reason honest: the day dynalite accepts the transaction, it fails and the suite should run here.
    """

    def test_dynalite_refuses_the_transactional_write_and_nothing_is_stored(
        self, dynalite_tables: dict[TableSpec, str], dynalite_dynamodb: Any
    ) -> None:
        repo = DynamoDBOrderRepository(dynalite_tables[ORDERS], client=dynalite_dynamodb)
        order = make_order()
        with pytest.raises(InfrastructureError):
            repo.add(order)
        with pytest.raises(NotFound):
            repo.get(order.order_id)


# -- the conformance scenarios ------------------------------------------------------------------------------
class TestMotoConformance(ConformanceSuite):
    """The core's business scenarios (``fooddelivery.testing.conformance``) over the DynamoDB stores on moto."""

    adapter_set_name = "dynamodb"

    @pytest.fixture
    def adapter_set(self, moto_tables: dict[TableSpec, str], moto_dynamodb: Any) -> AdapterSet:
        return AdapterSet(
            orders=DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb),
            restaurants=DynamoDBRestaurantRepository(moto_tables[RESTAURANTS], client=moto_dynamodb),
            drivers=DynamoDBDriverRepository(moto_tables[DRIVERS], client=moto_dynamodb),
            sagas=DynamoDBSagaStateStore(moto_tables[SAGAS], client=moto_dynamodb),
        )
