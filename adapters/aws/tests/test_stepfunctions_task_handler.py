"""The Step Functions task Lambda, called directly with the events the generated state machine sends, and the
signaller that completes the callback task."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stepfunctions_harness import place, seeded_app

from fooddelivery.adapters.memory import FakePaymentGateway, InMemoryOrderRepository
from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.bootstrap import Bootstrapped
from fooddelivery.domain import DriverStatus, Money, Order, OrderStatus
from fooddelivery.domain.errors import (
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NotFound,
    PaymentDeclined,
    PaymentRetryableError,
)
from fooddelivery.ports.payments import Charge
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_aws.stepfunctions import task_handler
from fooddelivery_aws.stepfunctions.asl import AWAIT_EVENT_STEP
from fooddelivery_aws.stepfunctions.callbacks import StepFunctionsSignaller, record_key
from fooddelivery_aws.stepfunctions.task_handler import InvalidTaskInput, StepFunctionsTaskHandler, asl_error_name

EVENTS = ["RestaurantConfirmed", "RestaurantRejected", "OrderCancelled"]


def step(name: str, saga_id: str, data: Mapping[str, Any] | None = None, attempt: int = 0) -> dict[str, Any]:
    """The task event of a generated Task state."""
    return {
        "step": name,
        "state": name,
        "sagaId": saga_id,
        "data": {"sagaId": saga_id, **(data or {})},
        "attempt": attempt,
    }


def await_event(saga_id: str, token: str) -> dict[str, Any]:
    return {
        "step": AWAIT_EVENT_STEP,
        "state": "WaitForRestaurantConfirmation",
        "sagaId": saga_id,
        "events": EVENTS,
        "taskToken": token,
    }


@pytest.fixture
def app() -> Bootstrapped:
    return seeded_app()


@pytest.fixture
def handler(app: Bootstrapped) -> StepFunctionsTaskHandler:
    return StepFunctionsTaskHandler(app)


# -- bootstrapping ------------------------------------------------------------------------------------------------
def test_the_application_is_built_on_the_first_invocation_only_and_then_reused() -> None:
    built: list[Bootstrapped] = []

    def factory() -> Bootstrapped:
        built.append(seeded_app())
        return built[-1]

    handler = StepFunctionsTaskHandler(factory)
    assert built == []
    order_id = place(handler.app)
    handler(step("validate_order", order_id))
    handler(step("validate_order", order_id))
    assert len(built) == 1


def test_importing_the_handler_loads_no_aws_sdk() -> None:
    code = (
        "import sys, fooddelivery_aws.stepfunctions.task_handler; "
        "loaded = [m for m in ('boto3', 'botocore') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_an_aws_composition_root_the_handler_says_which_one_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_handler, "DEFAULT_APP_FACTORY", "fooddelivery_aws.no_such_module:bootstrap_aws")
    with pytest.raises(RuntimeError, match=r"fooddelivery_aws\.no_such_module:bootstrap_aws"):
        StepFunctionsTaskHandler()(step("validate_order", "ord-1"))


# -- steps ----------------------------------------------------------------------------------------------------------
def test_a_step_returns_the_actions_output(app: Bootstrapped, handler: StepFunctionsTaskHandler) -> None:
    order_id = place(app)
    out = handler(step("validate_order", order_id))
    assert out == {"total": str(app.orders.get(order_id).pricing.total), "currency": "EUR"}
    assert handler(step("notify_restaurant", order_id)) == {}


def test_a_replayed_payment_step_charges_once_and_answers_the_same(
    app: Bootstrapped, handler: StepFunctionsTaskHandler
) -> None:
    order_id = place(app)
    first = handler(step("capture_payment", order_id))
    again = handler(step("capture_payment", order_id, attempt=1))
    assert first == again == {"chargeId": app.orders.get(order_id).charge_id}
    assert len(app.payments.charges) == 1


def test_a_declined_card_raises_the_error_step_functions_catches_by_name(
    app: Bootstrapped, handler: StepFunctionsTaskHandler
) -> None:
    order_id = place(app, token="tok_chargeDeclined")
    with pytest.raises(PaymentDeclined) as caught:
        handler(step("capture_payment", order_id))
    assert type(caught.value).__name__ == "PaymentDeclined"  # what Lambda reports as errorType
    assert app.payments.charges == []


def test_a_transient_payment_error_is_raised_for_step_functions_to_retry(
    app: Bootstrapped, handler: StepFunctionsTaskHandler
) -> None:
    order_id = place(app, token="tok_processingError_1")
    with pytest.raises(PaymentRetryableError):
        handler(step("capture_payment", order_id))
    assert "chargeId" in handler(step("capture_payment", order_id, attempt=1))


class GatewayTimeout(PaymentRetryableError):
    """An adapter's own subclass of a core error."""


