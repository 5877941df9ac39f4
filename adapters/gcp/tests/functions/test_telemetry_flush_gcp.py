"""Every Cloud Function exports the invocation's telemetry before it returns or raises (an instance is throttled
between requests and may be stopped: spans left in a batch would wait or be lost).

The functions are the registered ones (``fooddelivery_gcp.main``), called in this process as functions-framework
calls them, over the Firestore and Pub/Sub emulators; the SDK's batch span processor here exports only when
flushed (one-hour schedule), so a span is in the exporter after an invocation only because the function flushed
it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gcp_telemetry import REFERENCE_PAYLOAD, Executions, InProcessFunctions, Recorded, record

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.http.auth import issue_dev_token
from fooddelivery.observability.tracing import span
from fooddelivery_gcp.workflows.engine import record_key


@pytest.fixture
def batched() -> Iterator[Recorded]:
    yield from record(batched=True)


def _functions(firestore_client: Any, tmp_path: Path, executions: Executions) -> Iterator[InProcessFunctions]:
    functions = InProcessFunctions(firestore_client, tmp_path, executions)
    try:
        yield functions
    finally:
        functions.close()


def test_the_http_function_exports_its_spans_and_metrics_before_it_returns(
    batched: Recorded, firestore_client: Any, pubsub_host: str, tmp_path: Path
) -> None:
    for functions in _functions(firestore_client, tmp_path, Executions()):  # built with telemetry on
        with span("outside any invocation"):
            pass
        assert batched.spans() == []  # the batch holds it: nothing is exported without a flush

        response = functions.http("POST", "/orders", REFERENCE_PAYLOAD, issue_dev_token("customer", "user-1"))

        assert response.status_code == 201, response.get_data()
        names = {s.name for s in batched.spans()}
        assert {"POST /orders", "use_case place_order", "outside any invocation"} <= names
        (request,) = batched.named("POST /orders")
        assert request.attributes is not None and request.attributes["http.response.status_code"] == 201
        assert [p.value for p in batched.metric_points("fooddelivery.orders.placed")] == [1]


def test_the_runtime_function_exports_the_failed_handling_before_it_raises(
    batched: Recorded, firestore_client: Any, pubsub_host: str, tmp_path: Path
) -> None:
    for functions in _functions(firestore_client, tmp_path, Executions(fail=True)):
        created = functions.http("POST", "/orders", REFERENCE_PAYLOAD, issue_dev_token("customer", "user-1"))
        assert created.status_code == 201, created.get_data()
        order_id = json.loads(created.get_data())["orderId"]
        exported_before = len(batched.spans())

        # OrderPlaced over Pub/Sub: starting the workflow fails (Workflows unavailable): the function raises (nack)
        with pytest.raises(InfrastructureError):
            functions.deliver_runtime_messages()

        assert len(batched.spans()) > exported_before
        (handling,) = batched.named("process OrderPlaced")
        (request,) = batched.named("POST /orders")
        assert handling.context.trace_id == request.context.trace_id  # the CloudEvent's traceparent, over Pub/Sub
        assert handling.attributes is not None and handling.attributes["error.type"]
        record = functions.app.boot.sagas.get(record_key(order_id))
        assert "claimedAt" not in record.data  # released: the redelivery starts it
