"""The generated state machine executing in moto's Step Functions (ASL really interpreted: Parallel, Retry,
Catch, Choice, the callback task and its timeout).

Two ways, because moto's Lambda without Docker can only succeed (see ``stepfunctions_harness``):

- **scripted**: the session's moto server (``moto_reset``) runs the *committed* ASL file against a placeholder
  Lambda whose answers are queued with ``/moto-api/static/lambda-simple/response``; the test plays the
  restaurant with SendTaskSuccess. Covers the happy path and the timeout path; it cannot raise a task error.
- **with the real task handler**: a moto server in this process whose Lambda runs
  :class:`~fooddelivery_aws.stepfunctions.task_handler.StepFunctionsTaskHandler` over the in-memory core; the
  restaurant's answer goes through :class:`~fooddelivery_aws.stepfunctions.callbacks.StepFunctionsSignaller`.
  Covers happy path, payment declined, transient payment errors retried then success, restaurant timeout ->
  refund, and rejection, asserting the visited states, the final status and the core's resulting state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from stepfunctions_harness import (
    assert_path,
    clients,
    create_task_function,
    history,
    inprocess_moto,
    place,
    queue_lambda_results,
    seeded_app,
    task_failures,
    visited,
    wait_for_end,
    wait_until,
    with_retry_intervals,
)

from fooddelivery.application.order_saga import ORDER_SAGA, build_order_saga
from fooddelivery.application.saga.definition import SagaDefinition
from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.bootstrap import Bootstrapped
from fooddelivery.domain import Actor, DriverStatus, EventType, OrderStatus, PaymentStatus
from fooddelivery.domain.errors import LateEvent, NotFound
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_aws.stepfunctions import generate
from fooddelivery_aws.stepfunctions.callbacks import StepFunctionsSignaller, record_key
from fooddelivery_aws.stepfunctions.task_handler import StepFunctionsTaskHandler

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "deploy/aws/statemachine/order-saga.asl.json"
BRANCHES = frozenset({"NotifyRestaurant", "AssignDriver", "NotifyCustomer"})
#: States entered by a confirmed order: each is one billed state transition of a Standard workflow.
HAPPY_PATH: list[str | frozenset[str]] = [
    "ValidateOrder",
    "ProcessPayment",
    "ParallelProcessing",
    BRANCHES,
    "WaitForRestaurantConfirmation",
    "CheckRestaurantConfirmation",
    "ConfirmOrder",
    "OrderSuccessful",
]
TIMEOUT_PATH: list[str | frozenset[str]] = [
    *HAPPY_PATH[:5],
    "RestaurantTimeout",
    "AlertOperations",
    "Compensate",
    "ReleaseDriver",
    "CompensateCheckProcessPayment",
    "RefundPayment",
    "FailOrder",
    "OrderFailed",
]


def token_handed_to_lambda(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The payload the callback task sent to the task Lambda (with the task token), once scheduled."""
    for event in history(sfn, execution_arn):
        if event["type"] == "TaskScheduled":
            payload: dict[str, Any] = json.loads(event["taskScheduledEventDetails"]["parameters"])["Payload"]
            return payload
    return None


# -- scripted results, the committed file ----------------------------------------------------------------------------
def scripted_machine(endpoint: str, document: str) -> tuple[Any, str]:
    """Create the task Lambda and the state machine from ASL text with ``${TaskFunctionArn}``; (client, ARN)."""
    function_arn, role_arn = create_task_function(endpoint)
    sfn = clients(endpoint)["stepfunctions"]
    definition = document.replace(generate.TASK_FUNCTION_PLACEHOLDER, function_arn)
    arn = sfn.create_state_machine(name="order-saga", definition=definition, roleArn=role_arn)["stateMachineArn"]
    return sfn, str(arn)


#: What each task Lambda invocation answers on the way to the wait (the three branches get the same answer,
#: because queued results are consumed in invocation order and parallel branches invoke in any order).
SCRIPT_UNTIL_WAIT = [
    {"total": "20.90", "currency": "EUR"},  # ValidateOrder
    {"chargeId": "ch_1"},  # ProcessPayment
    {},
    {},
    {},  # NotifyRestaurant, AssignDriver, NotifyCustomer
    {},  # the callback task's Lambda invocation (its answer is ignored: the task waits for the token)
]


