"""Domain events on an SQS FIFO queue: one message group per order, the event id as the deduplication id.

The outbox relay (:mod:`fooddelivery_aws.relay`) sends the saga's events to the saga FIFO queue with this
publisher (implements ``EventPublisher``). Each event is one message:

- ``MessageBody``: the event's CloudEvents 1.0 structured JSON (:mod:`fooddelivery.application.envelope`, the same
  text EventBridge gets as ``Detail``); the SQS consumer reads it with ``from_json``;
- ``MessageGroupId``: the **order id** (:func:`message_group_id`): one order's events are delivered in the order
  they were sent and one at a time, while different orders' groups are processed in parallel; with the queue's
  high-throughput mode (``FifoThroughputLimit: perMessageGroupId``) the throughput limits apply per group;
- ``MessageDeduplicationId``: the **event id** (:func:`message_deduplication_id`): an event sent again within the
  5-minute deduplication interval -- a stream batch the relay handles twice, a sweep racing the stream -- is
  accepted but not delivered again. SQS keeps tracking the id after the first copy was received and deleted.
  Past the interval a copy is delivered, and the consumer is idempotent on the order id.

Both ids must be 1..128 characters of ASCII letters, digits and punctuation. The core's ids (``ord-<hex>``,
``evt-<hex>``) are; an id that is not (a non-ASCII id from elsewhere) is replaced by ``"sha256-<hex digest>"`` of
its UTF-8 bytes, still one fixed group per order and one deduplication id per event.

``SendMessageBatch`` (Amazon SQS API reference,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html):

- at most 10 entries per call (:data:`MAX_ENTRIES`) and at most 256 KiB of message bodies per call
  (:data:`MAX_REQUEST_BYTES`; SQS now takes 1 MiB, the old limit is kept so any event EventBridge accepts fits);
  an event larger than that is refused before any call;
- "for a FIFO queue, multiple messages within a single batch are enqueued in the order they are sent", but each
  entry succeeds or fails on its own. Were two messages of one order in one call and only the first failed,
  retrying it would enqueue it *behind* the second. So a call carries **at most one message per group**; an order's
  next event goes in a later call, once this one was accepted;
- the call answers 200 even when entries failed: every entry's result is read (``Successful`` / ``Failed``).
  Only the failed entries are sent again, with exponential backoff and full jitter, and only when SQS says the
  fault is not the sender's (``SenderFault: false``) or the code is a throttling/transient one
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html). A
  sender fault, or a failure left after the last attempt, raises ``InfrastructureError`` whose ``failed_ids``
  names every event not accepted, those of later calls included: sending stops at the first call that cannot be
  completed, so no order's events are sent past a gap.

FIFO terms: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html;
message group and deduplication ids:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagegroupid-property.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html;
high throughput: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from fooddelivery.application.envelope import to_json
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery_aws._clients import RETRYABLE_CODES, LazyClient, reraise
from fooddelivery_aws.messaging._retry import send_retrying

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    _Entry = tuple[str, SendMessageBatchRequestEntryTypeDef]

__all__ = [
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "SqsFifoEventPublisher",
    "message_deduplication_id",
    "message_group_id",
]

#: Most entries in one ``SendMessageBatch`` call.
MAX_ENTRIES: Final[int] = 10
#: Most bytes of message bodies in one call (256 KiB; see the module docstring).
MAX_REQUEST_BYTES: Final[int] = 256 * 1024
#: What SQS takes as a group or deduplication id: 1..128 ASCII letters, digits and punctuation.
_SQS_ID: Final = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
#: Entry error codes worth retrying even when SQS calls them the sender's fault (throttling, KMS throttling).
_RETRYABLE_ENTRY_CODES: Final[frozenset[str]] = RETRYABLE_CODES | {"KmsThrottled", "KMS.ThrottlingException"}


def _sqs_id(value: str) -> str:
    if _SQS_ID.fullmatch(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def message_group_id(event: DomainEvent) -> str:
    """The message group of ``event``: its order id (or that id's SHA-256, when SQS cannot take it as it is)."""
    return _sqs_id(event.order_id)


def message_deduplication_id(event: DomainEvent) -> str:
    """The deduplication id of ``event``: its event id (or that id's SHA-256, when SQS cannot take it as it is)."""
    return _sqs_id(event.event_id)


def _body_size(entry: SendMessageBatchRequestEntryTypeDef) -> int:
    return len(entry["MessageBody"].encode("utf-8"))


class SqsFifoEventPublisher:
    """Sends domain events to an SQS FIFO queue (implements ``EventPublisher``; see the module docstring).

    Args:
        queue_url: the FIFO queue (``SAGA_QUEUE_URL``).
        client: a boto3 SQS client; built lazily on first use when None.
        max_attempts: attempts per entry (first try included) for transient entry failures, >= 1.
        base_delay_s: backoff base: before retry ``n`` it sleeps a random time in ``[0, base * 2**(n-1)]``.
        sleep: the sleep function (tests pass a recorder).
        region_name: region of a lazily built client.
        endpoint_url: endpoint of a lazily built client.

    Raises:
        ValueError: ``max_attempts`` below 1.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        client: SQSClient | None = None,
        max_attempts: int = 4,
        base_delay_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.queue_url = queue_url
        self._client: LazyClient[SQSClient] = LazyClient(
            "sqs", client, region_name=region_name, endpoint_url=endpoint_url
        )
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep

    def entry(self, event: DomainEvent, entry_id: str = "0") -> SendMessageBatchRequestEntryTypeDef:
        """The ``SendMessageBatch`` entry of ``event`` (``entry_id``: its id within its call, set when calls are
        formed)."""
        return {
            "Id": entry_id,
            "MessageBody": to_json(event).decode("utf-8"),
            "MessageGroupId": message_group_id(event),
            "MessageDeduplicationId": message_deduplication_id(event),
        }

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Send ``events`` in order: calls of at most 10 entries, 256 KiB and one message per order.

        Raises:
            InfrastructureError: some events were not accepted (context ``failed_ids``: their ids, in order;
                ``errors``: event id -> error code). An event too large for one call is refused before any call
                (``reason="entry_too_large"``, ``retryable=False``).
        """
        if not events:
            return
        entries = [(event.event_id, self.entry(event)) for event in events]
        too_large = [event_id for event_id, entry in entries if _body_size(entry) > MAX_REQUEST_BYTES]
        if too_large:
            raise InfrastructureError(
                f"{len(too_large)} event(s) exceed the {MAX_REQUEST_BYTES}-byte SQS message limit",
                failed_ids=[event_id for event_id, _ in entries],
                too_large=too_large,
                reason="entry_too_large",
                retryable=False,
            )
        batches = _batches(entries)
        for index, batch in enumerate(batches):
            unsent = [eid for b in batches[index + 1 :] for eid, _ in b]
            errors, permanent = self._send(batch, later=unsent)
            if errors:
                failed = [eid for eid, _ in batch if eid in errors] + unsent
                codes = sorted(set(errors.values()))
                raise InfrastructureError(
                    f"SQS refused {len(errors)} event(s) ({', '.join(codes)}); {len(unsent)} later event(s) not sent",
                    failed_ids=failed,
                    errors=errors,
                    retryable=not permanent,
                )

    def _send(self, batch: list[_Entry], later: list[str]) -> tuple[dict[str, str], bool]:
        """Send one call's entries, retrying only the failed ones.

        Returns:
            ``(event id -> error code of the entries left failed, whether one of those failures is permanent)``.

        Raises:
            InfrastructureError: the call itself failed (``failed_ids``: the entries not yet accepted and every
                later event).
        """

        def attempt(pending: list[_Entry]) -> tuple[dict[str, str], list[_Entry], bool]:
            try:
                response = self._client.get().send_message_batch(
                    QueueUrl=self.queue_url, Entries=[entry for _, entry in pending]
                )
            except Exception as exc:
                reraise(exc, "sqs", "SendMessageBatch", failed_ids=[eid for eid, _ in pending] + later)
            event_ids = {entry["Id"]: event_id for event_id, entry in pending}
            accepted = {event_ids.get(result.get("Id", "")) for result in response.get("Successful") or []}
            errors: dict[str, str] = {}
            retry: set[str] = set()
            permanent = False
            for failure in response.get("Failed") or []:
                event_id = event_ids.get(failure.get("Id", ""))
                if event_id is None:
                    continue
                code = str(failure.get("Code") or "Unknown")
                errors[event_id] = code
                if failure.get("SenderFault") and code not in _RETRYABLE_ENTRY_CODES:
                    permanent = True
                else:
                    retry.add(event_id)
            for event_id, _ in pending:  # in neither list: not known to be accepted, so sent again
                if event_id not in accepted and event_id not in errors:
                    errors[event_id] = "MissingResult"
                    retry.add(event_id)
            return errors, [(event_id, entry) for event_id, entry in pending if event_id in retry], permanent

        return send_retrying(
            batch, attempt, max_attempts=self._max_attempts, base_delay_s=self._base_delay_s, sleep=self._sleep
        )


def _batches(entries: list[_Entry]) -> list[list[_Entry]]:
    """Consecutive calls of at most :data:`MAX_ENTRIES` entries, :data:`MAX_REQUEST_BYTES` bytes and one entry per
    message group."""
    batches: list[list[_Entry]] = []
    current: list[_Entry] = []
    groups: set[str] = set()
    size = 0
    for item in entries:
        item_size = _body_size(item[1])
        group = item[1]["MessageGroupId"]
        if current and (len(current) == MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES or group in groups):
            batches.append(current)
            current, groups, size = [], set(), 0
        item[1]["Id"] = str(len(current))  # unique within its call
        current.append(item)
        groups.add(group)
        size += item_size
    if current:
        batches.append(current)
    return batches
