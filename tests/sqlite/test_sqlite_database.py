"""The database itself: WAL mode, pragmas, the idempotent schema, error translation, indexes and counters."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fooddelivery.adapters.memory import OPERATION_NAMES, OperationCounters, VirtualClock
from fooddelivery.adapters.sqlite import (
    MEMORY,
    SCHEMA_VERSION,
    SqliteAdapters,
    SqliteDatabase,
    SqliteDriverRepository,
    SqliteOrderRepository,
    SqliteRestaurantRepository,
    migrate,
    translate_error,
)
from fooddelivery.adapters.sqlite.drivers import _box_queries
from fooddelivery.adapters.sqlite.records import order_from_row, order_row, rank_key
from fooddelivery.adapters.sqlite.schema import TABLES
from fooddelivery.domain.catalog import MenuItem
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, Order, OrderStatus
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    UNICODE_NAMES,
    advance,
    make_address,
    make_driver,
    make_event,
    make_order,
    make_restaurant,
    point_at,
)
from fooddelivery.testing.contracts.operation_counts import EXPECTED_COUNTS, exercise_every_port

OpenDb = Callable[..., SqliteDatabase]


# -- the file ---------------------------------------------------------------------------------------------------
def test_a_file_database_runs_in_wal_mode_with_normal_sync_and_a_busy_timeout(open_db: OpenDb, db_path: Path) -> None:
    db = open_db(busy_timeout_s=2.5)
    assert db.journal_mode == "wal"
    with db.read() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    assert Path(f"{db_path}-wal").exists()
    other = sqlite3.connect(db_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        other.close()


def test_the_schema_is_created_once_and_opening_again_changes_nothing(open_db: OpenDb, db_path: Path) -> None:
    db = open_db()
    with db.read() as conn:
        before = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    with db.write() as conn:
        assert migrate(conn) == SCHEMA_VERSION
    again = open_db()
    with again.read() as conn:
        after = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert before == after
    assert version == SCHEMA_VERSION
    names = {name for kind, name, _ in before if kind == "table"}
    assert {table for tables in TABLES.values() for table in tables} <= names


def test_a_database_with_a_newer_schema_is_refused(open_db: OpenDb, db_path: Path) -> None:
    open_db().close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(InfrastructureError, match="schema version"):
        open_db()


def test_a_file_that_is_not_a_database_is_refused_as_an_infrastructure_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not a SQLite database, just some text " * 100)
    with pytest.raises(InfrastructureError) as caught:
        SqliteDatabase(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_a_closed_database_refuses_every_call(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(InfrastructureError, match="closed"):
        repo.get("ord-any")


def test_an_in_memory_database_serves_every_thread_on_one_connection() -> None:
    db = SqliteDatabase(MEMORY)
    try:
        repo = SqliteOrderRepository(db)
        orders = [make_order() for _ in range(40)]

        def add(batch: list[Order]) -> None:
            for order in batch:
                repo.add(order)

        threads = [threading.Thread(target=add, args=(orders[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(repo) == 40
        assert db.journal_mode == "memory"
    finally:
        db.close()


def test_sqlite_errors_become_the_cores_errors_with_their_cause() -> None:
    duplicate = translate_error(sqlite3.IntegrityError("UNIQUE constraint failed: orders.order_id"), "add")
    locked = translate_error(sqlite3.OperationalError("database is locked"), "save")
    disk = translate_error(sqlite3.OperationalError("disk I/O error"), "save")
    assert isinstance(duplicate, ConcurrencyConflict)
    assert isinstance(locked, InfrastructureError) and locked.context["reason"] == "locked"
    assert isinstance(disk, InfrastructureError) and disk.context["reason"] == "OperationalError"


def test_a_failing_statement_inside_a_write_rolls_the_whole_transaction_back(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    order = make_order()
    with pytest.raises(InfrastructureError), db.write() as conn:
        conn.execute(
            "INSERT INTO outbox (event_id, order_id, event) VALUES (?, ?, ?)", ("evt-orphan", order.order_id, "{}")
        )
        conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert repo.outbox_size == 0


# -- record mapping -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
def test_an_order_round_trips_exactly_through_its_record_in_any_currency(currency: str) -> None:
    menu = tuple(
        MenuItem(f"itm-{i}", name, Money(minor, currency))
        for i, (name, minor) in enumerate(zip(UNICODE_NAMES[:3], (1250, 1800, 1425), strict=True))
    )
    restaurant = replace(make_restaurant(), currency=currency, tax_rate=Decimal("0.0875"), menu=menu)
    order = make_order(restaurant, promo=None, tip="3")
    advance(order, OrderStatus.PICKED_UP)
    order.take_events()
    back = order_from_row(order_row(order))
    assert back.same_state(order)
    assert back.pricing.total == order.pricing.total
    assert back.status_times == order.status_times
    assert all(t.utcoffset() == timedelta(0) for t in back.status_times.values())


def test_an_order_without_coordinates_and_with_odd_text_round_trips_exactly(open_db: OpenDb) -> None:
    repo = SqliteOrderRepository(open_db())
    restaurant = make_restaurant()
    order = make_order(
        restaurant,
        address=make_address(text="Line 1\nLine \"2\" — 'quoted' \\ back\\slash \u0000 nul", location=None),
        lines=[LineRequest(quantity=99, item_id=restaurant.menu[0].item_id)],
    )
    expected = order.snapshot()
    repo.add(order)
    assert repo.get(order.order_id).same_state(expected)


def test_an_event_payload_that_is_not_json_ready_is_refused_and_nothing_is_written(open_db: OpenDb) -> None:
    repo = SqliteOrderRepository(open_db())
    order = make_order()
    order.pending_events.append(make_event(order_id=order.order_id, payload={"amount": Decimal("1.5")}))
    with pytest.raises(ValidationError) as caught:
        repo.add(order)
    assert [f.field for f in caught.value.fields] == ["payload"]
    assert len(repo) == 0
    assert order.persisted_version == 0


def test_ratings_sort_as_exact_decimals_whatever_their_written_scale(open_db: OpenDb) -> None:
    repo = SqliteRestaurantRepository(open_db())
    for rid, rating in (("rst-a", "4.5"), ("rst-b", "4.50"), ("rst-c", "4.05"), ("rst-d", "5"), ("rst-e", "0")):
        repo.add(make_restaurant(restaurant_id=rid, rating=Decimal(rating)))
    listed = repo.search(RestaurantQuery(min_rating=Decimal("4.05"), limit=100)).items
    assert [r.restaurant_id for r in listed] == ["rst-d", "rst-a", "rst-b", "rst-c"]
    assert [str(r.rating) for r in listed] == ["5", "4.5", "4.50", "4.05"]
    assert rank_key(Decimal("4.5")) == rank_key(Decimal("4.50")) < rank_key(Decimal("4.05"))


# -- indexes ------------------------------------------------------------------------------------------------------
def _plan(db: SqliteDatabase, sql: str, params: Sequence[object]) -> str:
    with db.read() as conn:
        return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize(
    "point", [DOWNTOWN, GeoPoint(0.0, -180.0), GeoPoint(90.0, 0.0)], ids=["city", "antimeridian", "pole"]
)
def test_available_near_is_answered_by_a_covering_index_search(open_db: OpenDb, point: GeoPoint) -> None:
    db = open_db()
    for sql, params in _box_queries(point, 8.0):
        plan = _plan(db, sql, params)
        assert "SEARCH drivers USING COVERING INDEX drivers_nearby (status=? AND lat_cell=?" in plan
        assert "SCAN" not in plan


def test_available_near_reads_only_the_drivers_near_the_point(open_db: OpenDb) -> None:
    repo = SqliteDriverRepository(open_db())
    for i in range(100):
        for j in range(100):
            spot = point_at(DOWNTOWN, km_north=i - 50, km_east=j - 50)
            repo.add(make_driver(driver_id=f"drv-{i:03d}-{j:03d}", location=spot))
    found = repo.available_near(DOWNTOWN, 8.0, 5)
    assert found[0].driver_id == "drv-050-050"
    assert len(found) == 5
    assert 5 <= repo.last_query_examined < 100  # of 10,000 drivers
    everyone = repo.available_near(DOWNTOWN, 8.0, 1000)
    assert len(everyone) == 197  # the 1 km grid points within 8 km
    assert repo.last_query_examined < 700  # every circle searched, 1 + 2 + 4 + 8 km


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT * FROM orders WHERE customer_id = ? AND (created_at, order_id) < (?, ?)"
            " ORDER BY created_at DESC, order_id DESC LIMIT 21",
            "orders_by_customer",
        ),
        (
            "SELECT * FROM orders WHERE restaurant_id = ? AND status = ? AND (created_at, order_id) > (?, ?)"
            " ORDER BY created_at, order_id LIMIT 21",
            "orders_by_restaurant_status",
        ),
        (
            "SELECT * FROM orders WHERE restaurant_id = ? AND (created_at, order_id) > (?, ?)"
            " ORDER BY created_at, order_id LIMIT 21",
            "orders_by_restaurant",
        ),
        (
            "SELECT * FROM restaurants WHERE cuisine = ? AND rank_key <= ? AND (rank_key, restaurant_id) > (?, ?)"
            " ORDER BY rank_key, restaurant_id LIMIT 64",
            "restaurants_by_cuisine_rating",
        ),
        (
            "SELECT * FROM timers WHERE due_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)"
            " ORDER BY due_at, seq LIMIT 100",
            "timers_by_due",
        ),
    ],
    ids=["orders-by-customer", "orders-by-restaurant-status", "orders-by-restaurant", "restaurants", "timers"],
)
def test_listings_seek_their_index_and_never_sort(open_db: OpenDb, sql: str, index: str) -> None:
    params = ["x"] * sql.count("?")
    plan = _plan(open_db(), sql, params)
    assert f"SEARCH {sql.split()[3]} USING" in plan and index in plan
    assert "TEMP B-TREE" not in plan


# -- counters -----------------------------------------------------------------------------------------------------
def test_every_adapter_counts_its_operations_under_the_in_memory_names(
    open_adapters: Callable[..., SqliteAdapters],
) -> None:
    c = OperationCounters()
    a = open_adapters(counters=c, clock=VirtualClock(T0))

    exercise_every_port(a)

    assert c.snapshot() == EXPECTED_COUNTS
    assert set(c.snapshot()) == OPERATION_NAMES
