"""The SQLite unit of work: an order's partition (order, outbox, idempotency binding, saga) read in one snapshot and
written in one ``BEGIN IMMEDIATE`` transaction."""

from __future__ import annotations

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.orders import _COLUMNS, SqliteOrderRepository, _damaged
from fooddelivery.adapters.sqlite.records import order_from_row, saga_from_row
from fooddelivery.adapters.sqlite.saga_store import SqliteSagaStateStore
from fooddelivery.domain.errors import DataCorrupted, NotFound
from fooddelivery.domain.order import Order
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState

__all__ = ["SqliteUnitOfWork"]


class SqliteUnitOfWork:
    """``OrderUnitOfWork`` over a :class:`SqliteOrderRepository` and a :class:`SqliteSagaStateStore` of one database.

    ``load`` reads the order row and the saga row in one read transaction (one snapshot); ``commit`` runs the
    order's insert or compare-and-set update with its outbox rows (and binding) and the saga's insert or
    compare-and-set update in one ``BEGIN IMMEDIATE`` transaction: everything or nothing.

    Counted operations (with the stores' ``counters``): ``units.reads`` per ``load``, ``units.writes`` per
    ``commit`` (successful or not), ``outbox.writes`` per outbox record written.

    Args:
        orders: the order store (and outbox).
        sagas: the saga store, on the same database.

    Raises:
        ValueError: the two stores are on different databases.
    """

    atomic = True

    def __init__(self, orders: SqliteOrderRepository, sagas: SqliteSagaStateStore) -> None:
        if orders._db is not sagas.database:
            raise ValueError("the order store and the saga store must share one database")
        self.orders = orders
        self.sagas = sagas
        self._db = sagas.database
        self._counters: OperationCounters | None = orders._counters

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
    ) -> None:
        """Write the order (if new or changed) with its events, and the saga, in one transaction (see the port).

        Raises:
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound: nothing was written.
            ValidationError: an event payload or the saga's data is not JSON-ready; nothing was written.
            InfrastructureError: the database failed; nothing was written.
        """
        if self._counters is not None:
            self._counters.add("units.writes")
        insert = order is not None and order.persisted_version == 0
        write_order = (
            self.orders.prepare(order, insert=insert)
            if order is not None and (insert or order.version != order.persisted_version)
            else None
        )
        write_saga = self.sagas.prepare(saga, create=create_saga) if saga is not None else None
        if write_order is None and write_saga is None:
            return
        with self._db.write() as conn:
            if write_order is not None:
                write_order(conn, idempotency)
            if write_saga is not None:
                write_saga(conn)
        if write_order is not None:
            assert order is not None
            self.orders.finish(order)
        if saga is not None:
            self.sagas.finish(saga, create=create_saga)
