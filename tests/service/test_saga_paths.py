"""Every path through the order saga, driven by virtual time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fooddelivery.domain import (
    Actor,
    DriverStatus,
    EventType,
    InvalidTransition,
    OrderStatus,
    PaymentStatus,
)
from fooddelivery.ports.notifications import NotificationKind
from fooddelivery.ports.saga_store import SagaStatus

from ._world import CUSTOMER, REST_ID, START, World, make_driver

E = EventType


def retry_timer(order_id: str, step: str, n: int, policy: int = 0) -> str:
    """The id of the ``n``-th retry timer of ``step`` under its retry policy number ``policy``."""
    return f"{order_id}:{step}:retry:{policy}:{n}"


def timeout_timer(order_id: str) -> str:
    return f"{order_id}:WaitForRestaurantConfirmation:timeout"


# -- happy ---------------------------------------------------------------------------------------------------
def test_a_restaurant_confirmation_completes_the_saga_and_confirms_the_order(app: World, waiting_order: str) -> None:
    app.advance(60)

    outcome = app.confirm(waiting_order)

    assert outcome == "ACCEPTED"
    order = app.order(waiting_order)
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment_status is PaymentStatus.CAPTURED
    assert order.status_times["CONFIRMED"] == app.clock.now()
    saga = app.saga(waiting_order)
    assert saga.status is SagaStatus.SUCCEEDED and saga.outcome is None
    assert len(app.payments.charges) == 1 and app.payments.refunds == []
    assert app.pending_timers() == []  # the 300 s timeout was cancelled
    assert app.templates(CUSTOMER) == ["order_received", "order_confirmed"]
    assert app.event_types(waiting_order)[-2:] == [E.ORDER_STATUS_CHANGED, E.CUSTOMER_NOTIFIED]
    assert app.driver("drv-near").current_order_id == waiting_order
    assert app.alerts() == []


def test_nothing_happens_after_a_confirmation_when_the_old_timeout_would_have_been_due(
    app: World, confirmed_order: str
) -> None:
    before = app.observable()

    assert app.advance(3600) == 0

    assert app.observable() == before
    assert app.order(confirmed_order).status is OrderStatus.CONFIRMED


# -- decline -------------------------------------------------------------------------------------------------
def test_a_declined_card_fails_the_order_without_a_refund_and_without_reserving_a_driver(app: World) -> None:
    drivers_before = [(d.driver_id, d.version) for d in app.drivers.all_drivers()]

    order_id = app.place_id(token="tok_chargeDeclined")

    order = app.order(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "payment_declined"
    assert order.payment_status is PaymentStatus.DECLINED
    assert order.driver_id is None
    saga = app.saga(order_id)
    assert saga.status is SagaStatus.FAILED and saga.outcome == "payment_declined"
    assert saga.data["error"]["code"] == "payment_declined"
    assert app.payments.charges == [] and app.payments.refunds == []
    assert app.payments.calls == 1  # a decline is never retried
    assert [(d.driver_id, d.version) for d in app.drivers.all_drivers()] == drivers_before
    assert app.held_drivers() == {}
    assert app.templates(REST_ID) == []
    assert app.templates(CUSTOMER) == ["order_failed"]
    assert app.event_types(order_id) == [E.ORDER_PLACED, E.ORDER_FAILED, E.CUSTOMER_NOTIFIED]
    assert app.pending_timers() == []


# -- transient payment errors --------------------------------------------------------------------------------
def test_a_processor_failing_twice_is_retried_after_5_and_10_seconds_then_captured(app: World) -> None:
    app.payments.fail_next(2)

    order_id = app.place_id()

    assert app.saga(order_id).status is SagaStatus.RETRY_WAIT
    assert app.pending_timers() == [(retry_timer(order_id, "ProcessPayment", 1), 5.0)]
    assert app.advance(4.999) == 0
    assert app.payments.calls == 1 and app.saga(order_id).status is SagaStatus.RETRY_WAIT

    assert app.advance(0.001) == 1  # t = 5 s: the first retry fails too
    assert app.payments.calls == 2
    assert app.pending_timers() == [(retry_timer(order_id, "ProcessPayment", 2), 15.0)]
    assert app.advance(9.999) == 0
    assert app.payments.calls == 2

    assert app.advance(0.001) == 1  # t = 15 s: captured
    order = app.order(order_id)
    assert order.payment_status is PaymentStatus.CAPTURED
    assert [c.amount for c in app.payments.charges] == [order.pricing.total]
    assert order.driver_id == "drv-near"
    assert app.saga(order_id).status is SagaStatus.WAITING
    assert app.pending_timers() == [(timeout_timer(order_id), 15.0 + 300.0)]
    assert app.event_types(order_id)[:2] == [E.ORDER_PLACED, E.PAYMENT_CAPTURED]


def test_a_card_with_two_transient_errors_is_retried_after_5_and_10_seconds_then_captured(app: World) -> None:
    order_id = app.place_id(token="tok_processingError_2")

    assert app.pending_timers() == [(retry_timer(order_id, "ProcessPayment", 1), 5.0)]
    assert app.advance(4.999) == 0
    assert app.payments.calls == 1
    app.advance(0.001)
    assert app.pending_timers() == [(retry_timer(order_id, "ProcessPayment", 2), 15.0)]
    assert app.payments.calls == 2 and app.payments.charges == []
    assert app.advance(9.999) == 0
    assert app.payments.calls == 2

    assert app.advance(0.001) == 1

    order = app.order(order_id)
    assert order.payment_status is PaymentStatus.CAPTURED
    assert [c.amount for c in app.payments.charges] == [order.pricing.total]
    assert app.payments.calls == 4  # two failed authorizations, then authorize + capture
    assert app.saga(order_id).status is SagaStatus.WAITING
    assert app.pending_timers() == [(timeout_timer(order_id), 15.0 + 300.0)]


def test_a_card_with_one_transient_error_is_captured_at_the_first_retry(app: World) -> None:
    order_id = app.place_id(token="tok_processingError_1")

    app.advance(5)

    assert app.order(order_id).payment_status is PaymentStatus.CAPTURED
    assert len(app.payments.charges) == 1


def test_a_payment_that_keeps_failing_transiently_fails_the_order_after_three_retries(app: World) -> None:
    order_id = app.place_id(token="tok_processingError")

    due_times = []
    for n in (1, 2, 3):
        ((message_id, due),) = app.pending_timers()
        assert message_id == retry_timer(order_id, "ProcessPayment", n)
        due_times.append(due)
        calls = app.payments.calls
        app.clock.set(START + timedelta(seconds=due - 0.001))
        assert app.advance(0) == 0 and app.payments.calls == calls
        assert app.order(order_id).status is OrderStatus.PENDING
        assert app.advance(0.001) == 1 and app.payments.calls == calls + 1
    order = app.order(order_id)

    assert due_times == [5.0, 15.0, 35.0]  # 5 s, then 10 s, then 20 s
    assert app.payments.calls == 4  # one attempt and three retries
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "payment_unavailable"
    assert order.payment_status is PaymentStatus.FAILED
    assert app.payments.charges == [] and app.payments.refunds == []
    assert app.held_drivers() == {}
    assert app.saga(order_id).outcome == "payment_unavailable"
    assert app.pending_timers() == []
    assert app.templates(CUSTOMER) == ["order_failed"]


# -- no driver -----------------------------------------------------------------------------------------------
def test_with_no_driver_in_range_assignment_is_retried_then_the_order_fails_with_one_full_refund(
    app_without_drivers: World,
) -> None:
    app = app_without_drivers
    order_id = app.place_id()
    total = app.order(order_id).pricing.total

    assert app.saga(order_id).status is SagaStatus.RETRY_WAIT
    assert app.pending_timers() == [(retry_timer(order_id, "AssignDriver", 1), 30.0)]
    assert app.advance(29.999) == 0
    app.advance(0.001)
    assert app.pending_timers() == [(retry_timer(order_id, "AssignDriver", 2), 90.0)]
    app.advance(60)
    assert app.pending_timers() == [(retry_timer(order_id, "AssignDriver", 3), 210.0)]
    assert app.order(order_id).status is OrderStatus.PENDING
    assert app.payments.refunds == []
    app.advance(120)

    order = app.order(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "no_driver"
    assert order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in app.payments.refunds] == [total]
    assert app.payments.refunds[0].charge_id == app.payments.charges[0].charge_id
    assert app.payments.net_captured(order.charge_id).minor == 0
    assert app.templates(REST_ID) == ["new_order", "order_failed"]  # told of the order once, then that it failed
    assert app.templates(CUSTOMER) == ["order_failed"]
    assert app.held_drivers() == {}
    assert app.driver("drv-out").status is DriverStatus.AVAILABLE
    assert app.saga(order_id).outcome == "no_driver"
    assert app.pending_timers() == []
    assert app.event_types(order_id) == [
        E.ORDER_PLACED,
        E.PAYMENT_CAPTURED,
        E.RESTAURANT_NOTIFIED,
        E.PAYMENT_REFUNDED,
        E.ORDER_FAILED,
        E.CUSTOMER_NOTIFIED,
    ]
    assert app.advance(3600) == 0
    assert len(app.payments.refunds) == 1


def test_a_driver_who_comes_online_before_the_next_retry_is_assigned(app_without_drivers: World) -> None:
    app = app_without_drivers
    order_id = app.place_id()
    app.drivers.add(make_driver("drv-late", 1.0))

    app.advance(30)

    assert app.order(order_id).driver_id == "drv-late"
    assert app.saga(order_id).status is SagaStatus.WAITING
    assert app.templates(CUSTOMER) == ["order_received"]


# -- restaurant timeout and rejection ------------------------------------------------------------------------
def test_a_restaurant_that_never_confirms_times_out_after_300_seconds_with_an_alert_and_one_refund(
    app: World, waiting_order: str
) -> None:
    total = app.order(waiting_order).pricing.total
    assert app.advance(299.999) == 0
    assert app.order(waiting_order).status is OrderStatus.PENDING
    assert app.alerts() == []

    assert app.advance(0.001) == 1

    order = app.order(waiting_order)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "restaurant_timeout"
    assert order.payment_status is PaymentStatus.REFUNDED
    assert order.driver_id is None
    assert [r.amount for r in app.payments.refunds] == [total]
    (alert,) = app.alerts()
    assert alert.kind is NotificationKind.OPERATIONS_ALERT
    assert alert.data == {"reason": "restaurant_timeout", "restaurantId": REST_ID}
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.driver("drv-near").current_order_id is None
    assert app.held_drivers() == {}
    assert app.saga(waiting_order).status is SagaStatus.FAILED
    assert app.saga(waiting_order).outcome == "restaurant_timeout"
    assert app.templates(CUSTOMER) == ["order_received", "order_failed"]
    assert app.event_types(waiting_order)[5:] == [
        E.DRIVER_RELEASED,
        E.PAYMENT_REFUNDED,
        E.ORDER_FAILED,
        E.CUSTOMER_NOTIFIED,
    ]
    assert app.publisher.of_order(waiting_order)[5].payload == {
        "driverId": "drv-near",
        "reason": "restaurant_timeout",
    }
    assert app.advance(3600) == 0
    assert len(app.payments.refunds) == 1 and len(app.alerts()) == 1


def test_a_released_driver_takes_the_next_order(app: World, waiting_order: str) -> None:
    app.advance(300)

    next_order = app.place_id()

    assert app.order(next_order).driver_id == "drv-near"


def test_a_restaurant_rejection_fails_the_order_with_an_alert_one_refund_and_the_driver_released(
    app: World, waiting_order: str
) -> None:
    app.advance(42)

    outcome = app.reject(waiting_order, "kitchen on fire")

    assert outcome == "ACCEPTED"
    order = app.order(waiting_order)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "restaurant_rejected"
    assert order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in app.payments.refunds] == [order.pricing.total]
    (alert,) = app.alerts()
    assert alert.data["reason"] == "restaurant_rejected"
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.held_drivers() == {}
    saga = app.saga(waiting_order)
    assert saga.outcome == "restaurant_rejected"
    assert saga.data["signalDetail"]["RestaurantRejected"]["reason"] == "kitchen on fire"
    assert app.pending_timers() == []
    assert app.advance(3600) == 0
    assert len(app.payments.refunds) == 1


# -- cancellation --------------------------------------------------------------------------------------------
def test_a_customer_who_cancels_while_the_restaurant_has_not_answered_gets_one_refund(
    app: World, waiting_order: str
) -> None:
    app.advance(20)

    order = app.cancel(waiting_order, reason="too slow")

    assert order.status is OrderStatus.CANCELLED
    assert order.failure_reason == "too slow"
    assert order.payment_status is PaymentStatus.REFUNDED
    assert order.driver_id is None
    assert [r.amount for r in app.payments.refunds] == [order.pricing.total]
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.saga(waiting_order).status is SagaStatus.FAILED
    assert app.saga(waiting_order).outcome == "cancelled"
    assert app.pending_timers() == []
    assert app.alerts() == []
    assert app.event_types(waiting_order)[5:] == [E.ORDER_CANCELLED, E.DRIVER_RELEASED, E.PAYMENT_REFUNDED]
    assert app.advance(3600) == 0
    assert len(app.payments.refunds) == 1


def test_a_customer_who_cancels_a_confirmed_order_gets_one_refund_and_the_driver_is_released(
    app: World, confirmed_order: str
) -> None:
    order = app.cancel(confirmed_order)

    assert order.status is OrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert len(app.payments.refunds) == 1
    assert app.payments.refunds[0].amount == order.pricing.total
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.held_drivers() == {}
    assert app.saga(confirmed_order).status is SagaStatus.FAILED
    assert app.saga(confirmed_order).outcome == "cancelled"


def test_a_restaurant_that_cancels_while_preparing_refunds_once(app: World, confirmed_order: str) -> None:
    app.service.change_status(Actor.restaurant(REST_ID), confirmed_order, OrderStatus.PREPARING)

    order = app.service.cancel_order(Actor.restaurant(REST_ID), confirmed_order, "oven broke")

    assert order.status is OrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert len(app.payments.refunds) == 1
    assert app.held_drivers() == {}


def test_cancelling_twice_refunds_once(app: World, waiting_order: str) -> None:
    app.cancel(waiting_order)
    before = app.observable()

    again = app.cancel(waiting_order)  # a repeat: answered with the cancelled order, nothing written

    assert again.status is OrderStatus.CANCELLED
    assert app.observable() == before
    assert len(app.payments.refunds) == 1


def test_cancelling_while_the_payment_is_being_retried_is_refused_and_changes_nothing(app: World) -> None:
    order_id = app.place_id(token="tok_processingError")
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.cancel(order_id)

    assert app.observable() == before
    assert app.order(order_id).status is OrderStatus.PENDING
    assert app.saga(order_id).status is SagaStatus.RETRY_WAIT
