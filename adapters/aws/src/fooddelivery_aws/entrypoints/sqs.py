"""The SQS consumer: the runtime's events and commands (FIFO saga queue) and saga timers (standard timer queue).

One handler for both queues. A record's body is translated into one of the core's runtime inputs
(:mod:`fooddelivery.application.messages`) and handed to :class:`~fooddelivery.application.runtime.OrderRuntime`,
which decides everything (start, signal, free a driver, notify, deliver a timer, resume):

==============================================  ================================================================
body                                            input
==============================================  ================================================================
a CloudEvents structured JSON event (what the   the event (the reaction table says what it does; events it does
outbox relay sends: ``SqsFifoEventPublisher``)  not need change nothing)
an EventBridge event whose ``detail`` is one    the same (what an EventBridge rule's SQS target delivers, e.g.
(``{"detail-type": ..., "detail": {...}}``)     messages redriven from another bus)
``{"messageType": "fooddelivery.saga.timer"}``  a timer: re-delayed if early (SQS caps delays at 15 minutes:
                                                :meth:`~fooddelivery_aws.messaging.sqs_scheduler.SqsScheduler.accept`),
                                                else delivered to the runtime
``{"messageType": "fooddelivery.saga.resume"}`` a resume command
==============================================  ================================================================

Settling per message (``batchItemFailures``; the event source mapping enables ``ReportBatchItemFailures``):

- a record whose handling raises is reported failed, the others succeed; nothing is swallowed (the failure is
  logged with the message id, group and error) and nothing fails the whole batch;
- a malformed record (not JSON, not one of the shapes above, an invalid envelope: the core's ``MalformedMessage``)
  is reported failed too, so after ``maxReceiveCount`` (10) receives the queue's redrive policy moves it to the
  dead-letter queue, where it can be inspected; it never crashes the batch (SQS has no per-message dead-letter
  call: the redrive policy is how a poison message gets there);
- FIFO: records of one message group must be handled in order, so after the first failure in a group every later
  record of that group in the batch is reported failed without being handled (they come back, in order, after the
  failed one). Other groups go on. AWS documents the stricter "stop at the first failure" for FIFO batches; per
  group is enough because SQS orders only within a group.
- idempotency: every input is idempotent on its business key (see the core's runtime), so a redelivered message,
  or an event published twice under one event id past the queue's 5-minute deduplication interval, changes
  nothing the second time.

Source: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (partial batch responses,
FIFO), https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fooddelivery.application.messages import (
    EventInput,
    MalformedMessage,
    RuntimeInput,
    TimerInput,
    decode_document,
)
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.domain.errors import ValidationError
from fooddelivery.observability.setup import flushing
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.messaging.eventbridge import event_from_eventbridge
from fooddelivery_aws.messaging.sqs_scheduler import SqsScheduler
from fooddelivery_aws.metering import metered

__all__ = ["SqsConsumer", "handler", "runtime_input"]

log = logging.getLogger(__name__)


def runtime_input(record: Any) -> RuntimeInput:
    """The runtime input of one SQS record (see the module docstring).

    Raises:
        MalformedMessage: no string body, not JSON, or none of the shapes.
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("body"), str):
        raise MalformedMessage.single("body", "an SQS record needs a string body", "invalid")
    try:
        document = json.loads(record["body"])
    except ValueError as exc:
        raise MalformedMessage.single("body", f"not JSON: {exc}", "invalid") from exc
    if not isinstance(document, dict):
        raise MalformedMessage.single("body", "not a JSON object", "invalid")
    if "detail-type" in document and "detail" in document:
        try:
            return EventInput(event_from_eventbridge(document))
        except ValidationError as exc:
            raise MalformedMessage(exc.detail, exc.fields) from exc
    return decode_document(document)


class SqsConsumer:
    """Handles one SQS batch (see the module docstring).

    Args:
        runtime: the core's order runtime (``AwsApp.runtime``).
        timers: the timer queue's scheduler (re-delays early timers, drops cancelled and delivered ones); None in
            ``stepfunctions`` mode, where the runtime refuses timers anyway.
    """

    def __init__(self, runtime: OrderRuntime, timers: SqsScheduler | None = None) -> None:
        self.runtime = runtime
        self.timers = timers

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The partial batch response for ``event`` (``{"Records": [...]}``)."""
        failures = BatchItemFailures()
        failed_groups: set[str] = set()
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            log.error("not an SQS event: no Records list")
            return failures.response()
        for index, record in enumerate(records):
            message_id, group = _identity(record, index)
            if group is not None and group in failed_groups:
                failures.add(message_id)
                continue
            try:
                outcome = self._handle(runtime_input(record))
                log.info("SQS record %s: %s", message_id, outcome)
            except MalformedMessage:
                log.exception("poison SQS record (the redrive policy dead-letters it)", extra={"messageId": message_id})
                failures.add(message_id)
                if group is not None:
                    failed_groups.add(group)
            except Exception:
                log.exception("SQS record failed", extra={"messageId": message_id, "messageGroupId": group})
                failures.add(message_id)
                if group is not None:
                    failed_groups.add(group)
        return failures.response()

    def _handle(self, item: RuntimeInput) -> object:
        if isinstance(item, TimerInput) and self.timers is not None:
            return self.timers.accept(item.message, self.runtime.on_timer).value
        return [outcome.value for outcome in self.runtime.handle(item)]


def _identity(record: Any, index: int) -> tuple[str, str | None]:
    """``(messageId, MessageGroupId or None)`` of a record (a placeholder id for a record without one)."""
    if not isinstance(record, Mapping):
        return f"record-{index}", None
    message_id = record.get("messageId")
    attributes = record.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    return (
        str(message_id) if isinstance(message_id, str) and message_id else f"record-{index}",
        str(group) if isinstance(group, str) and group else None,
    )


# -- the Lambda handler -----------------------------------------------------------------------------------------------
@metered()
@flushing()
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (``fooddelivery_aws.entrypoints.sqs.handler``): see the module docstring.

    The application is built on the first invocation of the execution environment and reused by warm ones.
    """
    from fooddelivery_aws.bootstrap import aws_app

    app = aws_app()
    return SqsConsumer(app.runtime, app.timers).handle(event)