def test_the_committed_machine_runs_the_happy_path_in_ten_state_transitions(moto_reset: str) -> None:
    sfn, machine = scripted_machine(moto_reset, COMMITTED.read_text(encoding="utf-8"))
    queue_lambda_results(moto_reset, [*SCRIPT_UNTIL_WAIT, {"confirmedAt": "2026-11-30T18:01:00+00:00"}])
    execution = sfn.start_execution(stateMachineArn=machine, name="ord-1", input=json.dumps({"sagaId": "ord-1"}))
    arn = execution["executionArn"]

    wait_until(lambda: token_handed_to_lambda(sfn, arn) is not None, what="the callback task")
    payload = token_handed_to_lambda(sfn, arn)
    assert payload is not None
    assert payload["step"] == "await_event" and payload["sagaId"] == "ord-1" and payload["taskToken"]
    sfn.send_task_success(
        taskToken=payload["taskToken"], output=json.dumps({"name": "RestaurantConfirmed", "detail": {}})
    )

    described = wait_for_end(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    path = visited(sfn, arn)
    assert_path(path, HAPPY_PATH)
    assert len(path) == 10
    output = json.loads(described["output"])
    assert output["results"]["ProcessPayment"] == {"chargeId": "ch_1"}
    assert set(output["branches"]["ParallelProcessing"]) == BRANCHES
    assert output["event"]["name"] == "RestaurantConfirmed"


def test_a_restaurant_that_never_answers_times_out_into_the_refund_path(moto_reset: str) -> None:
    # The committed machine waits 300 s; the same definition with a 1 s confirmation window, generated the same way.
    document = generate.render(generate.order_saga_asl(build_order_saga(confirmation_timeout_s=1)))
    sfn, machine = scripted_machine(moto_reset, document)
    queue_lambda_results(moto_reset, [*SCRIPT_UNTIL_WAIT, {}, {}, {"refundId": "re_1"}, {}])
    arn = sfn.start_execution(stateMachineArn=machine, name="ord-2", input=json.dumps({"sagaId": "ord-2"}))[
        "executionArn"
    ]

    described = wait_for_end(sfn, arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "OrderProcessingFailed"
    assert_path(visited(sfn, arn), TIMEOUT_PATH)
    timed_out = [e for e in history(sfn, arn) if e["type"] == "TaskTimedOut"]
    assert [e["taskTimedOutEventDetails"]["error"] for e in timed_out] == ["States.Timeout"]


# -- the real task handler over the core -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live_moto() -> Iterator[tuple[str, Any]]:
    with inprocess_moto() as (endpoint, stand_in):
        yield endpoint, stand_in


class LiveSaga:
    """The core + the generated machine in moto + the real task Lambda: places orders and watches them."""

    def __init__(self, endpoint: str, stand_in: Any, definition: SagaDefinition) -> None:
        self.app: Bootstrapped = seeded_app()
        self.handler = StepFunctionsTaskHandler(self.app)
        function_arn, role_arn = create_task_function(endpoint, name=f"task-{id(self)}")
        stand_in.functions[function_arn.split(":function:")[-1]] = self.handler
        self.sfn = clients(endpoint)["stepfunctions"]
        asl = generate.order_saga_asl(definition, task_resource=function_arn)
        self.machine = self.sfn.create_state_machine(
            name=f"order-saga-{id(self)}", definition=json.dumps(asl), roleArn=role_arn
        )["stateMachineArn"]
        cancel_asl = generate.order_saga_asl(definition, task_resource=function_arn, cancel=True)
        self.cancel_machine = self.sfn.create_state_machine(
            name=f"order-saga-cancel-{id(self)}", definition=json.dumps(cancel_asl), roleArn=role_arn
        )["stateMachineArn"]
        self.signaller = StepFunctionsSignaller(self.app.sagas, self.app.service.clock, self.sfn)
        self.app.service.relay.consumer = self._on_events
        self.executions: dict[str, str] = {}
        self.cancellations: dict[str, str] = {}

    def _on_events(self, events: Sequence[DomainEvent]) -> None:
        """What a Step Functions deployment does with the saga's events (an EventBridge rule in production):
        OrderPlaced starts an execution named after the order (StartExecution is idempotent on name + input);
        OrderCancelled is signalled to a waiting execution, or starts the cancel-route machine with the output of
        a finished one."""
        for event in events:
            if event.type is EventType.ORDER_PLACED:
                started = self.sfn.start_execution(
                    stateMachineArn=self.machine,
                    name=event.order_id,
                    input=json.dumps({"sagaId": event.order_id, "orderId": event.order_id}),
                )
                self.executions[event.order_id] = started["executionArn"]
            elif event.type is EventType.ORDER_CANCELLED:
                described = self.sfn.describe_execution(executionArn=self.executions[event.order_id])
                if described["status"] == "SUCCEEDED":
                    started = self.sfn.start_execution(
                        stateMachineArn=self.cancel_machine,
                        name=f"{event.order_id}-cancel",
                        input=described["output"],
                    )
                    self.cancellations[event.order_id] = started["executionArn"]
                else:
                    self.signaller.signal(
                        event.order_id, "OrderCancelled", {"reason": str(event.payload.get("reason"))}
                    )

    def place(self, token: str = "tok_visa") -> str:
        return place(self.app, token)

    def waiting(self, order_id: str) -> bool:
        try:
            return self.app.sagas.get(record_key(order_id)).status is SagaStatus.WAITING
        except NotFound:
            return False

    def wait_for_restaurant(self, order_id: str) -> None:
        wait_until(lambda: self.waiting(order_id), what=f"{order_id} to wait for the restaurant")

    def end(self, order_id: str) -> dict[str, Any]:
        return wait_for_end(self.sfn, self.executions[order_id])

    def path(self, order_id: str) -> list[str]:
        return visited(self.sfn, self.executions[order_id])

    def failures(self, order_id: str) -> list[str]:
        return task_failures(self.sfn, self.executions[order_id])


@pytest.fixture
def live(live_moto: tuple[str, Any]) -> Callable[..., LiveSaga]:
    def make(definition: SagaDefinition | None = None) -> LiveSaga:
        # Same structure as ORDER_SAGA; 1 s retry intervals and a 2 s confirmation window keep the tests short.
        return LiveSaga(*live_moto, definition or with_retry_intervals(build_order_saga(confirmation_timeout_s=2), 1))

    return make


def test_a_confirmed_order_runs_every_step_through_the_task_lambda(live: Callable[..., LiveSaga]) -> None:
    saga = live()
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    assert saga.signaller.signal(order_id, "RestaurantConfirmed", {"by": "rest-1"}) is SignalOutcome.ACCEPTED
    assert saga.signaller.signal(order_id, "RestaurantConfirmed") is SignalOutcome.DUPLICATE

    described = saga.end(order_id)
    assert described["status"] == "SUCCEEDED"
    assert_path(saga.path(order_id), HAPPY_PATH)
    order = saga.app.orders.get(order_id)
    assert order.status is OrderStatus.CONFIRMED
    assert order.payment_status is PaymentStatus.CAPTURED
    assert order.driver_id == "drv-near"
    assert len(saga.app.payments.charges) == 1
    assert saga.app.payments.refunds == []
    output = json.loads(described["output"])
    assert output["branches"]["ParallelProcessing"]["AssignDriver"] == {"driverId": "drv-near"}


def test_a_declined_payment_fails_the_order_with_nothing_to_refund(live: Callable[..., LiveSaga]) -> None:
    saga = live()
    order_id = saga.place(token="tok_chargeDeclined")

    described = saga.end(order_id)
    assert described["status"] == "FAILED"
    assert described["error"] == "OrderProcessingFailed"
    assert_path(
        saga.path(order_id),
        [
            "ValidateOrder",
            "ProcessPayment",
            "RecordPaymentDeclined",
            "Compensate",
            "CompensateCheckProcessPayment",
            "FailOrder",
            "OrderFailed",
        ],
    )
    assert saga.failures(order_id) == ["PaymentDeclined"]  # caught at once: not a retried error
    order = saga.app.orders.get(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "payment_declined"
    assert saga.app.payments.charges == []
    assert saga.app.payments.refunds == []
    assert all(
        d.status is DriverStatus.AVAILABLE for d in (saga.app.drivers.get("drv-near"), saga.app.drivers.get("drv-far"))
    )


def test_transient_payment_errors_are_retried_then_the_order_goes_on(live: Callable[..., LiveSaga]) -> None:
    saga = live()
    order_id = saga.place(token="tok_processingError_2")
    saga.wait_for_restaurant(order_id)
    saga.signaller.signal(order_id, "RestaurantConfirmed")

    assert saga.end(order_id)["status"] == "SUCCEEDED"
    assert saga.failures(order_id) == ["PaymentRetryableError", "PaymentRetryableError"]
    payment_inputs = [
        json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
        for e in history(saga.sfn, saga.executions[order_id])
        if e["type"] == "LambdaFunctionScheduled"
    ]
    assert [i["attempt"] for i in payment_inputs if i["step"] == "capture_payment"] == [0, 1, 2]
    assert_path(saga.path(order_id), HAPPY_PATH)  # retries happen inside the state: no extra states entered
    assert len(saga.app.payments.charges) == 1
    assert saga.app.orders.get(order_id).status is OrderStatus.CONFIRMED


def test_a_restaurant_that_never_confirms_gets_the_order_refunded_and_the_driver_released(
    live: Callable[..., LiveSaga],
) -> None:
    saga = live()
    order_id = saga.place()

    described = saga.end(order_id)
    assert described["status"] == "FAILED"
    assert_path(saga.path(order_id), TIMEOUT_PATH)
    order = saga.app.orders.get(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.failure_reason == "restaurant_timeout"
    assert [r.amount for r in saga.app.payments.refunds] == [order.pricing.total]
    assert saga.app.drivers.get("drv-near").status is DriverStatus.AVAILABLE
    alerts = saga.app.notifier.sent_to("operations")
    assert [a.data["reason"] for a in alerts] == ["restaurant_timeout"]
    with pytest.raises(LateEvent):
        saga.signaller.signal(order_id, "RestaurantConfirmed")


def test_a_rejection_alerts_operations_refunds_and_fails_the_order(live: Callable[..., LiveSaga]) -> None:
    saga = live(with_retry_intervals(ORDER_SAGA, 1))  # the production 300 s window: the rejection ends it
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    saga.signaller.signal(order_id, "RestaurantRejected", {"reason": "out of dough"})

    assert saga.end(order_id)["status"] == "FAILED"
    assert_path(
        saga.path(order_id),
        [*HAPPY_PATH[:6], "RecordRestaurantRejected", *TIMEOUT_PATH[6:]],
    )
    assert saga.app.orders.get(order_id).failure_reason == "restaurant_rejected"
    assert len(saga.app.payments.refunds) == 1


def test_an_order_cancelled_while_waiting_is_compensated_without_failing_it(live: Callable[..., LiveSaga]) -> None:
    saga = live(with_retry_intervals(ORDER_SAGA, 1))
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    saga.app.service.cancel_order(Actor.customer("cust-ana"), order_id, "changed my mind")

    described = saga.end(order_id)
    assert described["status"] == "FAILED"
    assert described["error"] == "OrderCancelled"
    assert_path(
        saga.path(order_id),
        [
            *HAPPY_PATH[:6],
            "RecordCancelled",
            "CompensateCancelled",
            "CompensateCancelledReleaseDriver",
            "CompensateCancelledCheckProcessPayment",
            "CompensateCancelledRefundPayment",
            "OrderCancelled",
        ],
    )
    order = saga.app.orders.get(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert len(saga.app.payments.refunds) == 1
    assert saga.app.drivers.get("drv-near").status is DriverStatus.AVAILABLE


def test_a_confirmed_order_cancelled_later_is_undone_by_the_cancel_route_machine(live: Callable[..., LiveSaga]) -> None:
    saga = live()
    order_id = saga.place()
    saga.wait_for_restaurant(order_id)
    saga.signaller.signal(order_id, "RestaurantConfirmed")
    assert saga.end(order_id)["status"] == "SUCCEEDED"

    saga.app.service.cancel_order(Actor.customer("cust-ana"), order_id, "too slow")
    cancel = wait_for_end(saga.sfn, saga.cancellations[order_id])
    assert cancel["status"] == "FAILED"
    assert cancel["error"] == "OrderCancelled"
    assert visited(saga.sfn, saga.cancellations[order_id]) == [
        "CompensateCancelled",
        "CompensateCancelledReleaseDriver",
        "CompensateCancelledCheckProcessPayment",
        "CompensateCancelledRefundPayment",
        "OrderCancelled",
    ]
    assert saga.app.orders.get(order_id).status is OrderStatus.CANCELLED
    assert [r.amount for r in saga.app.payments.refunds] == [saga.app.orders.get(order_id).pricing.total]
    assert saga.app.drivers.get("drv-near").status is DriverStatus.AVAILABLE
