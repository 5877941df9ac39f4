"""The in-process event bus's log in SQLite: every published event, in acceptance order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import event_from_json, event_json, utc_text
from fooddelivery.adapters.system import SystemClock
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.clock import Clock

__all__ = ["SqliteEventPublisher", "refused"]

#: Appends one event to the log (the rows of :meth:`SqliteEventPublisher.prepare`).
_APPEND = "INSERT INTO published_events (event_id, type, order_id, published_at, event) VALUES (?, ?, ?, ?, ?)"


def refused(exc: InfrastructureError, event_ids: list[str]) -> InfrastructureError:
    """The error of a batch the log refused: ``exc`` (the database's), with ``failed_ids`` = ``event_ids`` (raise it
    ``from exc``)."""
    return InfrastructureError(
        f"the event log refused the batch: {exc.detail}",
        failed_ids=event_ids,
        **{k: v for k, v in exc.context.items() if k != "failed_ids"},
    )


class SqliteEventPublisher:
    """Appends published events to the ``published_events`` table (implements ``EventPublisher``).

    In ``fooddelivery serve`` the bus is in process: the outbox relay publishes here, then hands the batch to the
    in-process consumers (the saga). The table is the bus's durable log (who got what, when), read with
    :attr:`published` and :meth:`of_order`. A batch is accepted in one transaction (all or nothing).
    Republishing an event id is accepted (the bus is at-least-once) and shows in :attr:`duplicates`. An outbox of the
    same database publishes here in the write that marks its records (``SqliteOrderRepository.publishing_to``: the
    ``PublishingOutbox`` port), with :meth:`prepare`, :meth:`append_in` and :meth:`finish`.

    Counted operations (with ``counters``): ``events.published`` per accepted event.

    Args:
        db: the database (shared with the other SQLite adapters).
        clock: stamps ``published_at`` (UTC); the system clock by default.
        counters: optional shared operation counters.
    """

    def __init__(
        self, db: SqliteDatabase, *, clock: Clock | None = None, counters: OperationCounters | None = None
    ) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._counters = counters

    @property
    def database(self) -> SqliteDatabase:
        """The database the log lives in (an outbox of the same database publishes here in its own write:
        :class:`~fooddelivery.adapters.sqlite.publication.SqliteOutboxPublication`)."""
        return self._db

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Accept all of ``events``, in order, in one transaction.

        Raises:
            ValidationError: a payload is not JSON-ready (field ``payload``); nothing was accepted.
            InfrastructureError: the database failed; nothing was accepted and ``failed_ids`` in the error's
                context lists every event id.
        """
        if not events:
            return
        at = utc_text(self._clock.now())
        rows = [(e.event_id, e.type.value, e.order_id, at, event_json(e)) for e in events]
        try:
            with self._db.write() as conn:
                conn.executemany(_APPEND, rows)
        except InfrastructureError as exc:
            raise refused(exc, [e.event_id for e in events]) from exc
        if self._counters is not None:
            self._counters.add("events.published", len(events))

    def prepare(self, events: Sequence[DomainEvent]) -> dict[str, tuple[str, str, str, str, str]]:
        """The rows :meth:`publish` would insert for ``events``, encoded now (``published_at`` is now), by event id
        in the order given (an id given twice keeps its first row): for a write that appends them with others
        (:meth:`append_in`, then :meth:`finish`).

        Raises:
            ValidationError: a payload is not JSON-ready (field ``payload``).
        """
        at = utc_text(self._clock.now())
        rows: dict[str, tuple[str, str, str, str, str]] = {}
        for e in events:
            if e.event_id not in rows:
                rows[e.event_id] = (e.event_id, e.type.value, e.order_id, at, event_json(e))
        return rows

    @staticmethod
    def append_in(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, str, str, str]]) -> None:
        """Append rows of :meth:`prepare` to the log, in order, inside the caller's write transaction ``conn``."""
        conn.executemany(_APPEND, rows)

    def finish(self, appended: int) -> None:
        """After the transaction of :meth:`append_in` committed: count the ``appended`` events
        (``events.published``)."""
        if self._counters is not None and appended:
            self._counters.add("events.published", appended)

    # -- what it saw ---------------------------------------------------------------------------------------
    @property
    def published(self) -> list[DomainEvent]:
        """Every accepted event, oldest first (a new list)."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT event FROM published_events ORDER BY seq").fetchall()
        return [event_from_json(r[0]) for r in rows]

    @property
    def published_ids(self) -> set[str]:
        """The ids of the accepted events (a new set)."""
        with self._db.read() as conn:
            return {r[0] for r in conn.execute("SELECT DISTINCT event_id FROM published_events")}

    def of_order(self, order_id: str) -> list[DomainEvent]:
        """The accepted events of one order, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT event FROM published_events WHERE order_id = ? ORDER BY seq", (order_id,)
            ).fetchall()
        return [event_from_json(r[0]) for r in rows]

    @property
    def counts_by_type(self) -> dict[str, int]:
        """``{event type: events accepted}``."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT type, COUNT(*) FROM published_events GROUP BY type").fetchall()
        return dict(rows)

    @property
    def total(self) -> int:
        """How many events were accepted."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM published_events").fetchone()[0])

    @property
    def duplicates(self) -> int:
        """How many accepted events repeated the id of an earlier one."""
        with self._db.read() as conn:
            row = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM published_events").fetchone()
        return int(row[0])
