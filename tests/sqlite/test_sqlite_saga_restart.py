"""The whole order saga through ``bootstrap`` with every SQLite adapter and a virtual clock, across restarts.

A "process" is one ``open_sqlite_adapters`` + ``bootstrap`` on the test's database file; a restart closes the
database and builds a new process on the same file, as ``fooddelivery serve --db FILE`` would after a stop. The
clock is shared (virtual time keeps running across the restart); each process gets its own id namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from fooddelivery.adapters.memory import OperationCounters, SequentialIdGenerator, VirtualClock
from fooddelivery.adapters.sqlite import SqliteAdapters
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.domain import DriverStatus, EventType, InfrastructureError, OrderStatus, PaymentStatus
from fooddelivery.ports.saga_store import SagaStatus
from tests.service._world import (
    DRIVER_LAYOUT,
    OTHER_REST_ID,
    PARIS,
    START,
    World,
    make_driver,
    make_restaurant,
    north_of,
)

Open = Callable[..., SqliteAdapters]
TIMEOUT_S = 300


@dataclass
class Process:
    """One running process: its adapters and its bootstrapped world."""

    adapters: SqliteAdapters
    world: World
    counters: OperationCounters

    def stop(self) -> None:
        self.adapters.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def start(open_adapters: Open, clock: VirtualClock) -> Iterator[Callable[..., Process]]:
    """Start a process on the test's database (seeding the catalog on the first start only)."""
    started: list[Process] = []

    def start_(seed: bool = False) -> Process:
        counters = OperationCounters()
        adapters = open_adapters(clock=clock, counters=counters)
        boot = bootstrap(
            Settings(confirmation_timeout_s=TIMEOUT_S),
            clock=clock,
            ids=SequentialIdGenerator(namespace=f"p{len(started) + 1}"),
            counters=counters,
            **adapters.ports(),
        )
        if seed:
            boot.restaurants.add(make_restaurant())
            boot.restaurants.add(make_restaurant(OTHER_REST_ID, cuisine="japanese", location=north_of(PARIS, 2.0)))
            for driver_id, (km, status) in DRIVER_LAYOUT.items():
                boot.drivers.add(make_driver(driver_id, km, status))
        else:
            # What a restarted server does before serving: publish what the outbox still holds, resume the
            # sagas a crash interrupted mid-step.
            boot.service.pump()
            for saga_id in adapters.sagas.ids(status=SagaStatus.RUNNING):
                boot.runner.resume(saga_id)
        process = Process(adapters, World(boot, clock), counters)
        started.append(process)
        return process

    yield start_


def waiting_order(process: Process) -> str:
    """Place the default order and check that its saga now waits for the restaurant."""
    order_id = process.world.place_id(key="idem-1")
    saga = process.world.saga(order_id)
    assert saga.status is SagaStatus.WAITING
    assert saga.current == "WaitForRestaurantConfirmation"
    order = process.world.order(order_id)
    assert order.status is OrderStatus.PENDING
    assert order.payment_status is PaymentStatus.CAPTURED
    assert order.driver_id == "drv-near"
    assert process.adapters.scheduler.pending_count == 1
    return order_id


def test_a_saga_waiting_before_a_restart_completes_with_the_restaurants_confirmation_after_it(
    start: Callable[..., Process], clock: VirtualClock
) -> None:
    first = start(seed=True)
    order_id = waiting_order(first)
    first.stop()
    clock.advance(60)

    second = start()
    outcome = second.world.confirm(order_id)

    assert outcome == "ACCEPTED"
    saga = second.world.saga(order_id)
    assert saga.status is SagaStatus.SUCCEEDED
    order = second.world.order(order_id)
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment_status is PaymentStatus.CAPTURED
    assert second.adapters.scheduler.pending_count == 0  # the timeout was cancelled
    assert second.world.advance(TIMEOUT_S * 10) == 0
    assert second.world.order(order_id).status is OrderStatus.CONFIRMED
    published = second.adapters.publisher.of_order(order_id)
    assert published[0].type is EventType.ORDER_PLACED
    assert [e.payload["to"] for e in published if e.type is EventType.ORDER_STATUS_CHANGED] == ["CONFIRMED"]
    assert second.adapters.orders.outbox_size == 0
    assert len(second.adapters.payments.charges) == 1
    assert second.adapters.payments.refunds == []
    # The customer's retry with the same key after the restart is the same order, not a second one.
    assert second.world.place(key="idem-1").order.order_id == order_id
    assert len(second.adapters.orders) == 1


