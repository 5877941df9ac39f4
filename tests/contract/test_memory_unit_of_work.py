"""The in-memory native unit of work (``InMemoryOrderRepository.unit_of_work``): the shipped unit-of-work contract."""

from __future__ import annotations

import pytest

from fooddelivery.adapters.memory import InMemoryOrderRepository, InMemorySagaStateStore
from fooddelivery.adapters.memory.unit_of_work import InMemoryUnitOfWork
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores


class TestInMemoryUnitOfWork(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self) -> UnitOfWorkStores:
        orders, sagas = InMemoryOrderRepository(), InMemorySagaStateStore()
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, InMemoryUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)
