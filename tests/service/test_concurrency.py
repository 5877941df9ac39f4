"""Many threads at once: drivers are never held twice, and no committed event is left behind."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from fooddelivery.domain import Actor, DriverStatus, OrderStatus, PaymentStatus
from fooddelivery.ports.saga_store import SagaStatus

from ._world import CUSTOMER, World, build_world

FIVE_DRIVERS = {f"drv-{i}": (0.2 * i, DriverStatus.AVAILABLE) for i in range(1, 6)}

pytestmark = pytest.mark.usefixtures("busy_switching")


def run_in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for i in 0..n-1 on n threads released together; returns results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_no_driver_held_twice(world: World, order_ids: list[str]) -> None:
    orders = [world.orders.get(o) for o in order_ids]
    live = [o for o in orders if o.driver_id is not None and not o.status.is_terminal]
    assert len({o.driver_id for o in live}) == len(live), "two live orders share a driver"
    held = world.held_drivers()
    assert len(set(held.values())) == len(held), "a driver record holds two orders"
    for o in live:
        assert held[o.driver_id] == o.order_id  # type: ignore[index]


def test_fifty_orders_racing_for_five_drivers_never_share_one() -> None:
    world = build_world(drivers=FIVE_DRIVERS)

    results = run_in_threads(50, lambda i: world.place(f"cust-{i:02d}").order.order_id)

    assert not [r for r in results if isinstance(r, Exception)]
    order_ids: list[str] = results
    assert len(set(order_ids)) == 50
    world.placed.extend(order_ids)
    assert world.service.dead_letters == []
    assert world.orders.outbox_size == 0  # nothing committed was left unpublished
    assert sorted(world.sagas.ids()) == sorted(order_ids)  # every order's saga started
    assert_no_driver_held_twice(world, order_ids)
    with_driver = [o for o in order_ids if world.orders.get(o).driver_id]
    assert len(with_driver) == 5
    assert set(world.held_drivers()) == set(FIVE_DRIVERS)
    assert len(world.payments.charges) == 50

    for seconds in (30, 60, 120):  # the other 45 retry assignment, then give up
        world.advance(seconds)
        assert_no_driver_held_twice(world, order_ids)

    statuses = Counter((o.status, o.failure_reason) for o in map(world.orders.get, order_ids))
    assert statuses == {(OrderStatus.PENDING, None): 5, (OrderStatus.FAILED, "no_driver"): 45}
    assert len(world.payments.refunds) == 45
    refunded = Counter(r.charge_id for r in world.payments.refunds)
    assert max(refunded.values()) == 1


def test_confirmations_and_timeouts_racing_settle_every_order_exactly_once() -> None:
    world = build_world(drivers=FIVE_DRIVERS)
    order_ids = [world.place_id(f"cust-{i}") for i in range(5)]
    world.clock.advance(300)  # every timeout is now due...

    def confirm_or_time_out(i: int) -> Any:
        if i % 2:
            return world.boot.run_due()
        return world.service.confirm_order(Actor.admin(), order_ids[i // 2])

    results = run_in_threads(10, confirm_or_time_out)  # ... while restaurants confirm
    world.boot.run_due()

    for r in results:
        assert not isinstance(r, Exception) or type(r).__name__ == "LateEvent", r
    for order_id in order_ids:
        order = world.orders.get(order_id)
        saga = world.sagas.get(order_id)
        if order.status is OrderStatus.CONFIRMED:
            assert saga.status is SagaStatus.SUCCEEDED
            assert order.payment_status is PaymentStatus.CAPTURED
        else:
            assert order.status is OrderStatus.FAILED and order.failure_reason == "restaurant_timeout"
            assert order.payment_status is PaymentStatus.REFUNDED
    assert len(world.payments.refunds) == sum(world.orders.get(o).status is OrderStatus.FAILED for o in order_ids)
    assert_no_driver_held_twice(world, order_ids)
    assert world.service.dead_letters == []


def test_a_request_publishes_only_what_it_committed_while_another_request_is_still_publishing() -> None:
    world = build_world()
    publish = world.publisher.publish
    first_is_publishing = threading.Event()
    release_first = threading.Event()

    def slow_for_the_first_order(events: Any) -> None:
        if any(e.payload.get("customerId") == "slow" for e in events):
            first_is_publishing.set()
            assert release_first.wait(10), "the test never released the first request"
        publish(events)

    world.publisher.publish = slow_for_the_first_order  # type: ignore[method-assign]
    first: list[str] = []
    thread = threading.Thread(target=lambda: first.append(world.place_id("slow")))
    thread.start()
    assert first_is_publishing.wait(10)

    second = world.place_id(CUSTOMER)  # returns while the first request is still inside its publish call

    assert world.sagas.get(second).status is SagaStatus.WAITING  # its own work, done by its own request
    assert world.service.pump() == 0  # the sweep leaves the first request's claimed events to it
    assert world.orders.outbox_size == 1  # only the first request's OrderPlaced waits
    release_first.set()
    thread.join(10)
    assert world.sagas.get(first[0]).status is SagaStatus.WAITING
    assert world.orders.outbox_size == 0
    assert world.service.dead_letters == []
