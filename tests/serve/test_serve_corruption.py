"""``fooddelivery serve`` on a database file with a damaged page.

The orders table's root page is overwritten while the server is stopped (``tests/sqlite/_damage.py``); then the
server starts on the file. It must notice (``PRAGMA quick_check`` at start), say so on ``/health`` (503,
``integrity: corrupt``), answer a read of a damaged order with a non-retryable 500 naming the order -- every time,
never a 503 "retry later" for data that will not come back -- refuse new orders without writing into the file, and
still serve what is not damaged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.sqlite._damage import damage_table

from ._live import REFERENCE_PAYLOAD, token
from .conftest import StartServer


def _digest(db: Path) -> str:
    """The database file and its WAL, if any."""
    wal = db.with_name(db.name + "-wal")
    return hashlib.sha256(db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).hexdigest()


def test_a_damaged_page_is_noticed_reported_per_order_and_nothing_new_goes_into_the_file(
    start_server: StartServer,
) -> None:
    server = start_server("--demo")
    customer = token("customer", "user-1")
    placed = []
    for _ in range(3):
        created = server.request("POST", "/orders", token=customer, json_body=REFERENCE_PAYLOAD)
        assert created.status == 201, created.body
        placed.append(created.json()["orderId"])
    assert server.stop() == 0
    damage_table(server.db, "orders")

    damaged = start_server(db=server.db, ready=(503,))
    health = damaged.request("GET", "/health")
    reads = [damaged.request("GET", f"/orders/{placed[0]}", token=customer) for _ in range(3)]
    before = _digest(damaged.db)
    refused = damaged.request("POST", "/orders", token=customer, json_body=REFERENCE_PAYLOAD)
    after = _digest(damaged.db)
    menu = damaged.request("GET", "/restaurants/rest-0", token=customer)

    assert health.status == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["checks"]["integrity"] == "corrupt"
    assert "damaged" in health.json()["detail"]
    for read in reads:
        assert (read.status, read.json()["code"]) == (500, "data_corrupted"), read.body
        assert f"order {placed[0]} cannot be read" in read.json()["detail"]
        assert "retrying will not help" in read.json()["detail"]
        assert "retry-after" not in read.headers
    assert (refused.status, refused.json()["code"]) == (500, "data_corrupted"), refused.body
    assert "retry-after" not in refused.headers
    assert after == before  # the refused order wrote nothing into the damaged file
    assert menu.status == 200  # the restaurants are not damaged
    output = damaged.output()
    assert "serving it read-only" in output
    assert "recovered:" not in output  # no recovery writes into a damaged file
    assert output.count("Traceback") == 0, output[-3000:]
    assert damaged.stop() == 0
