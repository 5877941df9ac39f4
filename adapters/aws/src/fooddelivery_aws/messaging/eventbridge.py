"""The event bus on Amazon EventBridge: ``PutEvents`` with every entry's result read.

Each domain event becomes one entry: ``Source`` = ``"fooddelivery.orders"``, ``DetailType`` = the event type
(``"OrderPlaced"``), ``Detail`` = the event's CloudEvents 1.0 structured JSON (:mod:`fooddelivery.application.envelope`,
the one format of every bus), ``Time`` = when it occurred, ``EventBusName`` = the bus. A rule matches on
``source`` and ``detail-type``; consumers read ``detail`` back with :func:`fooddelivery.application.envelope.from_json`
(see :func:`event_from_eventbridge`).

Limits (Amazon EventBridge API reference, PutEvents, https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html,
and "Calculating PutEvents event entry size", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html):

- at most 10 entries per call (:data:`MAX_ENTRIES`);
- the total size of a call's entries at most 256 KB (:data:`MAX_REQUEST_BYTES`), an entry's size being the UTF-8
  bytes of ``Source``, ``DetailType``, ``Detail`` and each ``Resources`` item, plus 14 bytes for ``Time``
  (:func:`entry_size`). An event whose own entry exceeds the limit can never be published: it is reported at once.

Partial failure: ``PutEvents`` answers 200 even when some entries failed; ``FailedEntryCount`` and each result
entry's ``ErrorCode`` say which. Only the failed entries are sent again, with exponential backoff and full jitter,
and only for transient codes (``ThrottlingException``, ``InternalFailure``); a permanent code or a failure left after
the last attempt raises ``InfrastructureError`` whose ``failed_ids`` context names every event not accepted (those
of later batches included: publishing stops at the first batch that cannot be completed, so one order's events are
not published past a gap). Accepted events stay published (the bus is at-least-once; consumers dedupe on the
CloudEvents ``id``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.application.envelope import from_json, to_json
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.domain.events import DomainEvent
from fooddelivery_aws._clients import RETRYABLE_CODES, LazyClient, reraise
from fooddelivery_aws.messaging._retry import send_retrying

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

    _Entry = tuple[str, PutEventsRequestEntryTypeDef]

__all__ = [
    "EVENT_SOURCE",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "EventBridgePublisher",
    "entry_size",
    "event_from_eventbridge",
]

#: ``Source`` of every entry (the rule's ``source`` pattern).
EVENT_SOURCE: Final[str] = "fooddelivery.orders"
#: Most entries in one ``PutEvents`` call.
MAX_ENTRIES: Final[int] = 10
#: Most bytes of entries in one ``PutEvents`` call (256 KB).
MAX_REQUEST_BYTES: Final[int] = 256 * 1024
#: Bytes an entry's ``Time`` counts for.
_TIME_BYTES: Final[int] = 14
#: Entry error codes worth retrying (the rest, e.g. ``MalformedDetail``, ``AccessDeniedException``, are permanent).
_RETRYABLE_ENTRY_CODES: Final[frozenset[str]] = RETRYABLE_CODES | {"InternalFailure", "ThrottlingException"}


def entry_size(entry: Mapping[str, object]) -> int:
    """The size of one ``PutEvents`` entry as EventBridge counts it (see the module docstring)."""
    size = _TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    resources = entry.get("Resources")
    if isinstance(resources, list | tuple):
        size += sum(len(str(resource).encode("utf-8")) for resource in resources)
    return size


def event_from_eventbridge(message: Mapping[str, Any]) -> DomainEvent:
    """The domain event in an EventBridge event (the JSON an SQS target receives as its message body).

    Args:
        message: ``{"version": "0", "id": ..., "detail-type": ..., "source": ..., "detail": {CloudEvent}}``.

    Raises:
        ValidationError: no ``detail`` object, or a ``detail`` that is not one of our CloudEvents.
    """
    detail = message.get("detail")
    if not isinstance(detail, Mapping):
        raise ValidationError.single("detail", "an EventBridge event needs a 'detail' object", "invalid")
    return from_json(json.dumps(detail, ensure_ascii=False))


class EventBridgePublisher:
    """Publishes domain events to an EventBridge bus (implements ``EventPublisher``; see the module docstring).

    Args:
        bus_name: the bus name or ARN.
        client: a boto3 ``events`` client; built lazily on first use when None.
        source: the entries' ``Source``.
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
        bus_name: str,
        *,
        client: EventBridgeClient | None = None,
        source: str = EVENT_SOURCE,
        max_attempts: int = 4,
        base_delay_s: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.bus_name = bus_name
        self.source = source
        self._client: LazyClient[EventBridgeClient] = LazyClient(
            "events", client, region_name=region_name, endpoint_url=endpoint_url
        )
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep

    def entry(self, event: DomainEvent) -> PutEventsRequestEntryTypeDef:
        """The ``PutEvents`` entry of ``event``."""
        return {
            "Time": event.occurred_at,
            "Source": self.source,
            "DetailType": event.type.value,
            "Detail": to_json(event).decode("utf-8"),
            "EventBusName": self.bus_name,
        }

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish ``events`` in order, in calls of at most 10 entries and 256 KB.

        Raises:
            InfrastructureError: some events were not accepted (context ``failed_ids``: their ids, in order;
                ``errors``: event id -> error code). An event too large for EventBridge is refused before any
                call (``reason="entry_too_large"``, ``retryable=False``).
        """
        if not events:
            return
        entries = [(event.event_id, self.entry(event)) for event in events]
        too_large = [event_id for event_id, entry in entries if entry_size(entry) > MAX_REQUEST_BYTES]
        if too_large:
            raise InfrastructureError(
                f"{len(too_large)} event(s) exceed EventBridge's {MAX_REQUEST_BYTES}-byte entry limit",
                failed_ids=[event_id for event_id, _ in entries],
                too_large=too_large,
                reason="entry_too_large",
                retryable=False,
            )
        batches = _batches(entries)
        for index, batch in enumerate(batches):
            errors = self._put(batch, later=[eid for b in batches[index + 1 :] for eid, _ in b])
            if errors:
                unsent = [eid for b in batches[index + 1 :] for eid, _ in b]
                failed = [eid for eid, _ in batch if eid in errors] + unsent
                codes = sorted(set(errors.values()))
                raise InfrastructureError(
                    f"EventBridge refused {len(errors)} event(s) ({', '.join(codes)}); "
                    f"{len(unsent)} later event(s) not sent",
                    failed_ids=failed,
                    errors=errors,
                    retryable=all(code in _RETRYABLE_ENTRY_CODES for code in codes),
                )

    def _put(self, batch: list[_Entry], later: list[str]) -> dict[str, str]:
        """Send one batch, retrying only its failed entries; returns event id -> error code of those left failed.

        Raises:
            InfrastructureError: the call itself failed (``failed_ids``: the batch and every later event).
        """

        def attempt(pending: list[_Entry]) -> tuple[dict[str, str], list[_Entry], bool]:
            try:
                response = self._client.get().put_events(Entries=[entry for _, entry in pending])
            except Exception as exc:
                reraise(exc, "events", "PutEvents", failed_ids=[eid for eid, _ in pending] + later)
            results = list(response.get("Entries") or [])
            errors: dict[str, str] = {}
            retry: list[_Entry] = []
            for position, (event_id, entry) in enumerate(pending):
                result = results[position] if position < len(results) else {"ErrorCode": "MissingResult"}
                code = result.get("ErrorCode")
                if code:
                    errors[event_id] = str(code)
                    if code in _RETRYABLE_ENTRY_CODES:
                        retry.append((event_id, entry))
            # a permanent failure: retrying the others cannot make the batch whole
            return errors, retry, len(retry) < len(errors)

        errors, _ = send_retrying(
            batch, attempt, max_attempts=self._max_attempts, base_delay_s=self._base_delay_s, sleep=self._sleep
        )
        return errors


def _batches(entries: list[_Entry]) -> list[list[_Entry]]:
    """Consecutive groups of at most :data:`MAX_ENTRIES` entries and :data:`MAX_REQUEST_BYTES` bytes."""
    batches: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for item in entries:
        item_size = entry_size(item[1])
        if current and (len(current) == MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        batches.append(current)
    return batches
