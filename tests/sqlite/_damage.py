"""Damaging a SQLite file on purpose, as a failing disk or a stray write would: for the tests of what happens then.

The file format (https://sqlite.org/fileformat2.html): the database is a sequence of ``page_size`` pages numbered
from 1; ``sqlite_schema.rootpage`` is the first page of a table's b-tree. Overwriting a page's bytes makes SQLite
report ``SQLITE_CORRUPT`` ("database disk image is malformed") when it reads the page.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def checkpointed(path: Path) -> None:
    """Fold the WAL into the database file (so every page is in the file itself) and remove it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")  # the WAL file goes; the next opener switches back to WAL
    finally:
        conn.close()


def table_pages(path: Path, table: str) -> tuple[int, int]:
    """``(root page number, page size)`` of ``table``."""
    conn = sqlite3.connect(path)
    try:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    finally:
        conn.close()
    return int(root), int(size)


def damage_table(path: Path, table: str) -> int:
    """Overwrite the root page of ``table`` with garbage (the database must be closed); returns the page number.

    Every read of a row of the table then fails with ``SQLITE_CORRUPT``; other tables stay readable.
    """
    checkpointed(path)
    root, size = table_pages(path, table)
    with path.open("r+b") as file:
        file.seek((root - 1) * size)
        file.write(bytes([0xFF]) * 8 + bytes(range(256)) * ((size - 8) // 256) + b"\x00" * ((size - 8) % 256))
    return root
