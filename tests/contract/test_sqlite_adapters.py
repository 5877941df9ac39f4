"""The SQLite adapters: every port contract suite, unchanged, against a fresh database file per test.

``Clock`` and ``IdGenerator`` have no SQLite adapter (time and ids are not stored), so their suites run against
the in-memory adapters only. What only SQLite has (persistence across a reopen, concurrent threads, WAL, a saga
across a restart) is in ``tests/sqlite``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.adapters.sqlite import (
    SqliteDatabase,
    SqliteDriverRepository,
    SqliteEventPublisher,
    SqliteLocationStream,
    SqliteNotifier,
    SqliteOrderRepository,
    SqlitePaymentGateway,
    SqliteRestaurantRepository,
    SqliteSagaStateStore,
    SqliteScheduler,
)
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.money import Money
from fooddelivery.ports import (
    DriverRepository,
    EventPublisher,
    LocationStream,
    Notifier,
    OrderRepository,
    Outbox,
    PaymentGateway,
    RestaurantRepository,
    SagaStateStore,
    Scheduler,
)
from fooddelivery.ports.notifications import Notification
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.builders import T0
from fooddelivery.testing.contracts.driver_repository_contract import DriverRepositoryContract
from fooddelivery.testing.contracts.event_publisher_contract import EventPublisherContract
from fooddelivery.testing.contracts.location_stream_contract import LocationStreamContract
from fooddelivery.testing.contracts.notifier_contract import NotifierContract
from fooddelivery.testing.contracts.order_repository_contract import OrderRepositoryContract
from fooddelivery.testing.contracts.payment_gateway_contract import PaymentGatewayContract
from fooddelivery.testing.contracts.restaurant_repository_contract import RestaurantRepositoryContract
from fooddelivery.testing.contracts.saga_store_contract import SagaStateStoreContract
from fooddelivery.testing.contracts.scheduler_contract import SchedulerContract


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A new database file (WAL) in the test's temporary directory, closed afterwards."""
    database = SqliteDatabase(tmp_path / "contract.db")
    yield database
    database.close()


class TestSqliteOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self, db: SqliteDatabase) -> OrderRepository:
        return SqliteOrderRepository(db)

    def test_it_is_both_an_order_repository_and_an_outbox(self, db: SqliteDatabase) -> None:
        repo = SqliteOrderRepository(db)
        assert isinstance(repo, OrderRepository)
        assert isinstance(repo, Outbox)


class TestSqliteRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self, db: SqliteDatabase) -> RestaurantRepository:
        return SqliteRestaurantRepository(db)


class TestSqliteDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self, db: SqliteDatabase) -> DriverRepository:
        return SqliteDriverRepository(db)


class TestSqliteSagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self, db: SqliteDatabase) -> SagaStateStore:
        return SqliteSagaStateStore(db)


class TestSqliteScheduler(SchedulerContract):
    @pytest.fixture
    def scheduler(self, db: SqliteDatabase) -> Scheduler:
        return SqliteScheduler(db)

    def due(self, scheduler: Scheduler, now: datetime) -> list[ScheduledMessage]:
        assert isinstance(scheduler, SqliteScheduler)
        return scheduler.pop_due(now)


class TestSqliteSchedulerWithLeases(SchedulerContract):
    """The same contract when messages are taken with ``claim_due`` and acknowledged with ``ack``."""

    @pytest.fixture
    def scheduler(self, db: SqliteDatabase) -> Scheduler:
        return SqliteScheduler(db)

    def due(self, scheduler: Scheduler, now: datetime) -> list[ScheduledMessage]:
        assert isinstance(scheduler, SqliteScheduler)
        messages = scheduler.claim_due(now)
        scheduler.ack([m.message_id for m in messages])
        return messages


class TestSqliteEventPublisher(EventPublisherContract):
    @pytest.fixture
    def publisher(self, db: SqliteDatabase) -> EventPublisher:
        return SqliteEventPublisher(db, clock=VirtualClock(T0))

    def published(self, publisher: EventPublisher) -> list[DomainEvent]:
        assert isinstance(publisher, SqliteEventPublisher)
        return publisher.published


class TestSqliteNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self, db: SqliteDatabase) -> Notifier:
        return SqliteNotifier(db, clock=VirtualClock(T0))

    def delivered(self, notifier: Notifier) -> list[Notification]:
        assert isinstance(notifier, SqliteNotifier)
        return notifier.sent


class TestSqliteLocationStream(LocationStreamContract):
    @pytest.fixture
    def stream(self, db: SqliteDatabase) -> LocationStream:
        return SqliteLocationStream(db, clock=VirtualClock(T0))

    def appended(self, stream: LocationStream, partition_key: str) -> list[DomainEvent]:
        assert isinstance(stream, SqliteLocationStream)
        return stream.events(partition_key)


class TestSqlitePaymentGateway(PaymentGatewayContract):
    success_tokens = ("tok_visa", "tok_mastercard", "pm_card_visa", "card")

    @pytest.fixture
    def gateway(self, db: SqliteDatabase) -> PaymentGateway:
        return SqlitePaymentGateway(db, clock=VirtualClock(T0))

    def net_captured(self, gateway: PaymentGateway, charge_id: str) -> Money:
        assert isinstance(gateway, SqlitePaymentGateway)
        return gateway.net_captured(charge_id)
