"""The deployed system, offline: the stack on moto (``aws_stack``), the Lambda functions as their handlers called
with the events AWS would send, and the event source mappings played by :class:`Deployment`.

What AWS does between the functions, and how it is played here:

- API Gateway -> ``entrypoints.http.handler``: the test builds REST / HTTP API events (``gateway``);
- the orders table's stream -> ``entrypoints.stream.handler``: :meth:`Deployment.relay` reads the real stream from
  moto and hands its new records over as one Lambda event; the handler sends the saga's events to the saga FIFO
  queue and every event to EventBridge, whose rule feeds the analytics queue (moto's own routing);
- saga queue and timer queue -> ``entrypoints.sqs.handler``: :meth:`Deployment.consume` receives what is visible
  (as the event source mapping polls), calls the handler, and deletes the records it did not report failed (as the
  mapping does with a partial batch response).

Every handler runs with the function's environment (``Stack.environ``) and the cached application of one
execution environment (``aws_app``), as a warm Lambda would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_stack import Stack, sqs_event
from gateway import seed

from fooddelivery.domain.order import Order
from fooddelivery.metering import Meter
from fooddelivery.ports.saga_store import SagaState
from fooddelivery_aws.bootstrap import AwsApp, aws_app, build_aws_app, reset_aws_app
from fooddelivery_aws.entrypoints import http, sqs, stream
from fooddelivery_aws.metering import set_process_meter


class Deployment:
    """The stack plus its functions (see the module docstring).

    Args:
        stack: the resources.
        monkeypatch: sets the functions' environment for the test.
        seed_catalog: add ``gateway.seed``'s catalog (``rest-1`` and two drivers); False for an empty one.
        meter: the application meters on it (``build_aws_app(meter=...)``; see :meth:`close`), or None.
        env: extra variables (``FOODDELIVERY_CONFIRMATION_TIMEOUT_S``...).
    """

    def __init__(
        self,
        stack: Stack,
        monkeypatch: pytest.MonkeyPatch,
        *,
        seed_catalog: bool = True,
        meter: Meter | None = None,
        **env: str,
    ) -> None:
        self.stack = stack
        for name, value in stack.environ(**env).items():
            monkeypatch.setenv(name, value)
        reset_aws_app(build_aws_app(meter=meter) if meter is not None else None)
        self.app: AwsApp = aws_app()
        if seed_catalog:
            seed(self.app.boot.restaurants, self.app.boot.drivers)

    def close(self) -> None:
        """Forget the cached application and the process meter (a metered deployment sets it)."""
        reset_aws_app()
        set_process_meter(None)

    # -- the functions ------------------------------------------------------------------------------------------
    def http(self, event: dict[str, Any]) -> dict[str, Any]:
        """API Gateway invokes the HTTP function."""
        return http.handler(event, None)

    def relay(self) -> int:
        """The stream's new records go to the stream function; returns how many records it got.

        Raises:
            AssertionError: the relay reported a failure.
        """
        records = self.stack.stream_records()
        if records:
            assert stream.handler({"Records": records}, None) == {"batchItemFailures": []}
        return len(records)

    def consume(self, queue_url: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """One poll of a queue by the SQS function (the saga queue by default): ``(messages, failed ids)``."""
        url = queue_url or self.stack.saga_queue_url
        messages = self.stack.receive(url, delete=False)
        if not messages:
            return [], []
        response = sqs.handler(sqs_event(messages), None)
        failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        for m in messages:
            if m["MessageId"] not in failed:
                self.stack.clients["sqs"].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return messages, failed

    def settle(self) -> None:
        """Run the relay and the saga queue's consumer until nothing moves (no failure allowed)."""
        for _ in range(20):
            moved = self.relay()
            messages, failed = self.consume()
            assert failed == [], failed
            if not moved and not messages:
                return
        raise AssertionError("the system did not settle")

    # -- state ----------------------------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        order: Order = self.app.boot.orders.get(order_id)
        return order

    def saga(self, order_id: str) -> SagaState:
        state: SagaState = self.app.boot.sagas.get(order_id)
        return state

    def notifications(self, queue_url: str) -> list[dict[str, Any]]:
        """The notification messages a subscription queue holds (drained)."""
        return [json.loads(m["Body"]) for m in self.stack.drain(queue_url)]

    def bus_events(self) -> list[dict[str, Any]]:
        """The EventBridge events that reached the bus (drained from the analytics queue its rule feeds)."""
        return [json.loads(m["Body"]) for m in self.stack.drain(self.stack.analytics_queue_url)]

    def order_items(self) -> list[dict[str, Any]]:
        """Every item of the orders table (orders, outbox records, idempotency bindings)."""
        items: list[dict[str, Any]] = self.stack.clients["dynamodb"].scan(TableName=self.stack.tables["orders"])[
            "Items"
        ]
        return items
