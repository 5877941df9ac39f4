"""Firestore specifics beyond the port contracts, against the emulator: what a document holds (money as integer
minor units, the adapter's own server timestamps, no float anywhere), the billed operations the meter records, a
save of a copy read without a token, and a driver reservation racing itself."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.domain.order import OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import T0, make_driver, make_order
from fooddelivery.testing.contracts.driver_repository_contract import race_for_drivers
from fooddelivery_gcp.firestore import FirestoreDriverRepository, FirestoreOrderRepository
from fooddelivery_gcp.firestore._support import CONTENTION_BUDGET_S, format_token, run_transaction
from fooddelivery_gcp.firestore.drivers import cell_of
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


class _FakeClock:
    """Monotonic seconds that advance only by the pauses a test's ``sleep`` records."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_a_contended_transaction_is_run_again_after_a_pause_and_writes_once(firestore_client: Any, prefix: str) -> None:
    body, runs = _counter_body(firestore_client, prefix, aborts=2)
    clock = _FakeClock()
    result = run_transaction(firestore_client, body, 5, "counters.save", sleep=clock.sleep, clock=clock)
    assert result == 1 and runs == [1, 2, 3]
    assert firestore_client.collection(f"{prefix}counters").document("c").get().get("n") == 1
    # jittered x0.5-1.5 around 0.05 s, then 0.1 s
    pauses = clock.pauses
    assert len(pauses) == 2 and 0.025 <= pauses[0] <= 0.075 and 0.05 <= pauses[1] <= 0.15


def test_contention_is_retried_for_the_whole_budget_not_a_fixed_count_of_rounds(
    firestore_client: Any, prefix: str
) -> None:
    # Eight aborted rounds in a row (more than the three a count allowed before) still end in one write: their
    # pauses add up to at most 3.5 s of the 5 s budget (0.05 + 0.1 + 0.2 + 5 x 0.4, each at most x1.5).
    body, runs = _counter_body(firestore_client, prefix, aborts=8)
    clock = _FakeClock()
    assert run_transaction(firestore_client, body, 5, "counters.save", sleep=clock.sleep, clock=clock) == 1
    assert runs == list(range(1, 10))
    assert firestore_client.collection(f"{prefix}counters").document("c").get().get("n") == 1
    # pauses double from 0.05 s and stop growing at 0.4 s (each jittered x0.5-1.5)
    assert all(0.2 <= p <= 0.6 for p in clock.pauses[4:])
    assert clock.now - 1000.0 < CONTENTION_BUDGET_S


def test_a_transaction_contended_for_the_whole_budget_is_a_concurrency_conflict_with_nothing_written(
    firestore_client: Any, prefix: str
) -> None:
    body, runs = _counter_body(firestore_client, prefix, aborts=10_000)
    clock = _FakeClock()
    with pytest.raises(ConcurrencyConflict, match=r"counters\.save: still contended after \d+ rounds in 2 s") as caught:
        run_transaction(
            firestore_client, body, 5, "counters.save", budget_s=2.0, sleep=clock.sleep, clock=clock, counter="c"
        )
    assert caught.value.context == {"counter": "c"}
    # it gave up before the budget ran out, and used most of it: 2 s of pauses of at most 0.6 s each
    assert 1.4 < clock.now - 1000.0 <= 2.0
    assert len(runs) == len(clock.pauses) + 1 >= 5
    assert firestore_client.collection(f"{prefix}counters").document("c").get().get("n") == 0


def test_a_competing_write_that_committed_ends_the_retries_at_once(firestore_client: Any, prefix: str) -> None:
    from google.api_core.exceptions import Aborted

    ref = firestore_client.collection(f"{prefix}counters").document("c")
    ref.set({"n": 0})
    runs: list[int] = []

    def body(transaction: Any) -> None:
        runs.append(len(runs) + 1)
        n = int(ref.get(transaction=transaction).get("n"))
        if n != 0:
            raise ConcurrencyConflict("counter c changed since it was read", counter="c")
        if len(runs) == 1:
            raise Aborted("Transaction lock timeout")
        raise AssertionError("not reached: the competing write below commits between the rounds")

    clock = _FakeClock()

    def sleep_then_compete(seconds: float) -> None:
        clock.sleep(seconds)
        ref.set({"n": 7})

    with pytest.raises(ConcurrencyConflict, match="changed since it was read"):
        run_transaction(firestore_client, body, 5, "counters.save", sleep=sleep_then_compete, clock=clock)
    assert runs == [1, 2] and len(clock.pauses) == 1


def test_fifty_orders_racing_for_five_drivers_book_each_driver_once(firestore_client: Any, prefix: str) -> None:
    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    winners = race_for_drivers(repo, orders=50, drivers=5, spacing_km=0.2, radius_km=5.0)
    assert sorted(winners.values()) == [f"drv-race-{i}" for i in range(5)]