class TimingOutGateway(FakePaymentGateway):
    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        raise GatewayTimeout("the processor did not answer")


def test_an_adapter_subclass_of_a_core_error_is_reported_under_the_core_name() -> None:
    app = seeded_app(payments=TimingOutGateway())
    handler = StepFunctionsTaskHandler(app)
    order_id = place(app)
    with pytest.raises(Exception) as caught:
        handler(step("capture_payment", order_id))
    assert type(caught.value).__name__ == "PaymentRetryableError"
    assert isinstance(caught.value.__cause__, GatewayTimeout)
    assert asl_error_name(GatewayTimeout("x")) == "PaymentRetryableError"
    assert asl_error_name(KeyError("x")) is None


@pytest.mark.parametrize(
    "event",
    [
        [],
        {"sagaId": "ord-1"},
        {"step": "validate_order"},
        {"step": "validate_order", "sagaId": ""},
        {"step": "validate_order", "sagaId": "ord-1", "data": []},
        {"step": "no_such_step", "sagaId": "ord-1"},
        {"step": AWAIT_EVENT_STEP, "sagaId": "ord-1", "events": EVENTS},
        {"step": AWAIT_EVENT_STEP, "sagaId": "ord-1", "events": "RestaurantConfirmed", "taskToken": "t"},
    ],
    ids=[
        "not-an-object",
        "no-step",
        "no-saga",
        "empty-saga",
        "data-not-object",
        "unknown-step",
        "no-token",
        "events-not-list",
    ],
)
def test_a_malformed_event_is_a_bug_reported_as_invalid_task_input(
    handler: StepFunctionsTaskHandler, event: Any
) -> None:
    with pytest.raises(InvalidTaskInput):
        handler(event)


def test_step_outputs_recorded_by_the_machine_are_merged_back_into_the_actions_data() -> None:
    data = task_handler._WorkingData(
        {
            "sagaId": "o",
            "outcome": "restaurant_timeout",
            "results": {"ProcessPayment": {"chargeId": "ch_1"}},
            "branches": {"ParallelProcessing": {"AssignDriver": {"driverId": "drv-near"}, "NotifyCustomer": {}}},
            "error": {"Error": "States.Timeout"},
        },
        lambda: {"reservedDriver": "drv-near"},
    )
    assert data["chargeId"] == "ch_1"
    assert data["driverId"] == "drv-near"
    assert data.get("reservedDriver") == "drv-near"
    assert "results" not in data and "error" not in data
    assert data.get("missing") is None


class CrashOnceOrders(InMemoryOrderRepository):
    """Fails the first save after ``arm()``: a Lambda dying between reserving a driver and writing the order."""

    armed = False

    def arm(self) -> None:
        self.armed = True

    def save(self, order: Order) -> None:
        if self.armed:
            self.armed = False
            raise InfrastructureError("the order table did not answer")
        super().save(order)


def test_a_driver_reserved_before_a_crash_is_found_again_by_the_retry_not_reserved_twice() -> None:
    orders = CrashOnceOrders()
    app = seeded_app(orders=orders)
    handler = StepFunctionsTaskHandler(app)
    order_id = place(app)
    handler(step("capture_payment", order_id))
    orders.arm()
    with pytest.raises(InfrastructureError):
        handler(step("assign_driver", order_id))
    assert app.sagas.get(record_key(order_id)).data["reservedDriver"] == "drv-near"
    assert handler(step("assign_driver", order_id, attempt=1)) == {"driverId": "drv-near"}
    assert app.drivers.get("drv-far").status is DriverStatus.AVAILABLE
    assert app.orders.get(order_id).driver_id == "drv-near"


