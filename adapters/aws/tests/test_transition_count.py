"""The core's count of saga state transitions (``saga.transition``, what ``fooddelivery cost`` prices Step Functions
Standard by) equals what the generated state machine really bills, path by path.

Each scenario runs twice: in moto, the generated ASL executed for real with the real task Lambda over the core
(``test_stepfunctions_execution.LiveSaga``), where the bill is every state entered plus every retry of a Lambda
task (https://aws.amazon.com/step-functions/pricing/: "each retry is a billed state transition"); and in process,
the core's saga runner with the in-memory adapters and a virtual clock, where the runner meters the transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from stepfunctions_harness import HOME, NEAR_PARIS, PARIS, history, visited, with_retry_intervals
from test_stepfunctions_execution import LiveSaga, live, live_moto  # noqa: F401  (fixtures)

from fooddelivery.adapters.memory import OperationCounters, SequentialIdGenerator, VirtualClock
from fooddelivery.application import PlaceOrder
from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import Actor, DeliveryAddress, Driver, DriverStatus, GeoPoint, LineRequest, MenuItem, Money
from fooddelivery.domain import Restaurant as RestaurantRecord
from fooddelivery.metering import operations as ops
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_aws.stepfunctions import generate

TIMEOUT_S = 2


def billed_transitions(saga: LiveSaga, order_id: str) -> int:
    """States entered + retries of Lambda tasks, from the execution's history."""
    arn = saga.executions[order_id]
    asl = generate.order_saga_asl(
        with_retry_intervals(build_order_saga(confirmation_timeout_s=TIMEOUT_S), 1), task_resource="arn:task"
    )
    lambda_tasks: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for name, body in states.items():
            if body.get("Type") == "Task" and body.get("Resource") == "arn:task":
                lambda_tasks.add(name)
            for branch in body.get("Branches", ()):
                walk(branch["States"])

    walk(asl["States"])
    entered = visited(saga.sfn, arn)
    attempts = sum(1 for e in history(saga.sfn, arn) if e["type"] == "LambdaFunctionScheduled")
    retries = attempts - sum(1 for name in entered if name in lambda_tasks)
    assert retries >= 0
    return len(entered) + retries


class InProcess:
    """The same scenario on the core's own runner (in memory, virtual time)."""

    def __init__(self) -> None:
        self.clock = VirtualClock(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))
        self.app: Bootstrapped = bootstrap(
            Settings(confirmation_timeout_s=TIMEOUT_S),
            clock=self.clock,
            ids=SequentialIdGenerator(),
            counters=OperationCounters(),
        )
        self.app.restaurants.add(
            RestaurantRecord(
                "rest-1", "Trattoria", "pizza", Decimal("4.5"), PARIS, "EUR", Decimal("0.10"), 15,
                (MenuItem("margherita", "Pizza Margherita", Money.of("9.50", "EUR")),),
            )
        )
        self.app.drivers.add(Driver("drv-near", "d", DriverStatus.AVAILABLE, NEAR_PARIS, "scooter", self.clock.now()))
        self.app.drivers.add(
            Driver("drv-far", "d", DriverStatus.AVAILABLE, GeoPoint(48.8791, 2.3522), "scooter", self.clock.now())
        )

    def place(self, token: str = "tok_visa") -> str:
        command = PlaceOrder(
            restaurant_id="rest-1",
            lines=[LineRequest(2, item_id="margherita")],
            delivery_address=DeliveryAddress("1 rue de Rivoli, Paris", HOME),
            payment_method=token,
        )
        return str(self.app.service.place_order(Actor.customer("cust-ana"), command).order.order_id)

    def wait(self, seconds: float) -> None:
        for _ in range(int(seconds)):
            self.clock.advance(1)
            self.app.run_due()

    def wait_until_waiting(self, order_id: str) -> None:
        """Deliver due timers (the payment retries), a second at a time, until the saga waits for the restaurant."""
        for _ in range(120):
            if self.app.sagas.get(order_id).status is SagaStatus.WAITING:
                return
            self.wait(1)
        raise AssertionError(f"{order_id} never waited for the restaurant")

    def transitions(self) -> int:
        assert self.app.counters is not None
        return int(self.app.counters.usage()[ops.SAGA_TRANSITION].quantity)


@pytest.fixture
def core() -> Iterator[InProcess]:
    yield InProcess()


def _confirm(saga: LiveSaga, order_id: str) -> None:
    saga.wait_for_restaurant(order_id)
    saga.signaller.signal(order_id, "RestaurantConfirmed")


def test_a_confirmed_order(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live()
    order_id = saga.place()
    _confirm(saga, order_id)
    assert saga.end(order_id)["status"] == "SUCCEEDED"
    core.app.service.confirm_order(Actor.restaurant("rest-1"), core.place())
    assert core.transitions() == billed_transitions(saga, order_id) == 10


def test_a_declined_card(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live()
    order_id = saga.place("tok_chargeDeclined")
    assert saga.end(order_id)["status"] == "FAILED"
    core.place("tok_chargeDeclined")
    assert core.transitions() == billed_transitions(saga, order_id) == 7


def test_transient_payment_errors_retried(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live()
    order_id = saga.place("tok_processingError_2")
    _confirm(saga, order_id)
    assert saga.end(order_id)["status"] == "SUCCEEDED"
    local = core.place("tok_processingError_2")
    core.wait_until_waiting(local)
    core.app.service.confirm_order(Actor.restaurant("rest-1"), local)
    assert core.transitions() == billed_transitions(saga, order_id) == 12


def test_a_restaurant_that_never_answers(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live()
    order_id = saga.place()
    assert saga.end(order_id)["status"] == "FAILED"
    core.place()
    core.wait(TIMEOUT_S + 1)
    assert core.transitions() == billed_transitions(saga, order_id) == 15


def test_a_rejection(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live(with_retry_intervals(build_order_saga(confirmation_timeout_s=300), 1))
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    saga.signaller.signal(order_id, "RestaurantRejected", {"reason": "out of dough"})
    assert saga.end(order_id)["status"] == "FAILED"
    core.app.service.reject_order(Actor.restaurant("rest-1"), core.place(), "out of dough")
    assert core.transitions() == billed_transitions(saga, order_id) == 16


def test_a_cancellation_while_waiting(live: Callable[..., LiveSaga], core: InProcess) -> None:  # noqa: F811
    saga = live(with_retry_intervals(build_order_saga(confirmation_timeout_s=300), 1))
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    saga.app.service.cancel_order(Actor.customer("cust-ana"), order_id, "changed my mind")
    assert saga.end(order_id)["status"] == "FAILED"
    core.app.service.cancel_order(Actor.customer("cust-ana"), core.place(), "changed my mind")
    assert core.transitions() == billed_transitions(saga, order_id) == 14

