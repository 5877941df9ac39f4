"""Firestore specifics beyond the port contracts, against the emulator: what a document holds (money as integer
minor units, the adapter's own server timestamps, no float anywhere), the billed operations the meter records, a
save of a copy read without a token, and a driver reservation racing itself."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ConcurrencyConflict
from fooddelivery.domain.order import OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import T0, make_driver, make_order
from fooddelivery_gcp.firestore import FirestoreDriverRepository, FirestoreOrderRepository
from fooddelivery_gcp.firestore._support import run_transaction
from fooddelivery_gcp.metering import FirestoreMeter


def _floats(value: Any, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _floats(v, f"{path}[{i}]")]
    return []


def test_an_order_document_keeps_money_in_minor_units_and_only_coordinates_as_numbers(
    firestore_client: Any, prefix: str
) -> None:
    repo = FirestoreOrderRepository(firestore_client, prefix=prefix)
    order = make_order()
    repo.add(order)
    doc = firestore_client.collection(f"{prefix}orders").document(order.order_id).get().to_dict()
    assert doc["pricing"]["total"] == {"minor": order.pricing.total.minor, "currency": "USD"}
    assert isinstance(doc["pricing"]["total"]["minor"], int)
    assert all(p.startswith(".deliveryAddress.location") for p in _floats(doc))
    assert doc["writtenAt"] > T0  # the server's clock, kept in the adapter's own field only
    assert "writtenAt" not in repr(repo.get(order.order_id))
    outbox = list(firestore_client.collection(f"{prefix}outbox").stream())
    assert [d.to_dict()["orderId"] for d in outbox] == [order.order_id]
    assert "committedAt" in outbox[0].to_dict()


def test_the_meter_records_the_documents_a_keyed_placement_writes_and_reads(firestore_client: Any, prefix: str) -> None:
    meter = FirestoreMeter()
    repo = FirestoreOrderRepository(firestore_client, prefix=prefix, meter=meter)
    order = make_order(order_id=order_id_for_key("cus-ana", "k-1"), customer_id="cus-ana")
    assert repo.find_idempotent("cus-ana", "k-1") is None
    repo.add(order, IdempotencyRecord("cus-ana", "k-1", "f" * 64, order.order_id))
    repo.mark_published([r.event.event_id for r in repo.pending(10)])
    assert meter.snapshot() == {
        "firestore.order_keys.reads": 1,
        "firestore.order_keys.writes": 1,
        "firestore.orders.writes": 1,
        "firestore.outbox.writes": 1,
        "firestore.outbox.reads": 1,
        "firestore.outbox.deletes": 1,
    }


def test_a_copy_without_a_token_is_saved_by_comparing_its_version(firestore_client: Any, prefix: str) -> None:
    repo = FirestoreOrderRepository(firestore_client, prefix=prefix)
    order = make_order()
    repo.add(order)
    fresh, stale = repo.get(order.order_id), repo.get(order.order_id)
    fresh.concurrency_token = stale.concurrency_token = None
    fresh.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-a")
    repo.save(fresh)
    stale.cancel(Actor.customer(order.customer_id), T0, "evt-b", "too slow")
    try:
        repo.save(stale)
    except ConcurrencyConflict:
        pass
    else:
        raise AssertionError("a stale copy was saved")
    assert repo.get(order.order_id).status is OrderStatus.CONFIRMED


def test_of_ten_threads_reserving_one_driver_from_the_same_read_exactly_one_wins(
    firestore_client: Any, prefix: str
) -> None:
    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    stored = repo.add(make_driver(driver_id="drv-hot"))
    wins: list[str] = []
    conflicts: list[str] = []
    barrier = threading.Barrier(10)

    def reserve(i: int) -> None:
        barrier.wait()
        try:
            repo.save(replace(stored).reserve(f"ord-{i}"))
            wins.append(f"ord-{i}")
        except ConcurrencyConflict:
            conflicts.append(f"ord-{i}")

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(conflicts) == 9
    assert repo.get("drv-hot").current_order_id == wins[0]


def _counter_body(firestore_client: Any, prefix: str, aborts: int) -> tuple[Any, list[int]]:
    """A transaction body that increments a counter document, aborted (as Firestore aborts a contended read) on its
    first ``aborts`` runs; returns the body and the list of run numbers it saw."""
    from google.api_core.exceptions import Aborted

    ref = firestore_client.collection(f"{prefix}counters").document("c")
    ref.set({"n": 0})
    runs: list[int] = []

    def body(transaction: Any) -> int:
        runs.append(len(runs) + 1)
        n = int(ref.get(transaction=transaction).get("n"))
        if len(runs) <= aborts:
            raise Aborted("Transaction lock timeout")
        transaction.update(ref, {"n": n + 1})
        return n + 1

    return body, runs


def test_a_contended_transaction_is_run_again_after_a_pause_and_writes_once(firestore_client: Any, prefix: str) -> None:
    body, runs = _counter_body(firestore_client, prefix, aborts=2)
    pauses: list[float] = []
    result = run_transaction(firestore_client, body, 5, "counters.save", rounds=3, sleep=pauses.append)
    assert result == 1 and runs == [1, 2, 3]
    assert firestore_client.collection(f"{prefix}counters").document("c").get().get("n") == 1
    # jittered x0.5-1.5 around 0.05 s, then 0.1 s
    assert len(pauses) == 2 and 0.025 <= pauses[0] <= 0.075 and 0.05 <= pauses[1] <= 0.15


def test_a_transaction_contended_in_every_round_is_a_concurrency_conflict_with_nothing_written(
    firestore_client: Any, prefix: str
) -> None:
    body, runs = _counter_body(firestore_client, prefix, aborts=99)
    pauses: list[float] = []
    with pytest.raises(ConcurrencyConflict, match=r"counters\.save: still aborted by contention after 3 rounds"):
        run_transaction(firestore_client, body, 5, "counters.save", rounds=2, sleep=pauses.append, counter="c")
    assert runs == [1, 2, 3] and len(pauses) == 2
    assert firestore_client.collection(f"{prefix}counters").document("c").get().get("n") == 0
