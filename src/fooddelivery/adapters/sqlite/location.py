"""A partitioned stream of driver positions in SQLite: one append-only log per partition key."""

from __future__ import annotations

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import event_from_json, event_json, utc_text
from fooddelivery.adapters.system import SystemClock
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.clock import Clock

__all__ = ["SqliteLocationStream"]


class SqliteLocationStream:
    """Appends ``DeliveryLocationUpdated`` events to the ``location_events`` table (a ``LocationStream``).

    Each partition (driver id) reads back in append order through the index ``(partition_key, seq)``. With
    ``retain``, each append also deletes the partition's events older than the last ``retain`` (positions are
    individually expendable), so a long-running server keeps a bounded log.

    Counted operations (with ``counters``): ``location.appends`` per appended event.

    Args:
        db: the database (shared with the other SQLite adapters).
        clock: stamps ``appended_at`` (UTC); the system clock by default.
        retain: events kept per partition (>= 1), or None to keep all.
        counters: optional shared operation counters.

    Raises:
        ValueError: a ``retain`` below 1.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        *,
        clock: Clock | None = None,
        retain: int | None = None,
        counters: OperationCounters | None = None,
    ) -> None:
        if retain is not None and retain < 1:
            raise ValueError("retain must be None or >= 1")
        self._db = db
        self._clock = clock or SystemClock()
        self._retain = retain
        self._counters = counters

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """Append ``event`` to the partition ``partition_key`` (the driver id).

        Raises:
            ValidationError: the event is not a ``DeliveryLocationUpdated`` (field ``event.type``), the partition
                key is empty (field ``partition_key``) or the payload is not JSON-ready (``payload``).
            InfrastructureError: the database refused the record; nothing was appended.
        """
        if event.type is not EventType.DELIVERY_LOCATION_UPDATED:
            raise ValidationError.single(
                "event.type", f"must be {EventType.DELIVERY_LOCATION_UPDATED.value}, not {event.type}", "invalid"
            )
        if not partition_key:
            raise ValidationError.single("partition_key", "must not be empty", "required")
        row = (partition_key, event.event_id, utc_text(self._clock.now()), event_json(event))
        with self._db.write() as conn:
            seq = conn.execute(
                "INSERT INTO location_events (partition_key, event_id, appended_at, event) VALUES (?, ?, ?, ?)", row
            ).lastrowid
            if self._retain is not None and seq is not None:
                conn.execute(
                    "DELETE FROM location_events WHERE partition_key = ? AND seq <= ("
                    " SELECT seq FROM location_events WHERE partition_key = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (partition_key, partition_key, self._retain),
                )
        if self._counters is not None:
            self._counters.add("location.appends")

    # -- what it saw ---------------------------------------------------------------------------------------
    def events(self, partition_key: str) -> list[DomainEvent]:
        """The partition's retained events, in append order (a new list)."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT event FROM location_events WHERE partition_key = ? ORDER BY seq", (partition_key,)
            ).fetchall()
        return [event_from_json(r[0]) for r in rows]

    def latest(self, partition_key: str) -> DomainEvent | None:
        """The last event of the partition, or None if it has none."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT event FROM location_events WHERE partition_key = ? ORDER BY seq DESC LIMIT 1", (partition_key,)
            ).fetchone()
        return None if row is None else event_from_json(row[0])

    @property
    def partitions(self) -> list[str]:
        """The partition keys that have events, sorted."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT DISTINCT partition_key FROM location_events ORDER BY partition_key")
            return [r[0] for r in rows]

    @property
    def total(self) -> int:
        """How many events are stored (all of them without ``retain``)."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM location_events").fetchone()[0])
