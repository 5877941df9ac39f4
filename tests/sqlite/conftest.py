"""Fixtures of the SQLite tests: database files in the test's temporary directory, closed after the test.

``open_db`` / ``open_adapters`` may be called several times on one path: that is how a test closes the database
and reopens it, as a restarted process would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.sqlite import SqliteAdapters, SqliteDatabase, open_sqlite_adapters


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database file lives (created on first open)."""
    return tmp_path / "fooddelivery.db"


@pytest.fixture
def open_db(db_path: Path) -> Iterator[Callable[..., SqliteDatabase]]:
    """Open the test's database file (again); every database opened is closed after the test."""
    opened: list[SqliteDatabase] = []

    def open_(**kwargs: Any) -> SqliteDatabase:
        db = SqliteDatabase(kwargs.pop("path", db_path), **kwargs)
        opened.append(db)
        return db

    yield open_
    for db in opened:
        db.close()


@pytest.fixture
def open_adapters(db_path: Path) -> Iterator[Callable[..., SqliteAdapters]]:
    """``open_sqlite_adapters`` on the test's database file (again); all closed after the test."""
    opened: list[SqliteAdapters] = []

    def open_(**kwargs: Any) -> SqliteAdapters:
        adapters = open_sqlite_adapters(kwargs.pop("path", db_path), **kwargs)
        opened.append(adapters)
        return adapters

    yield open_
    for adapters in opened:
        adapters.close()
