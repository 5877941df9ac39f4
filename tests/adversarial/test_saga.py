"""Saga and lifecycle paths that used to keep a customer's money or hold a driver forever.

- An admin failing a waiting order did not tell the saga: until the 300 s timeout the payment stayed captured
  and the driver held, and a restaurant confirming in that window made the saga *succeed* on a FAILED order,
  which was then never refunded and kept its driver for good.
- A process dying between storing a DELIVERED order and freeing its driver left the driver ASSIGNED to a
  finished order; nothing ever released it (a repeated DELIVERED is refused as a transition).
- A driver claiming an order while the saga gave up finding one (``no_driver``) left the claimed driver
  ASSIGNED to the FAILED order: the saga's compensation only releases drivers its own step reserved.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from fooddelivery.domain import (
    Actor,
    DriverStatus,
    EventType,
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    OrderStatus,
    PaymentStatus,
)
from fooddelivery.ports.saga_store import SagaStatus
from tests.service._world import NO_DRIVER_LAYOUT, REST_ID, World, build_world, make_driver
from tests.service.test_crash_recovery import SimulatedCrash, fail_nth_call, restart

ADMIN = Actor.admin()


@pytest.fixture
def app() -> World:
    return build_world()


def _delivered_by_hand(app: World, order_id: str) -> None:
    """Confirm, prepare, ready and pick up ``order_id`` (up to, not including, DELIVERED)."""
    restaurant, driver = Actor.restaurant(REST_ID), Actor.driver("drv-near")
    app.confirm(order_id)
    app.service.change_status(restaurant, order_id, OrderStatus.PREPARING)
    app.service.change_status(restaurant, order_id, OrderStatus.READY_FOR_PICKUP)
    app.service.change_status(driver, order_id, OrderStatus.PICKED_UP)


# -- an admin fails a waiting order ----------------------------------------------------------------------------
def test_an_order_an_admin_fails_while_it_waits_is_refunded_once_and_frees_its_driver_at_once(app: World) -> None:
    order_id = app.place_id()

    app.service.change_status(ADMIN, order_id, OrderStatus.FAILED, "suspected fraud")

    order = app.order(order_id)
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "suspected fraud")
    assert order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in app.payments.refunds] == [order.pricing.total]
    assert order.driver_id is None and app.held_drivers() == {}
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.saga(order_id).status is SagaStatus.FAILED
    assert app.scheduler.pending() == []  # the restaurant timeout is disarmed


def test_a_restaurant_confirming_an_order_an_admin_failed_is_too_late_and_changes_nothing(app: World) -> None:
    order_id = app.place_id()
    app.service.change_status(ADMIN, order_id, OrderStatus.FAILED, "suspected fraud")
    before = app.observable()

    with pytest.raises(LateEvent):
        app.confirm(order_id)
    app.advance(3600)

    order = app.order(order_id)
    assert order.status is OrderStatus.FAILED and order.payment_status is PaymentStatus.REFUNDED
    assert len(app.payments.refunds) == 1
    assert app.held_drivers() == {}
    assert app.observable() == before


def test_an_admin_cannot_fail_an_order_whose_payment_is_still_being_processed(app: World) -> None:
    order_id = app.place_id(token="tok_processingError_1")  # the first capture attempt fails: retry in 5 s
    assert app.saga(order_id).status is SagaStatus.RETRY_WAIT
    before = app.observable()

    with pytest.raises(InvalidTransition):
        app.service.change_status(ADMIN, order_id, OrderStatus.FAILED, "suspected fraud")

    assert app.observable() == before


def test_an_admin_failure_whose_saga_signal_was_lost_in_a_crash_is_compensated_on_restart(app: World) -> None:
    order_id = app.place_id()
    fail_nth_call(app.orders, "save", 1, after=True)  # the FAILED order is stored, then the process dies
    with pytest.raises(SimulatedCrash):
        app.service.change_status(ADMIN, order_id, OrderStatus.FAILED, "suspected fraud")
    assert app.payments.refunds == []

    restart(app)  # no retry by the admin: the committed OrderFailed event is enough

    order = app.order(order_id)
    assert order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in app.payments.refunds] == [order.pricing.total]
    assert app.held_drivers() == {}


# -- a crash between DELIVERED and freeing the driver ----------------------------------------------------------
@pytest.mark.parametrize(
    "failure",
    [SimulatedCrash("the process died"), InfrastructureError("database is locked")],
    ids=["crash", "store error"],
)
def test_a_driver_whose_release_after_delivery_failed_is_freed_when_the_committed_events_are_published(
    app: World, failure: Exception
) -> None:
    order_id = app.place_id()
    _delivered_by_hand(app, order_id)
    original = app.drivers.save

    def failing_save(*args: Any, **kwargs: Any) -> Any:
        app.drivers.save = original  # only this once
        raise failure

    app.drivers.save = failing_save
    # the delivery is committed; the runtime's release of the driver (its reaction to the committed event, in the
    # same call) failed, so the event stays in the outbox for the sweep
    app.service.change_status(Actor.driver("drv-near"), order_id, OrderStatus.DELIVERED)
    assert app.order(order_id).status is OrderStatus.DELIVERED
    assert app.driver("drv-near").status is DriverStatus.ASSIGNED
    assert app.orders.outbox_size == 1

    restart(app)

    assert app.held_drivers() == {}
    assert app.driver("drv-near").status is DriverStatus.AVAILABLE
    assert app.service.dead_letters == []


def test_a_delivered_order_frees_its_driver_exactly_as_before(app: World) -> None:
    order_id = app.place_id()
    _delivered_by_hand(app, order_id)

    app.service.change_status(Actor.driver("drv-near"), order_id, OrderStatus.DELIVERED)

    assert app.held_drivers() == {}
    assert app.order(order_id).driver_id == "drv-near"  # the order keeps who delivered it
    assert app.event_types(order_id)[-1] is EventType.ORDER_STATUS_CHANGED


# -- a driver's claim races the saga giving up -----------------------------------------------------------------
def test_a_driver_who_claims_an_order_as_the_saga_gives_up_finding_one_is_not_held_by_the_failed_order() -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    order_id = app.place_id()
    app.drivers.add(make_driver("drv-late", 1.0, DriverStatus.OFFLINE))
    refund = app.payments.refund

    def courier_claims_then_refund(*args: Any, **kwargs: Any) -> Any:
        # The saga ran out of retries and compensates; right then a courier comes online and claims the order.
        app.payments.refund = refund  # once (the saga's write then loses its race, and the refund is replayed)
        late = app.drivers.get("drv-late")
        app.drivers.save(replace(late, status=DriverStatus.AVAILABLE))
        app.service.assign_driver(Actor.driver("drv-late"), order_id)
        return refund(*args, **kwargs)

    app.payments.refund = courier_claims_then_refund
    app.advance(30)
    app.advance(60)
    app.advance(120)

    order = app.order(order_id)
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "no_driver")
    assert order.payment_status is PaymentStatus.REFUNDED
    assert order.driver_id is None
    assert app.held_drivers() == {}
    assert app.driver("drv-late").status is DriverStatus.AVAILABLE
    assert app.event_types(order_id)[-3:] == [
        EventType.DRIVER_RELEASED,
        EventType.ORDER_FAILED,
        EventType.CUSTOMER_NOTIFIED,
    ]


# -- a store error while recording a manual assignment ---------------------------------------------------------
@pytest.mark.parametrize("as_", ["restaurant", "driver"])
def test_a_driver_reserved_for_an_assignment_the_order_store_refused_is_free_again(as_: str) -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    order_id = app.place_id()  # no driver in range: the saga retries AssignDriver in 30 s
    app.drivers.add(make_driver("drv-new", 1.0))
    actor = Actor.restaurant(REST_ID) if as_ == "restaurant" else Actor.driver("drv-new")
    save = app.orders.save

    def locked(*args: Any, **kwargs: Any) -> Any:
        app.orders.save = save  # only this once
        raise InfrastructureError("database is locked")

    app.orders.save = locked
    with pytest.raises(InfrastructureError):
        app.service.assign_driver(actor, order_id)

    assert app.held_drivers() == {}
    assert app.driver("drv-new").status is DriverStatus.AVAILABLE
    app.advance(30)  # the saga's retry now finds the driver
    assert app.order(order_id).driver_id == "drv-new"
    assert app.held_drivers() == {"drv-new": order_id}


# -- a cancellation racing the restaurant's rejection ----------------------------------------------------------
def test_a_cancellation_committed_while_the_restaurant_rejects_is_answered_as_done_and_refunded_once(
    app: World,
) -> None:
    order_id = app.place_id()
    save = app.orders.save

    def save_then_restaurant_rejects(order: Any) -> None:
        save(order)
        if order.status is OrderStatus.CANCELLED:  # the customer's cancellation is committed; the saga not told yet
            app.orders.save = save
            app.reject(order_id)

    app.orders.save = save_then_restaurant_rejects

    cancelled = app.cancel(order_id)

    assert cancelled.status is OrderStatus.CANCELLED
    order = app.order(order_id)
    assert order.payment_status is PaymentStatus.REFUNDED
    assert len(app.payments.refunds) == 1
    assert app.held_drivers() == {}
    assert app.orders.outbox_size == 0  # what the cancellation committed was published


def test_a_driver_reserved_by_a_manual_assignment_whose_process_died_is_not_held_forever() -> None:
    app = build_world(drivers=NO_DRIVER_LAYOUT)
    order_id = app.place_id()
    app.drivers.add(make_driver("drv-new", 1.0))
    fail_nth_call(app.drivers, "save", 1, after=True)  # the reservation is stored, then the process dies
    with pytest.raises(SimulatedCrash):
        app.service.assign_driver(Actor.restaurant(REST_ID), order_id)

    restart(app)
    app.advance(30)  # the saga's retry of AssignDriver

    order = app.order(order_id)
    held = app.held_drivers()
    assert held in ({}, {"drv-new": order_id})
    assert order.driver_id == ("drv-new" if held else None)  # the driver is held iff the order names it
    assert order.driver_claim is None


# -- a cancellation racing the restaurant's confirmation -------------------------------------------------------
@pytest.mark.parametrize("stop", ["customer cancels", "admin fails"])
def test_an_order_stopped_while_its_confirmation_is_being_processed_is_refunded_once_and_frees_its_driver(
    app: World, stop: str
) -> None:
    """The stop reads the saga WAITING; the confirmation then starts (saga RUNNING at ConfirmOrder, order still
    PENDING); the stop commits and signals the saga, which is busy; the confirmation ends (SUCCEEDED). The stop
    must still be compensated once the saga is done (the server's worker retries saga events that failed)."""
    order_id = app.place_id()
    confirm_step = app.runner.actions["confirm_order"]
    status = app.runner.status
    confirming, may_confirm = threading.Event(), threading.Event()
    outcomes: list[object] = []

    def paused_confirm_step(ctx: Any) -> Any:
        confirming.set()
        assert may_confirm.wait(10)
        return confirm_step(ctx)

    def status_then_restaurant_confirms(saga_id: str) -> Any:
        seen = status(saga_id)
        app.runner.status = status
        threading.Thread(target=lambda: outcomes.append(app.confirm(order_id))).start()
        assert confirming.wait(10)  # the saga is RUNNING at ConfirmOrder, the order still PENDING
        return seen

    app.runner.actions["confirm_order"] = paused_confirm_step
    app.runner.status = status_then_restaurant_confirms
    if stop == "customer cancels":
        stopped = app.cancel(order_id)
    else:
        stopped = app.service.change_status(ADMIN, order_id, OrderStatus.FAILED, "suspected fraud")
    may_confirm.set()
    deadline = time.monotonic() + 10
    while not outcomes and time.monotonic() < deadline:
        time.sleep(0.01)
    app.service.resume_sagas()  # what the server's background worker does every sweep

    assert stopped.status in (OrderStatus.CANCELLED, OrderStatus.FAILED)
    assert outcomes == ["ACCEPTED"]
    order = app.order(order_id)
    assert order.status is stopped.status
    assert order.payment_status is PaymentStatus.REFUNDED
    assert [r.amount for r in app.payments.refunds] == [order.pricing.total]
    assert app.held_drivers() == {}
    assert app.service.dead_letters == []