def test_a_reservation_drops_the_available_cell_and_a_release_restores_it(firestore_client: Any, prefix: str) -> None:
    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    stored = repo.add(make_driver(driver_id="drv-cell"))

    def raw() -> dict[str, Any]:
        return firestore_client.collection(f"{prefix}drivers").document("drv-cell").get().to_dict()

    assert raw()["availableCell"] == cell_of(stored.location, repo.cell_deg)
    reserved = repo.save(stored.reserve("ord-1"))
    assert "availableCell" not in raw() and raw()["currentOrderId"] == "ord-1" and raw()["version"] == 2
    released = repo.save(reserved.release("ord-1"))
    assert raw()["availableCell"] == cell_of(stored.location, repo.cell_deg) and raw()["version"] == 3
    # each save hands back the new update time, so the next save of that copy needs no read
    assert released.concurrency_token == format_token(
        firestore_client.collection(f"{prefix}drivers").document("drv-cell").get().update_time
    )


def test_a_driver_copy_without_a_token_is_compared_by_version(firestore_client: Any, prefix: str) -> None:
    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    stored = repo.add(make_driver(driver_id="drv-plain"))
    fresh = replace(stored, concurrency_token=None)
    stale = replace(stored, concurrency_token=None)
    assert repo.save(fresh.reserve("ord-1")).version == 2
    with pytest.raises(ConcurrencyConflict, match="drv-plain changed since it was read"):
        repo.save(stale.reserve("ord-2"))
    assert repo.get("drv-plain").current_order_id == "ord-1"
    with pytest.raises(NotFound):
        repo.save(make_driver(driver_id="drv-missing"))


def test_a_reservation_aborted_by_contention_is_written_again_once(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.api_core.exceptions import Aborted
    from google.cloud.firestore_v1.document import DocumentReference

    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    stored = repo.add(make_driver(driver_id="drv-busy"))
    real_update = DocumentReference.update
    calls: list[int] = []

    def contended_update(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise Aborted("Too much contention on these documents. Please try again.")
        return real_update(self, *args, **kwargs)

    monkeypatch.setattr(DocumentReference, "update", contended_update)
    reserved = repo.save(stored.reserve("ord-1"))
    assert len(calls) == 3 and reserved.version == 2
    assert repo.get("drv-busy").current_order_id == "ord-1"
    # the precondition still guards the retried write: the copy it was read from is now stale
    with pytest.raises(ConcurrencyConflict):
        repo.save(stored.reserve("ord-2"))


class _LostCommitAnswer:
    """A fault in front of the client library's Commit call: the first commit that writes document ``doc`` reaches
    the emulator and is applied, then its answer is lost (``UNAVAILABLE``, as when the connection drops after the
    server committed). The client library's own default retry for Commit (it retries ``UNAVAILABLE``) then sends
    the same request again, as it would against Firestore."""

    def __init__(self, firestore_client: Any, monkeypatch: pytest.MonkeyPatch, doc: str) -> None:
        transport = firestore_client._firestore_api._transport
        wrapped = transport._wrapped_methods[transport.commit]
        self.real = wrapped._target
        self.doc = doc
        self.sent: list[str] = []
        monkeypatch.setattr(wrapped, "_target", self)

    def __call__(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        from google.api_core.exceptions import ServiceUnavailable

        names = [w.update.name for w in request.writes if w.update.name]
        ours = any(name.endswith(f"/{self.doc}") for name in names)
        if ours:
            self.sent.append(self.doc)
        response = self.real(request, *args, **kwargs)
        if ours and len(self.sent) == 1:
            raise ServiceUnavailable("connection reset after the commit was applied")
        return response


def test_a_reservation_whose_commit_answer_was_lost_is_the_reservation_not_a_conflict(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    stored = repo.add(make_driver(driver_id="drv-lost"))
    fault = _LostCommitAnswer(firestore_client, monkeypatch, "drv-lost")

    reserved = repo.save(stored.reserve("ord-1"))  # the library resends the commit; our own write fails its check

    assert fault.sent == ["drv-lost", "drv-lost"]  # the commit was sent twice: applied once, then refused
    assert reserved.version == 2 and reserved.current_order_id == "ord-1"
    assert repo.get("drv-lost") == reserved
    assert reserved.concurrency_token == repo.get("drv-lost").concurrency_token
    # a genuinely stale copy still loses
    with pytest.raises(ConcurrencyConflict):
        repo.save(stored.reserve("ord-2"))


def test_a_lost_commit_answer_does_not_leak_the_driver_the_saga_reserved(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The saga's reservation loop moves on to the next candidate on a ConcurrencyConflict: a committed reservation
    # reported as a conflict would leave the first driver ASSIGNED to an order that got another one, for ever.
    from fooddelivery.adapters.system import SystemClock
    from fooddelivery.application.order_saga import reserve_nearest_driver
    from fooddelivery.domain.assignment import AssignmentPolicy
    from fooddelivery.testing.builders import DOWNTOWN, point_at

    repo = FirestoreDriverRepository(firestore_client, prefix=prefix)
    repo.add(make_driver(driver_id="drv-a", location=point_at(DOWNTOWN, km_north=0.2)))
    repo.add(make_driver(driver_id="drv-b", location=point_at(DOWNTOWN, km_north=0.4)))
    _LostCommitAnswer(firestore_client, monkeypatch, "drv-a")

    chosen = reserve_nearest_driver(repo, "ord-1", DOWNTOWN, AssignmentPolicy(), SystemClock())

    held = {d: repo.get(d).current_order_id for d in ("drv-a", "drv-b")}
    assert (chosen, held) == ("drv-a", {"drv-a": "ord-1", "drv-b": None})
