"""One SQLite database shared by every SQLite adapter: connections, pragmas, transactions, error translation.

Concurrency model (SQLite's own, see https://sqlite.org/wal.html and https://sqlite.org/lang_transaction.html):
the file runs in WAL mode, so readers never block the single writer and the writer never blocks readers. Every
write is one explicit ``BEGIN IMMEDIATE`` transaction: it takes the write lock up front (waiting up to the busy
timeout), so two writers never deadlock upgrading a read lock. Writers of one process also queue on a Python lock
first (a quick hand-over rather than SQLite's sleeping busy handler); writers of other processes on the same file
are kept apart by SQLite's file lock, or, for the processes of one server (``serve --processes N``, opened with
``shared_writes=True``), by an exclusive ``flock`` on a lock file beside the database taken before ``BEGIN
IMMEDIATE``: the kernel hands it to the next waiting process at once, where SQLite's busy handler sleeps 1 - 100 ms
between retries (https://sqlite.org/c3ref/busy_timeout.html), which under contention costs more than the write. That
wait is bounded (``writers_timeout_s``, 5 s by default): a process that hangs holding the ``flock`` (stopped, stuck
in a write) makes the others' writes fail with a retryable ``InfrastructureError`` (``reason="locked"``, as SQLite's
own "database is locked": HTTP 503 with ``Retry-After``) instead of blocking them forever (:class:`_WritersLock`).
Connections come from a small pool shared by all threads (a server's worker threads plus a timer thread); a
connection is used by one thread at a time.

Health (:attr:`SqliteDatabase.health`): the database remembers what its last writes met -- a full disk, an I/O or
permission error -- and logs a line when that *changes* (never once per failed write), and whether the file passed
``PRAGMA quick_check`` (:meth:`SqliteDatabase.check_integrity`). A damaged file (``SQLITE_CORRUPT``,
``SQLITE_NOTADB``, seen by the check or by any statement) is reported as :class:`DataCorrupted` (not retryable)
and from then on every write is refused, so new data never goes into a damaged file. The WAL is kept small: a
checkpoint truncates it to :data:`JOURNAL_SIZE_LIMIT_BYTES`, and :meth:`SqliteDatabase.checkpoint` empties it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, cast

from fooddelivery.adapters.sqlite.schema import migrate as run_migrations

try:
    import fcntl
except ImportError:  # Windows: no flock, so no shared_writes
    fcntl = None  # type: ignore[assignment]
from fooddelivery.domain.errors import ConcurrencyConflict, DataCorrupted, FoodDeliveryError, InfrastructureError

__all__ = [
    "JOURNAL_SIZE_LIMIT_BYTES",
    "MEMORY",
    "SqliteDatabase",
    "StorageHealth",
    "translate_error",
    "writers_lock_path",
]

log = logging.getLogger(__name__)

#: The path of a private in-memory database (served by one connection; for quick experiments).
MEMORY: Final[str] = ":memory:"
#: The size a checkpoint truncates the WAL file to (``PRAGMA journal_size_limit``; https://sqlite.org/pragma.html).
JOURNAL_SIZE_LIMIT_BYTES: Final[int] = 4 * 1024 * 1024


def writers_lock_path(database: str | os.PathLike[str]) -> Path:
    """The file whose ``flock`` the processes of one server take around each write: ``<resolved path>.writers``.

    Not one of SQLite's files (``<database>``, ``-wal``, ``-shm``: https://sqlite.org/tempfiles.html), nor
    ``serve``'s one-server lock (``<database>.lock``, :mod:`fooddelivery.server.lock`).
    """
    resolved = Path(database).resolve()
    return resolved.with_name(resolved.name + ".writers")


# SQLite primary result codes (https://sqlite.org/rescode.html); extended codes carry them in their low byte.
_SQLITE_READONLY: Final[int] = 8
_SQLITE_IOERR: Final[int] = 10
_SQLITE_CORRUPT: Final[int] = 11
_SQLITE_FULL: Final[int] = 13
_SQLITE_NOTADB: Final[int] = 26

#: ``InfrastructureError.context["reason"]`` values that describe the file or its disk (not contention): a write
#: failing with one of them changes :attr:`StorageHealth.writes`.
WriteState = Literal["ok", "disk_full", "io_error", "read_only"]
Integrity = Literal["unchecked", "ok", "corrupt"]
_STORAGE_REASONS: Final[frozenset[str]] = frozenset({"disk_full", "io_error", "read_only"})
#: Writes are "ok" again after this many successful writes in a row, or a success this long (seconds) after the
#: last failure: on a nearly full disk small writes fit while larger ones fail, and the state would flap (and log)
#: on every pair.
RECOVERY_STREAK: Final[int] = 3
RECOVERY_QUIET_S: Final[float] = 2.0


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """What a :class:`SqliteDatabase` last saw of its file.

    Attributes:
        writes: ``"ok"``, or why the last write failed: ``"disk_full"`` (``SQLITE_FULL``), ``"io_error"``
            (``SQLITE_IOERR``), ``"read_only"`` (``SQLITE_READONLY``: permissions, a read-only mount). It is
            ``"ok"`` again after :data:`RECOVERY_STREAK` successful writes in a row (or one
            :data:`RECOVERY_QUIET_S` after the last failure).
        writes_since: when (UTC) that state began; None while writes have never failed.
        failed_writes: write transactions that failed since then.
        integrity: ``"unchecked"`` (no ``quick_check`` ran, no damage seen), ``"ok"`` (the check passed) or
            ``"corrupt"`` (the check failed, or a statement met a damaged page; writes are refused).
        integrity_detail: the first problem SQLite reported, when ``"corrupt"``.
    """

    writes: WriteState = "ok"
    writes_since: datetime | None = None
    failed_writes: int = 0
    integrity: Integrity = "unchecked"
    integrity_detail: str | None = None

    @property
    def ok(self) -> bool:
        """Whether writes succeed and the file is not known to be damaged."""
        return self.writes == "ok" and self.integrity != "corrupt"


def translate_error(exc: sqlite3.Error, action: str) -> FoodDeliveryError:
    """The core's error for a ``sqlite3`` error raised while doing ``action``.

    - ``sqlite3.IntegrityError`` (a duplicate primary or unique key) -> ``ConcurrencyConflict``: someone wrote
      the same key first.
    - a damaged file (``SQLITE_CORRUPT`` "database disk image is malformed", ``SQLITE_NOTADB``) ->
      :class:`DataCorrupted` (``reason="corrupt"``): not retryable.
    - ``SQLITE_FULL`` ("database or disk is full") -> ``InfrastructureError`` with ``reason="disk_full"``;
      ``SQLITE_IOERR`` -> ``reason="io_error"``; ``SQLITE_READONLY`` -> ``reason="read_only"``: retryable once
      an operator has fixed the disk.
    - ``sqlite3.OperationalError`` "database is locked" / "busy" (the busy timeout ran out) -> a retryable
      ``InfrastructureError`` with ``reason="locked"``.
    - anything else (a closed connection...) -> ``InfrastructureError`` (``reason`` = the exception's class name).

    Callers raise the result ``from exc``.
    """
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConcurrencyConflict(f"{action}: the key was written concurrently ({message})", action=action)
    lowered = message.lower()
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in lowered or "not a database" in lowered:
        return DataCorrupted(f"{action}: the database file is damaged ({message})", action=action, reason="corrupt")
    if primary == _SQLITE_FULL or "disk is full" in lowered:
        return InfrastructureError(f"{action}: the disk is full ({message})", action=action, reason="disk_full")
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in lowered or "busy" in lowered):
        return InfrastructureError(f"{action}: the database is locked ({message})", action=action, reason="locked")
    if primary == _SQLITE_IOERR:
        return InfrastructureError(f"{action}: disk I/O error ({message})", action=action, reason="io_error")
    if primary == _SQLITE_READONLY:
        return InfrastructureError(f"{action}: the file is read-only ({message})", action=action, reason="read_only")
    return InfrastructureError(f"{action}: database error ({message})", action=action, reason=type(exc).__name__)


class SqliteDatabase:
    """A SQLite database file in WAL mode with a thread-safe connection pool (shared by the SQLite adapters).

    Every connection is set up with ``PRAGMA journal_mode=WAL``, ``synchronous=NORMAL`` (durable across
    application crashes; a power loss may drop the last transactions, never corrupt the file), ``busy_timeout``
    and ``journal_size_limit`` (:data:`JOURNAL_SIZE_LIMIT_BYTES`). :meth:`write` runs a ``BEGIN IMMEDIATE``
    transaction, :meth:`read` hands out a connection in autocommit mode (each statement sees the latest committed
    state). ``sqlite3`` errors leave both as the core's errors (:func:`translate_error`), chained with ``from``,
    and update :attr:`health`.

    Args:
        path: the database file (created with its tables if missing), or :data:`MEMORY` for a private
            in-memory database served by a single connection (threads then take turns).
        busy_timeout_s: how long a writer waits for the write lock before ``InfrastructureError`` (seconds, > 0).
        max_connections: most connections open at once (>= 1); further callers wait for a free one.
        migrate: create the schema if missing (``fooddelivery.adapters.sqlite.schema.migrate``).
        shared_writes: other processes write this file all the time (the processes of one ``serve``): every
            write (and checkpoint) also takes an exclusive ``flock`` on :func:`writers_lock_path` (created if
            missing), held until its ``COMMIT`` or ``ROLLBACK``. A writer waits for another process's transaction
            at most ``writers_timeout_s`` (then ``InfrastructureError``, ``reason="locked"``: the other process
            hangs); the kernel drops the lock of a process that ends, however it ends. POSIX only.
        writers_timeout_s: how long a write waits for the writers' ``flock`` held by another process (seconds,
            > 0; ``shared_writes`` only; ``inf``, or anything over ``threading.TIMEOUT_MAX``: no bound). Not the
            busy timeout: a writer queued behind a few others' transactions waits on the ``flock`` rather than on
            SQLite's lock, so a short busy timeout stays short.

    Raises:
        ValueError: a non-positive timeout or pool size; ``shared_writes`` where ``flock`` does not exist
            (Windows) or with :data:`MEMORY`.
        InfrastructureError: the file cannot be opened, is not a database, or has a newer schema.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        max_connections: int = 8,
        migrate: bool = True,
        shared_writes: bool = False,
        writers_timeout_s: float = 5.0,
    ) -> None:
        if not busy_timeout_s > 0:
            raise ValueError("busy_timeout_s must be positive")
        if not writers_timeout_s > 0:
            raise ValueError("writers_timeout_s must be positive")
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self._path = str(path) if str(path) == MEMORY else str(Path(path))
        self._in_memory = self._path == MEMORY
        #: the writers' lock file's ``flock`` (shared_writes), or None
        self._writers: _WritersLock | None = None
        if shared_writes:
            if fcntl is None:
                raise ValueError("shared_writes needs POSIX flock (not available on this platform)")
            if self._in_memory:
                raise ValueError("shared_writes needs a database file, not :memory:")
            try:
                fd = os.open(writers_lock_path(self._path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                self._writers = _WritersLock(fd, writers_lock_path(self._path))
            except OSError as exc:
                raise InfrastructureError(
                    f"open {writers_lock_path(self._path)}: {exc.strerror or exc}", action="open", reason="io_error"
                ) from exc
        self._busy_timeout_s = busy_timeout_s
        self._writers_timeout_s = writers_timeout_s
        self._max = 1 if self._in_memory else max_connections
        self._cond = threading.Condition()
        self._writer = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._closed = False
        self._journal_mode = ""
        self._health = StorageHealth()
        self._health_lock = threading.Lock()
        self._ok_streak = 0
        self._last_failure = 0.0
        self._write_transactions = 0
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

    @property
    def write_transactions(self) -> int:
        """How many :meth:`write` transactions this object committed since it was opened (the schema's migration
        included; rolled-back ones are not counted): each one took the single writer's lock once."""
        return self._write_transactions

    @property
    def health(self) -> StorageHealth:
        """What the last writes met and whether the file is known to be damaged (see :class:`StorageHealth`)."""
        return self._health

    @property
    def wal_bytes(self) -> int:
        """The size of the WAL file now (0 when there is none, or for :data:`MEMORY`)."""
        if self._in_memory:
            return 0
        try:
            return os.path.getsize(self._path + "-wal")
        except OSError:
            return 0

    # -- health --------------------------------------------------------------------------------------------
    def _note(self, error: FoodDeliveryError) -> None:
        """Record what a failed statement says about the file (a state change is logged once)."""
        reason = error.context.get("reason")
        if isinstance(error, DataCorrupted):
            self._mark_corrupt(error.detail)
        elif reason in _STORAGE_REASONS:
            with self._health_lock:
                self._ok_streak = 0
                self._last_failure = time.monotonic()
                health = self._health
                if health.writes == reason:
                    self._health = replace(health, failed_writes=health.failed_writes + 1)
                    return
                state = cast(WriteState, reason)
                self._health = replace(health, writes=state, writes_since=datetime.now(UTC), failed_writes=1)
            log.error(
                "SQLite database %s: writes fail (%s): %s; they are retried, and this is logged again only when it "
                "changes",
                self._path,
                reason,
                error.detail,
            )

    def _note_write_ok(self) -> None:
        health = self._health
        if health.writes == "ok":  # the common case: no lock taken
            return
        with self._health_lock:
            health = self._health
            if health.writes == "ok":
                return
            self._ok_streak += 1
            settled = time.monotonic() - self._last_failure >= RECOVERY_QUIET_S
            if self._ok_streak < RECOVERY_STREAK and not settled:
                return
            self._health = replace(health, writes="ok", writes_since=datetime.now(UTC), failed_writes=0)
        since = health.writes_since
        lasted = (datetime.now(UTC) - since).total_seconds() if since is not None else 0.0
        log.warning(
            "SQLite database %s: writes succeed again after %.1f s of %s (%d failed writes)",
            self._path,
            lasted,
            health.writes,
            health.failed_writes,
        )

    def _mark_corrupt(self, detail: str) -> None:
        with self._health_lock:
            if self._health.integrity == "corrupt":
                return
            self._health = replace(self._health, integrity="corrupt", integrity_detail=detail)
        log.error(
            "SQLite database %s is damaged (%s): every write is refused from now on, so nothing new goes into a "
            "damaged file; restore it from a backup (https://sqlite.org/recovery.html)",
            self._path,
            detail,
        )

    def check_integrity(self, max_errors: int = 10) -> list[str]:
        """Run ``PRAGMA quick_check`` (https://sqlite.org/pragma.html#pragma_quick_check) over the whole file.

        It reads every page (O(size of the file)) but skips the index-content checks of ``integrity_check``.
        Records the outcome in :attr:`health` (a damaged file refuses writes from then on).

        Args:
            max_errors: most problems reported.

        Returns:
            The problems SQLite reports (``[]`` when the file is sound).

        Raises:
            InfrastructureError: the file cannot be read at all (not damage: a closed database, an I/O error).
        """
        started = time.monotonic()
        try:
            with self.read() as conn:
                rows = conn.execute(f"PRAGMA quick_check({int(max_errors)})").fetchall()
        except DataCorrupted as exc:
            return [exc.detail]
        problems = [str(r[0]) for r in rows if str(r[0]).lower() != "ok"]
        if problems:
            self._mark_corrupt(problems[0])
        else:
            with self._health_lock:
                if self._health.integrity == "unchecked":
                    self._health = replace(self._health, integrity="ok")
            log.info("SQLite database %s passed quick_check in %.2f s", self._path, time.monotonic() - started)
        return problems

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database file and truncate the WAL to zero bytes (``wal_checkpoint(TRUNCATE)``,
        https://sqlite.org/pragma.html#pragma_wal_checkpoint).

        Takes this process's writer lock first (writers wait for it, briefly); SQLite waits up to the busy timeout
        for readers of other connections.

        Returns:
            SQLite's ``(busy, log frames, checkpointed frames)``; ``busy`` is 1 when readers kept it from finishing
            (it is then partial and harmless). ``(0, 0, 0)`` for :data:`MEMORY`.

        Raises:
            InfrastructureError: the checkpoint failed (e.g. the disk is full) or the writer lock was not obtained
                within the busy timeout.
        """
        if self._in_memory:
            return (0, 0, 0)
        if not self._writer.acquire(timeout=self._busy_timeout_s):
            raise InfrastructureError("checkpoint: this process's writers hold the database", reason="locked")
        try:
            self._lock_writers("checkpoint")
            try:
                with self.read() as conn:
                    row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._unlock_writers()
        finally:
            self._writer.release()
        return int(row[0]), int(row[1]), int(row[2])

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
            conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
        except sqlite3.Error as exc:
            conn.close()
            error = translate_error(exc, f"open {self._path}")
            self._note(error)
            raise error from exc
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
            error = translate_error(exc, "read")
            self._note(error)
            raise error from exc
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
            DataCorrupted: the file is damaged (found now, or earlier: every write is then refused at once).
        """
        if self._health.integrity == "corrupt":
            raise DataCorrupted(
                f"write: the database {self._path} is damaged ({self._health.integrity_detail}); writes are refused",
                action="begin",
                reason="corrupt",
            )
        # Writers of this process queue on a lock (a fast hand-over) instead of polling SQLite's busy handler,
        # which sleeps between retries; other processes are kept out by SQLite's own lock.
        if not self._writer.acquire(timeout=self._busy_timeout_s):
            raise InfrastructureError(
                f"write: the database {self._path} is locked by this process's writers", action="begin", reason="locked"
            )
        try:
            self._lock_writers("begin")
        except BaseException:
            self._writer.release()
            raise
        try:
            conn = self._acquire()
        except BaseException:
            self._unlock_writers()
            self._writer.release()
            raise
        broken = False
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                error = translate_error(exc, "begin")
                self._note(error)
                raise error from exc
            try:
                yield conn
            except BaseException as exc:
                broken = not _rollback(conn)
                if isinstance(exc, sqlite3.Error):
                    error = translate_error(exc, "write")
                    self._note(error)
                    raise error from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                broken = not _rollback(conn)
                error = translate_error(exc, "commit")
                self._note(error)
                raise error from exc
            self._write_transactions += 1  # under the writer lock
            self._note_write_ok()
        finally:
            self._release(conn, broken)
            self._unlock_writers()
            self._writer.release()

    def _lock_writers(self, action: str) -> None:
        """Take the writers' ``flock`` (shared_writes; call with ``self._writer`` held), waiting while another
        process of the server writes, at most ``writers_timeout_s``.

        Raises:
            InfrastructureError: ``reason="locked"``: another process held it past the deadline, or it could not
                be taken at all.
        """
        writers = self._writers
        if writers is not None:
            writers.acquire(self._writers_timeout_s, action)

    def _unlock_writers(self) -> None:
        writers = self._writers
        if writers is not None:
            writers.release()

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
        with self._writer:  # no write is between its flock and its unlock
            writers, self._writers = self._writers, None
        if writers is not None:
            writers.close()

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


class _WritersLock:
    """The ``flock`` of :func:`writers_lock_path` for one :class:`SqliteDatabase`, taken with a bound on the wait.

    ``flock(LOCK_EX)`` has no timeout, and polling ``LOCK_NB`` would lose the kernel's immediate hand-over that is
    the point of the lock. So an uncontended take is one ``LOCK_EX | LOCK_NB`` call on the caller's thread, and a
    contended one is a blocking ``flock`` on a daemon thread (started at the first contention) that the caller
    waits for at most its timeout. A caller that gave up leaves that ``flock`` pending: the next caller waits for
    the same one, and if nobody waits when it is granted it is released at once, so a wait that outlived its
    caller never holds the lock. One caller at a time (the database's ``_writer`` lock); ``release`` only after a
    successful ``acquire``.

    Args:
        fd: an open descriptor of the lock file (owned from now on: :meth:`close` closes it).
        path: the lock file (for messages).
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self._path = path
        self._cond = threading.Condition()
        self._held = False  # granted to the current caller, not yet released
        self._pending = False  # the thread is in (or about to enter) a blocking flock
        self._wanted = False  # a caller waits for that flock
        self._error: OSError | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    def acquire(self, timeout_s: float, action: str) -> None:
        """Take the lock, waiting at most ``timeout_s`` seconds for the process holding it.

        Raises:
            InfrastructureError: ``reason="locked"``: still held by another process after ``timeout_s``, or
                ``flock`` failed.
        """
        with self._cond:
            if not self._pending:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self._pending = True
                    self._start_thread()
                    self._cond.notify_all()
                except OSError as exc:
                    raise self._failure(action, exc) from exc
                else:
                    self._held = True
                    return
            self._wanted = True
            # threading's waits take at most TIMEOUT_MAX (about 292 years; more raises OverflowError): past it, no bound
            bound = timeout_s if timeout_s <= threading.TIMEOUT_MAX else None
            try:
                self._cond.wait_for(lambda: self._held or self._error is not None, bound)
            finally:
                self._wanted = False
            if self._held:
                return
            error, self._error = self._error, None
            if error is not None:
                raise self._failure(action, error) from error
        raise InfrastructureError(
            f"{action}: another process of the server has held {self._path} for over {timeout_s:.1f} s",
            action=action,
            reason="locked",
        )

    def release(self) -> None:
        """Release the lock taken by :meth:`acquire`."""
        with self._cond:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor (which drops the lock); a ``flock`` still pending on the thread closes it when it
        returns (closing it under a blocked call could release a descriptor reused meanwhile). Idempotent."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
            if not self._pending:
                os.close(self._fd)

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._wait, name="fooddelivery-sqlite-writers", daemon=True)
            self._thread.start()

    def _wait(self) -> None:
        """The thread: one blocking ``flock`` per contention, granted to the caller waiting for it, or released."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return  # closing, and the descriptor was closed by close()
            error: OSError | None = None
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # the GIL is released while it waits
            except OSError as exc:
                error = exc
            with self._cond:
                self._pending = False
                if self._closing:
                    os.close(self._fd)
                    return
                if error is not None:
                    if self._wanted:
                        self._error = error
                elif self._wanted:
                    self._held = True
                else:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)  # its caller gave up: never hold it for nobody
                self._cond.notify_all()

    def _failure(self, action: str, exc: OSError) -> InfrastructureError:
        return InfrastructureError(
            f"{action}: cannot lock {self._path}: {exc.strerror or exc}", action=action, reason="locked"
        )
