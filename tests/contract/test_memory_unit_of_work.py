"""The in-memory native unit of work (``InMemoryOrderRepository.unit_of_work``): the shipped unit-of-work contract,
with the two stores' own locks and with one lock shared (as ``bootstrap`` builds them)."""

from __future__ import annotations

import threading

import pytest

from fooddelivery.adapters.memory import InMemoryOrderRepository, InMemorySagaStateStore
from fooddelivery.adapters.memory.unit_of_work import InMemoryUnitOfWork
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores


class TestInMemoryUnitOfWork(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self) -> UnitOfWorkStores:
        orders, sagas = InMemoryOrderRepository(), InMemorySagaStateStore()
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, InMemoryUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)


class TestInMemoryUnitOfWorkOnASharedLock(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self) -> UnitOfWorkStores:
        orders = InMemoryOrderRepository()
        sagas = InMemorySagaStateStore(lock=orders.lock)
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, InMemoryUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)


def test_bootstrap_gives_the_in_memory_saga_store_the_order_stores_lock() -> None:
    app = bootstrap(Settings())
    orders, sagas = app.adapters["orders"], app.adapters["sagas"]
    assert isinstance(orders, InMemoryOrderRepository) and isinstance(sagas, InMemorySagaStateStore)
    assert sagas._lock is orders.lock


def test_a_unit_of_work_over_stores_with_their_own_locks_holds_both_while_it_commits() -> None:
    orders, sagas = InMemoryOrderRepository(), InMemorySagaStateStore()
    unit = orders.unit_of_work(sagas)
    assert isinstance(unit, InMemoryUnitOfWork)
    with unit._locked:
        assert orders.lock.locked() and sagas._lock.locked()
    assert not orders.lock.locked() and not sagas._lock.locked()
    sagas._lock.acquire()  # the saga store busy: the unit waits for it (holding the order store's, in that order)
    try:
        entered = threading.Event()

        def commit_scope() -> None:
            with unit._locked:
                entered.set()

        worker = threading.Thread(target=commit_scope)
        worker.start()
        assert not entered.wait(0.05)
    finally:
        sagas._lock.release()
    worker.join(5)
    assert entered.is_set() and not orders.lock.locked() and not sagas._lock.locked()
