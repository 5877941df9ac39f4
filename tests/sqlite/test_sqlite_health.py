"""What the database does when its file or its disk fails: a full disk, a damaged page, a growing WAL.

A full disk is made with ``PRAGMA max_page_count`` (SQLite then answers ``SQLITE_FULL``, "database or disk is
full", exactly as on a full disk: https://sqlite.org/pragma.html#pragma_max_page_count) on a one-connection pool;
a damaged page by overwriting a table's root page in the file (``_damage.py``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from fooddelivery.adapters.sqlite import SqliteDatabase, SqliteOrderRepository, open_sqlite_adapters, translate_error
from fooddelivery.domain.errors import DataCorrupted, InfrastructureError
from fooddelivery.testing.builders import make_order

from ._damage import damage_table

OpenDb = Callable[..., SqliteDatabase]


def _pages(db: SqliteDatabase) -> int:
    with db.read() as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


def _cap(db: SqliteDatabase, pages: int) -> None:
    with db.read() as conn:  # the pool's only connection: the cap applies to every write
        conn.execute(f"PRAGMA max_page_count = {pages}")


def _store_orders(db: SqliteDatabase, count: int) -> list[str]:
    repo = SqliteOrderRepository(db)
    ids = []
    for _ in range(count):
        order = make_order()
        repo.add(order)
        ids.append(order.order_id)
    return ids


def _database_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fooddelivery.adapters.sqlite.database"]


def test_sqlite_result_codes_become_the_reasons_an_operator_acts_on(tmp_path: Path) -> None:
    full = sqlite3.OperationalError("database or disk is full")
    malformed = sqlite3.DatabaseError("database disk image is malformed")
    not_a_db = sqlite3.DatabaseError("file is not a database")

    assert translate_error(full, "commit").context["reason"] == "disk_full"
    for error in (malformed, not_a_db):
        translated = translate_error(error, "read")
        assert isinstance(translated, DataCorrupted) and translated.context["reason"] == "corrupt"
    assert type(translate_error(full, "commit")) is InfrastructureError  # retryable once the disk has room


def test_a_full_disk_fails_writes_logs_once_per_change_and_recovers_when_there_is_room(
    open_db: OpenDb, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_db(max_connections=1)
    _store_orders(db, 2)
    _cap(db, _pages(db))
    caplog.set_level(logging.INFO, "fooddelivery.adapters.sqlite.database")

    stored = 2
    failures = []
    for _ in range(200):  # the pages have some room left: fill it, then 25 writes meet the full disk
        try:
            _store_orders(db, 1)
        except InfrastructureError as exc:
            failures.append(exc.context["reason"])
            if len(failures) == 25:
                break
        else:
            assert not failures, "a write succeeded on the full disk"
            stored += 1
    health = db.health

    assert failures == ["disk_full"] * 25
    assert (health.writes, health.failed_writes, health.ok) == ("disk_full", 25, False)
    assert health.writes_since is not None
    with db.read() as conn:  # reads go on
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == stored
    _cap(db, 1_000_000)
    _store_orders(db, 2)
    assert db.health.writes == "disk_full"  # one success between failures is not a recovery yet (no flapping)
    _store_orders(db, 1)

    assert (db.health.writes, db.health.failed_writes, db.health.ok) == ("ok", 0, True)
    lines = [r.getMessage() for r in _database_records(caplog)]
    assert len(lines) == 2, lines  # one when writes began to fail, one when they succeeded again: not 25
    assert "writes fail (disk_full)" in lines[0]
    assert "writes succeed again" in lines[1] and "(25 failed writes)" in lines[1]


def test_a_damaged_page_is_found_by_the_check_reported_per_order_and_no_write_goes_in(
    db_path: Path, open_db: OpenDb, caplog: pytest.LogCaptureFixture
) -> None:
    with open_sqlite_adapters(db_path) as adapters:
        order = make_order()
        adapters.orders.add(order)
    damage_table(db_path, "orders")
    db = open_db()
    assert db.health.integrity == "unchecked"
    caplog.set_level(logging.INFO, "fooddelivery.adapters.sqlite.database")

    problems = db.check_integrity()

    assert problems, "quick_check found nothing"
    assert (db.health.integrity, db.health.ok) == ("corrupt", False)
    assert db.health.integrity_detail == problems[0]
    with pytest.raises(DataCorrupted) as read:
        SqliteOrderRepository(db).get(order.order_id)
    assert f"order {order.order_id} cannot be read" in read.value.detail
    assert "retrying will not help" in read.value.detail
    size = db_path.stat().st_size
    with pytest.raises(DataCorrupted) as write:
        _store_orders(db, 1)
    assert "writes are refused" in write.value.detail
    assert db_path.stat().st_size == size
    damaged = [r for r in _database_records(caplog) if "is damaged" in r.getMessage()]
    assert len(damaged) == 1  # logged when found, not on every refused write


def test_damage_met_by_a_statement_without_a_check_also_stops_writes(db_path: Path, open_db: OpenDb) -> None:
    with open_sqlite_adapters(db_path) as adapters:
        order = make_order()
        adapters.orders.add(order)
    damage_table(db_path, "orders")
    db = open_db()

    with pytest.raises(DataCorrupted):
        SqliteOrderRepository(db).get(order.order_id)

    assert db.health.integrity == "corrupt"
    with pytest.raises(DataCorrupted):
        _store_orders(db, 1)


def test_a_sound_file_passes_the_check(open_db: OpenDb) -> None:
    db = open_db()
    _store_orders(db, 3)

    assert db.check_integrity() == []
    assert (db.health.integrity, db.health.ok) == ("ok", True)


def test_a_checkpoint_folds_the_wal_into_the_file_and_truncates_it(open_db: OpenDb) -> None:
    db = open_db()
    ids = _store_orders(db, 50)
    assert db.wal_bytes > 0

    busy, frames, done = db.checkpoint()

    assert (busy, frames == done, db.wal_bytes) == (0, True, 0)
    assert SqliteOrderRepository(db).get(ids[-1]).order_id == ids[-1]
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == 4 * 1024 * 1024
