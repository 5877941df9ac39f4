"""SQLite adapters of every storage-like port: the embedded default of ``fooddelivery serve --db FILE``.

Standard library ``sqlite3`` only. Everything lives in one database file in WAL mode
(:class:`SqliteDatabase`), safe to share between a server's worker threads and a timer thread; every write is one
``BEGIN IMMEDIATE`` transaction, so an order, its outbox events and its idempotency key commit together. The
adapters follow the in-memory adapters' rules (version checks, idempotency, cursors, operation counter names)
and pass the same port contract suites; what only SQLite adds is persistence: orders, outbox, saga state, timers
and the fake card processor's ledger survive a restart.

Start with :func:`open_sqlite_adapters`, which builds every adapter on one database and hands them to
``fooddelivery.bootstrap.bootstrap`` via :meth:`SqliteAdapters.ports`.
"""

from fooddelivery.adapters.sqlite.database import MEMORY, SqliteDatabase, StorageHealth, translate_error
from fooddelivery.adapters.sqlite.drivers import SqliteDriverRepository
from fooddelivery.adapters.sqlite.factory import SqliteAdapters, SqlitePorts, open_sqlite_adapters
from fooddelivery.adapters.sqlite.location import SqliteLocationStream
from fooddelivery.adapters.sqlite.messaging import SqliteEventPublisher
from fooddelivery.adapters.sqlite.notifications import SqliteNotifier
from fooddelivery.adapters.sqlite.orders import SqliteOrderRepository
from fooddelivery.adapters.sqlite.payments import SqlitePaymentGateway
from fooddelivery.adapters.sqlite.publication import SqliteOutboxPublication
from fooddelivery.adapters.sqlite.restaurants import SqliteRestaurantRepository
from fooddelivery.adapters.sqlite.saga_store import SqliteSagaStateStore
from fooddelivery.adapters.sqlite.scheduler import SqliteScheduler
from fooddelivery.adapters.sqlite.schema import SCHEMA_VERSION, migrate

__all__ = [
    "MEMORY",
    "SCHEMA_VERSION",
    "SqliteAdapters",
    "SqliteDatabase",
    "SqliteDriverRepository",
    "SqliteEventPublisher",
    "SqliteLocationStream",
    "SqliteNotifier",
    "SqliteOrderRepository",
    "SqliteOutboxPublication",
    "SqlitePaymentGateway",
    "SqlitePorts",
    "SqliteRestaurantRepository",
    "SqliteSagaStateStore",
    "SqliteScheduler",
    "StorageHealth",
    "migrate",
    "open_sqlite_adapters",
    "translate_error",
]
