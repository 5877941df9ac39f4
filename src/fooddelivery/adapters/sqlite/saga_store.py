"""Saga instances in SQLite, with optimistic concurrency on their version."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite._support import insert_new, read_row, update_versioned
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import saga_from_row, saga_record, utc_text
from fooddelivery.ports.saga_store import SagaState, SagaStatus

__all__ = ["SqliteSagaStateStore"]


class SqliteSagaStateStore:
    """Saga instances keyed by ``saga_id`` (implements ``SagaStateStore``).

    ``save`` is ``UPDATE ... WHERE saga_id = ? AND version = ?``: of concurrent saves of one version exactly one
    updates the row. The caller's ``SagaState`` is serialized (``data`` must be JSON-ready, as the port says) and
    every read builds new containers, so callers never share state with the store. After a restart,
    :meth:`ids` with ``status=SagaStatus.RUNNING`` lists the instances to ``SagaRunner.resume``.

    Counted operations (with ``counters``): ``saga.reads`` per ``get``, ``saga.writes`` per ``create``/``save``
    (successful or not).

    Args:
        db: the database (shared with the other SQLite adapters).
        counters: optional shared operation counters.
    """

    def __init__(self, db: SqliteDatabase, *, counters: OperationCounters | None = None) -> None:
        self._db = db
        self._counters = counters

    @property
    def database(self) -> SqliteDatabase:
        """The database this store writes to."""
        return self._db

    def create(self, state: SagaState) -> None:
        """Insert ``state`` at version 1 (sets ``state.version = 1`` on success).

        Raises:
            ConcurrencyConflict: an instance with this id exists (``state`` is left unchanged).
            ValidationError: ``state.data`` is not JSON-ready (field ``data``).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("saga.writes")
        write = self.prepare(state, create=True)
        with self._db.write() as conn:
            write(conn)
        self.finish(state)

    def prepare(self, state: SagaState, *, create: bool) -> Callable[[sqlite3.Connection], None]:
        """The insert (``create``) or compare-and-set update (``save``) of ``state``, encoded now and run later inside
        a write transaction, so the unit of work can write it together with the order.

        Raises:
            ValidationError: ``state.data`` is not JSON-ready (field ``data``).
        """
        record = saga_record(state)
        if create:
            row = (state.saga_id, state.status.value, 1, utc_text(state.updated_at), record)

            def insert(conn: sqlite3.Connection) -> None:
                insert_new(
                    conn,
                    "INSERT INTO sagas (saga_id, status, version, updated_at, record) VALUES (?, ?, ?, ?, ?)",
                    row,
                    f"saga {state.saga_id}",
                    saga_id=state.saga_id,
                )

            return insert
        values = (state.status.value, state.version + 1, utc_text(state.updated_at), record)
        saga_id, expected = state.saga_id, state.version

        def update(conn: sqlite3.Connection) -> None:
            update_versioned(
                conn,
                "sagas",
                "status = ?, version = ?, updated_at = ?, record = ?",
                values,
                "saga_id",
                saga_id,
                expected,
                f"saga {saga_id}",
                saga_id=saga_id,
            )

        return update

    @staticmethod
    def finish(state: SagaState, *, create: bool = True) -> None:
        """After the transaction of :meth:`prepare` committed: set ``state.version`` (1, or bumped)."""
        state.version = 1 if create else state.version + 1

    def get(self, saga_id: str) -> SagaState:
        """The stored instance (new, independent containers).

        Raises:
            NotFound: no such instance.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("saga.reads")
        row = read_row(
            self._db,
            "SELECT status, version, record FROM sagas WHERE saga_id = ?",
            (saga_id,),
            f"saga {saga_id}",
            saga_id=saga_id,
        )
        return saga_from_row(saga_id, row[0], row[1], row[2])

    def save(self, state: SagaState) -> None:
        """Replace if the stored version equals ``state.version``, then bump ``state.version``.

        Raises:
            NotFound: never created.
            ConcurrencyConflict: the stored version differs (nothing written, ``state`` unchanged).
            ValidationError: ``state.data`` is not JSON-ready (field ``data``).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("saga.writes")
        write = self.prepare(state, create=False)
        with self._db.write() as conn:
            write(conn)
        self.finish(state, create=False)

    # -- inspection and recovery ---------------------------------------------------------------------------
    def ids(self, status: SagaStatus | None = None) -> list[str]:
        """Every stored saga id (of ``status`` if given), sorted; e.g. the RUNNING ones to resume after a restart.

        Raises:
            InfrastructureError: the database failed.
        """
        with self._db.read() as conn:
            if status is None:
                rows = conn.execute("SELECT saga_id FROM sagas ORDER BY saga_id").fetchall()
            else:
                rows = conn.execute(
                    "SELECT saga_id FROM sagas WHERE status = ? ORDER BY saga_id", (status.value,)
                ).fetchall()
        return [r[0] for r in rows]

    def __len__(self) -> int:
        """How many instances are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM sagas").fetchone()[0])
