"""The conformance scenarios (``fooddelivery.testing.conformance``) on the core's own adapter sets: in memory and
SQLite. The cloud packages run the same suite on theirs (DynamoDB, Cosmos DB, Firestore)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fooddelivery.adapters.memory import (
    InMemoryDriverRepository,
    InMemoryOrderRepository,
    InMemoryRestaurantRepository,
    InMemorySagaStateStore,
)
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.testing.conformance import AdapterSet, ConformanceSuite


class TestInMemoryConformance(ConformanceSuite):
    adapter_set_name = "memory"

    @pytest.fixture
    def adapter_set(self) -> AdapterSet:
        return AdapterSet(
            orders=InMemoryOrderRepository(),
            restaurants=InMemoryRestaurantRepository(),
            drivers=InMemoryDriverRepository(),
            sagas=InMemorySagaStateStore(),
        )


class TestSqliteConformance(ConformanceSuite):
    adapter_set_name = "sqlite"

    @pytest.fixture
    def adapter_set(self, tmp_path: Path) -> Iterator[AdapterSet]:
        adapters = open_sqlite_adapters(tmp_path / "conformance.db")
        try:
            yield AdapterSet(
                orders=adapters.orders,
                restaurants=adapters.restaurants,
                drivers=adapters.drivers,
                sagas=adapters.sagas,
            )
        finally:
            adapters.close()
