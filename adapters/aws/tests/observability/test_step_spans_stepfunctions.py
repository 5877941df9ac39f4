"""On Step Functions each saga step is an invocation of the task Lambda: its span joins the order's trace.

The order goes as in ``e2e/test_order_journey_stepfunctions``: API Gateway event -> the HTTP function -> the stream
relay -> the SQS function starts the execution (its input carries the trace context of ``process OrderPlaced``) ->
moto interprets the generated state machine, whose Task states invoke the task Lambda (``task_handler.handler``,
run in this process by the Lambda stand-in) -> the restaurant confirms over HTTP -> the execution succeeds. Every
``saga <state>`` span of the task Lambda, ``ConfirmOrder`` included (run after the restaurant's request, in its
own invocation), has the trace id of ``POST /orders``, and the step metrics the in-process runner records are
recorded for each step."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_stack import Stack, create_stack
from deployment import Deployment
from gateway import CUSTOMER, REFERENCE_PAYLOAD, RESTAURANT, body_of, http_api_event, rest_event
from stepfunctions_harness import (
    LambdaStandIn,
    create_task_function,
    enable_execution,
    inprocess_moto,
    post_json,
    wait_for_end,
    wait_until,
)

from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.observability.tracing import TRACE_KEY
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.testing.telemetry import Recorded
from fooddelivery_aws.bootstrap import reset_aws_app
from fooddelivery_aws.sagas import StepFunctionsEngine
from fooddelivery_aws.stepfunctions import generate, task_handler
from fooddelivery_aws.stepfunctions.task_handler import StepFunctionsTaskHandler

STEPS = {"ValidateOrder", "ProcessPayment", "NotifyRestaurant", "AssignDriver", "NotifyCustomer", "ConfirmOrder"}


@pytest.fixture(scope="module")
def local_moto() -> Iterator[tuple[str, LambdaStandIn]]:
    with inprocess_moto() as (endpoint, stand_in):
        yield endpoint, stand_in


@pytest.fixture
def sfn_stack(local_moto: tuple[str, LambdaStandIn]) -> Iterator[tuple[Stack, LambdaStandIn]]:
    endpoint, stand_in = local_moto
    post_json(endpoint + "/moto-api/reset", {})
    enable_execution(endpoint)
    yield create_stack(endpoint), stand_in
    stand_in.functions.clear()
    reset_aws_app()


def test_every_step_of_the_execution_is_a_span_in_the_trace_of_post_orders(
    recorded: Recorded, sfn_stack: tuple[Stack, LambdaStandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, stand_in = sfn_stack
    sfn = stack.clients["stepfunctions"]
    function_arn, role_arn = create_task_function(stack.endpoint)
    # the deployed handler (metered, flushed), over a task handler built by the AWS composition root on first use
    monkeypatch.setattr(task_handler, "TASKS", StepFunctionsTaskHandler())
    stand_in.functions[function_arn.split(":function:")[-1]] = task_handler.handler
    asl = generate.order_saga_asl(build_order_saga(confirmation_timeout_s=30), task_resource=function_arn)
    machine = sfn.create_state_machine(name="order-saga", definition=json.dumps(asl), roleArn=role_arn)[
        "stateMachineArn"
    ]
    deployment = Deployment(
        stack, monkeypatch, FOODDELIVERY_SAGA_MODE="stepfunctions", STATE_MACHINE_ARN=machine,
        FOODDELIVERY_CONFIRMATION_TIMEOUT_S="30",
    )
    engine = deployment.app.boot.service.engine
    assert isinstance(engine, StepFunctionsEngine)

    response = deployment.http(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER))
    assert response["statusCode"] == 201, response["body"]
    order_id = str(body_of(response)["orderId"])
    deployment.relay()
    messages, failed = deployment.consume()
    assert (len(messages), failed) == (1, [])
    execution_arn = engine.execution_arn(order_id)
    wait_until(lambda: engine.status(order_id) is SagaStatus.WAITING, timeout=20, what="the restaurant wait")
    confirm = json.dumps({"status": "CONFIRMED"})
    answer = deployment.http(http_api_event("PUT", f"/orders/{order_id}", body=confirm, claims=RESTAURANT))
    assert answer["statusCode"] == 200, answer["body"]
    assert wait_for_end(sfn, execution_arn, timeout=20)["status"] == "SUCCEEDED"

    (request,) = recorded.named("POST /orders")
    order_trace = request.context.trace_id
    (consumer,) = recorded.named("process OrderPlaced")
    assert consumer.context.trace_id == order_trace
    # the execution's input carries the context of the span that started it
    execution_input = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    started_by = f"00-{order_trace:032x}-{consumer.context.span_id:016x}-"
    assert execution_input[TRACE_KEY]["traceparent"].startswith(started_by)
    steps = recorded.named("saga ")
    assert {s.name.removeprefix("saga ") for s in steps} == STEPS
    assert {s.context.trace_id for s in steps} == {order_trace}
    assert {s.parent.span_id for s in steps if s.parent is not None} == {consumer.context.span_id}
    for step in steps:
        assert step.attributes is not None
        assert step.attributes["fooddelivery.order_id"] == order_id
        assert step.attributes["fooddelivery.saga.step"] == step.name.removeprefix("saga ")
    # the payment's port call is a child of its step, in the task Lambda's invocation
    (capture,) = recorded.named("payments.capture")
    (payment_step,) = recorded.named("saga ProcessPayment")
    assert capture.parent is not None and capture.parent.span_id == payment_step.context.span_id
    # the step metrics, exported by the task Lambda's flushes
    measured = {dict(p.attributes)["fooddelivery.saga.step"] for p in
                recorded.metric_points("fooddelivery.saga.step.duration")}
    assert measured == STEPS
