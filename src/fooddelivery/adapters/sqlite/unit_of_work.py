"""The SQLite unit of work: an order's partition (order, outbox, idempotency binding, saga) read in one snapshot and
written in one ``BEGIN IMMEDIATE`` transaction -- with the saga step's timers when the scheduler is on the same
database."""

from __future__ import annotations

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.orders import _COLUMNS, SqliteOrderRepository, _damaged
from fooddelivery.adapters.sqlite.records import order_from_row, saga_from_row
from fooddelivery.adapters.sqlite.saga_store import SqliteSagaStateStore
from fooddelivery.adapters.sqlite.scheduler import SqliteScheduler
from fooddelivery.domain.errors import DataCorrupted, NotFound
from fooddelivery.domain.order import Order
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler

__all__ = ["SqliteUnitOfWork"]


class SqliteUnitOfWork:
    """``OrderUnitOfWork`` over a :class:`SqliteOrderRepository` and a :class:`SqliteSagaStateStore` of one database.

    ``load`` reads the order row and the saga row in one read transaction (one snapshot); ``commit`` runs the
    order's insert or compare-and-set update with its outbox rows (and binding) and the saga's insert or
    compare-and-set update in one ``BEGIN IMMEDIATE`` transaction: everything or nothing. With ``timers`` (the
    ``TimerUnitOfWork`` port) the commit also schedules and cancels that scheduler's timers in the same transaction,
    with :class:`SqliteScheduler`'s own statements and counters (``scheduler.scheduled`` per message inserted,
    ``scheduler.cancelled`` per message removed, counted once committed).

    Counted operations (with the stores' ``counters``): ``units.reads`` per ``load``, ``units.writes`` per
    ``commit`` (successful or not), ``outbox.writes`` per outbox record written.

    Args:
        orders: the order store (and outbox).
        sagas: the saga store, on the same database.
        timers: the scheduler whose timers commits may write, on the same database; None: commits write no timers.

    Raises:
        ValueError: the stores (or the scheduler) are on different databases.
    """

    atomic = True

    def __init__(
        self, orders: SqliteOrderRepository, sagas: SqliteSagaStateStore, *, timers: SqliteScheduler | None = None
    ) -> None:
        if orders._db is not sagas.database:
            raise ValueError("the order store and the saga store must share one database")
        if timers is not None and timers.database is not sagas.database:
            raise ValueError("the scheduler must share the stores' database")
        self.orders = orders
        self.sagas = sagas
        self._db = sagas.database
        self._counters: OperationCounters | None = orders._counters
        #: the scheduler whose timers :meth:`commit` writes, or None (the ``TimerUnitOfWork`` port)
        self.timers: SqliteScheduler | None = timers

    def with_timers(self, scheduler: Scheduler) -> SqliteUnitOfWork | None:
        """This unit of work holding ``scheduler``'s timers, or None when ``scheduler`` is not a
        :class:`SqliteScheduler` on this database (the ``TimerUnitOfWork`` port)."""
        if isinstance(scheduler, SqliteScheduler) and scheduler.database is self._db:
            return SqliteUnitOfWork(self.orders, self.sagas, timers=scheduler)
        return None

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """The order and its saga (None when it has none), read in one snapshot.

        Raises:
            NotFound: no such order.
            DataCorrupted: the order's row cannot be read back (the detail names the order).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("units.reads")
        try:
            with self._db.snapshot() as conn:
                row = conn.execute(f"SELECT {_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)).fetchone()
                saga_row = (
                    conn.execute("SELECT status, version, record FROM sagas WHERE saga_id = ?", (order_id,)).fetchone()
                    if row is not None
                    else None
                )
        except DataCorrupted as exc:
            raise _damaged(order_id, exc.detail) from exc
        if row is None:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        try:
            order = order_from_row(row)
        except (ValueError, KeyError, TypeError) as exc:
            raise _damaged(order_id, f"its record does not decode: {type(exc).__name__}") from exc
        saga = saga_from_row(order_id, saga_row[0], saga_row[1], saga_row[2]) if saga_row is not None else None
        return order, saga

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
        schedule: ScheduledMessage | None = None,
        cancel: str | None = None,
    ) -> None:
        """Write the order (if new or changed) with its events, the saga, and the timer to cancel and the timer to
        schedule (with ``timers``), in one transaction (see the ``OrderUnitOfWork`` and ``TimerUnitOfWork`` ports).

        Raises:
            TypeError: ``schedule`` or ``cancel`` without ``timers``; nothing was written.
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound: nothing was written.
            ValidationError: an event payload, the saga's data or the timer's body is not JSON-ready, or the timer's
                ``due_at`` is not UTC; nothing was written.
            InfrastructureError: the database failed; nothing was written.
        """
        timers = self.timers
        if timers is None and (schedule is not None or cancel is not None):
            raise TypeError("this SqliteUnitOfWork holds no timers: build it with timers=<its SqliteScheduler>")
        if self._counters is not None:
            self._counters.add("units.writes")
        insert = order is not None and order.persisted_version == 0
        write_order = (
            self.orders.prepare(order, insert=insert)
            if order is not None and (insert or order.version != order.persisted_version)
            else None
        )
        write_saga = self.sagas.prepare(saga, create=create_saga) if saga is not None else None
        write_timer = timers.prepare_schedule(schedule) if timers is not None and schedule is not None else None
        if write_order is None and write_saga is None and write_timer is None and cancel is None:
            return
        scheduled = cancelled = False
        with self._db.write() as conn:
            if write_order is not None:
                write_order(conn, idempotency)
            if write_saga is not None:
                write_saga(conn)
            if cancel is not None:
                cancelled = SqliteScheduler.cancel_in(conn, cancel)
            if write_timer is not None:
                scheduled = write_timer(conn)
        if write_order is not None:
            assert order is not None
            self.orders.finish(order)
        if saga is not None:
            self.sagas.finish(saga, create=create_saga)
        if timers is not None:
            timers.finish(scheduled=scheduled, cancelled=cancelled)
