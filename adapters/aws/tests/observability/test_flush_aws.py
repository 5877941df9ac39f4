"""Every Lambda handler exports the invocation's telemetry before it returns, when it succeeds and when it raises
(Lambda freezes the execution environment between invocations: spans left in a batch would wait or be lost).

The SDK's batch span processor here exports only when flushed (one-hour schedule), so a span is in the exporter
after an invocation only because the handler flushed it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_stack import create_stack
from deployment import Deployment
from gateway import CUSTOMER, REFERENCE_PAYLOAD, body_of, rest_event
from opentelemetry.trace import get_current_span
from stepfunctions_harness import place, seeded_app

from fooddelivery.domain.errors import PaymentDeclined
from fooddelivery.observability.tracing import TRACE_KEY, span
from fooddelivery.testing.telemetry import Recorded
from fooddelivery_aws.stepfunctions import task_handler
from fooddelivery_aws.stepfunctions.task_handler import StepFunctionsTaskHandler

ORDER_TRACE = "0af7651916cd43dd8448eb211c80319c"
ORDER_SPAN = "b7ad6b7169203331"


def test_the_http_function_exports_its_spans_and_metrics_before_it_returns(
    batched: Recorded, moto_reset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(create_stack(moto_reset), monkeypatch)
    try:
        with span("outside any invocation"):
            pass
        assert batched.spans() == []  # the batch holds it: nothing is exported without a flush

        response = deployment.http(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER))

        assert response["statusCode"] == 201, response["body"]
        names = [s.name for s in batched.spans()]
        assert "POST /orders" in names and "use_case place_order" in names and "outside any invocation" in names
        (request,) = batched.named("POST /orders")
        assert request.attributes is not None and request.attributes["http.response.status_code"] == 201
        assert request.attributes["http.route"] == "/orders"
        assert [p.value for p in batched.metric_points("fooddelivery.orders.placed")] == [1]
        assert body_of(response)["orderId"]
    finally:
        deployment.close()


def _declined_step_event(order_id: str, attempt: int) -> dict[str, Any]:
    carrier = {"traceparent": f"00-{ORDER_TRACE}-{ORDER_SPAN}-01"}
    data = {"sagaId": order_id, "orderId": order_id, TRACE_KEY: carrier, "results": {"ValidateOrder": {}}}
    return {"step": "capture_payment", "state": "ProcessPayment", "sagaId": order_id, "data": data, "attempt": attempt}


def test_the_task_function_exports_the_failed_step_span_when_the_step_raises(
    batched: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = seeded_app()  # built with telemetry on: its saga actions are the traced ones
    order_id = place(app, "tok_chargeDeclined")
    monkeypatch.setattr(task_handler, "TASKS", StepFunctionsTaskHandler(app))
    before = len(batched.spans())

    with pytest.raises(PaymentDeclined):
        task_handler.handler(_declined_step_event(order_id, attempt=1), None)  # Step Functions' first retry

    (step,) = batched.named("saga ProcessPayment")
    assert len(batched.spans()) > before
    assert format(step.context.trace_id, "032x") == ORDER_TRACE  # the execution input's trace
    assert step.parent is not None and format(step.parent.span_id, "016x") == ORDER_SPAN
    assert step.attributes is not None
    assert (step.attributes["fooddelivery.order_id"], step.attributes["fooddelivery.saga.attempt"]) == (order_id, 2)
    assert step.attributes["error.type"] == "payment_declined"
    (duration,) = batched.metric_points("fooddelivery.saga.step.duration")
    assert duration.count == 1
    assert dict(duration.attributes) == {
        "fooddelivery.saga.step": "ProcessPayment",
        "fooddelivery.saga.step.outcome": "error",
        "error.type": step.attributes["error.type"],
    }
    (retries,) = batched.metric_points("fooddelivery.saga.step.retries")
    assert (retries.value, dict(retries.attributes)) == (1, {"fooddelivery.saga.step": "ProcessPayment"})
    assert get_current_span().get_span_context().is_valid is False  # nothing left current after the invocation
    assert json.dumps(batched.metrics_exporter.batches[0].to_json())  # a real export happened
