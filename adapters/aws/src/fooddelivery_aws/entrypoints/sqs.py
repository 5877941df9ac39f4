"""The SQS consumer: the saga's events and commands (FIFO saga queue) and saga timers (standard timer queue).

One handler for both queues; a record says what it is by its body:

==============================================  ================================================================
body                                            action
==============================================  ================================================================
a CloudEvents structured JSON event (what the   ``OrderPlaced`` starts the saga, ``OrderCancelled`` signals it
outbox relay sends: ``SqsFifoEventPublisher``)  (:data:`~fooddelivery_aws.sagas.SAGA_EVENT_TYPES`); other types
                                                are ignored
an EventBridge event whose ``detail`` is one    the same (what an EventBridge rule's SQS target delivers, e.g.
(``{"detail-type": ..., "detail": {...}}``)     messages redriven from another bus)
``{"messageType": "fooddelivery.saga.timer"}``  a timer: re-delayed if early, else delivered to the saga
``{"messageType": "fooddelivery.saga.resume"}`` resume an interrupted saga instance
==============================================  ================================================================

Settling per message (``batchItemFailures``; the event source mapping enables ``ReportBatchItemFailures``):

- a record whose handling raises is reported failed, the others succeed; nothing is swallowed (the failure is
  logged with the message id, group and error) and nothing fails the whole batch;
- a malformed record (not JSON, not one of the shapes above, an invalid envelope) is reported failed too, so after
  ``maxReceiveCount`` (3) receives the queue's redrive policy moves it to the dead-letter queue, where it can be
  inspected; it never crashes the batch;
- FIFO: records of one message group must be handled in order, so after the first failure in a group every later
  record of that group in the batch is reported failed without being handled (they come back, in order, after the
  failed one). Other groups go on. AWS documents the stricter "stop at the first failure" for FIFO batches; per
  group is enough because SQS orders only within a group.
- idempotency: every input is idempotent on its business key (the order id for a saga start, the event name for a
  signal, the timer id for a timer: see :mod:`fooddelivery_aws.sagas`), so a redelivered message, or an event
  published twice under one event id past the queue's 5-minute deduplication interval, changes nothing the second
  time.

Source: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (partial batch responses,
FIFO), https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fooddelivery.application.envelope import from_json
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.messaging.eventbridge import event_from_eventbridge
from fooddelivery_aws.messaging.sqs_commands import RESUME_MESSAGE_TYPE, resume_from_message
from fooddelivery_aws.messaging.sqs_scheduler import is_timer_message, timer_from_message
from fooddelivery_aws.sagas import SagaDriver

__all__ = ["SqsConsumer", "handler"]

log = logging.getLogger(__name__)


class MalformedRecord(ValueError):
    """An SQS record this consumer cannot read."""


class SqsConsumer:
    """Handles one SQS batch (see the module docstring).

    Args:
        saga: where saga inputs go (``AwsApp.saga``).
    """

    def __init__(self, saga: SagaDriver) -> None:
        self.saga = saga

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
                self._handle_record(record)
            except Exception:
                log.exception("SQS record failed", extra={"messageId": message_id, "messageGroupId": group})
                failures.add(message_id)
                if group is not None:
                    failed_groups.add(group)
        return failures.response()

    def _handle_record(self, record: Any) -> None:
        document = _body(record)
        if is_timer_message(document):
            outcome = self.saga.timer(timer_from_message(document))
            log.info("timer %s: %s", document.get("messageId"), outcome.value)
        elif document.get("messageType") == RESUME_MESSAGE_TYPE:
            self.saga.resume(resume_from_message(document))
        else:
            self._handle_event(_event(document))

    def _handle_event(self, event: DomainEvent) -> None:
        if event.type is EventType.ORDER_PLACED:
            self.saga.order_placed(event)
        elif event.type is EventType.ORDER_CANCELLED:
            self.saga.order_cancelled(event)
        else:
            log.debug("event %s (%s) needs nothing from the saga", event.event_id, event.type.value)


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


def _body(record: Any) -> dict[str, Any]:
    if not isinstance(record, Mapping) or not isinstance(record.get("body"), str):
        raise MalformedRecord("an SQS record needs a string body")
    try:
        document = json.loads(record["body"])
    except ValueError as exc:
        raise MalformedRecord(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedRecord("body is not a JSON object")
    return document


def _event(document: Mapping[str, Any]) -> DomainEvent:
    """The domain event of an EventBridge-routed or a plain CloudEvents body.

    Raises:
        MalformedRecord: neither shape.
        ValidationError: an envelope that is not one of ours.
    """
    if "detail-type" in document and "detail" in document:
        return event_from_eventbridge(document)
    if "specversion" in document:
        try:
            return from_json(json.dumps(document, ensure_ascii=False))
        except ValidationError:
            raise
    raise MalformedRecord("body is neither an EventBridge event, a CloudEvent, a timer nor a saga command")


# -- the Lambda handler -----------------------------------------------------------------------------------------------
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (``fooddelivery_aws.entrypoints.sqs.handler``): see the module docstring.

    The application is built on the first invocation of the execution environment and reused by warm ones.
    """
    from fooddelivery_aws.bootstrap import aws_app

    return SqsConsumer(aws_app().saga).handle(event)
