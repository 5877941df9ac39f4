"""Persisted timers in SQLite: scheduled messages survive a restart and are delivered when the caller asks."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import dumps, parse_utc, scheduled_from_row, utc_text
from fooddelivery.domain.catalog import check_utc
from fooddelivery.domain.errors import ValidationError
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["SqliteScheduler"]

_DUE = "claimed_until IS NULL OR claimed_until <= ?"


class SqliteScheduler:
    """Holds messages in the ``timers`` table until :meth:`pop_due` reaches their ``due_at`` (a ``Scheduler``).

    The in-memory scheduler's rules, persisted: ``schedule`` is a no-op while the ``message_id`` is pending
    (``INSERT OR IGNORE`` on a unique id); once delivered (taken) or cancelled the id may be scheduled again.
    Messages due at the same instant come out in scheduling order (an ``AUTOINCREMENT`` sequence breaks the tie).
    After a restart the pending timers are still there: a background loop calls ``Bootstrapped.run_due`` (or
    :meth:`claim_due`) with the current time and sleeps until :meth:`next_due`.

    Two ways to take due messages:

    - :meth:`pop_due` deletes them in the transaction that reads them (at most once: a crash before the caller
      has handled them loses them);
    - :meth:`claim_due` leases them until ``now + lease`` instead, and :meth:`ack` deletes each one once
      handled (:meth:`release` hands it back at once after a failure); a message whose lease ends unacknowledged
      is delivered again, so delivery is at least once across crashes. Consumers tolerate repeats (the saga
      runner ignores a timer its instance no longer waits for). A claimed message counts as delivered: it is
      not pending, ``cancel`` no longer removes it, and scheduling its id again creates a new message.

    Counted operations (with ``counters``): ``scheduler.scheduled`` per message accepted (not per no-op),
    ``scheduler.cancelled`` per message removed, ``scheduler.delivered`` per message returned by ``pop_due`` or
    ``claim_due``.

    Args:
        db: the database (shared with the other SQLite adapters).
        counters: optional shared operation counters.
    """

    def __init__(self, db: SqliteDatabase, *, counters: OperationCounters | None = None) -> None:
        self._db = db
        self._counters = counters

    # -- Scheduler -----------------------------------------------------------------------------------------
    @property
    def database(self) -> SqliteDatabase:
        """The database the timers live in."""
        return self._db

    def schedule(self, message: ScheduledMessage) -> None:
        """Arrange delivery of ``message`` at ``message.due_at`` (a no-op while its id is pending).

        Raises:
            ValidationError: ``due_at`` is not timezone-aware UTC (field ``due_at``), or the body is not
                JSON-ready (field ``body``).
            InfrastructureError: the database failed; nothing was scheduled.
        """
        write = self.prepare_schedule(message)
        with self._db.write() as conn:
            inserted = write(conn)
        self.finish(scheduled=inserted)

    def cancel(self, message_id: str) -> bool:
        """Remove a pending message; returns True if one was removed (False: unknown, delivered or claimed).

        Raises:
            InfrastructureError: the database failed; nothing was removed.
        """
        with self._db.write() as conn:
            removed = self.cancel_in(conn, message_id)
        self.finish(cancelled=removed)
        return removed

    # -- inside another adapter's transaction (``SqliteUnitOfWork``) ---------------------------------------
    def prepare_schedule(self, message: ScheduledMessage) -> Callable[[sqlite3.Connection], bool]:
        """Check ``message`` and return the write that schedules it inside a write transaction of this database:
        ``write(conn)`` runs what :meth:`schedule` runs and returns whether a message was inserted (False: its id
        is pending). Call :meth:`finish` once the transaction committed.

        Raises:
            ValidationError: ``due_at`` is not timezone-aware UTC (field ``due_at``), or the body is not
                JSON-ready (field ``body``).
        """
        check_utc(message.due_at, "due_at")
        row = (message.message_id, utc_text(message.due_at), message.kind, dumps(message.body, "body"))

        def write(conn: sqlite3.Connection) -> bool:
            # a claimed (delivered) message of that id is gone for the scheduler: the id may be scheduled again
            conn.execute("DELETE FROM timers WHERE message_id = ? AND claimed_until IS NOT NULL", (row[0],))
            inserted = conn.execute(
                "INSERT OR IGNORE INTO timers (message_id, due_at, kind, body) VALUES (?, ?, ?, ?)", row
            ).rowcount
            return bool(inserted)

        return write

    @staticmethod
    def cancel_in(conn: sqlite3.Connection, message_id: str) -> bool:
        """Remove a pending message inside a write transaction of this database; returns whether one was removed.
        Call :meth:`finish` once the transaction committed."""
        return bool(
            conn.execute("DELETE FROM timers WHERE message_id = ? AND claimed_until IS NULL", (message_id,)).rowcount
        )

    def finish(self, *, scheduled: bool = False, cancelled: bool = False) -> None:
        """Count what a committed transaction did (``scheduler.scheduled`` / ``scheduler.cancelled``)."""
        counters = self._counters
        if counters is not None:
            if scheduled:
                counters.add("scheduler.scheduled")
            if cancelled:
                counters.add("scheduler.cancelled")

    # -- delivery ------------------------------------------------------------------------------------------
    def pop_due(self, now: datetime, limit: int = 1000) -> list[ScheduledMessage]:
        """Remove and return up to ``limit`` messages due at or before ``now``, by due time then scheduling.

        Messages claimed by :meth:`claim_due` are skipped until their lease expires.

        Raises:
            ValidationError: a naive ``now`` or a ``limit`` below 1.
            InfrastructureError: the database failed; nothing was removed.
        """
        at = utc_text(now)
        _check_limit(limit)
        with self._db.write() as conn:
            rows = conn.execute(
                f"SELECT seq, message_id, due_at, kind, body FROM timers WHERE due_at <= ? AND ({_DUE})"
                " ORDER BY due_at, seq LIMIT ?",
                (at, at, limit),
            ).fetchall()
            conn.executemany("DELETE FROM timers WHERE seq = ?", [(r[0],) for r in rows])
        out = [scheduled_from_row(*r[1:]) for r in rows]
        if self._counters is not None and out:
            self._counters.add("scheduler.delivered", len(out))
        return out

    def claim_due(
        self, now: datetime, lease: timedelta = timedelta(seconds=60), limit: int = 100
    ) -> list[ScheduledMessage]:
        """Lease up to ``limit`` messages due at or before ``now`` until ``now + lease``; returns them in order.

        Acknowledge each handled message with :meth:`ack`; an unacknowledged one is returned again by a call at or
        after its lease's end.

        Raises:
            ValidationError: a naive ``now``, a non-positive ``lease`` or a ``limit`` below 1.
            InfrastructureError: the database failed; nothing was claimed.
        """
        at = utc_text(now)
        _check_limit(limit)
        if lease <= timedelta(0):
            raise ValidationError.single("lease", "must be positive", "out_of_range")
        with self._db.write() as conn:
            rows = conn.execute(
                f"SELECT seq, message_id, due_at, kind, body FROM timers WHERE due_at <= ? AND ({_DUE})"
                " ORDER BY due_at, seq LIMIT ?",
                (at, at, limit),
            ).fetchall()
            until = utc_text(now + lease)
            conn.executemany("UPDATE timers SET claimed_until = ? WHERE seq = ?", [(until, r[0]) for r in rows])
        out = [scheduled_from_row(*r[1:]) for r in rows]
        if self._counters is not None and out:
            self._counters.add("scheduler.delivered", len(out))
        return out

    def ack(self, message_ids: Sequence[str]) -> int:
        """Delete claimed messages once handled; returns how many were deleted (unknown ids are ignored).

        Raises:
            InfrastructureError: the database failed.
        """
        with self._db.write() as conn:
            cur = conn.executemany(
                "DELETE FROM timers WHERE message_id = ? AND claimed_until IS NOT NULL", [(m,) for m in message_ids]
            )
            return max(cur.rowcount, 0)

    def release(self, message_ids: Sequence[str]) -> None:
        """End the lease of claimed messages now (they are due again at once), e.g. after a failed delivery.

        Raises:
            InfrastructureError: the database failed.
        """
        with self._db.write() as conn:
            conn.executemany("UPDATE timers SET claimed_until = NULL WHERE message_id = ?", [(m,) for m in message_ids])

    def release_all(self) -> int:
        """End every lease now; returns how many were held.

        Only for a process that knows no other process can hold a lease on this file (``fooddelivery serve``, which
        holds the file's writer lock): at its start every lease belonged to a process that has ended, so its timers
        are due again at once instead of when their leases run out.

        Raises:
            InfrastructureError: the database failed.
        """
        with self._db.write() as conn:
            return int(conn.execute("UPDATE timers SET claimed_until = NULL WHERE claimed_until IS NOT NULL").rowcount)

    def next_due(self) -> datetime | None:
        """When the earliest pending message can be taken (its due time, or its lease's end), or None.

        Raises:
            InfrastructureError: the database failed.
        """
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT MIN(due_at) FROM timers WHERE claimed_until IS NULL"
                " UNION ALL SELECT MIN(MAX(due_at, claimed_until)) FROM timers WHERE claimed_until IS NOT NULL"
            ).fetchall()
        times = [r[0] for r in row if r[0] is not None]
        return parse_utc(min(times)) if times else None

    # -- inspection ----------------------------------------------------------------------------------------
    @property
    def claimed_count(self) -> int:
        """How many messages are claimed and not yet acknowledged."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM timers WHERE claimed_until IS NOT NULL").fetchone()[0])

    @property
    def pending_count(self) -> int:
        """How many messages are pending (not claimed)."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM timers WHERE claimed_until IS NULL").fetchone()[0])

    def pending(self) -> list[ScheduledMessage]:
        """The pending messages in delivery order (a new list; for inspection)."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT message_id, due_at, kind, body FROM timers WHERE claimed_until IS NULL ORDER BY due_at, seq"
            ).fetchall()
        return [scheduled_from_row(*r) for r in rows]


def _check_limit(limit: int) -> None:
    if type(limit) is not int or limit < 1:
        raise ValidationError.single("limit", "must be an integer >= 1", "out_of_range")
