"""The saga's timers as Service Bus scheduled messages, with a ledger in Cosmos DB.

``schedule`` sends the timer to the runtime's session queue as a *scheduled message*: Service Bus keeps it
invisible until its enqueue time ("Scheduled messages",
https://learn.microsoft.com/azure/service-bus-messaging/message-sequencing#scheduled-messages), then delivers it like
any other message -- in the order's session (``session_id`` = the saga id), so a timer never races that order's
events. Its body is ``fooddelivery.application.messages.timer_body`` (decoded by the same consumer);
``message_id`` is the timer's id (duplicate detection drops a second send).

The ledger (container ``timers``, partition key ``/messageId``) makes the port's promises hold:

- scheduling a known id again is a no-op: the ledger is read first;
- ``cancel`` needs the message's sequence number, which only ``schedule_messages`` returns: the ledger keeps it.

Order of writes: the message is scheduled first, then the ledger document is created; a crash in between schedules
it again on the retry (a duplicate the consumer tolerates -- a stale timer changes nothing -- and duplicate detection
usually drops), and never loses a timer. Two schedulers racing on one id: the loser's create answers 409 and it
cancels its own message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fooddelivery.application.messages import timer_body
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_azure.cosmos._support import CosmosCalls, doc_id, status_of
from fooddelivery_azure.cosmos.records import utc_text
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder
from fooddelivery_azure.servicebus.publisher import servicebus_error

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["ServiceBusScheduler"]

_TYPE_TIMER = "timer"


class ServiceBusScheduler:
    """The ``Scheduler`` port on Service Bus scheduled messages (see the module docstring).

    Args:
        sender: a ``ServiceBusSender`` of the runtime's session queue, or a callable building one on first use.
        ledger: the ``timers`` container.
        queue_name: the queue's name, for errors.
        charges: where the ledger's request charges go.
    """

    def __init__(
        self,
        sender: Any | Callable[[], Any],
        ledger: ContainerProxy,
        *,
        queue_name: str,
        charges: ChargeSink | None = None,
    ) -> None:
        self._sender = sender if hasattr(sender, "schedule_messages") else None
        self._factory = None if self._sender is not None else sender
        self._calls = CosmosCalls(ledger, charges if charges is not None else RequestChargeRecorder())
        self.queue_name = queue_name
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._sender is None:
            assert self._factory is not None
            self._sender = self._factory()
        return self._sender

    def schedule(self, message: ScheduledMessage) -> None:
        """Schedule ``message`` for ``message.due_at`` (a no-op for a known id).

        Raises:
            InfrastructureError: Service Bus or the ledger refused.
        """
        from azure.servicebus import ServiceBusMessage

        if self._calls.read("timers.read", doc_id(message.message_id), message.message_id) is not None:
            return
        saga_id = message.body.get("sagaId")
        outgoing = ServiceBusMessage(
            timer_body(message),
            content_type="application/json",
            message_id=message.message_id,
            session_id=str(saga_id) if isinstance(saga_id, str) and saga_id else message.message_id,
            subject=message.kind,
        )
        try:
            with self._lock:
                numbers = self._get().schedule_messages(outgoing, message.due_at)
        except Exception as exc:
            if not type(exc).__module__.startswith("azure."):
                raise
            raise servicebus_error(exc, f"schedule on {self.queue_name}", message_id=message.message_id) from exc
        sequence = int(numbers[0])
        record = {
            "id": doc_id(message.message_id),
            "messageId": message.message_id,
            "type": _TYPE_TIMER,
            "sequenceNumber": str(sequence),
            "dueAt": utc_text(message.due_at),
            "kind": message.kind,
        }
        try:
            self._calls.create("timers.create", record)
        except Exception as exc:
            if status_of(exc) != 409:
                raise
            self._cancel_sequence(sequence)  # another scheduler won the race for this id: ours is a duplicate

    def cancel(self, message_id: str) -> bool:
        """Cancel the scheduled message ``message_id``; True when a pending message was removed.

        Best effort: a message already enqueued (due) cannot be cancelled, and the consumer tolerates it.

        Raises:
            InfrastructureError: the ledger failed.
        """
        record = self._calls.read("timers.read", doc_id(message_id), message_id)
        if record is None:
            return False
        removed = self._cancel_sequence(int(record["sequenceNumber"]))
        self._calls.delete("timers.delete", doc_id(message_id), message_id)
        return removed

    def _cancel_sequence(self, sequence: int) -> bool:
        try:
            with self._lock:
                self._get().cancel_scheduled_messages(sequence)
        except Exception as exc:
            if not type(exc).__module__.startswith("azure."):
                raise
            return False  # already enqueued, or gone: nothing pending to remove
        return True
