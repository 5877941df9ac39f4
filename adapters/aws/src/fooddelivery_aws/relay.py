"""The outbox relay on AWS: a DynamoDB Streams consumer, with a sweeper for what the stream could not deliver; it
sends the saga's events to the saga FIFO queue itself and every event to EventBridge.

Choice 1: **DynamoDB Streams**, not publish-after-commit. Every order write stores its events as outbox items in the
same ``TransactWriteItems`` (``fooddelivery_aws.dynamodb.orders``); the orders table's stream (``NEW_AND_OLD_IMAGES``;
``NEW_IMAGE`` on a dedicated outbox table) carries each committed outbox INSERT to this relay, which publishes the
events and then deletes the outbox items.

Why:

- the request path stays short: an HTTP call commits and answers; it makes no ``PutEvents`` call and no outbox
  Query (publish-after-commit would add both to every write's latency, and its failures to every request's error
  budget);
- nothing is lost between "save" and "publish": the stream holds every committed insert for 24 hours, and Lambda
  retries a failed record (the handler reports it in ``batchItemFailures``; the event source mapping should set
  ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts`` and an on-failure destination);
- the outbox stays the source of truth: an item is deleted only after its event was accepted by *every*
  destination, so whatever the stream could not deliver (retries exhausted, a relay outage longer than the
  stream's retention) is still pending in the table and :meth:`StreamOutboxRelay.sweep` -- the core's
  ``OutboxRelay`` over the ``OutboxPendingIndex`` -- publishes it from a schedule (an EventBridge Schedule on the
  stream function, e.g. every 5 minutes; its events are recognised by ``source: aws.events``).

Choice 2: **the relay sends the saga's events to the saga FIFO queue directly** (the core's
:class:`~fooddelivery.application.fanout.FanOutPublisher`, routing by the reaction table), instead
of an EventBridge rule targeting that queue. The saga queue needs one message group per order (one order's events in
order, different orders in parallel) and the event id as deduplication id. A rule's SQS target cannot be relied on
for either. Its ``SqsParameters`` hold one ``MessageGroupId``, documented as a fixed value (the template's former
``$.detail.partitionkey`` counted on a dynamic JSON path that the reference does not promise for this parameter;
taken literally, every order shares one group: one order at a time, a throughput ceiling for the whole system).
And there is no deduplication id parameter at all, so the queue has to deduplicate on content -- the whole
EventBridge event, whose ``id`` is new on every ``PutEvents``, so a republished event is never recognised (Amazon
EventBridge API reference, ``SqsParameters``:
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_SqsParameters.html; CloudFormation,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-events-rule-sqsparameters.html).
So :class:`~fooddelivery_aws.messaging.sqs_events.SqsFifoEventPublisher` sends the events the runtime reacts to
(:func:`fooddelivery.application.runtime.needs_runtime`) with ``MessageGroupId`` = the order id and
``MessageDeduplicationId`` = the event id, in ``SendMessageBatch`` calls of at most 10 whose every entry's result is
read and whose failed entries alone are retried; every event, those included, is still published to EventBridge
for the other consumers (the stack's rule feeds an analytics queue; other teams add their own rules).

The alternative considered: an **EventBridge Pipe** from the table's stream to the queue, whose
``SqsQueueParameters`` do take dynamic JSON paths for ``MessageGroupId`` and ``MessageDeduplicationId``
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html#pipes-targets-dynamic-parms,
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeTargetSqsQueueParameters.html). Not taken:

- the pipe would be a second, independent reader of the stream: the relay deletes an outbox item once *it* has
  published the event, without knowing whether the pipe delivered it, so a record the pipe gave up on (retries
  exhausted) would be missing for the saga -- the consumer that matters most -- sitting at best in the pipe's
  dead-letter queue, while the outbox counts it as delivered and the sweeper cannot redeliver it;
- the message would be the DynamoDB stream record (the storage format: attribute-value images, our key prefixes),
  or an input template rebuilding our CloudEvent from it by hand, instead of the envelope every bus carries;
- a stream shard should have at most two simultaneous readers (the relay and the pipe would use both; Streams
  developer guide, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html);
- no stand-in runs pipes offline, so its behaviour could not be tested here; the relay's is, on moto.

Delivery is at-least-once: a crash after publishing and before the delete, or a sweep racing the stream,
publishes an event twice. The saga queue drops a copy sent within its 5-minute deduplication interval (same event
id); past it, and on the bus, consumers deduplicate on the CloudEvents ``id`` (the saga is idempotent on the order
id). Order: one order's messages keep, within their message group, the order in which the relay sent them
(:class:`~fooddelivery_aws.messaging.sqs_events.SqsFifoEventPublisher` never lets a retried message overtake a
later one). The relay sends in stream order, and the sweep in outbox order (by order, then version). The stream
orders the writes *to one item*; every outbox record is its own item, so two events of one order written by two
transactions are ordered by the stream only when they land on the same shard. The saga does not depend on it: an
``OrderCancelled`` before its ``OrderPlaced`` finds no saga and changes nothing, and the saga then started finds the
order cancelled.

The decisions -- what to publish, where to stop on a failure, when to mark -- are the core's
(:class:`~fooddelivery.application.relay.ChangeStreamRelay`); this module only reads DynamoDB Streams records and
answers Lambda with ``batchItemFailures``.

Sources: DynamoDB Streams (24-hour retention, per-item ordering):
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html; Lambda with DynamoDB Streams
(``batchItemFailures`` with ``SequenceNumber``, bisect, retries, destinations):
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fooddelivery.application.relay import ChangeRecord, ChangeStreamRelay
from fooddelivery.ports.messaging import EventPublisher, Outbox
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.dynamodb.attributes import RecordError
from fooddelivery_aws.dynamodb.records import is_outbox_item, outbox_record_from_item

__all__ = ["StreamOutboxRelay", "StreamRecordError", "change_record", "is_scheduled_event"]

log = logging.getLogger(__name__)


class StreamRecordError(Exception):
    """A stream record that is not a well-formed DynamoDB Streams record (or an unreadable outbox image)."""


def is_scheduled_event(event: Mapping[str, Any]) -> bool:
    """Whether a Lambda event is an EventBridge scheduled event (the sweeper's trigger)."""
    return event.get("source") == "aws.events" and "Records" not in event


def change_record(record: Any) -> ChangeRecord:
    """The core's view of one DynamoDB Streams record: its sequence number and the outbox event of an outbox
    ``INSERT`` (None for any other change: the order's own writes, deletes of published records).

    Raises:
        StreamRecordError: no sequence number, or an outbox image that cannot be read.
    """
    if not isinstance(record, Mapping):
        raise StreamRecordError("a stream record must be a JSON object")
    change = record.get("dynamodb")
    if not isinstance(change, Mapping) or not isinstance(change.get("SequenceNumber"), str):
        raise StreamRecordError("a stream record needs dynamodb.SequenceNumber")
    sequence = str(change["SequenceNumber"])
    image = change.get("NewImage")
    if record.get("eventName") != "INSERT" or not isinstance(image, Mapping) or not is_outbox_item(image):
        return ChangeRecord(sequence, None)
    try:
        return ChangeRecord(sequence, outbox_record_from_item(image).event)
    except RecordError as exc:
        raise StreamRecordError(f"unreadable outbox record {sequence}: {exc}") from exc


class StreamOutboxRelay:
    """Relays the outbox inserts of a DynamoDB Streams batch through the core's :class:`ChangeStreamRelay`.

    Args:
        publisher: where events go (the core's ``FanOutPublisher``: the saga queue and EventBridge).
        outbox: the outbox the records belong to (the order repository), for marks and the sweep.
    """

    def __init__(self, publisher: EventPublisher, outbox: Outbox) -> None:
        self.publisher = publisher
        self.outbox = outbox
        self._relay = ChangeStreamRelay(publisher, outbox)

    def handle(self, records: Sequence[Any]) -> BatchItemFailures:
        """Relay one batch, in order; stops at the first record that cannot be relayed.

        Returns:
            The failed record's sequence number (Lambda retries from it, so the records after it are not
            attempted: they would be published twice), or nothing.
        """
        failures = BatchItemFailures()
        decoded: list[ChangeRecord] = []
        broken: str | None = None
        for index, record in enumerate(records):
            try:
                decoded.append(change_record(record))
            except StreamRecordError:
                log.exception("malformed stream record at position %d; failing it", index)
                broken = _sequence_of(record) or f"position-{index}"
                break
        result = self._relay.relay(decoded)
        if result.retry_from is not None:
            failures.add(result.retry_from)
        elif broken is not None:
            failures.add(broken)
        return failures

    def sweep(self, batch_size: int = 100) -> int:
        """Publish every record still pending in the outbox (oldest first) and delete it.

        Returns:
            How many were published.

        Raises:
            InfrastructureError: the bus refused a batch (those records stay pending, attempts counted).
        """
        return self._relay.sweep(batch_size)


def _sequence_of(record: Any) -> str | None:
    if isinstance(record, Mapping):
        change = record.get("dynamodb")
        if isinstance(change, Mapping) and isinstance(change.get("SequenceNumber"), str):
            return str(change["SequenceNumber"])
    return None
