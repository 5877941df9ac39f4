"""On Cloud Workflows each saga step is a call of the ``saga_step`` function: its span joins the order's trace,
across processes, and reaches the collector before the function answers.

``POST /orders`` through the ``http_api`` function (in this process, SDK in memory) -> the outbox published to the
runtime topic (Pub/Sub emulator) -> the ``runtime_event`` function: ``WorkflowsEngine.start`` keeps the trace
context of ``process OrderPlaced`` in the execution's record and creates the execution (recorded: the emulator has
no Executions API) -> ``workflows-emulator`` runs the compiled workflow (polling mode) with that argument -> each
step calls ``saga_step``, served by functions-framework in another process whose SDK is the one
``fooddelivery.observability.setup.configure`` installs from ``OTEL_*`` variables: OTLP/HTTP to a receiver in this
test, batch processor with a one-hour schedule (so spans arrive only because each invocation flushes) -> the
restaurant confirms over HTTP -> the execution ends SUCCEEDED."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gcp_telemetry import REFERENCE_PAYLOAD, Executions, InProcessFunctions, OtlpReceiver, Recorded, record
from test_workflows_emulator import EMULATOR, TokenProxy

from fooddelivery.application.order_saga import build_order_saga
from fooddelivery.http.auth import issue_dev_token
from fooddelivery.observability.tracing import TRACE_KEY
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery_gcp.workflows.compile import compile_workflow, workflow_yaml
from fooddelivery_gcp.workflows.engine import record_key
from gcp_stack import FunctionServer

STEPS = {"ValidateOrder", "ProcessPayment", "NotifyRestaurant", "AssignDriver", "NotifyCustomer", "ConfirmOrder"}
HOUR_MS = "3600000"


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    yield from record(batched=False)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    try:
        yield server
    finally:
        server.stop()


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_every_step_of_the_workflow_is_a_span_in_the_trace_of_post_orders(
    recorded: Recorded, receiver: OtlpReceiver, firestore_client: Any, pubsub_host: str, tmp_path: Path
) -> None:
    if not EMULATOR.exists():
        pytest.fail(f"workflows-emulator is not installed in {EMULATOR.parent} (adapters/gcp/test.sh installs it)")
    executions = Executions()
    functions = InProcessFunctions(firestore_client, tmp_path, executions)
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "saga-step",
        "OTEL_BSP_SCHEDULE_DELAY": HOUR_MS,
        "OTEL_METRIC_EXPORT_INTERVAL": HOUR_MS,
    }
    step = FunctionServer("saga_step", {**functions.env, **otel})
    proxy = TokenProxy(step.url, functions.keys)
    run: subprocess.Popen[bytes] | None = None
    try:
        # the card fails once, transiently: the workflow's retry policy runs ProcessPayment a second time
        payload = REFERENCE_PAYLOAD.replace(b'"paymentMethod": "card"', b'"paymentMethod": "tok_processingError_1"')
        created = functions.http("POST", "/orders", payload, issue_dev_token("customer", "user-1"))
        assert created.status_code == 201, created.get_data()
        order_id = json.loads(created.get_data())["orderId"]
        assert functions.deliver_runtime_messages() == 1  # OrderPlaced: the engine starts the execution
        (execution,) = executions.created
        argument = json.loads(execution["argument"])
        assert argument == {"sagaId": order_id}

        source = tmp_path / "order-saga.yaml"
        source.write_text(
            workflow_yaml(compile_workflow(build_order_saga(60), mode="polling", poll_interval_s=1, auth=False))
        )
        with (tmp_path / "run.log").open("wb") as log:
            run = subprocess.Popen(
                [str(EMULATOR), "--source", str(source), "--env-file", "/dev/null", "run", "--data",
                 execution["argument"]],
                env={**os.environ, "STEP_URL": proxy.url},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        sagas = functions.app.boot.sagas
        _wait(lambda: sagas.get(record_key(order_id)).status is SagaStatus.WAITING, "the restaurant wait")
        restaurant = issue_dev_token("restaurant", "owner-0", restaurant_id="rest-0")
        answer = functions.http("PUT", f"/orders/{order_id}", b'{"status": "CONFIRMED"}', restaurant)
        assert answer.status_code == 200, answer.get_data()
        run.wait(timeout=120)
        assert sagas.get(record_key(order_id)).status is SagaStatus.SUCCEEDED, (tmp_path / "run.log").read_text()

        (request,) = recorded.named("POST /orders")
        order_trace = f"{request.context.trace_id:032x}"
        (consumer,) = recorded.named("process OrderPlaced")
        assert f"{consumer.context.trace_id:032x}" == order_trace
        assert sagas.get(record_key(order_id)).data[TRACE_KEY]["traceparent"].startswith(
            f"00-{order_trace}-{consumer.context.span_id:016x}-"
        )
        # every step span, exported by the step function's own process before it answered
        steps = receiver.named("saga ")
        assert {s.name.removeprefix("saga ") for s in steps} == STEPS
        assert {s.trace_id for s in steps} == {order_trace}
        assert {s.parent_span_id for s in steps} == {f"{consumer.context.span_id:016x}"}
        assert {s.service for s in steps} == {"saga-step"}
        for s in steps:
            assert s.attributes["fooddelivery.order_id"] == order_id
            assert s.attributes["fooddelivery.saga.step"] == s.name.removeprefix("saga ")
        # two attempts of ProcessPayment (the workflow counts them), the second one paid
        payment_steps = receiver.named("saga ProcessPayment")
        assert sorted(s.attributes["fooddelivery.saga.attempt"] for s in payment_steps) == [1, 2]
        assert [s.attributes.get("error.type") for s in payment_steps] == ["payment_retryable", None]
        (capture,) = receiver.named("payments.capture")
        assert capture.trace_id == order_trace and capture.parent_span_id == payment_steps[1].span_id
        retried = [a for name, a in receiver.metric_points if name == "fooddelivery.saga.step.retries"]
        assert retried and {a["fooddelivery.saga.step"] for a in retried} == {"ProcessPayment"}
        measured = {a["fooddelivery.saga.step"] for name, a in receiver.metric_points
                    if name == "fooddelivery.saga.step.duration"}
        assert measured == STEPS
    finally:
        if run is not None and run.poll() is None:
            os.killpg(run.pid, 9)
            run.wait()
        proxy.stop()
        step.stop()
        functions.close()
