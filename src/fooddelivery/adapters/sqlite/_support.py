"""Row reads and writes shared by the SQLite repositories: insert-if-new, version-checked update, read-or-404.

Table and column names are this package's constants (never input); values are always bound parameters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound

__all__ = ["insert_new", "read_row", "stored_version", "update_versioned"]


def insert_new(conn: sqlite3.Connection, sql: str, row: Sequence[object], what: str, **context: Any) -> None:
    """Run the ``INSERT`` ``sql`` with ``row``; a row with this key already there is a conflict.

    Raises:
        ConcurrencyConflict: ``"<what> already exists"`` (with ``context``).
    """
    try:
        conn.execute(sql, row)
    except sqlite3.IntegrityError as exc:
        raise ConcurrencyConflict(f"{what} already exists", **context) from exc


def read_row(db: SqliteDatabase, sql: str, params: Sequence[object], what: str, **context: Any) -> Any:
    """The first row of the ``SELECT`` ``sql`` with ``params``.

    Raises:
        NotFound: no row (``"<what> not found"``, with ``context``).
        InfrastructureError: the database failed.
    """
    with db.read() as conn:
        row = conn.execute(sql, params).fetchone()
    if row is None:
        raise NotFound(f"{what} not found", **context)
    return row


def stored_version(conn: sqlite3.Connection, table: str, key_column: str, key: str, what: str, **context: Any) -> Any:
    """The ``version`` stored in ``table`` for the row whose ``key_column`` is ``key``.

    Raises:
        NotFound: no such row (``"<what> not found"``, with ``context``).
    """
    stored = conn.execute(f"SELECT version FROM {table} WHERE {key_column} = ?", (key,)).fetchone()
    if stored is None:
        raise NotFound(f"{what} not found", **context)
    return stored[0]


def update_versioned(
    conn: sqlite3.Connection,
    table: str,
    assignments: str,
    values: Sequence[object],
    key_column: str,
    key: str,
    expected_version: int,
    what: str,
    **context: Any,
) -> None:
    """``UPDATE table SET assignments WHERE key_column = key AND version = expected_version`` (compare-and-set).

    Args:
        conn: a connection inside a write transaction.
        table: the table.
        assignments: the ``SET`` list (``"status = ?, version = ?"``), its values in ``values``.
        values: the values of ``assignments``, in order.
        key_column: the key column.
        key: the row's key.
        expected_version: the version the row must still have.
        what: a label for messages (``"driver drv-1"``).
        context: context of the raised errors (``driver_id="drv-1"``).

    Raises:
        NotFound: no such row.
        ConcurrencyConflict: the stored version differs (nothing written).
    """
    updated = conn.execute(
        f"UPDATE {table} SET {assignments} WHERE {key_column} = ? AND version = ?",
        (*values, key, expected_version),
    ).rowcount
    if updated != 1:
        version = stored_version(conn, table, key_column, key, what, **context)
        raise ConcurrencyConflict(f"{what} is at version {version}, not {expected_version}", **context)
