"""Orders in SQLite, with the transactional outbox and the idempotency keys in the same database.

One ``BEGIN IMMEDIATE`` transaction writes an order, its pending events and its idempotency binding, so no order
is stored without its events and no event without its order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.paging import bad_cursor, check_limit, decode_cursor, encode_cursor
from fooddelivery.adapters.sqlite._support import insert_new, read_row, stored_version
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import (
    event_from_json,
    event_json,
    order_from_row,
    order_row,
    utc_text,
)
from fooddelivery.domain.errors import ConcurrencyConflict, DataCorrupted
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.messaging import EventPublisher, OutboxPublication, OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStateStore
from fooddelivery.ports.unit_of_work import OrderUnitOfWork

__all__ = ["SqliteOrderRepository"]

_COLUMNS = "order_id, customer_id, restaurant_id, status, created_at, version, record"
#: A prepared order write: run inside a write transaction with the placement's idempotency binding (or None).
_OrderWrite = Callable[[sqlite3.Connection, "IdempotencyRecord | None"], None]
#: Most ids per ``IN (...)`` list (SQLite's default limit of host parameters is 32766 since 3.32).
_CHUNK = 500


def _cursor(kind: str, scope: str, created_at: str, order_id: str) -> str:
    return encode_cursor({"k": kind, "s": scope, "t": created_at, "id": order_id})


def _cursor_position(cursor: str, kind: str, scope: str) -> tuple[str, str]:
    """The (created_at text, order_id) a cursor points at.

    Raises:
        ValidationError: a malformed cursor or one of another listing (field ``cursor``).
    """
    pos = decode_cursor(cursor, kind, ("s", "t", "id"))
    if pos["s"] != scope:
        raise bad_cursor()
    try:
        at = datetime.fromisoformat(pos["t"])
    except ValueError:
        raise bad_cursor() from None
    if at.utcoffset() is None:
        raise bad_cursor()
    return utc_text(at), pos["id"]


def _damaged(order_id: str, why: str) -> DataCorrupted:
    return DataCorrupted(
        f"order {order_id} cannot be read: the database file is damaged ({why}); retrying will not help, an "
        "operator must restore the file from a backup",
        order_id=order_id,
        reason="corrupt",
    )


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + _CHUNK] for i in range(0, len(unique), _CHUNK)]


def _change_many(conn: sqlite3.Connection, template: str, ids: Sequence[str]) -> int:
    """Run ``template`` (a statement with one ``IN ({})`` over ids) for ``ids``, in chunks, inside the caller's write
    transaction ``conn``; returns the rows changed."""
    changed = 0
    for chunk in _chunks(ids):
        changed += conn.execute(template.format(", ".join("?" * len(chunk))), tuple(chunk)).rowcount
    return changed


class SqliteOrderRepository:
    """Orders, their idempotency keys and their outbox records in one SQLite database.

    Implements both ``OrderRepository`` and ``Outbox`` with the rules of the in-memory store:

    - ``add`` checks the idempotency binding (``DuplicateRequest`` / ``IdempotencyKeyReused``), refuses an
      existing id (``ConcurrencyConflict``), then inserts the order, the binding and the events, in one
      ``BEGIN IMMEDIATE`` transaction;
    - ``save`` is ``UPDATE ... WHERE order_id = ? AND version = ?`` (the version the caller read); no row
      updated means ``NotFound`` or ``ConcurrencyConflict``; the events are inserted in the same transaction;
    - only after the commit are the aggregate's pending events taken and its ``persisted_version`` set, so on
      any error the order is left untouched.

    Listings use the indexes ``(customer_id, created_at, order_id)``, ``(restaurant_id, created_at, order_id)``
    and ``(restaurant_id, status, created_at, order_id)`` with keyset pagination; cursors are opaque (base64url
    JSON naming the listing, its scope and the last row's position). Outbox records keep their insertion order
    (an ``AUTOINCREMENT`` sequence), hence one order's events stay in version order.

    It also implements ``PublishingOutbox`` (``fooddelivery.ports.messaging``) with the SQLite bus log of the same
    database: :meth:`publishing_to` gives the relay a publication that appends to the log and marks the records in
    one transaction (:class:`~fooddelivery.adapters.sqlite.publication.SqliteOutboxPublication`).

    Counted operations (with ``counters``), as the in-memory store: ``orders.reads`` per
    ``get``/``find_idempotent``/``list_*`` call, ``orders.writes`` per ``add``/``save`` call (successful or not),
    ``outbox.writes`` per outbox record written, removed by ``mark_published`` or updated by ``mark_failed``.

    Args:
        db: the database (shared with the other SQLite adapters).
        counters: optional shared operation counters.
    """

    def __init__(self, db: SqliteDatabase, *, counters: OperationCounters | None = None) -> None:
        self._db = db
        self._counters = counters

    @property
    def database(self) -> SqliteDatabase:
        """The database the orders and the outbox live in."""
        return self._db

    @property
    def counters(self) -> OperationCounters | None:
        """The shared operation counters, or None."""
        return self._counters

    # -- OrderRepository -----------------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert ``order`` with its pending events and bind ``idempotency`` if given, in one transaction.

        On success the order's pending events are taken from it and ``order.persisted_version`` is set to
        ``order.version``; on any error nothing is written and the order is left untouched.

        Raises:
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            ConcurrencyConflict: an order with this id exists.
            ValidationError: an event payload is not JSON-ready (field ``payload``).
            InfrastructureError: the database failed (e.g. locked past the busy timeout); nothing was written.
        """
        counters = self._counters
        if counters is not None:
            counters.add("orders.writes")
        write = self.prepare(order, insert=True)
        with self._db.write() as conn:
            write(conn, idempotency)
        self.finish(order)

    def prepare(self, order: Order, *, insert: bool) -> _OrderWrite:
        """The insert (``add``) or compare-and-set update (``save``) of ``order`` with its events, encoded now and
        run later inside a write transaction (``write(conn, idempotency)``), so the unit of work can write it
        together with the saga.

        Raises:
            ValidationError: an event payload is not JSON-ready (field ``payload``).
        """
        row = order_row(order)
        events = [(e.event_id, e.order_id, event_json(e)) for e in order.pending_events]
        if insert:

            def insert_order(conn: sqlite3.Connection, idempotency: IdempotencyRecord | None) -> None:
                if idempotency is not None:
                    bound = conn.execute(
                        "SELECT fingerprint, order_id FROM order_idempotency WHERE scope = ? AND key = ?",
                        (idempotency.scope, idempotency.key),
                    ).fetchone()
                    if bound is not None:
                        fingerprint, order_id = bound
                        raise idempotency.refused_by(
                            IdempotencyRecord(idempotency.scope, idempotency.key, fingerprint, order_id)
                        )
                insert_new(
                    conn,
                    f"INSERT INTO orders ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                    f"order {order.order_id}",
                    order_id=order.order_id,
                )
                if idempotency is not None:
                    conn.execute(
                        "INSERT INTO order_idempotency (scope, key, fingerprint, order_id) VALUES (?, ?, ?, ?)",
                        (idempotency.scope, idempotency.key, idempotency.fingerprint, idempotency.order_id),
                    )
                self._insert_events(conn, events)

            return insert_order
        order_id, _, _, status, _, version, record = row
        expected = order.persisted_version

        def update(conn: sqlite3.Connection, idempotency: IdempotencyRecord | None) -> None:
            updated = conn.execute(
                "UPDATE orders SET status = ?, version = ?, record = ? WHERE order_id = ? AND version = ?",
                (status, version, record, order_id, expected),
            ).rowcount
            if updated != 1:
                stored = stored_version(conn, "orders", "order_id", order_id, f"order {order_id}", order_id=order_id)
                raise ConcurrencyConflict(
                    f"order {order_id} is at version {stored}, not {expected} as read",
                    order_id=order_id,
                    stored_version=stored,
                    expected_version=expected,
                )
            self._insert_events(conn, events)

        return update

    def finish(self, order: Order) -> None:
        """After the transaction of :meth:`prepare` committed: take the events from the order, set its
        ``persisted_version``, count the outbox records."""
        taken = order.take_events()
        order.persisted_version = order.version
        if self._counters is not None and taken:
            self._counters.add("outbox.writes", len(taken))

    def get(self, order_id: str) -> Order:
        """The stored order (a new object), ``persisted_version`` set to its stored version.

        Raises:
            NotFound: no such order.
            DataCorrupted: the order's row cannot be read back (a damaged page, or a record that no longer
                decodes): the detail names the order.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("orders.reads")
        try:
            row = read_row(
                self._db,
                f"SELECT {_COLUMNS} FROM orders WHERE order_id = ?",
                (order_id,),
                f"order {order_id}",
                order_id=order_id,
            )
        except DataCorrupted as exc:
            raise _damaged(order_id, exc.detail) from exc
        try:
            return order_from_row(row)
        except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            raise _damaged(order_id, f"its record does not decode: {type(exc).__name__}") from exc

    def save(self, order: Order) -> None:
        """Write ``order`` and its events if the stored version is still ``order.persisted_version``.

        On success the events are taken from the order and ``order.persisted_version`` becomes
        ``order.version``.

        Raises:
            NotFound: the order was never added.
            ConcurrencyConflict: the stored version differs (nothing written, the order left untouched).
            ValidationError: an event payload is not JSON-ready (field ``payload``).
            InfrastructureError: the database failed; nothing was written.
        """
        counters = self._counters
        if counters is not None:
            counters.add("orders.writes")
        write = self.prepare(order, insert=False)
        with self._db.write() as conn:
            write(conn, None)
        self.finish(order)

    def unit_of_work(self, sagas: SagaStateStore) -> OrderUnitOfWork | None:
        """A native unit of work when ``sagas`` is a SQLite saga store on the same database (one transaction writes
        the order, its outbox records and the saga), else None (``UnitOfWorkSource``)."""
        from fooddelivery.adapters.sqlite.saga_store import SqliteSagaStateStore
        from fooddelivery.adapters.sqlite.unit_of_work import SqliteUnitOfWork

        if isinstance(sagas, SqliteSagaStateStore) and sagas.database is self._db:
            return SqliteUnitOfWork(self, sagas)
        return None

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, events: list[tuple[str, str, str]]) -> None:
        try:
            conn.executemany("INSERT INTO outbox (event_id, order_id, event) VALUES (?, ?, ?)", events)
        except sqlite3.IntegrityError as exc:
            raise ConcurrencyConflict(
                "an event with this id is already in the outbox", event_ids=[e[0] for e in events]
            ) from exc

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope``, or None.

        Raises:
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("orders.reads")
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT fingerprint, order_id FROM order_idempotency WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
        return None if row is None else IdempotencyRecord(scope, key, row[0], row[1])

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """Up to ``limit`` of the customer's orders, newest first (created_at, then id, descending).

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor (``cursor``).
            InfrastructureError: the database failed.
        """
        check_limit(limit)
        if self._counters is not None:
            self._counters.add("orders.reads")
        sql = f"SELECT {_COLUMNS} FROM orders WHERE customer_id = ?"
        params: list[object] = [customer_id]
        if cursor is not None:
            sql += " AND (created_at, order_id) < (?, ?)"
            params.extend(_cursor_position(cursor, "oc", customer_id))
        sql += " ORDER BY created_at DESC, order_id DESC LIMIT ?"
        params.append(limit + 1)
        with self._db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _cursor("oc", customer_id, rows[-1][4], rows[-1][0]) if more else None
        return Page([order_from_row(r) for r in rows], next_cursor)

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """Up to ``limit`` of the restaurant's orders (of ``status`` if given), oldest first, or newest first
        (the same indexes, read backwards).

        Raises:
            ValidationError: ``limit`` outside 1..100 (field ``limit``) or a malformed cursor (``cursor``).
            InfrastructureError: the database failed.
        """
        check_limit(limit)
        if self._counters is not None:
            self._counters.add("orders.reads")
        scope = f"{restaurant_id}|{status.value if status is not None else '*'}"
        kind = "ord" if newest_first else "or"
        sql = f"SELECT {_COLUMNS} FROM orders WHERE restaurant_id = ?"
        params: list[object] = [restaurant_id]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if cursor is not None:
            sql += f" AND (created_at, order_id) {'<' if newest_first else '>'} (?, ?)"
            params.extend(_cursor_position(cursor, kind, scope))
        direction = " DESC" if newest_first else ""
        sql += f" ORDER BY created_at{direction}, order_id{direction} LIMIT ?"
        params.append(limit + 1)
        with self._db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _cursor(kind, scope, rows[-1][4], rows[-1][0]) if more else None
        return Page([order_from_row(r) for r in rows], next_cursor)

    # -- Outbox --------------------------------------------------------------------------------------------
    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest first (one order's in version order).

        Raises:
            InfrastructureError: the database failed.
        """
        if limit <= 0:
            return []
        with self._db.read() as conn:
            rows = conn.execute("SELECT event, attempts FROM outbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxRecord(event_from_json(event), attempts) for event, attempts in rows]

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Delete these records from the outbox; unknown or already-marked ids are ignored.

        Raises:
            InfrastructureError: the database failed; nothing was marked.
        """
        removed = self._update_many("DELETE FROM outbox WHERE event_id IN ({})", event_ids)
        if self._counters is not None and removed:
            self._counters.add("outbox.writes", removed)

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Add one failed attempt to each of these pending records (unknown ids are ignored).

        Raises:
            InfrastructureError: the database failed; nothing was marked.
        """
        updated = self._update_many("UPDATE outbox SET attempts = attempts + 1 WHERE event_id IN ({})", event_ids)
        if self._counters is not None and updated:
            self._counters.add("outbox.writes", updated)

    def _update_many(self, template: str, event_ids: Sequence[str]) -> int:
        if not event_ids:
            return 0
        with self._db.write() as conn:
            return _change_many(conn, template, event_ids)

    # -- PublishingOutbox ----------------------------------------------------------------------------------
    def publishing_to(self, publisher: EventPublisher) -> OutboxPublication | None:
        """The publication of this outbox to ``publisher`` in one transaction when it is a
        :class:`~fooddelivery.adapters.sqlite.messaging.SqliteEventPublisher` on this database
        (:class:`~fooddelivery.adapters.sqlite.publication.SqliteOutboxPublication`), else None (the
        ``PublishingOutbox`` port)."""
        from fooddelivery.adapters.sqlite.messaging import SqliteEventPublisher
        from fooddelivery.adapters.sqlite.publication import SqliteOutboxPublication

        if isinstance(publisher, SqliteEventPublisher) and publisher.database is self._db:
            return SqliteOutboxPublication(self, publisher)
        return None

    # -- inspection ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """How many orders are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    @property
    def outbox_size(self) -> int:
        """How many outbox records are pending."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def count_by_status(self) -> dict[OrderStatus, int]:
        """``{status: number of stored orders}`` for every status that has orders."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall()
        return {OrderStatus(status): count for status, count in rows}

    def order_ids(self) -> list[str]:
        """Every stored order id, oldest first (for inspection and recovery sweeps)."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT order_id FROM orders ORDER BY created_at, order_id").fetchall()
        return [r[0] for r in rows]
