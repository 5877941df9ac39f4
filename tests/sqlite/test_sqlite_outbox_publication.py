"""The SQLite outbox publishing to the SQLite bus log of its database in one write (``PublishingOutbox``,
``SqliteOutboxPublication``), and the relay's guarantees with it: at-least-once (a failure or a crash anywhere leaves
the events pending for the sweep), one order's events on the bus in commit order (across callers too), nothing
marked that was not appended, nothing appended twice by one successful call. Every other outbox and publisher keeps
the relay's order: publish, hand to the consumer, mark.

A full disk is made with ``PRAGMA max_page_count`` on a one-connection pool (as in ``test_sqlite_health.py``), and an
event too large for the room left (as ``test_sqlite_saga_timers.py`` does with a saga).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemoryEventPublisher, InMemoryOrderRepository
from fooddelivery.adapters.sqlite import (
    SqliteAdapters,
    SqliteDatabase,
    SqliteEventPublisher,
    SqliteOrderRepository,
    SqliteOutboxPublication,
)
from fooddelivery.adapters.sqlite.records import event_json
from fooddelivery.application.relay import OutboxRelay, publication_for
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.messaging import Outbox, PublishingOutbox
from fooddelivery.testing.builders import advance, make_event, make_order

OpenDb = Callable[..., SqliteDatabase]
Open = Callable[..., SqliteAdapters]


def _commit(relay: OutboxRelay | None, repo: SqliteOrderRepository, order: Order) -> list[DomainEvent]:
    """Write ``order`` with its pending events, as a caller of the relay does (claimed first); returns them."""
    events = list(order.pending_events)
    if relay is not None:
        relay.claim(events)
    if order.persisted_version == 0:
        repo.add(order)
    else:
        repo.save(order)
    return events


def _ids(events: Sequence[DomainEvent]) -> list[str]:
    return [e.event_id for e in events]


def _commit_large(relay: OutboxRelay | None, repo: SqliteOrderRepository, order: Order) -> list[DomainEvent]:
    """Write an event of ``order`` too large for the room a full disk leaves (200 kB: its log row needs pages of its
    own) to the outbox, as a commit of its order does (claimed first); returns it."""
    event = make_event(
        order_id=order.order_id,
        order_version=order.version + 1,
        type=EventType.ORDER_STATUS_CHANGED,
        payload={"note": "x" * 200_000},
    )
    if relay is not None:
        relay.claim([event])
    with repo.database.write() as conn:
        SqliteOrderRepository._insert_events(conn, [(event.event_id, event.order_id, event_json(event))])
    return [event]


def _fill(db: SqliteDatabase) -> None:
    """Leave no free page: the file may not grow past the pages it has (what a full disk does to SQLite)."""
    with db.read() as conn:  # the pool's only connection: the cap applies to every write
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages}")


def _free(db: SqliteDatabase) -> None:
    with db.read() as conn:
        conn.execute("PRAGMA max_page_count = 1000000")


# -- the capability -----------------------------------------------------------------------------------------------
def test_the_sqlite_outbox_publishes_in_one_write_only_to_the_bus_log_of_its_own_database(
    open_db: OpenDb, tmp_path: Path
) -> None:
    db, other = open_db(), open_db(path=tmp_path / "other.db")
    repo = SqliteOrderRepository(db)
    assert isinstance(repo, PublishingOutbox)
    publication = repo.publishing_to(SqliteEventPublisher(db))
    assert isinstance(publication, SqliteOutboxPublication)
    assert repo.publishing_to(SqliteEventPublisher(other)) is None  # another database: publish, then mark
    assert repo.publishing_to(InMemoryEventPublisher()) is None  # another technology
    with pytest.raises(ValueError, match="share one database"):
        SqliteOutboxPublication(repo, SqliteEventPublisher(other))
    # the in-memory outbox does not declare it (its behaviour, counted by the simulation, is unchanged)
    memory = InMemoryOrderRepository()
    assert isinstance(memory, Outbox) and not isinstance(memory, PublishingOutbox)
    assert publication_for(memory, InMemoryEventPublisher()) is None
    assert OutboxRelay(memory, InMemoryEventPublisher()).publication is None
    assert OutboxRelay(repo, SqliteEventPublisher(other)).publication is None
    assert isinstance(OutboxRelay(repo, SqliteEventPublisher(db)).publication, SqliteOutboxPublication)


# -- the write ----------------------------------------------------------------------------------------------------
def test_one_write_appends_the_pending_events_in_commit_order_and_removes_them(open_db: OpenDb) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    first, second = make_order(), make_order()
    placed = _commit(None, repo, first) + _commit(None, repo, second)
    confirmed = _commit(None, repo, advance(first, OrderStatus.CONFIRMED))
    publication = SqliteOutboxPublication(repo, bus)
    before = db.write_transactions

    # handed over in another order: appended in the order the outbox holds them (commit order)
    appended = publication.publish_and_mark([*confirmed, *reversed(placed)])

    assert db.write_transactions - before == 1
    assert appended == _ids(placed + confirmed) == _ids(bus.published)
    assert repo.outbox_size == 0
    assert publication.publish_and_mark(placed + confirmed) == []  # no longer pending: not appended again
    assert bus.duplicates == 0 and db.write_transactions - before == 2


def test_an_event_marked_by_someone_else_is_not_appended_again(open_db: OpenDb) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    taken, mine = _commit(None, repo, make_order()), _commit(None, repo, make_order())
    bus.publish(taken)  # the sweep published and marked it meanwhile
    repo.mark_published(_ids(taken))

    assert SqliteOutboxPublication(repo, bus).publish_and_mark(taken + mine) == _ids(mine)
    assert _ids(bus.published) == _ids(taken + mine) and bus.duplicates == 0


def test_an_order_waits_for_its_older_pending_event_of_another_caller_and_other_orders_do_not(
    open_db: OpenDb,
) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    publication = SqliteOutboxPublication(repo, bus)
    order, other = make_order(), make_order()
    placed = _commit(None, repo, order)  # caller A: not on the bus yet
    confirmed = _commit(None, repo, advance(order, OrderStatus.CONFIRMED))  # caller B, after A's commit
    prepared = _commit(None, repo, advance(order, OrderStatus.PREPARING))
    elsewhere = _commit(None, repo, other)

    # B would overtake A: B's events of that order stay pending, attempts unchanged; another order's go
    assert publication.publish_and_mark(confirmed + prepared + elsewhere) == _ids(elsewhere)
    waiting = dict.fromkeys(_ids(placed + confirmed + prepared), 0)
    assert {r.event.event_id: r.attempts for r in repo.pending()} == waiting
    assert publication.publish_and_mark(placed) == _ids(placed)  # A's write
    assert publication.publish_and_mark(confirmed + prepared) == _ids(confirmed + prepared)  # the sweep's
    assert [e.event_id for e in bus.of_order(order.order_id)] == _ids(placed + confirmed + prepared)
    assert repo.outbox_size == 0


def test_the_handled_events_of_other_callers_are_appended_in_their_place(open_db: OpenDb) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    placed = _commit(None, repo, order)  # caller A's, handled by its consumer, not written yet
    confirmed = _commit(None, repo, advance(order, OrderStatus.CONFIRMED))  # caller B's
    prepared = _commit(None, repo, advance(order, OrderStatus.PREPARING))  # caller C's, not handled yet
    handed = {e.event_id: e for e in placed}

    assert SqliteOutboxPublication(repo, bus).publish_and_mark(confirmed, handed=handed) == _ids(placed + confirmed)
    assert _ids(bus.published) == _ids(placed + confirmed)
    assert [r.event.event_id for r in repo.pending()] == _ids(prepared)  # C writes its own


def test_unhandled_events_are_appended_and_stay_pending_with_the_attempt_counted(open_db: OpenDb) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    first, second = _commit(None, repo, make_order()), _commit(None, repo, make_order())

    assert SqliteOutboxPublication(repo, bus).publish_and_mark(first + second, {first[0].event_id}) == _ids(
        first + second
    )
    assert [(r.event.event_id, r.attempts) for r in repo.pending()] == [(first[0].event_id, 1)]


def test_a_full_disk_appends_nothing_and_marks_nothing_and_the_write_succeeds_once_there_is_room(
    open_db: OpenDb,
) -> None:
    db = open_db(max_connections=1)
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    events = _commit(None, repo, order) + _commit_large(None, repo, order)
    publication = SqliteOutboxPublication(repo, bus)
    _fill(db)

    with pytest.raises(InfrastructureError) as raised:
        publication.publish_and_mark(events)
    assert raised.value.context["reason"] == "disk_full"
    assert raised.value.context["failed_ids"] == _ids(events)
    assert bus.total == 0 and [r.event.event_id for r in repo.pending()] == _ids(events)

    _free(db)
    assert publication.publish_and_mark(events) == _ids(events)
    assert _ids(bus.published) == _ids(events) and repo.outbox_size == 0


# -- the relay with it --------------------------------------------------------------------------------------------
def test_a_caller_hands_every_batch_to_the_consumer_first_and_appends_and_marks_them_all_in_one_write(
    open_db: OpenDb,
) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    seen: list[tuple[list[str], int]] = []  # (the batch, the bus's size when the consumer got it)
    follow_up: list[DomainEvent] = []

    def consumer(batch: Sequence[DomainEvent]) -> None:
        seen.append((_ids(batch), bus.total))
        if not follow_up:  # the saga reacts: commits the order's next event (published by this same call)
            follow_up.extend(_commit(relay, repo, advance(order, OrderStatus.CONFIRMED)))

    relay = OutboxRelay(repo, bus, consumer, claim_ttl_s=60)
    placed = _commit(relay, repo, order)
    before = db.write_transactions

    assert relay.publish_own() == 2

    # the consumer's own commit, then one write for both batches: before, an append per batch and one mark (4)
    assert db.write_transactions - before == 2
    assert seen == [(_ids(placed), 0), (_ids(follow_up), 0)]  # the consumer first, the bus after
    assert _ids(bus.published) == _ids(placed + follow_up)
    assert repo.outbox_size == 0 and relay._claims == {}


def test_when_the_write_fails_everything_stays_pending_and_the_sweep_delivers_it_once(open_db: OpenDb) -> None:
    db = open_db(max_connections=1)
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    handed: list[str] = []  # what the consumer got of the order, in order

    def consumer(batch: Sequence[DomainEvent]) -> None:
        handed.extend(_ids(batch))
        if len(handed) == 1:
            _commit_large(relay, repo, order)  # the saga reacts
            _fill(db)  # and the disk fills up before the caller's write

    relay = OutboxRelay(repo, bus, consumer, claim_ttl_s=60)
    _commit(relay, repo, order)
    with pytest.raises(InfrastructureError) as raised:
        relay.publish_own()
    assert raised.value.context["reason"] == "disk_full"
    # nothing appended, nothing marked: both pending
    assert [r.event.event_id for r in repo.pending()] == handed and len(handed) == 2
    assert bus.total == 0 and relay._claims == {}  # released to the sweep

    _free(db)
    assert relay.flush() == 2 and repo.outbox_size == 0
    assert _ids(bus.of_order(order.order_id)) == handed[:2]  # once each, in commit order
    assert handed[2:] == handed[:2]  # handed to the consumer again by the sweep (it is idempotent)
    assert bus.duplicates == 0


def test_a_consumer_that_raises_leaves_the_batch_it_raised_on_pending_and_the_batches_before_it_are_published(
    open_db: OpenDb,
) -> None:
    # the consumer handles OrderPlaced (and the saga commits the order's next event), then raises on that event: the
    # batch it never handled must not be appended or marked (at-least-once); the sweep hands it over again
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    handled: list[str] = []
    follow_up: list[DomainEvent] = []
    broken = [True]

    def consumer(batch: Sequence[DomainEvent]) -> None:
        if broken and follow_up and batch[0].event_id == follow_up[0].event_id:
            raise RuntimeError("the consumer broke")
        handled.extend(_ids(batch))
        if not follow_up:
            follow_up.extend(_commit(relay, repo, advance(order, OrderStatus.CONFIRMED)))

    relay = OutboxRelay(repo, bus, consumer, claim_ttl_s=60)
    placed = _commit(relay, repo, order)
    with pytest.raises(RuntimeError, match="the consumer broke"):
        relay.publish_own()

    assert handled == _ids(placed)
    assert _ids(bus.published) == _ids(placed)  # what was handled is published and marked
    assert [r.event.event_id for r in repo.pending()] == _ids(follow_up)  # never handled: still pending
    assert relay._claims == {} and relay._handed == {}  # released to the sweep

    broken.clear()
    assert relay.flush() == 1
    assert handled == _ids(placed + follow_up)
    assert _ids(bus.of_order(order.order_id)) == _ids(placed + follow_up) and repo.outbox_size == 0


class _Crash(BaseException):
    """The process dying."""


class _DiesBeforeTheWrite:
    """A publication whose process dies just before its write."""

    def __init__(self, publisher: SqliteEventPublisher) -> None:
        self.publisher = publisher

    def publish_and_mark(self, events: Any, unhandled: Any = (), handed: Any = None) -> list[str]:
        raise _Crash


def test_a_crash_after_the_consumer_leaves_the_events_to_the_next_process_sweep(open_adapters: Open) -> None:
    adapters = open_adapters()
    handed: list[str] = []
    relay = OutboxRelay(adapters.orders, adapters.publisher, lambda batch: handed.extend(_ids(batch)))
    relay.publication = _DiesBeforeTheWrite(adapters.publisher)
    events = _commit(relay, adapters.orders, make_order())
    with pytest.raises(_Crash):
        relay.publish_own()
    assert handed == _ids(events)
    assert adapters.publisher.total == 0 and adapters.orders.outbox_size == 1

    again = OutboxRelay(adapters.orders, adapters.publisher, lambda batch: handed.extend(_ids(batch)))  # restarted
    assert again.flush() == 1
    assert handed == _ids(events) * 2 and _ids(adapters.publisher.published) == _ids(events)
    assert adapters.orders.outbox_size == 0


class _SagaThreadFirst:
    """The relay's publication, with serve's saga thread (a thread of its own, fed by the placement's consumer)
    committing the order's next events and writing them while the placement's caller waits for the writer."""

    def __init__(self, relay: OutboxRelay, repo: SqliteOrderRepository, order: Order) -> None:
        assert relay.publication is not None
        self.inner, self.relay, self.repo, self.order = relay.publication, relay, repo, order
        self.publisher = self.inner.publisher
        self.saga_events: list[DomainEvent] = []
        self.saga_published: list[int] = []

    def publish_and_mark(self, events: Any, unhandled: Any = (), handed: Any = None) -> list[str]:
        if not self.saga_events:  # the placement's caller, about to write: the saga thread gets the writer first
            thread = threading.Thread(target=self._saga)
            thread.start()
            thread.join()
        return self.inner.publish_and_mark(events, unhandled, handed)

    def _saga(self) -> None:
        self.saga_events.extend(_commit(self.relay, self.repo, advance(self.order, OrderStatus.CONFIRMED)))
        self.saga_published.append(self.relay.publish_own())


def test_a_saga_thread_that_writes_before_the_placements_caller_appends_the_placement_first(open_db: OpenDb) -> None:
    # serve's SagaQueue: the placement's caller hands OrderPlaced to the saga thread (its consumer returns at once),
    # the saga thread commits the order's next events and may write before the placement's caller does: its write
    # appends OrderPlaced (handled, not written yet) in its place, then its own events
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    relay = OutboxRelay(repo, bus, lambda batch: None, claim_ttl_s=60)
    saga = _SagaThreadFirst(relay, repo, order)
    relay.publication = saga
    placed = _commit(relay, repo, order)

    assert relay.publish_own() == 0  # the saga thread's write took OrderPlaced: nothing left for this one
    assert saga.saga_published == [2]
    assert _ids(bus.of_order(order.order_id)) == _ids(placed + saga.saga_events)
    assert repo.outbox_size == 0 and bus.duplicates == 0 and relay._handed == {} and relay._claims == {}


def test_a_later_event_whose_older_one_is_not_handled_yet_waits_for_it(open_db: OpenDb) -> None:
    # the same race while the placement's consumer has not returned yet (or the older event is another process's):
    # the saga thread's events wait in the outbox for the placement's write, and the sweep appends them after it
    db = open_db()
    repo, bus = SqliteOrderRepository(db), SqliteEventPublisher(db)
    order = make_order()
    saga_events: list[DomainEvent] = []
    saga_published: list[int] = []

    def saga_thread() -> None:
        saga_events.extend(_commit(relay, repo, advance(order, OrderStatus.CONFIRMED)))
        saga_published.append(relay.publish_own())

    def consumer(batch: Sequence[DomainEvent]) -> None:
        if not saga_events:  # the saga thread runs and writes while this consumer has not returned
            thread = threading.Thread(target=saga_thread)
            thread.start()
            thread.join()

    relay = OutboxRelay(repo, bus, consumer, claim_ttl_s=60)
    placed = _commit(relay, repo, order)

    assert relay.publish_own() == 1
    assert saga_published == [0]  # it left its events pending: OrderPlaced was neither written nor handled
    assert _ids(bus.published) == _ids(placed)
    relay.consumer = None
    assert relay.flush() == 1  # the sweep appends them after it
    assert _ids(bus.of_order(order.order_id)) == _ids(placed + saga_events)
    assert repo.outbox_size == 0 and bus.duplicates == 0


def test_a_sqlite_outbox_with_another_bus_publishes_first_and_marks_after_the_consumer(open_db: OpenDb) -> None:
    db = open_db()
    repo, bus = SqliteOrderRepository(db), InMemoryEventPublisher()
    on_the_bus: list[int] = []
    relay = OutboxRelay(repo, bus, lambda batch: on_the_bus.append(len(bus.published)), claim_ttl_s=60)
    assert relay.publication is None
    events = _commit(relay, repo, make_order())
    before = db.write_transactions

    assert relay.publish_own() == 1
    assert on_the_bus == [1]  # today's order: on the bus before the consumer
    assert db.write_transactions - before == 1  # the mark
    assert _ids(bus.published) == _ids(events) and repo.outbox_size == 0
