"""One writer per database file: an exclusive, non-blocking lock that ``fooddelivery serve`` takes before it opens
the database.

Two ``serve`` processes on one SQLite file would both publish the outbox, both resume the same sagas and both
deliver the same timers (version conflicts, events published twice). :class:`DatabaseLock` keeps the second one
out **before it reads or writes anything**: it locks ``<database>.lock`` (next to the file, on its resolved path)
with ``flock(LOCK_EX | LOCK_NB)`` (``msvcrt.locking`` on Windows) and writes who holds it into the file, so the
refused process can name the holder. The operating system drops the lock when the holder ends, however it ends
(SIGKILL included): there is never a stale lock to remove by hand.

The lock file is not the database: SQLite's own files are ``<database>``, ``-wal`` and ``-shm``
(https://sqlite.org/tempfiles.html), so taking this lock never touches SQLite's locks.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

__all__ = ["DatabaseInUse", "DatabaseLock", "lock_path"]


class DatabaseInUse(RuntimeError):
    """Another process holds the database's writer lock.

    Attributes:
        database: the database file.
        holder: what the holder wrote into the lock file (``pid``, ``host``, ``url``, ``since``...), possibly
            empty if it had not written it yet.
    """

    def __init__(self, database: Path, holder: Mapping[str, Any]) -> None:
        self.database = database
        self.holder = dict(holder)
        super().__init__(f"{database} is in use by {describe_holder(self.holder)}; one server per database file")


def lock_path(database: str | os.PathLike[str]) -> Path:
    """The lock file of ``database``: ``<resolved path>.lock``."""
    resolved = Path(database).resolve()
    return resolved.with_name(resolved.name + ".lock")


def describe_holder(holder: Mapping[str, Any]) -> str:
    """A sentence naming a lock holder (``"fooddelivery serve pid 4242 on host-1 (http://127.0.0.1:8000),
    since 2026-01-05T18:00:00+00:00"``)."""
    if not holder.get("pid"):
        return "another process (it has not said which yet)"
    text = f"{holder.get('command', 'a process')} pid {holder['pid']}"
    if holder.get("host"):
        text += f" on {holder['host']}"
    if holder.get("url"):
        text += f" ({holder['url']})"
    if holder.get("since"):
        text += f", since {holder['since']}"
    return text


class DatabaseLock:
    """The exclusive writer lock of one database file.

    Args:
        database: the database file (need not exist yet).
        holder: what to tell a process refused later (``url``, ``command``); ``pid``, ``host`` and ``since`` are
            added.

    Example::

        lock = DatabaseLock(db, {"url": "http://127.0.0.1:8000"})
        lock.acquire()          # DatabaseInUse if another process has it
        try:
            ...                 # open the database, recover, serve
        finally:
            lock.release()
    """

    def __init__(self, database: str | os.PathLike[str], holder: Mapping[str, Any] | None = None) -> None:
        self.database = Path(database)
        self.path = lock_path(database)
        self.holder = {"command": "fooddelivery serve", **(holder or {})}
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock at once or fail; then record this process as the holder.

        Raises:
            DatabaseInUse: another process (or another :class:`DatabaseLock` of this one) holds it.
            OSError: the lock file cannot be created (no permission, no such directory).
            RuntimeError: this object already holds it.
        """
        if self._file is not None:
            raise RuntimeError(f"{self.path} is already held by this lock")
        file = self.path.open("a+", encoding="utf-8")
        try:
            if not _try_lock(file):
                file.seek(0)
                raise DatabaseInUse(self.database, _parse(file.read()))
            record = {
                **self.holder,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            file.seek(0)
            file.truncate()
            file.write(json.dumps(record) + "\n")
            file.flush()
        except BaseException:
            file.close()
            raise
        self._file = file

    def fileno(self) -> int | None:
        """The locked file's descriptor while held, else None. A child process given it (``pass_fds``) holds the
        lock with this one (``flock`` locks the open file, not the process): it is free again only once every
        process holding it ended or closed it (``serve --processes``: :mod:`fooddelivery.server.processes`)."""
        return self._file.fileno() if self._file is not None else None

    def release(self) -> None:
        """Drop the lock (closing the file drops it). Idempotent. The file stays: removing it could let a
        process that opened it just before lock a file no one else sees."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.seek(0)
                file.truncate()
            file.close()

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _parse(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _try_lock(file: IO[str]) -> bool:
    """Lock ``file`` exclusively without waiting; False if someone else holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
