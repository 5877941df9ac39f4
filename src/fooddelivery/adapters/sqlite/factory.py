"""One call that opens a SQLite database and builds an adapter for every port on it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypedDict

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.drivers import SqliteDriverRepository
from fooddelivery.adapters.sqlite.location import SqliteLocationStream
from fooddelivery.adapters.sqlite.messaging import SqliteEventPublisher
from fooddelivery.adapters.sqlite.notifications import SqliteNotifier
from fooddelivery.adapters.sqlite.orders import SqliteOrderRepository
from fooddelivery.adapters.sqlite.payments import SqlitePaymentGateway
from fooddelivery.adapters.sqlite.restaurants import SqliteRestaurantRepository
from fooddelivery.adapters.sqlite.saga_store import SqliteSagaStateStore
from fooddelivery.adapters.sqlite.scheduler import SqliteScheduler
from fooddelivery.adapters.system import SystemClock
from fooddelivery.ports.clock import Clock

__all__ = ["SqliteAdapters", "SqlitePorts", "open_sqlite_adapters"]


class SqlitePorts(TypedDict):
    """The keyword arguments of ``fooddelivery.bootstrap.bootstrap`` that :meth:`SqliteAdapters.ports` fills."""

    orders: SqliteOrderRepository
    outbox: SqliteOrderRepository
    restaurants: SqliteRestaurantRepository
    drivers: SqliteDriverRepository
    sagas: SqliteSagaStateStore
    scheduler: SqliteScheduler
    publisher: SqliteEventPublisher
    notifier: SqliteNotifier
    payments: SqlitePaymentGateway
    location: SqliteLocationStream


@dataclass(frozen=True, slots=True)
class SqliteAdapters:
    """An adapter for every storage-like port, all on one SQLite database.

    Attributes:
        database: the shared database (WAL mode, connection pool).
        orders: orders + outbox + idempotency keys (``OrderRepository`` and ``Outbox``).
        restaurants: ``RestaurantRepository``.
        drivers: ``DriverRepository``.
        sagas: ``SagaStateStore``.
        scheduler: ``Scheduler`` with persisted timers (``pop_due``/``next_due``/``claim_due``/``ack``).
        publisher: ``EventPublisher`` (the in-process bus's log).
        notifier: ``Notifier`` (a sent-notifications table).
        payments: ``PaymentGateway`` (the fake card processor, its ledger persisted).
        location: ``LocationStream``.
    """

    database: SqliteDatabase
    orders: SqliteOrderRepository
    restaurants: SqliteRestaurantRepository
    drivers: SqliteDriverRepository
    sagas: SqliteSagaStateStore
    scheduler: SqliteScheduler
    publisher: SqliteEventPublisher
    notifier: SqliteNotifier
    payments: SqlitePaymentGateway
    location: SqliteLocationStream

    def ports(self) -> SqlitePorts:
        """The adapters as ``bootstrap`` keyword arguments: ``bootstrap(settings, clock=..., **adapters.ports())``.

        From these ``bootstrap`` builds the unit of work ``SqliteUnitOfWork(orders, sagas, timers=scheduler)`` (the
        ``TimerUnitOfWork`` port: all three share :attr:`database`), so each saga step writes its timers in its own
        transaction.
        """
        return SqlitePorts(
            orders=self.orders,
            outbox=self.orders,
            restaurants=self.restaurants,
            drivers=self.drivers,
            sagas=self.sagas,
            scheduler=self.scheduler,
            publisher=self.publisher,
            notifier=self.notifier,
            payments=self.payments,
            location=self.location,
        )

    def close(self) -> None:
        """Close the database (every adapter stops working). Idempotent."""
        self.database.close()

    def __enter__(self) -> SqliteAdapters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sqlite_adapters(
    path: str | os.PathLike[str],
    *,
    counters: OperationCounters | None = None,
    clock: Clock | None = None,
    busy_timeout_s: float = 5.0,
    max_connections: int = 8,
    location_retain: int | None = None,
    shared_writes: bool = False,
    writers_timeout_s: float = 5.0,
) -> SqliteAdapters:
    """Open (creating if missing) the SQLite database at ``path`` and build every adapter on it.

    Typical use in a server (``fooddelivery serve --db FILE``)::

        clock = SystemClock()
        counters = OperationCounters()
        adapters = open_sqlite_adapters(path, counters=counters, clock=clock)
        boot = bootstrap(settings, clock=clock, counters=counters, **adapters.ports())
        # after a restart: publish what the outbox still holds, resume interrupted sagas
        boot.service.pump()
        for saga_id in adapters.sagas.ids(status=SagaStatus.RUNNING):
            boot.service.resume_saga(saga_id)
        # a timer thread: every second (or at adapters.scheduler.next_due()) call boot.run_due()
        ...
        adapters.close()

    Args:
        path: the database file, or ``":memory:"`` (one private in-memory database on a single connection).
        counters: operation counters shared by every adapter (the in-memory adapters' names), or None.
        clock: stamps the record-keeping times (sent, published, appended, charged); the system clock by default.
            Pass the service's clock.
        busy_timeout_s: how long a writer waits for the write lock before ``InfrastructureError`` (seconds).
        max_connections: most connections open at once (threads beyond wait for one).
        location_retain: positions kept per driver in the location stream, or None for all.
        shared_writes: the processes of one server write the file together (see :class:`SqliteDatabase`).
        writers_timeout_s: how long a write waits for another process's hold of the writers' ``flock``
            (``shared_writes``) before ``InfrastructureError`` (``reason="locked"``; seconds).

    Returns:
        The adapters, sharing one :class:`SqliteDatabase`; close them with :meth:`SqliteAdapters.close`.

    Raises:
        InfrastructureError: the file cannot be opened or created, is not a SQLite database, or holds a newer
            schema.
        ValueError: a non-positive timeout, pool size or retention; ``shared_writes`` on Windows or in memory.
    """
    clock = clock or SystemClock()
    db = SqliteDatabase(
        path,
        busy_timeout_s=busy_timeout_s,
        max_connections=max_connections,
        shared_writes=shared_writes,
        writers_timeout_s=writers_timeout_s,
    )
    try:
        return SqliteAdapters(
            database=db,
            orders=SqliteOrderRepository(db, counters=counters),
            restaurants=SqliteRestaurantRepository(db, counters=counters),
            drivers=SqliteDriverRepository(db, counters=counters),
            sagas=SqliteSagaStateStore(db, counters=counters),
            scheduler=SqliteScheduler(db, counters=counters),
            publisher=SqliteEventPublisher(db, clock=clock, counters=counters),
            notifier=SqliteNotifier(db, clock=clock, counters=counters),
            payments=SqlitePaymentGateway(db, clock=clock, counters=counters),
            location=SqliteLocationStream(db, clock=clock, retain=location_retain, counters=counters),
        )
    except BaseException:
        db.close()
        raise
