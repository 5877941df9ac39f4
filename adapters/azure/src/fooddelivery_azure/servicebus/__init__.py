"""Service Bus adapters: event publishers (topic and session queue), the saga's scheduler (scheduled messages),
notifications and driver positions (topics), and the runtime queue consumer's settlement rules."""

from fooddelivery_azure.servicebus.consumer import (
    MessageActionsSettler,
    ReceiverSettler,
    Settlement,
    Verdict,
    judge,
    process,
)
from fooddelivery_azure.servicebus.notifications import ServiceBusLocationStream, ServiceBusNotifier
from fooddelivery_azure.servicebus.publisher import ServiceBusEventPublisher, event_message
from fooddelivery_azure.servicebus.scheduler import ServiceBusScheduler

__all__ = [
    "MessageActionsSettler",
    "ReceiverSettler",
    "ServiceBusEventPublisher",
    "ServiceBusLocationStream",
    "ServiceBusNotifier",
    "ServiceBusScheduler",
    "Settlement",
    "Verdict",
    "event_message",
    "judge",
    "process",
]
