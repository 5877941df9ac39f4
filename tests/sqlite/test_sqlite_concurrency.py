"""Concurrent writers on one database file: compare-and-set holds across threads and across connections.

"Processes" are separate ``SqliteDatabase`` objects on one file (each with its own connections), so SQLite's
file locking, not a Python lock, is what keeps the writers apart.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from fooddelivery.adapters.sqlite import (
    SqliteDatabase,
    SqliteDriverRepository,
    SqliteOrderRepository,
    SqliteSagaStateStore,
    SqliteScheduler,
)
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DriverStatus
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    make_driver,
    make_order,
    make_saga_state,
    make_scheduled,
    point_at,
)

OpenDb = Callable[..., SqliteDatabase]


def run_threads(n: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` for i in 0..n-1 on n threads released together by a barrier; re-raise the first error."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("processes", [False, True], ids=["one-pool", "one-database-per-thread"])
def test_twenty_orders_racing_for_five_drivers_never_reserve_a_driver_twice(
    open_db: OpenDb, processes: bool, busy_switching: None
) -> None:
    setup = SqliteDriverRepository(open_db())
    for i in range(5):
        setup.add(make_driver(driver_id=f"drv-race-{i}", location=point_at(DOWNTOWN, km_east=0.2 * i)))
    repos = [SqliteDriverRepository(open_db()) if processes else setup for _ in range(20)]
    winners: dict[str, str] = {}
    lock = threading.Lock()

    def reserve(i: int) -> None:
        repo = repos[i]
        for candidate in repo.available_near(DOWNTOWN, 5.0, 5):
            try:
                reserved = repo.save(candidate.reserve(f"ord-race-{i}"))
            except ConcurrencyConflict:
                continue
            with lock:
                winners[f"ord-race-{i}"] = reserved.driver_id
            return

    run_threads(20, reserve)

    assert sorted(winners.values()) == [f"drv-race-{i}" for i in range(5)]
    for order_id, driver_id in winners.items():
        stored = setup.get(driver_id)
        assert stored.status is DriverStatus.ASSIGNED
        assert stored.current_order_id == order_id
        assert stored.version == 2
    assert list(setup.available_near(DOWNTOWN, 5.0, 5)) == []


def test_of_two_confirmations_saved_from_the_same_read_by_two_processes_exactly_one_wins(open_db: OpenDb) -> None:
    repos = [SqliteOrderRepository(open_db()) for _ in range(2)]
    order = make_order()
    repos[0].add(order)
    copies = [repo.get(order.order_id) for repo in repos]
    for i, copy in enumerate(copies):
        copy.transition(OrderStatus.CONFIRMED, Actor.system(), T0, f"evt-confirm-{i}")
    outcomes: list[str] = ["", ""]

    def confirm(i: int) -> None:
        try:
            repos[i].save(copies[i])
            outcomes[i] = "won"
        except ConcurrencyConflict:
            outcomes[i] = "conflict"

    run_threads(2, confirm)

    assert sorted(outcomes) == ["conflict", "won"]
    winner = outcomes.index("won")
    loser = copies[1 - winner]
    assert loser.persisted_version == 1
    assert [e.event_id for e in loser.pending_events] == [f"evt-confirm-{1 - winner}"]
    stored = repos[0].get(order.order_id)
    assert stored.status is OrderStatus.CONFIRMED
    assert stored.version == 2
    outbox = [r.event.event_id for r in repos[1].pending(100)]
    assert f"evt-confirm-{winner}" in outbox
    assert f"evt-confirm-{1 - winner}" not in outbox


def test_of_concurrent_saga_saves_from_many_processes_exactly_one_wins(open_db: OpenDb) -> None:
    stores = [SqliteSagaStateStore(open_db()) for _ in range(8)]
    state = make_saga_state(saga_id="ord-race")
    stores[0].create(state)
    copies = [store.get("ord-race") for store in stores]
    wins: list[int] = []

    def save(i: int) -> None:
        copies[i].current = f"writer-{i}"
        try:
            stores[i].save(copies[i])
            wins.append(i)
        except ConcurrencyConflict:
            pass

    run_threads(8, save)

    assert len(wins) == 1
    stored = stores[0].get("ord-race")
    assert stored.current == f"writer-{wins[0]}"
    assert stored.version == 2


def test_orders_placed_by_many_threads_are_all_stored_with_their_events(open_db: OpenDb) -> None:
    repos = [SqliteOrderRepository(open_db()) for _ in range(4)]
    placed: list[list[Order]] = [[make_order() for _ in range(50)] for _ in range(8)]
    expected_events = {o.pending_events[0].event_id for batch in placed for o in batch}

    def place(i: int) -> None:
        for order in placed[i]:
            repos[i % 4].add(order)

    run_threads(8, place)

    assert len(repos[0]) == 400
    assert {r.event.event_id for r in repos[0].pending(1000)} == expected_events
    assert all(o.persisted_version == 1 and not o.pending_events for batch in placed for o in batch)


def test_each_due_timer_is_claimed_by_one_process_only(open_db: OpenDb) -> None:
    schedulers = [SqliteScheduler(open_db()) for _ in range(6)]
    for i in range(60):
        schedulers[0].schedule(make_scheduled(message_id=f"msg-{i:02d}", due_at=T0))
    claimed: list[list[ScheduledMessage]] = [[] for _ in range(6)]

    def claim(i: int) -> None:
        while batch := schedulers[i].claim_due(T0, limit=7):
            claimed[i].extend(batch)
            schedulers[i].ack([m.message_id for m in batch])

    run_threads(6, claim)

    ids = sorted(m.message_id for batch in claimed for m in batch)
    assert ids == [f"msg-{i:02d}" for i in range(60)]
    assert schedulers[0].pending_count == schedulers[0].claimed_count == 0


def test_a_writer_that_cannot_get_the_lock_in_time_gets_an_infrastructure_error_and_writes_nothing(
    open_db: OpenDb, db_path: Path
) -> None:
    repo = SqliteOrderRepository(open_db(busy_timeout_s=0.05))
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    order = make_order()
    try:
        with pytest.raises(InfrastructureError) as caught:
            repo.add(order)
        assert caught.value.context["reason"] == "locked"
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        assert "locked" in str(caught.value.__cause__)
        assert order.persisted_version == 0
        assert len(order.pending_events) == 1
        assert repo.find_idempotent("anyone", "any-key") is None  # readers are not blocked (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    repo.add(order)
    assert repo.get(order.order_id).same_state(order)


def test_a_reader_sees_the_last_committed_state_while_a_write_is_in_progress(open_db: OpenDb, db_path: Path) -> None:
    repo = SqliteOrderRepository(open_db())
    order = make_order()
    repo.add(order)
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE orders SET status = 'CANCELLED' WHERE order_id = ?", (order.order_id,))
    try:
        assert repo.get(order.order_id).status is OrderStatus.PENDING
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_writer_of_the_same_process_waits_for_the_current_one_and_gives_up_after_the_busy_timeout(
    open_db: OpenDb,
) -> None:
    db = open_db(busy_timeout_s=0.05)
    repo = SqliteOrderRepository(db)
    holding = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with db.write():
            holding.set()
            done.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        with pytest.raises(InfrastructureError) as caught:
            repo.add(make_order())
        assert caught.value.context["reason"] == "locked"
    finally:
        done.set()
        holder.join()
    order = make_order()
    repo.add(order)
    assert len(repo) == 1
