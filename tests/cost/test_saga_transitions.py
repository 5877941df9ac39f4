"""The saga runner counts the state transitions a state-machine engine would bill, path by path.

The expected counts are the states of the generated Step Functions machine on each path (the AWS package's
``test_stepfunctions_execution`` lists them as moto executes them; ``adapters/aws/tests/test_transition_count.py``
checks the two agree), worked out here by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fooddelivery.adapters.memory import OperationCounters, SequentialIdGenerator, VirtualClock
from fooddelivery.application import PlaceOrder
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)
from fooddelivery.metering import operations as ops

#: ValidateOrder, ProcessPayment, ParallelProcessing + its 3 branches, WaitForRestaurantConfirmation
UNTIL_WAIT = 1 + 1 + (1 + 3) + 1
#: Compensate: one check per compensable step (ProcessPayment, AssignDriver), one per compensation run
CHECKS = 2


@dataclass
class World:
    app: Bootstrapped
    clock: VirtualClock

    def place(self, token: str = "tok_visa") -> str:
        command = PlaceOrder(
            restaurant_id="rest-1",
            lines=[LineRequest(1, item_id="pizza")],
            delivery_address=DeliveryAddress("1 Main St", GeoPoint(40.72, -74.0)),
            payment_method=token,
        )
        return str(self.app.service.place_order(Actor.customer("cus-1"), command).order.order_id)

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.app.run_due()

    def transitions(self) -> int:
        return int(self.app.counters.usage()[ops.SAGA_TRANSITION].quantity) if self.app.counters else -1

    def quantity(self, name: str) -> int:
        assert self.app.counters is not None
        tally = self.app.counters.usage().get(name)
        return int(tally.quantity) if tally else 0


@pytest.fixture
def world() -> Iterator[World]:
    clock = VirtualClock(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
    app = bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), counters=OperationCounters())
    app.restaurants.add(
        Restaurant(
            "rest-1",
            "Luigi's",
            "pizza",
            Decimal("4.6"),
            GeoPoint(40.7128, -74.0060),
            "USD",
            Decimal("0.08875"),
            15,
            (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),),
        )
    )
    app.drivers.add(Driver("drv-1", "Dana", DriverStatus.AVAILABLE, GeoPoint(40.715, -74.002), "car", clock.now()))
    yield World(app, clock)


def test_a_confirmed_order_takes_ten_transitions(world: World) -> None:
    order_id = world.place()
    assert world.transitions() == UNTIL_WAIT
    world.app.service.confirm_order(Actor.restaurant("rest-1"), order_id)
    # + the choice routing the answer, ConfirmOrder, OrderConfirmed
    assert world.transitions() == UNTIL_WAIT + 3 == 10
    assert world.quantity(ops.SAGA_TASK) == 6  # validate, pay, 3 branches, confirm
    assert world.quantity(ops.SAGA_WAIT) == 1
    assert world.quantity(ops.SAGA_SIGNAL) == 1
    assert world.quantity(ops.SAGA_START) == 1


def test_a_declined_card_takes_seven(world: World) -> None:
    order_id = world.place("tok_chargeDeclined")
    assert world.app.service.get_order(Actor.customer("cus-1"), order_id).status is OrderStatus.FAILED
    # ValidateOrder, ProcessPayment, the state recording payment_declined, the 2 checks (nothing to undo),
    # FailOrder, OrderFailed
    assert world.transitions() == 1 + 1 + 1 + CHECKS + 1 + 1 == 7


def test_each_retry_is_a_transition(world: World) -> None:
    order_id = world.place("tok_processingError_2")
    world.wait(5)
    world.wait(10)
    world.app.service.confirm_order(Actor.restaurant("rest-1"), order_id)
    assert world.app.service.get_order(Actor.customer("cus-1"), order_id).status is OrderStatus.CONFIRMED
    assert world.transitions() == 10 + 2


def test_a_restaurant_that_never_answers_takes_fifteen(world: World) -> None:
    order_id = world.place()
    world.wait(300)
    assert world.app.service.get_order(Actor.customer("cus-1"), order_id).status is OrderStatus.FAILED
    # + the state recording the timeout, AlertOperations, 2 checks + 2 compensations (release, refund),
    # FailOrder, OrderFailed
    assert world.transitions() == UNTIL_WAIT + 1 + 1 + CHECKS + 2 + 1 + 1 == 15


def test_a_rejection_takes_sixteen(world: World) -> None:
    order_id = world.place()
    world.app.service.reject_order(Actor.restaurant("rest-1"), order_id, "out of dough")
    # + the choice, the state recording restaurant_rejected, then the timeout path's 8
    assert world.transitions() == UNTIL_WAIT + 1 + 1 + 1 + CHECKS + 2 + 1 + 1 == 16


def test_a_cancellation_while_waiting_takes_fourteen_and_one_after_confirmation_five_more(world: World) -> None:
    first = world.place()
    world.app.service.cancel_order(Actor.customer("cus-1"), first, "changed my mind")
    # + the choice, the state recording "cancelled", CompensateCancelled's 2 checks + 2 runs, OrderCancelled
    assert world.transitions() == UNTIL_WAIT + 1 + 1 + CHECKS + 2 + 1 == 14
    world.app.counters.reset_usage()  # type: ignore[union-attr]
    world.app.drivers.add(
        Driver("drv-2", "Eli", DriverStatus.AVAILABLE, GeoPoint(40.715, -74.002), "car", world.clock.now())
    )
    second = world.place()
    world.app.service.confirm_order(Actor.restaurant("rest-1"), second)
    world.app.service.cancel_order(Actor.customer("cus-1"), second, "too slow")
    # the cancel route is a new execution: 2 checks + 2 compensations + OrderCancelled
    assert world.transitions() == 10 + CHECKS + 2 + 1
