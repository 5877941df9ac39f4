"""A notifier that records what it sent in SQLite, at most once per notification id (across restarts)."""

from __future__ import annotations

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import dumps, notification_from_row, utc_text
from fooddelivery.adapters.system import SystemClock
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.notifications import Notification

__all__ = ["SqliteNotifier"]

_COLUMNS = "notification_id, kind, recipient_id, order_id, template, data"


class SqliteNotifier:
    """Delivers each ``notification_id`` once by writing it to the ``notifications`` table (a ``Notifier``).

    The embedded default has no e-mail or push channel: the table *is* the outbox of messages a person would be
    sent, readable with :attr:`sent` and :meth:`sent_to`. Deduplication is the table's unique key
    (``INSERT OR IGNORE``), so a repeated id is a no-op even after a restart.

    Counted operations (with ``counters``): ``notifications.sent`` per delivery (repeats are not delivered).

    Args:
        db: the database (shared with the other SQLite adapters).
        clock: stamps ``sent_at`` (UTC); the system clock by default.
        counters: optional shared operation counters.
    """

    def __init__(
        self, db: SqliteDatabase, *, clock: Clock | None = None, counters: OperationCounters | None = None
    ) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._counters = counters

    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` unless its id was delivered before (then nothing happens).

        Raises:
            ValidationError: ``data`` is not JSON-ready (field ``data``).
            InfrastructureError: the database failed; nothing was delivered and retrying with the same id is safe.
        """
        n = notification
        row = (
            n.notification_id,
            n.kind.value,
            n.recipient_id,
            n.order_id,
            n.template,
            dumps(n.data, "data"),
            utc_text(self._clock.now()),
        )
        with self._db.write() as conn:
            inserted = conn.execute(
                f"INSERT OR IGNORE INTO notifications ({_COLUMNS}, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)", row
            ).rowcount
        if inserted and self._counters is not None:
            self._counters.add("notifications.sent")

    # -- what it sent --------------------------------------------------------------------------------------
    @property
    def sent(self) -> list[Notification]:
        """Every delivery, oldest first (a new list)."""
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM notifications ORDER BY seq").fetchall()
        return [notification_from_row(r) for r in rows]

    def sent_to(self, recipient_id: str) -> list[Notification]:
        """The deliveries to one recipient, oldest first."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ? ORDER BY seq", (recipient_id,)
            ).fetchall()
        return [notification_from_row(r) for r in rows]

    @property
    def total(self) -> int:
        """How many notifications were delivered."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0])

    @property
    def counts_by_template(self) -> dict[str, int]:
        """``{template: deliveries}``."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT template, COUNT(*) FROM notifications GROUP BY template").fetchall()
        return dict(rows)
