"""End to end on the stack (moto), through the Lambda handlers only: the reference payload as an API Gateway REST
event -> DynamoDB -> the stream relay -> the saga FIFO queue (message group = the order id, deduplication id = the
event id; every event also to EventBridge -> the analytics queue) -> the SQS handler runs the saga (payment,
driver, notifications over SNS) -> the restaurant confirms through an HTTP API event -> CONFIRMED. Then the other
endings: the restaurant's timeout (a real delayed timer on the timer queue) and a cancellation, two orders in two
message groups, and duplicates of every message."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aws_stack import Stack, sample_event, sqs_event
from deployment import Deployment
from gateway import CUSTOMER, REFERENCE_PAYLOAD, RESTAURANT, body_of, http_api_event, rest_event

from fooddelivery.domain.catalog import DriverStatus
from fooddelivery.domain.order import OrderStatus, PaymentStatus
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery_aws.entrypoints import sqs, stream


def _poll(deployment: Deployment, queue_url: str, seconds: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Poll ``queue_url`` through the SQS function every 0.2 s until it delivers something or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        delivered = deployment.consume(queue_url)
        if delivered[0] or time.monotonic() > deadline:
            return delivered
        time.sleep(0.2)


def _place(deployment: Deployment) -> str:
    response = deployment.http(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER))
    assert response["statusCode"] == 201, response["body"]
    return str(body_of(response)["orderId"])


def _confirm(deployment: Deployment, order_id: str) -> dict[str, object]:
    event = http_api_event("PUT", f"/orders/{order_id}", body=json.dumps({"status": "CONFIRMED"}), claims=RESTAURANT)
    return deployment.http(event)


def test_an_order_goes_from_the_gateway_through_the_queue_driven_saga_to_confirmed(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch, FOODDELIVERY_CONFIRMATION_TIMEOUT_S="2")

    # 1. API Gateway (REST, base64 body, Cognito claims) -> 201 and an order item in DynamoDB, money as integers
    order_id = _place(deployment)
    (item,) = [i for i in deployment.order_items() if i["itemType"]["S"] == "order"]
    assert item["orderId"]["S"] == order_id
    assert item["status"]["S"] == "PENDING"
    assert item["pricing"]["M"]["subtotalMinor"] == {"N": "2197"}
    assert deployment.order(order_id).pricing.subtotal.amount == Decimal("21.97")

    # 2. the stream relay sends OrderPlaced to the FIFO queue, in the order's own message group, and to the bus
    assert deployment.relay() == 2  # the order and its outbox record
    messages = stack.receive(stack.saga_queue_url, delete=False)
    (message,) = messages
    cloud_event = json.loads(message["Body"])
    assert (cloud_event["type"], cloud_event["subject"]) == ("com.fooddelivery.OrderPlaced", order_id)
    assert message["Attributes"]["MessageGroupId"] == order_id
    assert message["Attributes"]["MessageDeduplicationId"] == cloud_event["id"]
    (published,) = deployment.bus_events()
    assert published["detail"] == cloud_event
    assert not any(i["itemType"]["S"] == "outbox" for i in deployment.order_items())  # relayed, then deleted

    # 3. the SQS function runs the saga up to the restaurant's answer
    assert sqs.handler(sqs_event(messages)) == {"batchItemFailures": []}
    stack.clients["sqs"].delete_message(QueueUrl=stack.saga_queue_url, ReceiptHandle=message["ReceiptHandle"])
    order = deployment.order(order_id)
    assert order.payment_status is PaymentStatus.CAPTURED
    assert order.driver_id == "drv-near"
    assert deployment.app.boot.drivers.get("drv-near").status is DriverStatus.ASSIGNED
    assert deployment.saga(order_id).status is SagaStatus.WAITING
    (to_restaurant,) = deployment.notifications(stack.restaurant_queue_url)  # SNS -> the filtered subscription
    assert (to_restaurant["recipientId"], to_restaurant["template"]) == ("rest-1", "new_order")
    assert {n["kind"] for n in deployment.notifications(stack.notifications_queue_url)} == {"restaurant", "customer"}
    assert stack.attributes(stack.timer_queue_url)["ApproximateNumberOfMessagesDelayed"] == "1"  # the 2 s timeout

    # 4. the saga's own events are relayed too, and none of them concerns the saga queue
    deployment.settle()
    assert stack.receive(stack.saga_queue_url) == []

    # 5. the restaurant confirms through an HTTP API (payload 2.0) event
    response = _confirm(deployment, order_id)
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["status"] == "CONFIRMED"
    assert deployment.order(order_id).status is OrderStatus.CONFIRMED
    assert deployment.saga(order_id).status is SagaStatus.SUCCEEDED

    # 6. the timeout, cancelled by the confirmation, still arrives (SQS cannot unsend it) and changes nothing
    time.sleep(2.2)
    timers, failed = deployment.consume(stack.timer_queue_url)
    assert len(timers) == 1 and failed == []
    assert deployment.order(order_id).status is OrderStatus.CONFIRMED
    assert deployment.app.boot.payments.calls == 2  # authorize + capture, no refund
    deployment.settle()


def test_when_the_restaurant_never_answers_the_timer_fails_the_order_and_refunds_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5 s, not 1 s: on a loaded CI machine placing and settling took more than a second, and the "not due yet"
    # check below then saw the timer already due
    deployment = Deployment(stack, monkeypatch, FOODDELIVERY_CONFIRMATION_TIMEOUT_S="5")
    order_id = _place(deployment)
    deployment.settle()
    assert deployment.saga(order_id).status is SagaStatus.WAITING

    assert deployment.consume(stack.timer_queue_url) == ([], [])  # not due yet: SQS holds it back
    # due 5 s after the saga began to wait (during settle), a moment this test does not see: poll for it
    timers, failed = _poll(deployment, stack.timer_queue_url, seconds=20)
    assert len(timers) == 1 and failed == []

    order = deployment.order(order_id)
    assert order.status is OrderStatus.FAILED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert deployment.app.boot.drivers.get("drv-near").status is DriverStatus.AVAILABLE
    assert deployment.saga(order_id).outcome == "restaurant_timeout"
    (alert,) = deployment.notifications(stack.alerts_queue_url)
    assert alert["kind"] == "operations_alert"
    late = _confirm(deployment, order_id)
    assert late["statusCode"] == 409


def test_a_customer_cancels_while_the_restaurant_has_not_answered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch)
    order_id = _place(deployment)
    deployment.settle()

    body = json.dumps({"status": "CANCELLED", "reason": "changed my mind"})
    response = deployment.http(rest_event("PUT", f"/orders/{order_id}", body=body, claims=CUSTOMER))
    assert response["statusCode"] == 200, response["body"]

    deployment.settle()  # OrderCancelled reaches the saga queue too: a duplicate signal, harmless
    order = deployment.order(order_id)
    assert order.status is OrderStatus.CANCELLED
    assert order.payment_status is PaymentStatus.REFUNDED
    assert deployment.saga(order_id).status is SagaStatus.FAILED
    assert deployment.app.boot.drivers.get("drv-near").status is DriverStatus.AVAILABLE


def test_two_orders_travel_in_two_message_groups_and_each_keeps_its_events_in_order(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch)
    first = _place(deployment)
    second = _place(deployment)
    deployment.relay()
    cancel = json.dumps({"status": "CANCELLED", "reason": "changed my mind"})  # before its saga started
    response = deployment.http(rest_event("PUT", f"/orders/{first}", body=cancel, claims=CUSTOMER))
    assert response["statusCode"] == 200, response["body"]
    deployment.relay()

    messages = stack.drain(stack.saga_queue_url)
    groups: dict[str, list[str]] = {}
    for m in messages:
        body = json.loads(m["Body"])
        assert m["Attributes"]["MessageDeduplicationId"] == body["id"]
        groups.setdefault(m["Attributes"]["MessageGroupId"], []).append(body["type"].rsplit(".", 1)[-1])
    assert groups == {first: ["OrderPlaced", "OrderCancelled"], second: ["OrderPlaced"]}
    assert len(deployment.bus_events()) == 3

    assert sqs.handler(sqs_event(messages)) == {"batchItemFailures": []}
    assert deployment.order(first).status is OrderStatus.CANCELLED  # its saga found it cancelled: nothing charged
    assert deployment.order(second).payment_status is PaymentStatus.CAPTURED
    assert deployment.app.boot.payments.calls == 2  # the second order's authorization and capture only
    assert deployment.saga(second).status is SagaStatus.WAITING


def test_every_message_delivered_twice_changes_nothing_the_second_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch)
    order_id = _place(deployment)
    records = stack.stream_records()
    assert stream.handler({"Records": records}) == {"batchItemFailures": []}
    assert stream.handler({"Records": records}) == {"batchItemFailures": []}  # the stream retried a batch
    messages = stack.drain(stack.saga_queue_url)
    assert len(messages) == 1  # sent twice under one deduplication id (the event id): enqueued once
    assert len(deployment.bus_events()) == 2  # the bus is at-least-once; its consumers dedupe on the CloudEvents id

    for _ in range(2):
        assert sqs.handler(sqs_event(messages)) == {"batchItemFailures": []}

    assert deployment.app.boot.payments.calls == 2  # one authorization, one capture
    assert len(deployment.notifications(stack.restaurant_queue_url)) == 1
    assert deployment.order(order_id).driver_id == "drv-near"
    assert deployment.saga(order_id).status is SagaStatus.WAITING


def test_the_outbox_sweep_runs_from_a_scheduled_event(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = Deployment(stack, monkeypatch)
    order_id = _place(deployment)  # its OrderPlaced waits in the outbox; suppose the stream lost it

    assert stream.handler(sample_event("eventbridge-scheduled")) == {"swept": 1}

    (message,) = stack.drain(stack.saga_queue_url)
    assert json.loads(message["Body"])["subject"] == order_id
    assert message["Attributes"]["MessageGroupId"] == order_id


def test_a_resume_command_finishes_a_saga_an_interrupted_invocation_left_running(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch)
    order_id = _place(deployment)
    stack.stream_records()  # the OrderPlaced delivery is lost in this story
    # an invocation created the instance and died before its first step
    clock = deployment.app.boot.service.clock
    deployment.app.boot.sagas.create(
        SagaState(
            order_id, "order@1", "ValidateOrder", SagaStatus.RUNNING, clock.now(), clock.now(), {"orderId": order_id}
        )
    )

    deployment.app.boot.adapters["saga_commands"].resume(order_id)  # the operator's redrive
    (message,) = stack.receive(stack.saga_queue_url, delete=False)
    assert message["Attributes"]["MessageGroupId"] == order_id
    assert sqs.handler(sqs_event([message])) == {"batchItemFailures": []}

    assert deployment.saga(order_id).status is SagaStatus.WAITING
    assert deployment.order(order_id).payment_status is PaymentStatus.CAPTURED


def test_a_timer_whose_delivery_crashed_mid_step_resumes_the_saga_when_it_comes_back(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(stack, monkeypatch, FOODDELIVERY_CONFIRMATION_TIMEOUT_S="1")
    order_id = _place(deployment)
    deployment.settle()
    time.sleep(1.2)
    (timer,) = stack.receive(stack.timer_queue_url, delete=False)
    # the first delivery of this timer saved the saga as RUNNING towards AlertOperations, then the Lambda died
    sagas = deployment.app.boot.sagas
    state = sagas.get(order_id)
    state.status, state.current, state.timer_id, state.outcome = (
        SagaStatus.RUNNING,
        "AlertOperations",
        None,
        "restaurant_timeout",
    )
    state.data["waited"] = True
    sagas.save(state)
    # SQS redelivers it once its visibility timeout is over, so the dead invocation wrote the saga that long ago
    stuck = sagas.get(order_id)
    stuck.updated_at -= timedelta(minutes=5)
    sagas.save(stuck)

    assert sqs.handler(sqs_event([timer])) == {"batchItemFailures": []}  # SQS redelivers it

    assert deployment.saga(order_id).status is SagaStatus.FAILED
    order = deployment.order(order_id)
    assert (order.status, order.payment_status) == (OrderStatus.FAILED, PaymentStatus.REFUNDED)