def test_the_confirmation_timeout_still_fires_after_a_restart_and_refunds_exactly_once(
    start: Callable[..., Process], clock: VirtualClock
) -> None:
    first = start(seed=True)
    order_id = waiting_order(first)
    captured = first.world.order(order_id).pricing.total
    first.stop()

    second = start()
    clock.advance(TIMEOUT_S - 1)
    assert second.world.boot.run_due() == 0
    clock.advance(1)
    assert second.world.boot.run_due() == 1

    saga = second.world.saga(order_id)
    assert saga.status is SagaStatus.FAILED
    assert saga.outcome == "restaurant_timeout"
    order = second.world.order(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.payment_status is PaymentStatus.REFUNDED
    payments = second.adapters.payments
    assert len(payments.refunds) == 1
    assert payments.refunds[0].amount == captured
    assert payments.net_captured(order.charge_id or "") == captured - captured
    assert second.world.driver("drv-near").status is DriverStatus.AVAILABLE
    assert [n.template for n in second.world.alerts()] == ["restaurant_did_not_confirm"]
    second.stop()

    third = start()
    clock.advance(3600)
    assert third.world.boot.run_due() == 0
    assert len(third.adapters.payments.refunds) == 1
    assert third.world.order(order_id).status is OrderStatus.FAILED


def test_a_timer_claimed_by_a_process_that_crashed_before_delivering_it_fires_after_the_restart(
    start: Callable[..., Process], clock: VirtualClock
) -> None:
    first = start(seed=True)
    order_id = waiting_order(first)
    clock.advance(TIMEOUT_S)
    (claimed,) = first.adapters.scheduler.claim_due(clock.now(), lease=timedelta(seconds=30))
    first.stop()  # died before delivering: the timer was never acknowledged

    second = start()
    assert second.world.boot.run_due() == 0  # still leased to the dead process
    clock.advance(30)
    assert second.world.boot.run_due() == 1

    assert claimed.message_id == f"{order_id}:WaitForRestaurantConfirmation:timeout"
    assert second.world.order(order_id).status is OrderStatus.FAILED
    assert len(second.adapters.payments.refunds) == 1


def test_a_timer_delivered_by_a_process_that_crashed_before_acknowledging_it_refunds_only_once(
    start: Callable[..., Process], clock: VirtualClock
) -> None:
    first = start(seed=True)
    order_id = waiting_order(first)
    clock.advance(TIMEOUT_S)
    (claimed,) = first.adapters.scheduler.claim_due(clock.now(), lease=timedelta(seconds=30))
    first.world.service.deliver_timer(claimed)
    assert first.world.order(order_id).status is OrderStatus.FAILED
    first.stop()  # died after delivering, before acknowledging

    second = start()
    clock.advance(30)
    assert second.world.boot.run_due() == 1  # delivered again: the saga no longer waits for it

    assert second.world.saga(order_id).status is SagaStatus.FAILED
    assert len(second.adapters.payments.refunds) == 1
    assert second.adapters.scheduler.pending_count == second.adapters.scheduler.claimed_count == 0


def test_an_order_whose_process_died_before_publishing_starts_its_saga_after_the_restart(
    start: Callable[..., Process], clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SQLite outbox appends to the SQLite bus log in the write that marks (PublishingOutbox), after the saga was
    # handed the events: a bus that refuses no longer keeps OrderPlaced from the saga (see the next test). A process
    # that dies between the placement's commit and its publication does: the next process starts the saga.
    first = start(seed=True)
    monkeypatch.setattr(first.world.service.relay, "publish_own", lambda: 0)  # dead before it publishes
    order_id = first.world.place_id()
    assert first.adapters.orders.outbox_size == 1 and first.adapters.publisher.total == 0
    # the placement created the saga with the order (one transaction); OrderPlaced never reached it, so it is
    # still where it started
    created = first.adapters.sagas.get(order_id)
    assert (created.status, created.current, created.version) == (SagaStatus.RUNNING, "ValidateOrder", 1)
    first.stop()

    second = start()  # pumps the outbox on start

    assert second.world.saga(order_id).status is SagaStatus.WAITING
    assert second.adapters.orders.outbox_size == 0
    assert second.world.order(order_id).payment_status is PaymentStatus.CAPTURED
    assert [r.attempts for r in second.adapters.orders.pending()] == []
    clock.advance(60)
    assert second.world.confirm(order_id) == "ACCEPTED"
    assert second.world.order(order_id).status is OrderStatus.CONFIRMED


def test_a_saga_driven_while_the_bus_refused_its_events_is_published_once_after_the_restart_and_paid_once(
    start: Callable[..., Process], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Consumers first, then the append to the bus and the mark, in one write: when that write fails the saga has
    # already run, and every event waits in the outbox; the next process hands them to the saga again (it changes
    # nothing: idempotent) and puts each on the bus once, in commit order.
    first = start(seed=True)

    def refuse(events: Any, unhandled: Any = (), handed: Any = None) -> list[str]:
        raise InfrastructureError("bus down", failed_ids=[e.event_id for e in events])

    monkeypatch.setattr(first.world.service.relay.publication, "publish_and_mark", refuse)
    order_id = first.world.place_id()
    assert first.world.saga(order_id).status is SagaStatus.WAITING
    pending = [r.event.event_id for r in first.adapters.orders.pending()]
    assert len(pending) == 5 and first.adapters.publisher.total == 0  # placed, paid, notified, assigned, notified
    first.stop()

    second = start()

    assert second.adapters.orders.outbox_size == 0
    assert [e.event_id for e in second.adapters.publisher.of_order(order_id)] == pending
    assert second.adapters.publisher.duplicates == 0
    assert second.world.saga(order_id).status is SagaStatus.WAITING
    assert len(second.adapters.payments.charges) == 1 and second.adapters.payments.refunds == []


def test_a_timer_whose_delivery_fails_is_handed_back_and_delivered_by_the_next_run(
    start: Callable[..., Process], clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = start(seed=True)
    order_id = waiting_order(process)
    service = process.world.service
    deliver = service.deliver_timer

    def fail_once(message: Any) -> None:
        monkeypatch.setattr(service, "deliver_timer", deliver)
        raise RuntimeError("the handler crashed")

    monkeypatch.setattr(service, "deliver_timer", fail_once)
    clock.advance(TIMEOUT_S)
    with pytest.raises(RuntimeError):
        process.world.boot.run_due()
    assert process.adapters.scheduler.pending_count == 1  # released, not lost
    assert process.adapters.scheduler.claimed_count == 0

    assert process.world.boot.run_due() == 1
    assert process.world.order(order_id).status is OrderStatus.FAILED
    assert len(process.adapters.payments.refunds) == 1
