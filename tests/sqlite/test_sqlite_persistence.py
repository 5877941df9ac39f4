"""What SQLite adds to the contracts: everything written survives closing and reopening the database file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.adapters.sqlite import SqliteAdapters
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    PaymentDeclined,
    PaymentRetryableError,
)
from fooddelivery.domain.events import EventType
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    advance,
    make_driver,
    make_event,
    make_location_event,
    make_notification,
    make_order,
    make_restaurant,
    make_saga_state,
    make_scheduled,
)

Open = Callable[..., SqliteAdapters]


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def reopen(old: SqliteAdapters, open_adapters: Open) -> SqliteAdapters:
    """Close the database as a stopping process would, and open it again as a new one."""
    old.close()
    return open_adapters(clock=VirtualClock(T0))


def test_orders_their_outbox_and_their_idempotency_keys_survive_a_reopen(open_adapters: Open) -> None:
    first = open_adapters(clock=VirtualClock(T0))
    order = make_order(customer_id="cus-ana")
    expected_placed = order.pending_events[0]
    first.orders.add(order, IdempotencyRecord("cus-ana", "key-1", "f" * 64, order.order_id))
    loaded = first.orders.get(order.order_id)
    advance(loaded, OrderStatus.PREPARING)
    changes = list(loaded.pending_events)
    first.orders.save(loaded)
    expected = loaded.snapshot()

    again = reopen(first, open_adapters)

    stored = again.orders.get(order.order_id)
    assert stored.same_state(expected)
    assert stored.persisted_version == expected.version == 3
    assert [r.event for r in again.orders.pending(100)] == [expected_placed, *changes]
    assert again.orders.find_idempotent("cus-ana", "key-1") == IdempotencyRecord(
        "cus-ana", "key-1", "f" * 64, order.order_id
    )
    retry = make_order(customer_id="cus-ana")
    with pytest.raises(DuplicateRequest) as caught:
        again.orders.add(retry, IdempotencyRecord("cus-ana", "key-1", "f" * 64, retry.order_id))
    assert caught.value.resource_id == order.order_id
    with pytest.raises(IdempotencyKeyReused):
        again.orders.add(retry, IdempotencyRecord("cus-ana", "key-1", "0" * 64, retry.order_id))


def test_a_stale_copy_read_before_the_reopen_still_loses_to_the_stored_version(open_adapters: Open) -> None:
    first = open_adapters()
    order = make_order()
    first.orders.add(order)
    stale = first.orders.get(order.order_id)
    winner = first.orders.get(order.order_id)
    winner.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-winner")
    first.orders.save(winner)

    again = reopen(first, open_adapters)

    stale.cancel(Actor.customer(order.customer_id), T0, "evt-stale", "too late")
    with pytest.raises(ConcurrencyConflict):
        again.orders.save(stale)
    assert again.orders.get(order.order_id).status is OrderStatus.CONFIRMED


def test_a_listing_cursor_taken_before_a_reopen_continues_after_it(open_adapters: Open) -> None:
    first = open_adapters()
    restaurant = make_restaurant()
    ids = []
    for i in range(5):
        order = make_order(restaurant, customer_id="cus-pager", now=T0 + timedelta(minutes=i))
        first.orders.add(order)
        ids.append(order.order_id)
    page = first.orders.list_by_customer("cus-pager", limit=2)
    assert page.next_cursor is not None

    again = reopen(first, open_adapters)

    rest = again.orders.list_by_customer("cus-pager", limit=10, cursor=page.next_cursor)
    assert [o.order_id for o in [*page.items, *rest.items]] == list(reversed(ids))


def test_saga_state_survives_a_reopen_and_keeps_its_version(open_adapters: Open) -> None:
    first = open_adapters()
    state = make_saga_state(saga_id="ord-saga")
    first.sagas.create(state)
    state.status = SagaStatus.RUNNING
    state.data["driver"]["history"].append("drv-dee")
    first.sagas.save(state)
    stale = first.sagas.get("ord-saga")
    first.sagas.save(first.sagas.get("ord-saga"))

    again = reopen(first, open_adapters)

    got = again.sagas.get("ord-saga")
    assert got.data == state.data
    assert got.version == 3
    assert again.sagas.ids(status=SagaStatus.RUNNING) == ["ord-saga"]
    with pytest.raises(ConcurrencyConflict):
        again.sagas.save(stale)


def test_timers_survive_a_reopen_and_are_delivered_in_due_order(open_adapters: Open) -> None:
    first = open_adapters()
    late = make_scheduled(message_id="msg-late", due_at=T0 + timedelta(minutes=9))
    early = make_scheduled(message_id="msg-early", due_at=T0 + timedelta(minutes=1))
    dropped = make_scheduled(message_id="msg-dropped", due_at=T0 + timedelta(minutes=2))
    for message in (late, early, dropped):
        first.scheduler.schedule(message)
    assert first.scheduler.cancel("msg-dropped") is True

    again = reopen(first, open_adapters)

    assert again.scheduler.next_due() == T0 + timedelta(minutes=1)
    again.scheduler.schedule(replace(early, due_at=T0 + timedelta(hours=5)))  # still pending: a no-op
    assert again.scheduler.pop_due(T0 + timedelta(minutes=10)) == [early, late]
    assert again.scheduler.next_due() is None


def test_a_claimed_timer_not_acknowledged_before_a_crash_is_delivered_again_after_its_lease(
    open_adapters: Open,
) -> None:
    first = open_adapters()
    message = make_scheduled(message_id="msg-crash", due_at=T0)
    first.scheduler.schedule(message)
    assert first.scheduler.claim_due(T0, lease=timedelta(seconds=30)) == [message]

    again = reopen(first, open_adapters)  # the process died before acknowledging

    assert again.scheduler.claim_due(T0 + timedelta(seconds=29)) == []
    assert again.scheduler.next_due() == T0 + timedelta(seconds=30)
    assert again.scheduler.claim_due(T0 + timedelta(seconds=30)) == [message]
    assert again.scheduler.ack(["msg-crash"]) == 1
    assert again.scheduler.claim_due(T0 + timedelta(hours=1)) == []


def test_payment_keys_survive_a_reopen_so_a_retried_call_never_moves_money_twice(open_adapters: Open) -> None:
    first = open_adapters(clock=VirtualClock(T0))
    auth = first.payments.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
    capture = first.payments.capture(auth.charge_id, usd("21.97"), "ord-1:capture")
    refund = first.payments.refund(auth.charge_id, usd("1.97"), "ord-1:refund")
    with pytest.raises(PaymentDeclined):
        first.payments.authorize("tok_chargeDeclined", usd("5.00"), "ord-2:authorize")

    again = reopen(first, open_adapters)

    assert again.payments.authorize("tok_visa", usd("21.97"), "ord-1:authorize") == auth
    assert again.payments.capture(auth.charge_id, usd("21.97"), "ord-1:capture") == capture
    assert again.payments.refund(auth.charge_id, usd("1.97"), "ord-1:refund") == refund
    with pytest.raises(PaymentDeclined) as caught:
        again.payments.authorize("tok_chargeDeclined", usd("5.00"), "ord-2:authorize")
    assert caught.value.context["decline_code"] == "card_declined"
    with pytest.raises(IdempotencyKeyReused):
        again.payments.authorize("tok_visa", usd("99.00"), "ord-1:authorize")
    assert again.payments.captured_total("USD") == usd("21.97")
    assert again.payments.refunded_total("USD") == usd("1.97")
    assert again.payments.net_captured(auth.charge_id) == usd("20.00")
    assert again.payments.charges == [capture]
    assert again.payments.refunds == [refund]
    assert again.payments.authorize("tok_visa", usd("3.00"), "ord-3:authorize").charge_id == "ch_00000002"


def test_transient_failures_of_a_processing_error_token_are_counted_across_a_reopen(open_adapters: Open) -> None:
    first = open_adapters()
    with pytest.raises(PaymentRetryableError):
        first.payments.authorize("tok_processingError_2", usd("10.00"), "ord-1:authorize")

    again = reopen(first, open_adapters)

    with pytest.raises(PaymentRetryableError, match="attempt 2 of 2"):
        again.payments.authorize("tok_processingError_2", usd("10.00"), "ord-1:authorize")
    assert again.payments.authorize("tok_processingError_2", usd("10.00"), "ord-1:authorize").amount == usd("10.00")


def test_catalog_drivers_notifications_events_and_positions_survive_a_reopen(open_adapters: Open) -> None:
    first = open_adapters(clock=VirtualClock(T0))
    restaurant = first.restaurants.add(make_restaurant(restaurant_id="rst-keep"))
    driver = first.drivers.add(make_driver(driver_id="drv-keep"))
    notification = make_notification(notification_id="ntf-keep")
    first.notifier.send(notification)
    event = make_event(type=EventType.ORDER_PLACED)
    first.publisher.publish([event])
    position = make_location_event("drv-keep")
    first.location.append(position, "drv-keep")

    again = reopen(first, open_adapters)

    assert again.restaurants.get("rst-keep") == restaurant
    assert again.drivers.get("drv-keep") == driver
    assert list(again.drivers.available_near(DOWNTOWN, 5.0, 5)) == [driver]
    again.notifier.send(replace(notification, template="sent again"))
    assert again.notifier.sent == [notification]
    assert again.publisher.published == [event]
    assert again.location.events("drv-keep") == [position]
