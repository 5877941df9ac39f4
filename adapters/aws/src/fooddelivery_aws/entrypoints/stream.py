"""The outbox relay's Lambda: the orders table's DynamoDB stream in; the saga FIFO queue and EventBridge out
(:mod:`fooddelivery_aws.relay`).

- A DynamoDB Streams batch (``{"Records": [...]}``): outbox INSERTs are published in order -- the saga's events to
  the saga queue (message group = order id, deduplication id = event id), every event to EventBridge -- and then
  deleted; every other record (orders, idempotency bindings, MODIFY and REMOVE) is skipped. The answer is
  ``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`` naming the first record that could not be
  relayed (Lambda retries from it), or an empty list.
- An EventBridge scheduled event (``source: aws.events``, from a Schedule on this function): the sweep publishes
  whatever is still pending in the outbox; answers ``{"swept": <count>}``.

Event source mapping settings this handler expects: ``FunctionResponseTypes: [ReportBatchItemFailures]``,
``StartingPosition: TRIM_HORIZON``, ``BisectBatchOnFunctionError: true``, a bounded ``MaximumRetryAttempts`` and an
on-failure destination; optionally a filter on ``{"dynamodb": {"NewImage": {"itemType": {"S": ["outbox"]}}}}`` with
``eventName: INSERT`` so other writes do not even invoke it
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fooddelivery.observability.setup import flushing
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.metering import metered
from fooddelivery_aws.relay import is_scheduled_event

__all__ = ["handler"]

log = logging.getLogger(__name__)


@metered()
@flushing()
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (``fooddelivery_aws.entrypoints.stream.handler``): see the module docstring.

    Raises:
        InfrastructureError: a sweep's publish failed (the schedule runs it again).
    """
    from fooddelivery_aws.bootstrap import aws_app

    relay = aws_app().relay
    if isinstance(event, Mapping) and is_scheduled_event(event):
        swept = relay.sweep()
        log.info("outbox sweep published %d events", swept)
        return {"swept": swept}
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        log.error("not a DynamoDB Streams event: no Records list")
        return BatchItemFailures().response()
    return relay.handle(records).response()
