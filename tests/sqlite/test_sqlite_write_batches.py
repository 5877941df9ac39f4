"""Write batches (``SqliteDatabase.batch``, the ``WriteBatching`` capability): several writes, one transaction, the
same outcomes -- each write still all-or-nothing, nothing visible to others (nor lost to a crash) half-way, and the
outbox relay's bus append and outbox mark committed together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from fooddelivery.adapters.sqlite import SqliteAdapters, SqliteDatabase, SqliteOrderRepository
from fooddelivery.application.relay import OutboxRelay
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.unit_of_work import WriteBatching
from fooddelivery.testing.builders import make_order

OpenDb = Callable[..., SqliteDatabase]
OpenAdapters = Callable[..., SqliteAdapters]


class _Crash(BaseException):
    """The process stopping inside a block (not an ``Exception``: nothing handles it)."""


def _count(db: SqliteDatabase) -> int:
    with db.read() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def test_the_writes_of_a_batch_are_one_transaction_and_its_own_reads_see_them(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    before = db.write_transactions
    seen_inside: list[int] = []
    with db.batch():
        assert db.in_batch
        for _ in range(3):
            repo.add(make_order())
        seen_inside.append(len(repo))  # this thread reads on the batch's connection
        other = threading.Thread(target=lambda: seen_inside.append(_count(db)))  # the pool's connection
        other.start()
        other.join()
    assert seen_inside == [3, 0]  # nobody else saw them before the end
    assert db.write_transactions - before == 1
    assert len(repo) == 3
    assert not db.in_batch


def test_a_batch_that_only_reads_begins_no_transaction(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    before = db.write_transactions
    with db.batch():
        assert len(repo) == 0
    assert db.write_transactions == before


def test_a_failing_write_is_undone_alone_and_the_others_are_committed(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    first, second = make_order(), make_order()
    with db.batch():
        repo.add(first)
        with pytest.raises(ConcurrencyConflict):
            repo.add(make_order(order_id=first.order_id))  # the same id: refused
        repo.add(second)
    assert set(repo.order_ids()) == {first.order_id, second.order_id}
    assert repo.outbox_size == 2  # one OrderPlaced each: the refused insert left no outbox row behind


def test_a_block_that_raises_keeps_the_writes_before_it_and_a_crash_loses_all_of_them(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    kept = make_order()
    with pytest.raises(RuntimeError), db.batch():
        repo.add(kept)
        raise RuntimeError("a step failed after its write")  # as the write alone: it happened
    lost = make_order()
    with pytest.raises(_Crash), db.batch():
        repo.add(lost)
        raise _Crash
    assert repo.order_ids() == [kept.order_id]
    with db.write() as conn:  # the writer lock was given back both times
        conn.execute("SELECT 1")


def test_nested_batches_join_the_outermost_one(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    before = db.write_transactions
    with db.batch():
        repo.add(make_order())
        with db.batch():
            repo.add(make_order())
        assert db.in_batch
        repo.add(make_order())
    assert db.write_transactions - before == 1
    assert len(repo) == 3


def test_another_thread_writes_after_the_batch_and_sees_what_it_committed(open_db: OpenDb) -> None:
    db = open_db()
    repo = SqliteOrderRepository(db)
    in_batch, done = threading.Event(), threading.Event()
    seen: list[int] = []

    def writer() -> None:
        in_batch.wait(5)
        repo.add(make_order())  # waits for the batch's writer lock
        seen.append(len(repo))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    with db.batch():
        repo.add(make_order())
        in_batch.set()
        assert not done.wait(0.2)  # held off while the batch is open
    thread.join(5)
    assert seen == [2]


def test_the_sqlite_outbox_and_unit_of_work_offer_batches_and_the_in_memory_ones_do_not(
    open_adapters: OpenAdapters,
) -> None:
    from fooddelivery.adapters.memory import InMemoryOrderRepository

    adapters = open_adapters()
    assert isinstance(adapters.orders, WriteBatching)
    unit = adapters.orders.unit_of_work(adapters.sagas)
    assert isinstance(unit, WriteBatching)
    assert not isinstance(InMemoryOrderRepository(), WriteBatching)


def _relay(adapters: SqliteAdapters, consumer: Callable[[Sequence[DomainEvent]], None] | None) -> OutboxRelay:
    def consume(events: Sequence[DomainEvent]) -> None:
        if consumer is not None:
            consumer(events)

    return OutboxRelay(adapters.orders, adapters.publisher, consume, claim_ttl_s=60)


def test_the_relay_appends_to_the_bus_and_marks_the_outbox_in_one_transaction(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    order = make_order()
    relay = _relay(adapters, None)
    relay.claim(list(order.pending_events))
    adapters.orders.add(order)
    before = db.write_transactions

    assert relay.publish_own() == 1

    assert db.write_transactions - before == 1
    assert [e.order_id for e in adapters.publisher.published] == [order.order_id]
    assert adapters.orders.outbox_size == 0


def test_a_crash_before_the_relays_commit_leaves_the_event_pending_and_off_the_bus(
    open_adapters: OpenAdapters,
) -> None:
    adapters = open_adapters()
    order = make_order()

    def crash(events: Sequence[DomainEvent]) -> None:
        raise _Crash

    relay = _relay(adapters, crash)
    relay.claim(list(order.pending_events))
    adapters.orders.add(order)
    with pytest.raises(_Crash):
        relay.publish_own()

    # never marked sent without being on the bus: neither happened; the sweep publishes it
    assert adapters.publisher.total == 0
    assert [r.event.order_id for r in adapters.orders.pending()] == [order.order_id]
    assert _relay(adapters, None).flush() == 1
    assert adapters.publisher.total == 1
    assert adapters.orders.outbox_size == 0


def test_a_bus_that_refuses_the_batch_leaves_it_pending_with_its_attempt_counted(
    open_adapters: OpenAdapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapters = open_adapters()
    order = make_order()
    relay = _relay(adapters, None)
    relay.claim(list(order.pending_events))
    adapters.orders.add(order)

    def refuse(events: Sequence[DomainEvent]) -> None:
        raise InfrastructureError("the bus is down", reason="unavailable")

    monkeypatch.setattr(adapters.publisher, "publish", refuse)
    with pytest.raises(InfrastructureError):
        relay.publish_own()

    [record] = adapters.orders.pending()
    assert (record.event.order_id, record.attempts) == (order.order_id, 1)
