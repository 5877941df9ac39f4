"""The SQLite schema of every adapter, created idempotently (``CREATE ... IF NOT EXISTS``) and versioned with
``PRAGMA user_version``.

Storage conventions (the record mappers in ``fooddelivery.adapters.sqlite.records`` apply them):

- times: ISO-8601 UTC text with microseconds (``2025-03-14T12:00:00.000000+00:00``): fixed width, so text order is
  time order and indexes on them sort chronologically;
- money: integer minor units plus an ISO 4217 currency (``{"minor": 2197, "currency": "USD"}`` in JSON records,
  ``*_minor`` + ``currency`` columns in the payment tables); never a float;
- ``Decimal`` values (ratings, tax rates): their exact string form;
- aggregates: a JSON ``record`` column next to the few columns that keys and indexes need.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from fooddelivery.domain.errors import InfrastructureError

__all__ = ["SCHEMA_VERSION", "STATEMENTS", "TABLES", "migrate"]

#: The schema version this code writes (``PRAGMA user_version``).
SCHEMA_VERSION: Final[int] = 1

#: Every table, by the adapter that owns it.
TABLES: Final[dict[str, tuple[str, ...]]] = {
    "orders": ("orders", "order_idempotency", "outbox"),
    "restaurants": ("restaurants",),
    "drivers": ("drivers",),
    "sagas": ("sagas",),
    "scheduler": ("timers",),
    "notifier": ("notifications",),
    "publisher": ("published_events",),
    "location": ("location_events",),
    "payments": ("payment_keys", "payment_attempts", "payment_charges", "payment_refunds"),
}

#: The DDL of schema version 1, in order.
STATEMENTS: Final[tuple[str, ...]] = (
    # -- orders, their idempotency keys and their outbox: written in one transaction -----------------------
    """CREATE TABLE IF NOT EXISTS orders (
        order_id      TEXT PRIMARY KEY,
        customer_id   TEXT NOT NULL,
        restaurant_id TEXT NOT NULL,
        status        TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        version       INTEGER NOT NULL,
        record        TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, created_at, order_id)",
    "CREATE INDEX IF NOT EXISTS orders_by_restaurant ON orders (restaurant_id, created_at, order_id)",
    "CREATE INDEX IF NOT EXISTS orders_by_restaurant_status ON orders (restaurant_id, status, created_at, order_id)",
    """CREATE TABLE IF NOT EXISTS order_idempotency (
        scope       TEXT NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_id    TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        event    TEXT NOT NULL
    )""",
    # one order's pending records in commit order (seq is the rowid every index entry ends with): what a publication
    # in the outbox's own write checks before it appends an order's events (SqliteOutboxPublication)
    "CREATE INDEX IF NOT EXISTS outbox_by_order ON outbox (order_id)",
    # -- restaurants: rank_key sorts rating descending as text ascending ----------------------------------
    """CREATE TABLE IF NOT EXISTS restaurants (
        restaurant_id TEXT PRIMARY KEY,
        cuisine       TEXT NOT NULL,
        rank_key      TEXT NOT NULL,
        lat           REAL NOT NULL,
        lon           REAL NOT NULL,
        version       INTEGER NOT NULL,
        record        TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS restaurants_by_rating ON restaurants (rank_key, restaurant_id)",
    "CREATE INDEX IF NOT EXISTS restaurants_by_cuisine_rating ON restaurants (cuisine, rank_key, restaurant_id)",
    # -- drivers: "available near" seeks (status, latitude band) then a longitude range --------------------
    """CREATE TABLE IF NOT EXISTS drivers (
        driver_id TEXT PRIMARY KEY,
        status    TEXT NOT NULL,
        lat       REAL NOT NULL,
        lon       REAL NOT NULL,
        lat_cell  INTEGER NOT NULL,
        version   INTEGER NOT NULL,
        record    TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS drivers_nearby ON drivers (status, lat_cell, lon, lat, driver_id)",
    # -- saga instances -------------------------------------------------------------------------------------
    """CREATE TABLE IF NOT EXISTS sagas (
        saga_id    TEXT PRIMARY KEY,
        status     TEXT NOT NULL,
        version    INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        record     TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS sagas_by_status ON sagas (status, saga_id)",
    # -- timers (the scheduler): seq keeps equal due times in scheduling order ------------------------------
    """CREATE TABLE IF NOT EXISTS timers (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id    TEXT NOT NULL UNIQUE,
        due_at        TEXT NOT NULL,
        kind          TEXT NOT NULL,
        body          TEXT NOT NULL,
        claimed_until TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due_at, seq)",
    # -- notifications sent (deduplicated by id) ------------------------------------------------------------
    """CREATE TABLE IF NOT EXISTS notifications (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        notification_id TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL,
        recipient_id    TEXT NOT NULL,
        order_id        TEXT NOT NULL,
        template        TEXT NOT NULL,
        data            TEXT NOT NULL,
        sent_at         TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS notifications_by_recipient ON notifications (recipient_id, seq)",
    # -- the in-process bus log (at-least-once: an event id may repeat) -------------------------------------
    """CREATE TABLE IF NOT EXISTS published_events (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id     TEXT NOT NULL,
        type         TEXT NOT NULL,
        order_id     TEXT NOT NULL,
        published_at TEXT NOT NULL,
        event        TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS published_events_by_order ON published_events (order_id, seq)",
    "CREATE INDEX IF NOT EXISTS published_events_by_id ON published_events (event_id)",
    # -- the location stream: one log per partition key ------------------------------------------------------
    """CREATE TABLE IF NOT EXISTS location_events (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        partition_key TEXT NOT NULL,
        event_id      TEXT NOT NULL,
        appended_at   TEXT NOT NULL,
        event         TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS location_events_by_partition ON location_events (partition_key, seq)",
    # -- the fake card processor: idempotency results, transient-failure attempts, charges, refunds -----------
    """CREATE TABLE IF NOT EXISTS payment_keys (
        idempotency_key TEXT PRIMARY KEY,
        seq             INTEGER NOT NULL UNIQUE,
        params          TEXT NOT NULL,
        result          TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS payment_attempts (
        operation       TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        failures        INTEGER NOT NULL,
        PRIMARY KEY (operation, idempotency_key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS payment_charges (
        seq              INTEGER PRIMARY KEY,
        charge_id        TEXT NOT NULL UNIQUE,
        payment_method   TEXT NOT NULL,
        currency         TEXT NOT NULL,
        authorized_minor INTEGER NOT NULL,
        captured_minor   INTEGER,
        refunded_minor   INTEGER NOT NULL DEFAULT 0,
        created_at       TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS payment_refunds (
        seq          INTEGER PRIMARY KEY,
        refund_id    TEXT NOT NULL UNIQUE,
        charge_id    TEXT NOT NULL,
        currency     TEXT NOT NULL,
        amount_minor INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    )""",
)


def migrate(conn: sqlite3.Connection) -> int:
    """Create every table and index that is missing and record :data:`SCHEMA_VERSION`; returns the version.

    Idempotent: running it on an up-to-date database changes nothing. Call it inside a write transaction
    (``SqliteDatabase`` does so when it opens a file), so concurrent openers apply it once.

    Raises:
        InfrastructureError: the file holds a newer schema than this code knows.
        sqlite3.Error: a statement failed (the caller translates it).
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise InfrastructureError(
            f"the database has schema version {found}; this code knows up to {SCHEMA_VERSION}",
            found=found,
            supported=SCHEMA_VERSION,
        )
    for statement in STATEMENTS:
        conn.execute(statement)
    if found != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION
