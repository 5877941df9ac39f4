"""A saga step's timers in the step's own SQLite transaction (``SqliteUnitOfWork(timers=...)``, the
``TimerUnitOfWork`` port): the timer and the saga state are written together or not at all.

The unit's own rules first (a version conflict, a full disk, a bad message: no timer row and no state), then the
runner through ``bootstrap`` on every SQLite adapter: a failed wait commit arms no timer, and the saga it left
RUNNING, resumed after a restart, waits with exactly one timeout that refunds exactly once.

A full disk is made with ``PRAGMA max_page_count`` on a one-connection pool (SQLite answers ``SQLITE_FULL``:
https://sqlite.org/pragma.html#pragma_max_page_count); a refused write inside the saga's transaction with a trigger
that aborts it (``RAISE(ABORT, ...)``: https://sqlite.org/lang_createtrigger.html#raise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from fooddelivery.adapters.memory import InMemoryScheduler, OperationCounters, SequentialIdGenerator, VirtualClock
from fooddelivery.adapters.sqlite import (
    SqliteAdapters,
    SqliteDatabase,
    SqliteOrderRepository,
    SqliteSagaStateStore,
    SqliteScheduler,
)
from fooddelivery.adapters.sqlite.unit_of_work import SqliteUnitOfWork
from fooddelivery.application.unit_of_work import unit_of_work_for
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.domain import OrderStatus, PaymentStatus
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, ValidationError
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.unit_of_work import TimerUnitOfWork
from fooddelivery.testing.builders import T0, make_order, make_saga_state, make_scheduled
from tests.service._world import DRIVER_LAYOUT, START, World, make_driver, make_restaurant

OpenDb = Callable[..., SqliteDatabase]
Open = Callable[..., SqliteAdapters]
TIMEOUT_S = 300


def _unit(db: SqliteDatabase, counters: OperationCounters | None = None) -> tuple[SqliteUnitOfWork, SqliteScheduler]:
    scheduler = SqliteScheduler(db, counters=counters)
    unit = SqliteUnitOfWork(
        SqliteOrderRepository(db, counters=counters), SqliteSagaStateStore(db, counters=counters), timers=scheduler
    )
    return unit, scheduler


def _stored_order_and_saga(unit: SqliteUnitOfWork) -> SagaState:
    """An order and its RUNNING saga, committed; returns the saga as committed (version 1)."""
    order = make_order()
    saga = make_saga_state(saga_id=order.order_id, status=SagaStatus.RUNNING, timer_id=None)
    unit.commit(saga, order, create_saga=True)
    assert saga.version == 1
    return saga


def _pending_ids(scheduler: SqliteScheduler) -> list[str]:
    return [m.message_id for m in scheduler.pending()]


# -- the unit of work -----------------------------------------------------------------------------------------
def test_the_timer_is_written_with_the_saga_in_one_transaction_and_counted_once(open_db: OpenDb) -> None:
    db = open_db()
    counters = OperationCounters()
    unit, scheduler = _unit(db, counters)
    saga = _stored_order_and_saga(unit)
    timer = make_scheduled(message_id=f"{saga.saga_id}:wait:timeout", body={"sagaId": saga.saga_id})
    saga.status, saga.timer_id = SagaStatus.WAITING, timer.message_id
    before = db.write_transactions

    unit.commit(saga, schedule=timer)

    assert db.write_transactions - before == 1
    assert saga.version == 2
    assert unit.sagas.get(saga.saga_id).status is SagaStatus.WAITING
    assert scheduler.pending() == [timer]
    assert counters.snapshot()["scheduler.scheduled"] == 1


def test_the_timer_cancelled_goes_with_the_saga_and_an_unknown_one_is_not_an_error(open_db: OpenDb) -> None:
    db = open_db()
    counters = OperationCounters()
    unit, scheduler = _unit(db, counters)
    saga = _stored_order_and_saga(unit)
    scheduler.schedule(make_scheduled(message_id="t-armed"))
    saga.status = SagaStatus.SUCCEEDED
    before = db.write_transactions

    unit.commit(saga, cancel="t-armed")
    unit.commit(saga, cancel="t-never-scheduled")  # only the timer: still one transaction, nothing removed

    assert db.write_transactions - before == 2
    assert scheduler.pending_count == 0
    assert counters.snapshot()["scheduler.cancelled"] == 1


def test_a_version_conflict_writes_neither_the_timer_nor_the_cancellation(open_db: OpenDb) -> None:
    db = open_db()
    counters = OperationCounters()
    unit, scheduler = _unit(db, counters)
    saga = _stored_order_and_saga(unit)
    scheduler.schedule(make_scheduled(message_id="t-armed"))
    stale = replace(saga, data=dict(saga.data))
    saga.status = SagaStatus.WAITING
    unit.commit(saga)  # someone else moved the saga on: version 2
    stale.status = SagaStatus.RETRY_WAIT

    with pytest.raises(ConcurrencyConflict):
        unit.commit(stale, schedule=make_scheduled(message_id="t-retry"), cancel="t-armed")

    assert _pending_ids(scheduler) == ["t-armed"]  # not scheduled, not cancelled
    assert unit.sagas.get(saga.saga_id).status is SagaStatus.WAITING
    assert stale.version == 1  # as last read: the caller reloads
    snapshot = counters.snapshot()
    assert snapshot["scheduler.scheduled"] == 1 and snapshot.get("scheduler.cancelled", 0) == 0


def test_a_full_disk_writes_neither_the_saga_nor_its_timer(open_db: OpenDb) -> None:
    db = open_db(max_connections=1)
    unit, scheduler = _unit(db)
    saga = _stored_order_and_saga(unit)
    with db.read() as conn:  # the pool's only connection: the cap holds for every write
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages}")
    saga.status = SagaStatus.WAITING
    saga.data["menu"] = "x" * 200_000  # needs pages the disk no longer has
    timer = make_scheduled(message_id="t-wait")

    with pytest.raises(InfrastructureError) as raised:
        unit.commit(saga, schedule=timer)

    assert raised.value.context["reason"] == "disk_full"
    assert scheduler.pending_count == 0
    stored = unit.sagas.get(saga.saga_id)
    assert (stored.status, stored.version) == (SagaStatus.RUNNING, 1)
    with db.read() as conn:
        conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    saga.version = 1
    unit.commit(saga, schedule=timer)  # room again: both at once
    assert scheduler.pending() == [timer]
    assert unit.sagas.get(saga.saga_id).status is SagaStatus.WAITING


def test_a_message_the_scheduler_would_refuse_is_refused_before_anything_is_written(open_db: OpenDb) -> None:
    db = open_db()
    unit, scheduler = _unit(db)
    saga = _stored_order_and_saga(unit)
    saga.status = SagaStatus.WAITING
    naive = make_scheduled(due_at=datetime(2026, 12, 1, 12, 0))  # naive: refused
    before = db.write_transactions

    with pytest.raises(ValidationError) as raised:
        unit.commit(saga, schedule=naive)
    with pytest.raises(ValidationError):
        unit.commit(saga, schedule=make_scheduled(body={"at": T0}))  # not JSON-ready

    assert [f.field for f in raised.value.fields] == ["due_at"]
    assert db.write_transactions == before
    assert scheduler.pending_count == 0
    assert unit.sagas.get(saga.saga_id).version == 1


def test_scheduling_a_pending_id_again_is_a_no_op_and_a_claimed_id_schedules_anew(open_db: OpenDb) -> None:
    db = open_db()
    counters = OperationCounters()
    unit, scheduler = _unit(db, counters)
    saga = _stored_order_and_saga(unit)
    first = make_scheduled(message_id="t-1", due_at=T0)
    unit.commit(saga, schedule=first)
    unit.commit(saga, schedule=replace(first, due_at=T0 + timedelta(hours=1)))  # pending: ignored
    assert scheduler.pending() == [first]
    assert [m.message_id for m in scheduler.claim_due(T0)] == ["t-1"]
    again = replace(first, due_at=T0 + timedelta(minutes=2))

    unit.commit(saga, schedule=again)  # delivered (claimed): a new message, as SqliteScheduler.schedule does

    assert scheduler.pending() == [again] and scheduler.claimed_count == 0
    assert counters.snapshot()["scheduler.scheduled"] == 2


def test_a_unit_without_timers_refuses_them_and_holds_only_a_scheduler_of_its_own_database(
    open_db: OpenDb, tmp_path: object
) -> None:
    db = open_db()
    other = open_db(path=f"{tmp_path}/other.db")
    orders, sagas = SqliteOrderRepository(db), SqliteSagaStateStore(db)
    plain = orders.unit_of_work(sagas)
    assert isinstance(plain, SqliteUnitOfWork) and plain.timers is None
    saga = _stored_order_and_saga(plain)

    with pytest.raises(TypeError, match="holds no timers"):
        plain.commit(saga, schedule=make_scheduled())
    assert SqliteScheduler(db).pending_count == 0
    with pytest.raises(ValueError, match="share the stores' database"):
        SqliteUnitOfWork(orders, sagas, timers=SqliteScheduler(other))
    assert plain.with_timers(SqliteScheduler(other)) is None
    assert plain.with_timers(InMemoryScheduler()) is None
    scheduler = SqliteScheduler(db)
    held = unit_of_work_for(orders, sagas, scheduler)
    assert isinstance(held, SqliteUnitOfWork) and isinstance(held, TimerUnitOfWork)
    assert held.timers is scheduler
    assert unit_of_work_for(orders, sagas, InMemoryScheduler()).timers is None


# -- the runner, through bootstrap ------------------------------------------------------------------------------
def _boot(adapters: SqliteAdapters, clock: VirtualClock, namespace: str) -> World:
    boot = bootstrap(
        Settings(confirmation_timeout_s=TIMEOUT_S),
        clock=clock,
        ids=SequentialIdGenerator(namespace=namespace),
        counters=OperationCounters(),
        **adapters.ports(),
    )
    return World(boot, clock)


def _seed(world: World) -> None:
    world.boot.restaurants.add(make_restaurant())
    for driver_id, (km, status) in DRIVER_LAYOUT.items():
        world.boot.drivers.add(make_driver(driver_id, km, status))


def test_bootstrap_on_sqlite_hands_the_runner_a_unit_holding_the_schedulers_timers(open_adapters: Open) -> None:
    adapters = open_adapters()
    world = _boot(adapters, VirtualClock(START), "p1")
    unit = world.boot.adapters["unit_of_work"]
    assert isinstance(unit, SqliteUnitOfWork) and unit.timers is adapters.scheduler
    assert world.boot.runner._timer_unit is world.boot.service.orders  # the session over that unit
    # the in-memory set keeps the timers apart (timer first, then commit): simulate counts them there
    memory = bootstrap(Settings(), clock=VirtualClock(START))
    assert memory.runner._timer_unit is None


@pytest.mark.parametrize(
    ("failing", "trigger"),
    [
        ("the saga write", "BEFORE UPDATE ON sagas WHEN NEW.status = 'WAITING'"),
        ("the timer write", "BEFORE INSERT ON timers"),
    ],
)
def test_a_wait_whose_commit_fails_arms_no_timer_and_after_a_restart_times_out_with_one_refund(
    open_adapters: Open, failing: str, trigger: str
) -> None:
    clock = VirtualClock(START)
    first = open_adapters(clock=clock)
    world = _boot(first, clock, "p1")
    _seed(world)
    with first.database.write() as conn:
        conn.execute(f"CREATE TRIGGER refuse {trigger} BEGIN SELECT RAISE(ABORT, 'refused: {failing}'); END")

    order_id = world.place_id(key="idem-1")  # the placement commits; its saga cannot enter the wait

    saga = world.saga(order_id)
    assert saga.status is SagaStatus.RUNNING and saga.timer_id is None  # as last committed, resumable
    assert first.scheduler.pending_count == 0  # no timer without its state, no state without its timer
    first.close()

    second = open_adapters(clock=clock)
    with second.database.write() as conn:
        conn.execute("DROP TRIGGER refuse")
    restarted = _boot(second, clock, "p2")
    for saga_id in second.sagas.ids(status=SagaStatus.RUNNING):  # what serve does at start
        restarted.boot.runner.resume(saga_id)
    saga = restarted.saga(order_id)
    assert saga.status is SagaStatus.WAITING
    assert [m.message_id for m in second.scheduler.pending()] == [saga.timer_id]
    captured = restarted.order(order_id).pricing.total

    assert restarted.advance(TIMEOUT_S) == 1
    assert restarted.advance(TIMEOUT_S * 10) == 0

    order = restarted.order(order_id)
    assert order.status is OrderStatus.FAILED and order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in second.payments.refunds] == [captured]
    assert restarted.saga(order_id).outcome == "restaurant_timeout"
    assert second.scheduler.pending_count == 0
