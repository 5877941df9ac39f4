"""Telemetry of the Functions app: every function that runs the core exports its spans and metrics before the
invocation ends (success or failure), and in ``durable`` mode each activity is a ``saga <state>`` span in the
order's trace.

The flush tests give the SDK a batch span processor with a one-hour schedule (``fooddelivery.testing.telemetry``):
a span is in the exporter after an invocation only because the function flushed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure_world import REFERENCE_PAYLOAD, AzureWorld, FunctionsLoop
from durable_stand_in import DurableRpcServer

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.domain.money import Money
from fooddelivery.observability.tracing import TRACE_KEY, span
from fooddelivery.ports.payments import Charge
from fooddelivery.testing.telemetry import Recorded, record
from fooddelivery_azure.bootstrap import reset_azure_app
from fooddelivery_azure.durable.orchestrator import StepInput
from fooddelivery_azure.settings import SagaMode

ORDER_TRACE = "0af7651916cd43dd8448eb211c80319c"
ORDER_SPAN = "b7ad6b7169203331"
STEPS = {"ValidateOrder", "ProcessPayment", "NotifyRestaurant", "AssignDriver", "NotifyCustomer", "ConfirmOrder"}


class CrashingProcessor(FakePaymentGateway):
    """A card processor whose client library fails with an error that is not the core's (a bug: the activity
    fails rather than routing it as a business failure)."""

    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        raise RuntimeError("processor client crashed")


@pytest.fixture
def batched() -> Iterator[Recorded]:
    yield from record(batched=True)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    yield from record(batched=False)


def _world(make_container: Any, loop: FunctionsLoop, rpc: DurableRpcServer, **options: Any) -> Iterator[AzureWorld]:
    built = AzureWorld.build(make_container, loop, rpc, saga_mode=SagaMode.DURABLE, **options)
    try:
        yield built
    finally:
        rpc.host = None
        reset_azure_app()


def _place(world: AzureWorld) -> str:
    created = world.call("POST", "/orders", REFERENCE_PAYLOAD, token=world.token("customer", "user-1"))
    assert created.status_code == 201, created.get_body()
    order_id: str = world.json(created)["orderId"]
    return order_id


def test_the_http_function_exports_its_spans_and_metrics_before_it_returns(
    batched: Recorded, container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer
) -> None:
    for world in _world(container, functions_loop, durable_rpc):  # built with telemetry on
        with span("outside any invocation"):
            pass
        assert batched.spans() == []  # the batch holds it: nothing is exported without a flush

        order_id = _place(world)  # the async http function, its core run in a worker thread

        names = [s.name for s in batched.spans()]
        assert {"POST /orders", "use_case place_order", "outside any invocation"} <= set(names)
        (request,) = batched.named("POST /orders")
        assert request.attributes is not None and request.attributes["http.response.status_code"] == 201
        assert [p.value for p in batched.metric_points("fooddelivery.orders.placed")] == [1]
        assert order_id


def test_an_activity_that_raises_exports_its_failed_step_span_first(
    batched: Recorded, container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer
) -> None:
    for world in _world(container, functions_loop, durable_rpc, payments=CrashingProcessor()):
        order_id = _place(world)
        carrier = {"traceparent": f"00-{ORDER_TRACE}-{ORDER_SPAN}-01"}
        step = StepInput(order_id, "ProcessPayment", "capture_payment", {"orderId": order_id, TRACE_KEY: carrier},
                         attempt=2)

        with pytest.raises(RuntimeError, match="processor client crashed"):
            world.functions["saga_capture_payment"](step.to_json())

        (failed,) = batched.named("saga ProcessPayment")
        assert format(failed.context.trace_id, "032x") == ORDER_TRACE
        assert failed.parent is not None and format(failed.parent.span_id, "016x") == ORDER_SPAN
        assert failed.attributes is not None
        assert (failed.attributes["error.type"], failed.attributes["fooddelivery.saga.attempt"]) == ("RuntimeError", 2)
        (duration,) = batched.metric_points("fooddelivery.saga.step.duration")
        assert dict(duration.attributes) == {
            "fooddelivery.saga.step": "ProcessPayment",
            "fooddelivery.saga.step.outcome": "error",
            "error.type": "RuntimeError",
        }
        (retries,) = batched.metric_points("fooddelivery.saga.step.retries")
        assert (retries.value, dict(retries.attributes)) == (1, {"fooddelivery.saga.step": "ProcessPayment"})


def test_every_activity_of_the_orchestration_is_a_span_in_the_trace_of_post_orders(
    recorded: Recorded, container: Any, functions_loop: FunctionsLoop, durable_rpc: DurableRpcServer
) -> None:
    for world in _world(container, functions_loop, durable_rpc):
        order_id = _place(world)
        world.settle()
        restaurant = world.token("restaurant", "owner-0", restaurant_id="rest-0")
        confirmed = world.call("PUT", f"/orders/{order_id}", '{"status": "CONFIRMED"}', token=restaurant)
        assert (confirmed.status_code, confirmed.headers["Signal-Outcome"]) == (200, "ACCEPTED")
        world.settle()
        assert world.json(world.call("GET", f"/orders/{order_id}", token=world.token("customer", "user-1")))[
            "status"
        ] == "CONFIRMED"

        (request,) = recorded.named("POST /orders")
        order_trace = request.context.trace_id
        (consumer,) = recorded.named("process OrderPlaced")  # the runtime queue's function, which started it
        assert consumer.context.trace_id == order_trace
        code, status = world.durable.status(order_id)
        assert code == 200
        started_by = f"00-{order_trace:032x}-{consumer.context.span_id:016x}-"
        saga_input = json.loads(status["input"]) if isinstance(status["input"], str) else status["input"]
        assert saga_input["data"][TRACE_KEY]["traceparent"].startswith(started_by)
        steps = recorded.named("saga ")
        assert {s.name.removeprefix("saga ") for s in steps} == STEPS
        assert {s.context.trace_id for s in steps} == {order_trace}
        assert {s.parent.span_id for s in steps if s.parent is not None} == {consumer.context.span_id}
        for step in steps:
            assert step.attributes is not None and step.attributes["fooddelivery.order_id"] == order_id
        (capture,) = recorded.named("payments.capture")
        (payment_step,) = recorded.named("saga ProcessPayment")
        assert capture.parent is not None and capture.parent.span_id == payment_step.context.span_id
        measured = {
            dict(p.attributes)["fooddelivery.saga.step"]
            for p in recorded.metric_points("fooddelivery.saga.step.duration")
        }
        assert measured == STEPS
