"""Events to Service Bus: the ``order-events`` topic (everyone) and the runtime's session queue (the saga).

Each event is one message (Service Bus messaging, "Message sessions" and "Duplicate detection":
https://learn.microsoft.com/azure/service-bus-messaging/message-sessions,
https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection):

- body: the event's CloudEvents 1.0 structured JSON (``fooddelivery.application.envelope``), content type
  ``application/cloudevents+json`` -- what ``fooddelivery.application.messages.decode_body`` reads back;
- ``session_id`` = the order id: a session-enabled entity hands one order's messages to one consumer at a time, in
  order, while different orders go in parallel;
- ``message_id`` = the event id: an entity with duplicate detection drops a resend within its window (the relay
  resends after a failure; every consumer is idempotent anyway);
- ``subject`` = the event type, and application properties ``eventType`` / ``orderId`` for subscription filters.

Messages are sent in order, in chunks (one ``send_messages`` call each); a failed chunk stops the publish, and the
error names every event from that chunk on (``failed_ids``), so the caller keeps them pending and nothing overtakes
them. A ``ServiceBusSender`` is not thread-safe, so sends are serialised per publisher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.application.envelope import to_json
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusMessage

__all__ = ["CLOUDEVENTS_CONTENT_TYPE", "ServiceBusEventPublisher", "event_message", "servicebus_error"]

CLOUDEVENTS_CONTENT_TYPE: Final[str] = "application/cloudevents+json"
#: Events per ``send_messages`` call (well under the 1 MB batch of the Premium tier and 256 KB of Standard for the
#: small events of this service).
_CHUNK: Final[int] = 50
#: Service Bus errors worth retrying (the SDK's ``ServiceBusError.retryable`` also says so).
_RETRYABLE_NAMES: Final[frozenset[str]] = frozenset(
    {"ServiceBusConnectionError", "ServiceBusServerBusyError", "OperationTimeoutError", "ServiceBusCommunicationError"}
)


def event_message(event: DomainEvent) -> ServiceBusMessage:
    """The Service Bus message of ``event`` (see the module docstring)."""
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        to_json(event),
        content_type=CLOUDEVENTS_CONTENT_TYPE,
        message_id=event.event_id,
        session_id=event.order_id,
        subject=event.type.value,
        application_properties={"eventType": event.type.value, "orderId": event.order_id},
    )


def servicebus_error(exc: BaseException, action: str, **context: Any) -> InfrastructureError:
    """The core's error for a Service Bus SDK error (retryable as the SDK says, or by its class)."""
    retryable = getattr(exc, "retryable", None)
    if not isinstance(retryable, bool):
        retryable = type(exc).__name__ in _RETRYABLE_NAMES
    return InfrastructureError(
        f"{action}: Service Bus refused ({type(exc).__name__}: {exc})",
        service="servicebus",
        action=action,
        code=type(exc).__name__,
        retryable=retryable,
        **context,
    )


class ServiceBusEventPublisher:
    """An ``EventPublisher`` on one Service Bus topic or queue (see the module docstring).

    Args:
        sender: a ``ServiceBusSender`` (``ServiceBusClient.get_topic_sender`` / ``get_queue_sender``), or a callable
            building one on first use (nothing connects before the first publish).
        name: the entity's name, for errors and logs.
    """

    def __init__(self, sender: Any | Callable[[], Any], *, name: str) -> None:
        self._sender = sender if hasattr(sender, "send_messages") else None
        self._factory = None if self._sender is not None else sender
        self.name = name
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._sender is None:
            assert self._factory is not None
            self._sender = self._factory()
        return self._sender

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Send every event, in order (see the module docstring).

        Raises:
            InfrastructureError: a chunk was refused (``failed_ids``: its events and every later one).
        """
        events = list(events)
        for start in range(0, len(events), _CHUNK):
            chunk = events[start : start + _CHUNK]
            messages = [event_message(e) for e in chunk]
            try:
                with self._lock:
                    self._get().send_messages(messages)
            except Exception as exc:
                if not type(exc).__module__.startswith("azure."):
                    raise
                raise servicebus_error(
                    exc, f"publish to {self.name}", failed_ids=[e.event_id for e in events[start:]]
                ) from exc
