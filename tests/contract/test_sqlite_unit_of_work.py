"""The SQLite native unit of work (``SqliteOrderRepository.unit_of_work``): the shipped unit-of-work contract, against
a fresh database file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fooddelivery.adapters.sqlite import SqliteDatabase, SqliteOrderRepository, SqliteSagaStateStore
from fooddelivery.adapters.sqlite.unit_of_work import SqliteUnitOfWork
from fooddelivery.testing.contracts.unit_of_work_contract import OrderUnitOfWorkContract, UnitOfWorkStores


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A new database file (WAL) in the test's temporary directory, closed afterwards."""
    database = SqliteDatabase(tmp_path / "unit.db")
    yield database
    database.close()


class TestSqliteUnitOfWork(OrderUnitOfWorkContract):
    @pytest.fixture
    def stores(self, db: SqliteDatabase) -> UnitOfWorkStores:
        orders, sagas = SqliteOrderRepository(db), SqliteSagaStateStore(db)
        unit = orders.unit_of_work(sagas)
        assert isinstance(unit, SqliteUnitOfWork)
        return UnitOfWorkStores(orders, sagas, unit)

    def test_a_saga_store_on_another_database_gets_no_native_unit(self, db: SqliteDatabase, tmp_path: Path) -> None:
        other = SqliteDatabase(tmp_path / "other.db")
        try:
            assert SqliteOrderRepository(db).unit_of_work(SqliteSagaStateStore(other)) is None
        finally:
            other.close()
