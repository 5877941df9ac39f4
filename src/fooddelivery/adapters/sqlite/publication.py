"""The SQLite outbox published to the SQLite bus log of the same database in one ``BEGIN IMMEDIATE`` transaction:
the ``OutboxPublication`` port (``fooddelivery.ports.messaging``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping, Sequence

from fooddelivery.adapters.sqlite.messaging import SqliteEventPublisher, refused
from fooddelivery.adapters.sqlite.orders import _CHUNK, SqliteOrderRepository, _change_many, _chunks
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent

__all__ = ["SqliteOutboxPublication"]

#: Counts a failed attempt of the records named in ``IN ({})`` (as ``SqliteOrderRepository.mark_failed``).
_ATTEMPT = "UPDATE outbox SET attempts = attempts + 1 WHERE event_id IN ({})"


class SqliteOutboxPublication:
    """``OutboxPublication`` of a :class:`SqliteOrderRepository`'s outbox to a :class:`SqliteEventPublisher` of the
    same database: :meth:`publish_and_mark` appends to ``published_events`` and removes from ``outbox`` in one
    transaction, where the relay would otherwise write twice (``publish``, then ``mark_published``).

    Which events it appends, and in what order, is decided inside that transaction from the outbox itself (one
    indexed read of the pending records of the batch's orders, ``outbox_by_order``): the batch's events still
    pending, and the other callers' handed ones of the same orders, in ``seq`` order (commit order), each order's
    only as far as no older record of the order that is neither comes first (see the port).

    Counted operations (with the adapters' ``counters``), as the two calls it replaces count them:
    ``events.published`` per event appended, ``outbox.writes`` per record removed or given a failed attempt.

    Args:
        outbox: the outbox (the order store).
        publisher: the bus log, on the same database.

    Raises:
        ValueError: the two are on different databases.
    """

    def __init__(self, outbox: SqliteOrderRepository, publisher: SqliteEventPublisher) -> None:
        if outbox.database is not publisher.database:
            raise ValueError("the outbox and the event log must share one database")
        self.outbox = outbox
        self.publisher = publisher
        self._db = publisher.database

    def publish_and_mark(
        self,
        events: Sequence[DomainEvent],
        unhandled: Collection[str] = (),
        handed: Mapping[str, DomainEvent] | None = None,
    ) -> list[str]:
        """Append the events still pending to the log, in commit order, and remove them from the outbox (those in
        ``unhandled``: kept pending, one failed attempt counted), with the pending events of the same orders in
        ``handed``, in one transaction (see the ``OutboxPublication`` port for which events are left out).

        Returns:
            The ids appended, in the order appended.

        Raises:
            ValidationError: a payload is not JSON-ready (field ``payload``); nothing was written.
            InfrastructureError: the database failed; nothing was written (``failed_ids``: every id of ``events``).
        """
        if not events:
            return []
        publisher = self.publisher
        rows = publisher.prepare(events)
        failed = [i for i in rows if i in unhandled] if unhandled else []
        try:
            with self._db.write() as conn:
                appended, theirs = _appendable(conn, rows, list(dict.fromkeys(e.order_id for e in events)), handed)
                if theirs:  # other callers' events, appended in their place (encoded under the lock: rarely any)
                    rows.update(publisher.prepare(theirs))
                if appended:
                    SqliteEventPublisher.append_in(conn, [rows[i] for i in appended])
                done = [i for i in appended if i not in unhandled] if failed else appended
                changed = _change_many(conn, "DELETE FROM outbox WHERE event_id IN ({})", done)
                if failed:
                    changed += _change_many(conn, _ATTEMPT, failed)
        except InfrastructureError as exc:
            raise refused(exc, [e.event_id for e in events]) from exc
        publisher.finish(len(appended))
        counters = self.outbox.counters
        if counters is not None and changed:
            counters.add("outbox.writes", changed)
        return appended


def _appendable(
    conn: sqlite3.Connection, ours: Collection[str], orders: list[str], handed: Mapping[str, DomainEvent] | None
) -> tuple[list[str], list[DomainEvent]]:
    """The ids to append now, in ``seq`` order, and the events of them that are not ``ours`` (``handed``'s): each
    still pending, and no older pending record of its order that is neither ours nor handed."""
    found: list[tuple[int, str, str]] = []
    for chunk in _chunks(orders):
        found += conn.execute(
            f"SELECT seq, event_id, order_id FROM outbox WHERE order_id IN ({', '.join('?' * len(chunk))})"
            " ORDER BY seq",
            tuple(chunk),
        ).fetchall()
    if len(orders) > _CHUNK:
        found.sort()
    appended: list[str] = []
    theirs: list[DomainEvent] = []
    blocked: set[str] = set()
    for _, event_id, order_id in found:
        if order_id in blocked:
            continue
        if event_id in ours:
            appended.append(event_id)
            continue
        # (one lookup: the owner may remove it at any moment; then it is no longer ours to append)
        event = handed.get(event_id) if handed is not None else None
        if event is not None:
            appended.append(event_id)
            theirs.append(event)
        else:  # an older record of the order, not handled or not this process's: this order's wait for it
            blocked.add(order_id)
    return appended, theirs
