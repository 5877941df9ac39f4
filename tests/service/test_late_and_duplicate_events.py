"""Late, duplicate and early events get a clear answer and change nothing."""

from __future__ import annotations

import pytest

from fooddelivery.application.saga.runner import TIMER_RETRY, TIMER_TIMEOUT, SignalOutcome
from fooddelivery.domain import (
    Actor,
    InvalidTransition,
    LateEvent,
    NotAllowed,
    NotFound,
    OrderStatus,
)
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

from ._world import CUSTOMER, OTHER_REST_ID, World


def test_a_second_confirmation_is_a_duplicate_and_changes_nothing(app: World, confirmed_order: str) -> None:
    before = app.observable()

    outcome = app.confirm(confirmed_order)

    assert outcome is SignalOutcome.DUPLICATE
    assert app.observable() == before
    assert app.order(confirmed_order).status is OrderStatus.CONFIRMED


def test_a_second_rejection_is_a_duplicate_and_refunds_nothing_more(app: World, waiting_order: str) -> None:
    app.reject(waiting_order)
    before = app.observable()

    assert app.reject(waiting_order) is SignalOutcome.DUPLICATE

    assert app.observable() == before
    assert len(app.payments.refunds) == 1


def test_a_confirmation_after_the_timeout_is_late_and_changes_nothing(app: World, waiting_order: str) -> None:
    app.advance(300)
    before = app.observable()

    with pytest.raises(LateEvent) as exc:
        app.confirm(waiting_order)

    assert exc.value.context["outcome"] == "restaurant_timeout"
    assert exc.value.context["status"] == "FAILED"
    assert app.observable() == before
    assert app.order(waiting_order).status is OrderStatus.FAILED
    assert len(app.payments.refunds) == 1


def test_a_rejection_after_the_confirmation_is_late_and_changes_nothing(app: World, confirmed_order: str) -> None:
    before = app.observable()

    with pytest.raises(LateEvent):
        app.reject(confirmed_order)

    assert app.observable() == before
    assert app.order(confirmed_order).status is OrderStatus.CONFIRMED
    assert app.payments.refunds == []


def test_a_confirmation_after_the_customer_cancelled_is_late(app: World, waiting_order: str) -> None:
    app.cancel(waiting_order)
    before = app.observable()

    with pytest.raises(LateEvent):
        app.confirm(waiting_order)

    assert app.observable() == before
    assert app.order(waiting_order).status is OrderStatus.CANCELLED


def test_a_confirmation_while_the_payment_is_still_being_retried_is_refused_and_changes_nothing(
    app: World,
) -> None:
    order_id = app.place_id(token="tok_processingError")
    before = app.observable()

    with pytest.raises(InvalidTransition) as exc:
        app.confirm(order_id)

    assert type(exc.value) is InvalidTransition  # not late: it may be sent again later
    assert app.observable() == before
    assert app.saga(order_id).status is SagaStatus.RETRY_WAIT


def test_a_confirmation_for_an_order_whose_saga_has_not_started_is_refused(app: World) -> None:
    app.publisher.fail_next(1)  # OrderPlaced cannot leave the outbox yet: the saga has not started
    order_id = app.place().order.order_id
    assert app.orders.get(order_id).status is OrderStatus.PENDING
    assert app.orders.outbox_size == 1
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.confirm(order_id)

    assert app.observable() == before


def test_an_order_whose_event_could_not_be_published_is_accepted_and_processed_when_the_outbox_is_pumped(
    app: World,
) -> None:
    app.publisher.fail_next(1)
    first = app.place(key="k-1")  # committed with its event; the bus outage does not fail the request
    assert first.created is True and first.order.payment_status == "PENDING"
    assert app.orders.outbox_size == 1

    again = app.place(key="k-1")  # a client retry with its key gets the stored order back
    app.service.pump()

    assert again.created is False and again.order.order_id == first.order.order_id
    assert app.order(again.order.order_id).payment_status == "CAPTURED"
    assert app.saga(again.order.order_id).status is SagaStatus.WAITING
    assert len(app.orders) == 1 and len(app.payments.charges) == 1


def test_another_restaurant_cannot_confirm_and_does_not_learn_the_order_exists(app: World, waiting_order: str) -> None:
    before = app.observable()

    with pytest.raises(NotFound):
        app.confirm(waiting_order, restaurant_id=OTHER_REST_ID)

    assert app.observable() == before


@pytest.mark.parametrize("actor", [Actor.customer(CUSTOMER), Actor.driver("drv-near")], ids=["customer", "driver"])
def test_only_the_restaurant_confirms_or_rejects(app: World, waiting_order: str, actor: Actor) -> None:
    before = app.observable()

    with pytest.raises(NotAllowed):
        app.service.confirm_order(actor, waiting_order)
    with pytest.raises(NotAllowed):
        app.service.reject_order(actor, waiting_order, "no")

    assert app.observable() == before


def test_an_admin_may_confirm_for_the_restaurant(app: World, waiting_order: str) -> None:
    assert app.service.confirm_order(Actor.admin(), waiting_order) is SignalOutcome.ACCEPTED
    assert app.order(waiting_order).status is OrderStatus.CONFIRMED


def test_a_timeout_delivered_twice_changes_nothing_the_second_time(app: World, waiting_order: str) -> None:
    (timer,) = app.scheduler.pending()
    assert timer.kind == TIMER_TIMEOUT
    app.advance(300)
    before = app.observable()

    app.service.deliver_timer(timer)

    assert app.observable() == before
    assert len(app.payments.refunds) == 1 and len(app.alerts()) == 1


def test_a_timeout_that_arrives_after_the_confirmation_changes_nothing(app: World, waiting_order: str) -> None:
    (timer,) = app.scheduler.pending()
    app.confirm(waiting_order)
    before = app.observable()

    app.service.deliver_timer(timer)  # a cancelled timer that the scheduler delivered anyway

    assert app.observable() == before
    assert app.order(waiting_order).status is OrderStatus.CONFIRMED


def test_a_retry_timer_delivered_twice_retries_once(app: World) -> None:
    app.payments.fail_next(1)
    order_id = app.place_id()
    (timer,) = app.scheduler.pending()
    assert timer.kind == TIMER_RETRY
    app.advance(5)
    assert app.order(order_id).payment_status == "CAPTURED"
    before = app.observable()

    app.service.deliver_timer(timer)

    assert app.observable() == before
    assert len(app.payments.charges) == 1


def test_a_timer_for_an_old_step_is_ignored(app: World, waiting_order: str) -> None:
    forged = ScheduledMessage(
        f"{waiting_order}:ProcessPayment:retry:0:1",
        app.clock.now(),
        TIMER_RETRY,
        {"sagaId": waiting_order, "step": "ProcessPayment"},
    )
    before = app.observable()

    app.service.deliver_timer(forged)

    assert app.observable() == before


def test_a_second_order_placed_event_does_not_start_the_saga_again(app: World, waiting_order: str) -> None:
    placed = app.publisher.of_order(waiting_order)[0]
    before = app.observable()

    app.service.handle_events([placed])

    assert app.observable() == before  # the order and its saga are read together, and nothing is written
    assert app.service.dead_letters == []
