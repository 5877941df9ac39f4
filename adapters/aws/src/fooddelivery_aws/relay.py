"""The outbox relay on AWS: a DynamoDB Streams consumer, with a sweeper for what the stream could not deliver.

Choice: **DynamoDB Streams**, not publish-after-commit. Every order write stores its events as outbox items in the
same ``TransactWriteItems`` (``fooddelivery_aws.dynamodb.orders``); the orders table's stream (``NEW_AND_OLD_IMAGES``;
``NEW_IMAGE`` on a dedicated outbox table) carries each committed outbox INSERT to this relay, which publishes the
events to EventBridge and then deletes the outbox items.

Why:

- the request path stays short: an HTTP call commits and answers; it makes no ``PutEvents`` call and no outbox
  Query (publish-after-commit would add both to every write's latency, and its failures to every request's error
  budget);
- nothing is lost between "save" and "publish": the stream holds every committed insert for 24 hours, and Lambda
  retries a failed record (the handler reports it in ``batchItemFailures``; the event source mapping should set
  ``BisectBatchOnFunctionError``, ``MaximumRetryAttempts`` and an on-failure destination);
- the outbox stays the source of truth: an item is deleted only after its event was accepted by EventBridge, so
  whatever the stream could not deliver (retries exhausted, a relay outage longer than the stream's retention)
  is still pending in the table and :meth:`StreamOutboxRelay.sweep` -- the core's ``OutboxRelay`` over the
  ``OutboxPendingIndex`` -- publishes it from a schedule (an EventBridge Schedule on the stream function, e.g. every
  5 minutes; its events are recognised by ``source: aws.events``).

Delivery is at-least-once: a crash after ``PutEvents`` and before the delete, or a sweep racing the stream,
publishes an event twice; consumers deduplicate on the CloudEvents ``id``. Order: the stream keeps the order of
the writes *to one item*, and every outbox record is its own item, so two events of one order may be published out
of order when they land on different stream shards; consumers never rely on that order (the saga does not: it is
driven by the order's stored state).

Sources: DynamoDB Streams (24-hour retention, per-item ordering):
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html; Lambda with DynamoDB Streams
(``batchItemFailures`` with ``SequenceNumber``, bisect, retries, destinations):
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fooddelivery.application.relay import OutboxRelay
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.messaging import EventPublisher, Outbox
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.dynamodb.attributes import RecordError
from fooddelivery_aws.dynamodb.records import is_outbox_item, outbox_record_from_item

__all__ = ["DeferredRelay", "StreamOutboxRelay", "StreamRecordError", "is_scheduled_event"]

log = logging.getLogger(__name__)


class StreamRecordError(Exception):
    """A stream record that is not a well-formed DynamoDB Streams record (or an unreadable outbox image)."""


class DeferredRelay(OutboxRelay):
    """The in-process relay of a Lambda process: publishing is left to the stream relay, so ``flush`` does nothing.

    The core's use cases call ``relay.flush()`` after each commit (publish-after-commit); on AWS the events are
    already on their way through the table's stream, so that call must neither publish nor read the outbox.
    """

    def flush(self) -> int:
        """Publish nothing; returns 0 (the DynamoDB Streams relay publishes)."""
        return 0


def is_scheduled_event(event: Mapping[str, Any]) -> bool:
    """Whether a Lambda event is an EventBridge scheduled event (the sweeper's trigger)."""
    return event.get("source") == "aws.events" and "Records" not in event


@dataclass(frozen=True, slots=True)
class _Item:
    sequence_number: str
    event: DomainEvent | None  # None: a record the relay skips (not an outbox INSERT)


def _decode(record: Any) -> _Item:
    """The outbox event of one stream record (None for records that are not outbox inserts).

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
        return _Item(sequence, None)
    try:
        return _Item(sequence, outbox_record_from_item(image).event)
    except RecordError as exc:
        raise StreamRecordError(f"unreadable outbox record {sequence}: {exc}") from exc


class StreamOutboxRelay:
    """Publishes the outbox inserts of a DynamoDB Streams batch and deletes them (see the module docstring).

    Args:
        publisher: the bus (``EventBridgePublisher``).
        outbox: the outbox the records belong to (the order repository), for deletes and the sweep.
    """

    def __init__(self, publisher: EventPublisher, outbox: Outbox) -> None:
        self.publisher = publisher
        self.outbox = outbox

    def handle(self, records: Sequence[Any]) -> BatchItemFailures:
        """Relay one batch, in order; stops at the first record that cannot be relayed.

        Returns:
            The failed record's sequence number (Lambda retries from it, so the records after it are not
            attempted: they would be published twice), or nothing.
        """
        failures = BatchItemFailures()
        items: list[_Item] = []
        broken: str | None = None
        for index, record in enumerate(records):
            try:
                items.append(_decode(record))
            except StreamRecordError:
                log.exception("malformed stream record at position %d; failing it", index)
                broken = _sequence_of(record) or f"position-{index}"
                break
        events = [item.event for item in items if item.event is not None]
        published = events
        if events:
            try:
                self.publisher.publish(events)
            except InfrastructureError as exc:
                failed = set(exc.context.get("failed_ids") or [e.event_id for e in events])
                indexed = [(i, item.event) for i, item in enumerate(items) if item.event is not None]
                first = next((i for i, event in indexed if event.event_id in failed), indexed[0][0])
                log.warning(
                    "relay: %d of %d events not published (%s); retrying from sequence %s",
                    len(failed),
                    len(events),
                    exc.detail,
                    items[first].sequence_number,
                )
                failures.add(items[first].sequence_number)
                published = [item.event for item in items[:first] if item.event is not None]
                broken = None
        if published:
            self._delete([e.event_id for e in published])
        if broken is not None:
            failures.add(broken)
        return failures

    def _delete(self, event_ids: list[str]) -> None:
        """Delete published records; a failure here only delays the cleanup (the sweep republishes, harmlessly)."""
        try:
            self.outbox.mark_published(event_ids)
        except InfrastructureError:
            log.warning("relay: %d published outbox records not deleted; the sweep will", len(event_ids), exc_info=True)

    def sweep(self, batch_size: int = 100) -> int:
        """Publish every record still pending in the outbox (oldest first) and delete it.

        Returns:
            How many were published.

        Raises:
            InfrastructureError: the bus refused a batch (those records stay pending, attempts counted).
        """
        return OutboxRelay(self.outbox, self.publisher, consumer=None, batch_size=batch_size).flush()


def _sequence_of(record: Any) -> str | None:
    if isinstance(record, Mapping):
        change = record.get("dynamodb")
        if isinstance(change, Mapping) and isinstance(change.get("SequenceNumber"), str):
            return str(change["SequenceNumber"])
    return None