def test_compensations_read_the_outcome_the_machine_recorded(
    app: Bootstrapped, handler: StepFunctionsTaskHandler
) -> None:
    order_id = place(app)
    handler(step("capture_payment", order_id))
    handler(step("refund_payment", order_id, {"outcome": "restaurant_timeout"}))
    handler(step("fail_order", order_id, {"outcome": "restaurant_timeout"}))
    order = app.orders.get(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "restaurant_timeout"
    assert len(app.payments.refunds) == 1
    handler(step("refund_payment", order_id, {"outcome": "restaurant_timeout"}))
    assert len(app.payments.refunds) == 1


# -- the callback token -----------------------------------------------------------------------------------------------
def test_the_wait_step_hands_the_task_token_over_and_a_retry_replaces_it(
    app: Bootstrapped, handler: StepFunctionsTaskHandler
) -> None:
    assert handler(await_event("ord-9", "token-1")) == {}
    record = app.sagas.get(record_key("ord-9"))
    assert record.status is SagaStatus.WAITING
    assert record.data["taskToken"] == "token-1"
    assert record.data["events"] == EVENTS
    handler(await_event("ord-9", "token-2"))
    assert app.sagas.get(record_key("ord-9")).data["taskToken"] == "token-2"
    with pytest.raises(NotFound):  # the bare saga id stays free for the queue-driven runner
        app.sagas.get("ord-9")


class FakeStepFunctions:
    """SendTaskSuccess with Step Functions' answers: each token completes once; closed tokens -> TaskTimedOut."""

    def __init__(self, error_code: str | None = None) -> None:
        self.completed: dict[str, str] = {}
        self.closed: set[str] = set()
        self.error_code = error_code

    def send_task_success(self, *, taskToken: str, output: str) -> Mapping[str, Any]:
        if self.error_code or taskToken in self.closed or taskToken in self.completed:
            code = self.error_code or "TaskTimedOut"
            raise ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")
        self.completed[taskToken] = output
        return {}


@pytest.fixture
def waiting(app: Bootstrapped, handler: StepFunctionsTaskHandler) -> str:
    handler(await_event("ord-7", "tok-7"))
    return "ord-7"


def test_an_awaited_event_completes_the_callback_task_once(app: Bootstrapped, waiting: str) -> None:
    sfn = FakeStepFunctions()
    signaller = StepFunctionsSignaller(app.sagas, app.service.clock, sfn)
    assert signaller.signal(waiting, "RestaurantConfirmed", {"by": "rest-1"}) is SignalOutcome.ACCEPTED
    assert sfn.completed == {"tok-7": '{"name":"RestaurantConfirmed","detail":{"by":"rest-1"}}'}
    assert signaller.signal(waiting, "RestaurantConfirmed") is SignalOutcome.DUPLICATE
    with pytest.raises(LateEvent):
        signaller.signal(waiting, "RestaurantRejected")
    assert len(sfn.completed) == 1


def test_an_event_before_the_wait_or_not_awaited_is_refused(app: Bootstrapped, waiting: str) -> None:
    signaller = StepFunctionsSignaller(app.sagas, app.service.clock, FakeStepFunctions())
    with pytest.raises(InvalidTransition):
        signaller.signal("ord-not-yet", "RestaurantConfirmed")
    with pytest.raises(InvalidTransition):
        signaller.signal(waiting, "DriverArrived")


def test_an_event_after_the_timeout_is_late_and_changes_nothing(app: Bootstrapped, waiting: str) -> None:
    sfn = FakeStepFunctions()
    sfn.closed.add("tok-7")
    signaller = StepFunctionsSignaller(app.sagas, app.service.clock, sfn)
    with pytest.raises(LateEvent):
        signaller.signal(waiting, "RestaurantConfirmed")
    assert app.sagas.get(record_key(waiting)).data.get("signals") is None


def test_a_step_functions_outage_is_an_infrastructure_error(app: Bootstrapped, waiting: str) -> None:
    signaller = StepFunctionsSignaller(app.sagas, app.service.clock, FakeStepFunctions("ServiceUnavailable"))
    with pytest.raises(InfrastructureError):
        signaller.signal(waiting, "RestaurantConfirmed")


def test_a_retried_wait_takes_the_event_again_with_its_new_token(
    app: Bootstrapped, handler: StepFunctionsTaskHandler, waiting: str
) -> None:
    sfn = FakeStepFunctions()
    signaller = StepFunctionsSignaller(app.sagas, app.service.clock, sfn)
    signaller.signal(waiting, "RestaurantConfirmed")
    handler(await_event(waiting, "tok-8"))  # Step Functions retried the callback task: the old attempt is over
    assert signaller.signal(waiting, "RestaurantConfirmed") is SignalOutcome.ACCEPTED
    assert set(sfn.completed) == {"tok-7", "tok-8"}
