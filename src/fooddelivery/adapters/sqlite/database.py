"""One SQLite database shared by every SQLite adapter: connections, pragmas, transactions, error translation.

Concurrency model (SQLite's own, see https://sqlite.org/wal.html and https://sqlite.org/lang_transaction.html):
the file runs in WAL mode, so readers never block the single writer and the writer never blocks readers. Every
write is one explicit ``BEGIN IMMEDIATE`` transaction: it takes the write lock up front (waiting up to the busy
timeout), so two writers never deadlock upgrading a read lock. Writers of one process also queue on a Python lock
first (a quick hand-over rather than SQLite's sleeping busy handler); writers of other processes on the same file
are kept apart by SQLite's file lock. Connections come from a small pool shared by all threads (a server's worker
threads plus a timer thread); a connection is used by one thread at a time.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from fooddelivery.adapters.sqlite.schema import migrate as run_migrations
from fooddelivery.domain.errors import ConcurrencyConflict, FoodDeliveryError, InfrastructureError

__all__ = ["MEMORY", "SqliteDatabase", "translate_error"]

log = logging.getLogger(__name__)

#: The path of a private in-memory database (served by one connection; for quick experiments).
MEMORY: Final[str] = ":memory:"


def translate_error(exc: sqlite3.Error, action: str) -> FoodDeliveryError:
    """The core's error for a ``sqlite3`` error raised while doing ``action``.

    - ``sqlite3.IntegrityError`` (a duplicate primary or unique key) -> ``ConcurrencyConflict``: someone wrote
      the same key first.
    - ``sqlite3.OperationalError`` "database is locked" / "busy" (the busy timeout ran out) -> a retryable
      ``InfrastructureError`` with ``reason="locked"``.
    - anything else (I/O errors, a corrupt or read-only file, a closed connection) -> ``InfrastructureError``.

    Callers raise the result ``from exc``.
    """
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConcurrencyConflict(f"{action}: the key was written concurrently ({message})", action=action)
    lowered = message.lower()
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in lowered or "busy" in lowered):
        return InfrastructureError(f"{action}: the database is locked ({message})", action=action, reason="locked")
    return InfrastructureError(f"{action}: database error ({message})", action=action, reason=type(exc).__name__)


class SqliteDatabase:
    """A SQLite database file in WAL mode with a thread-safe connection pool (shared by the SQLite adapters).

    Every connection is set up with ``PRAGMA journal_mode=WAL``, ``synchronous=NORMAL`` (durable across
    application crashes; a power loss may drop the last transactions, never corrupt the file) and
    ``busy_timeout``. :meth:`write` runs a ``BEGIN IMMEDIATE`` transaction, :meth:`read` hands out a connection
    in autocommit mode (each statement sees the latest committed state). ``sqlite3`` errors leave both as the
    core's errors (:func:`translate_error`), chained with ``from``.

    Args:
        path: the database file (created with its tables if missing), or :data:`MEMORY` for a private
            in-memory database served by a single connection (threads then take turns).
        busy_timeout_s: how long a writer waits for the write lock before ``InfrastructureError`` (seconds, > 0).
        max_connections: most connections open at once (>= 1); further callers wait for a free one.
        migrate: create the schema if missing (``fooddelivery.adapters.sqlite.schema.migrate``).

    Raises:
        ValueError: a non-positive timeout or pool size.
        InfrastructureError: the file cannot be opened, is not a database, or has a newer schema.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        max_connections: int = 8,
        migrate: bool = True,
    ) -> None:
        if not busy_timeout_s > 0:
            raise ValueError("busy_timeout_s must be positive")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._path = str(path) if str(path) == MEMORY else str(Path(path))
        self._in_memory = self._path == MEMORY
        self._busy_timeout_s = busy_timeout_s
        self._max = 1 if self._in_memory else max_connections
        self._cond = threading.Condition()
        self._writer = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._closed = False
        self._journal_mode = ""
        if migrate:
            try:
                with self.write() as conn:
                    run_migrations(conn)
            except BaseException:
                self.close()
                raise

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        """The database file (or :data:`MEMORY`)."""
        return self._path

    @property
    def journal_mode(self) -> str:
        """The journal mode SQLite reports (``"wal"`` for a file; ``"memory"`` for :data:`MEMORY`).

        Raises:
            InfrastructureError: the database is closed or unreadable.
        """
        with self.read() as conn:
            row = conn.execute("PRAGMA journal_mode").fetchone()
        return str(row[0]).lower()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # -- connections ---------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
                check_same_thread=False,  # the pool hands a connection to one thread at a time
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise translate_error(exc, f"open {self._path}") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        except sqlite3.Error as exc:
            conn.close()
            raise translate_error(exc, f"open {self._path}") from exc
        if not self._in_memory and str(mode).lower() != "wal" and self._journal_mode != str(mode):
            log.warning("SQLite database %s runs in journal mode %r, not WAL", self._path, mode)
        self._journal_mode = str(mode)
        return conn

    def _acquire(self) -> sqlite3.Connection:
        with self._cond:
            while True:
                if self._closed:
                    raise InfrastructureError(f"the database {self._path} is closed", reason="closed")
                if self._idle:
                    return self._idle.pop()
                if self._open < self._max:
                    self._open += 1
                    break
                self._cond.wait()
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _release(self, conn: sqlite3.Connection, broken: bool = False) -> None:
        with self._cond:
            keep = not (broken or self._closed)
            if keep:
                self._idle.append(conn)
            else:
                self._open -= 1
            self._cond.notify()
        if not keep:
            conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, in autocommit mode (returned to the pool afterwards).

        Raises:
            InfrastructureError: the database is closed, or a statement failed.
        """
        conn = self._acquire()
        broken = False
        try:
            yield conn
        except sqlite3.Error as exc:
            broken = isinstance(exc, sqlite3.ProgrammingError)
            raise translate_error(exc, "read") from exc
        finally:
            if conn.in_transaction:  # a caller's explicit BEGIN left open
                broken = not _rollback(conn) or broken
            self._release(conn, broken)

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction (``BEGIN`` ... ``COMMIT``): every statement in the block sees one snapshot.

        Raises:
            InfrastructureError: the database is closed, or a statement failed.
        """
        with self.read() as conn:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed when the block ends, rolled back if it raises.

        Raises:
            InfrastructureError: the write lock was not obtained within the busy timeout (``reason="locked"``),
                the commit failed, or the database is closed; nothing was written.
            ConcurrencyConflict: a statement hit a duplicate key (``sqlite3.IntegrityError``); nothing was
                written.
        """
        # Writers of this process queue on a lock (a fast hand-over) instead of polling SQLite's busy handler,
        # which sleeps between retries; other processes are kept out by SQLite's own lock.
        if not self._writer.acquire(timeout=self._busy_timeout_s):
            raise InfrastructureError(
                f"write: the database {self._path} is locked by this process's writers", action="begin", reason="locked"
            )
        try:
            conn = self._acquire()
        except BaseException:
            self._writer.release()
            raise
        broken = False
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate_error(exc, "begin") from exc
            try:
                yield conn
            except BaseException as exc:
                broken = not _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    raise translate_error(exc, "write") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = not _rollback(conn)
                raise translate_error(exc, "commit") from exc
        finally:
            self._release(conn, broken)
            self._writer.release()

    def close(self) -> None:
        """Close every pooled connection; later calls raise ``InfrastructureError``. Idempotent.

        Connections in use are closed when their current operation ends. The last close checkpoints the WAL
        into the database file.
        """
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def __enter__(self) -> SqliteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteDatabase({self._path!r}{', closed' if self._closed else ''})"


def _rollback(conn: sqlite3.Connection) -> bool:
    """Roll back an open transaction; returns False if the connection is unusable."""
    if not conn.in_transaction:
        return True
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return True
