"""Write batches (``SqliteDatabase.batch``, the ``WriteBatching`` capability): a notification, a timer or a bus
append made inside one rides along with the thread's next transaction -- fewer transactions, each as short as
before, the same outcomes -- and the outbox relay's bus append is committed with its outbox mark at the latest."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from fooddelivery.adapters.memory import InMemoryOrderRepository
from fooddelivery.adapters.sqlite import SqliteAdapters
from fooddelivery.application.relay import OutboxRelay
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.unit_of_work import WriteBatching
from fooddelivery.testing.builders import T0, make_notification, make_order, make_scheduled

OpenAdapters = Callable[..., SqliteAdapters]


class _Crash(BaseException):
    """The process stopping inside a block (not an ``Exception``: nothing handles it)."""


def test_deferred_writes_ride_along_with_the_next_transaction(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    before = db.write_transactions
    with db.batch():
        adapters.notifier.send(make_notification())
        adapters.scheduler.schedule(make_scheduled(due_at=T0 + timedelta(minutes=5)))
        assert db.deferred_writes == 2
        seen = threading.Thread(target=lambda: seen_by_others.append(len(adapters.notifier.sent)))
        seen_by_others: list[int] = []
        seen.start()
        seen.join()
        assert seen_by_others == [0]  # not written yet
        adapters.orders.add(make_order())  # the next transaction carries them
        assert db.deferred_writes == 0
    assert db.write_transactions - before == 1
    assert len(adapters.notifier.sent) == 1
    assert adapters.scheduler.next_due() == T0 + timedelta(minutes=5)
    assert len(adapters.orders) == 1


def test_what_is_still_deferred_is_written_when_the_block_ends_even_if_it_raises(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    before = db.write_transactions
    with pytest.raises(RuntimeError), db.batch():
        adapters.notifier.send(make_notification())
        adapters.notifier.send(make_notification())
        raise RuntimeError("a step failed after sending")  # as without a batch: they were sent
    assert db.write_transactions - before == 1
    assert len(adapters.notifier.sent) == 2
    assert not db.in_batch


def test_a_crash_inside_the_block_drops_what_was_deferred(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    with pytest.raises(_Crash), adapters.database.batch():
        adapters.notifier.send(make_notification())
        raise _Crash
    assert adapters.notifier.sent == []  # as if the process had stopped before writing it


def test_a_transaction_that_fails_gives_its_deferred_writes_back_to_the_next_one(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    order = make_order()
    adapters.orders.add(order)
    notice = make_notification()
    with db.batch():
        adapters.notifier.send(notice)
        with pytest.raises(ConcurrencyConflict):
            adapters.orders.add(make_order(order_id=order.order_id))  # refused: rolled back with the notice
        assert db.deferred_writes == 1
        assert adapters.notifier.sent == []
    assert [n.notification_id for n in adapters.notifier.sent] == [notice.notification_id]


def test_outside_a_batch_every_write_is_its_own_transaction(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    before = db.write_transactions
    adapters.notifier.send(make_notification())
    adapters.scheduler.schedule(make_scheduled())
    assert db.write_transactions - before == 2
    assert db.deferred_writes == 0


def test_nested_batches_join_the_outermost_one(open_adapters: OpenAdapters) -> None:
    adapters = open_adapters()
    db = adapters.database
    before = db.write_transactions
    with db.batch():
        with db.batch():
            adapters.notifier.send(make_notification())
        assert db.deferred_writes == 1  # the inner block's end wrote nothing
        adapters.notifier.send(make_notification())
    assert db.write_transactions - before == 1
    assert len(adapters.notifier.sent) == 2


def test_the_sqlite_outbox_and_unit_of_work_offer_batches_and_the_in_memory_store_does_not(
    open_adapters: OpenAdapters,
) -> None:
    adapters = open_adapters()
    assert isinstance(adapters.orders, WriteBatching)
    assert isinstance(adapters.orders.unit_of_work(adapters.sagas), WriteBatching)
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


def test_a_consumer_that_raises_still_gets_the_bus_append_and_the_mark_committed_together(
    open_adapters: OpenAdapters,
) -> None:
    adapters = open_adapters()
    order = make_order()

    def broken(events: Sequence[DomainEvent]) -> None:
        raise RuntimeError("a consumer bug")

    relay = _relay(adapters, broken)
    relay.claim(list(order.pending_events))
    adapters.orders.add(order)
    before = adapters.database.write_transactions
    with pytest.raises(RuntimeError):
        relay.publish_own()

    # what it published is marked, as without a batch; the append went with the mark, in one transaction
    assert adapters.database.write_transactions - before == 1
    assert adapters.publisher.total == 1
    assert adapters.orders.outbox_size == 0


def test_a_mark_that_fails_takes_the_bus_append_with_it_and_the_event_stays_pending(
    open_adapters: OpenAdapters, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapters = open_adapters()
    order = make_order()
    relay = _relay(adapters, None)
    relay.claim(list(order.pending_events))
    adapters.orders.add(order)
    db = adapters.database
    write = db.write
    calls = [0]

    def failing_write() -> object:  # the mark's transaction, and the batch's end, find the disk full
        calls[0] += 1
        raise InfrastructureError("the disk is full", reason="disk_full")

    monkeypatch.setattr(db, "write", failing_write)
    with pytest.raises(InfrastructureError):
        relay.publish_own()
    monkeypatch.setattr(db, "write", write)

    assert calls[0] >= 1
    assert adapters.publisher.total == 0  # never marked without being on the bus: neither happened
    assert [r.event.order_id for r in adapters.orders.pending()] == [order.order_id]
