"""Notifications and driver positions on Service Bus topics.

- :class:`ServiceBusNotifier` (``Notifier``): one message per notification on the ``notifications`` topic,
  ``message_id`` = the notification id. The topic has duplicate detection on (``deploy/azure``: a 7-day window, the
  longest Service Bus allows, "Duplicate detection",
  https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection), so a resend of the same notification
  within it is dropped: "at most once per notification id" holds for a week, far longer than any order lives.
  Subscribers (e-mail, push, an operations channel) filter on the ``kind`` application property.
- :class:`ServiceBusLocationStream` (``LocationStream``): each ``DeliveryLocationUpdated`` event on the
  ``driver-locations`` topic, ``session_id`` = the driver id (one driver's positions in order), as CloudEvents JSON.
  Positions are expendable: no outbox, no ledger.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.notifications import Notification
from fooddelivery_azure.servicebus.publisher import event_message, servicebus_error

__all__ = ["ServiceBusLocationStream", "ServiceBusNotifier"]


class _Sending:
    def __init__(self, sender: Any | Callable[[], Any], name: str) -> None:
        self._sender = sender if hasattr(sender, "send_messages") else None
        self._factory = None if self._sender is not None else sender
        self.name = name
        self._lock = threading.Lock()

    def send(self, message: Any, **context: Any) -> None:
        try:
            with self._lock:
                if self._sender is None:
                    assert self._factory is not None
                    self._sender = self._factory()
                self._sender.send_messages(message)
        except Exception as exc:
            if not type(exc).__module__.startswith("azure."):
                raise
            raise servicebus_error(exc, f"send to {self.name}", **context) from exc


class ServiceBusNotifier:
    """The ``Notifier`` port on a Service Bus topic (see the module docstring).

    Args:
        sender: a ``ServiceBusSender`` of the topic, or a callable building one on first use.
        name: the topic's name, for errors.
    """

    def __init__(self, sender: Any | Callable[[], Any], *, name: str = "notifications") -> None:
        self._sending = _Sending(sender, name)

    def send(self, notification: Notification) -> None:
        """Send ``notification`` (a resend of its id within the duplicate-detection window is dropped).

        Raises:
            InfrastructureError: Service Bus refused; retrying with the same id is safe.
        """
        from azure.servicebus import ServiceBusMessage

        body = {
            "notificationId": notification.notification_id,
            "kind": notification.kind.value,
            "recipientId": notification.recipient_id,
            "orderId": notification.order_id,
            "template": notification.template,
            "data": dict(notification.data),
        }
        message = ServiceBusMessage(
            json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            message_id=notification.notification_id,
            subject=notification.template,
            application_properties={"kind": notification.kind.value, "recipientId": notification.recipient_id},
        )
        self._sending.send(message, notification_id=notification.notification_id)


class ServiceBusLocationStream:
    """The ``LocationStream`` port on a Service Bus topic (see the module docstring).

    Args:
        sender: a ``ServiceBusSender`` of the topic, or a callable building one on first use.
        name: the topic's name, for errors.
    """

    def __init__(self, sender: Any | Callable[[], Any], *, name: str = "driver-locations") -> None:
        self._sending = _Sending(sender, name)

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """Send the position event in session ``partition_key`` (the driver id).

        Raises:
            InfrastructureError: Service Bus refused the message.
        """
        message = event_message(event)
        message.session_id = partition_key
        self._sending.send(message, event_id=event.event_id)


