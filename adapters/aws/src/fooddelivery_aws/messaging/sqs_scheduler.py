"""The saga's timers on SQS: delayed messages on a standard queue, chained past 15 minutes, with a DynamoDB ledger.

Why not the saga's FIFO queue: FIFO queues refuse a per-message ``DelaySeconds`` ("FIFO queues don't support
per-message delays, only per-queue delays"), and a message delay is at most 900 seconds on any queue (Amazon SQS
developer guide, "Amazon SQS delay queues" and "Amazon SQS message timers":
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-timers.html). So timers
travel on a **standard queue** (``TIMER_QUEUE_URL``) consumed by the same SQS Lambda handler as the saga queue.
EventBridge Scheduler one-time schedules were the alternative (true cancellation, any delay), but they need a
schedule group and an IAM role for the target, and no stand-in delivers them offline, so their behaviour could not
be tested here.

How a timer travels:

1. :meth:`SqsScheduler.schedule` sends the core's timer body (``fooddelivery.application.messages.timer_body``:
   ``{"messageType": "fooddelivery.saga.timer", "dueAt": ..., ...}``) with
   ``DelaySeconds = min(900, due_at - now)`` (rounded up), then records the id as PENDING in the ledger.
2. The consumer (:meth:`SqsScheduler.accept`) receives it. If it came early (a delay was capped at 900 s, or
   clocks differ), it is sent again with the remaining delay and the received copy is done with: a 2-hour timer is
   8 hops of at most 15 minutes. Once due, a CANCELLED or DELIVERED ledger entry drops it; otherwise it is handed
   to the saga runner, then recorded as DELIVERED.

The ledger (the sagas table, keys ``"timer#<message id>"``, kept 7 days after the due time) gives the port's
promises that SQS alone cannot: scheduling an id that is still pending is a no-op, :meth:`SqsScheduler.cancel`
answers whether a pending timer was cancelled (SQS cannot delete a message it has not delivered, so a cancelled
timer still arrives and is dropped), and a timer is handed over once even if SQS delivers a copy twice (standard
queues are at-least-once). Order: the message is sent *before* the ledger write, so a crash in between leaves a
timer without a ledger entry -- it is still delivered (never lost); the saga runner ignores a timer it no longer
waits for. Standard queues do not keep order; nothing depends on the order of two timers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from fooddelivery.application.messages import timer_body
from fooddelivery.domain.errors import ValidationError
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_aws._clients import LazyClient, reraise
from fooddelivery_aws.messaging._ledger import Ledger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["MAX_DELAY_SECONDS", "SqsScheduler", "TimerOutcome"]

#: Longest ``DelaySeconds`` SQS accepts (15 minutes).
MAX_DELAY_SECONDS: Final[int] = 900
_PENDING, _DELIVERED, _CANCELLED = "PENDING", "DELIVERED", "CANCELLED"
_LEDGER_PREFIX: Final[str] = "timer#"
_LEDGER_TTL: Final[timedelta] = timedelta(days=7)


class TimerOutcome(StrEnum):
    """What :meth:`SqsScheduler.accept` did with a received timer."""

    DELIVERED = "delivered"
    """Due: handed to the deliver callback and recorded."""
    REDELAYED = "redelayed"
    """Early: sent again with the remaining delay."""
    DROPPED = "dropped"
    """Cancelled, or delivered before (a duplicate)."""


class SqsScheduler:
    """The ``Scheduler`` port on an SQS standard queue plus a DynamoDB ledger (see the module docstring).

    Args:
        queue_url: the timer queue (a *standard* queue).
        sagas_table: the table holding the ledger (the sagas table).
        clock: time source (delays are ``due_at - clock.now()``).
        sqs_client: a boto3 SQS client; built lazily when None.
        dynamodb_client: a boto3 DynamoDB client; built lazily when None.
        max_delay_s: the longest delay of one hop (900, SQS's limit; tests lower it to observe chaining).
        region_name, endpoint_url: of lazily built clients.

    Raises:
        ValueError: ``max_delay_s`` outside 0..900.
    """

    def __init__(
        self,
        queue_url: str,
        sagas_table: str,
        *,
        clock: Clock,
        sqs_client: SQSClient | None = None,
        dynamodb_client: DynamoDBClient | None = None,
        max_delay_s: int = MAX_DELAY_SECONDS,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if not 0 <= max_delay_s <= MAX_DELAY_SECONDS:
            raise ValueError(f"max_delay_s must be 0..{MAX_DELAY_SECONDS}")
        self.queue_url = queue_url
        self.clock = clock
        self.max_delay_s = max_delay_s
        self._sqs: LazyClient[SQSClient] = LazyClient(
            "sqs", sqs_client, region_name=region_name, endpoint_url=endpoint_url
        )
        self.ledger = Ledger(
            sagas_table,
            _LEDGER_PREFIX,
            ttl=_LEDGER_TTL,
            client=dynamodb_client,
            region_name=region_name,
            endpoint_url=endpoint_url,
        )

    # -- the port ---------------------------------------------------------------------------------------------
    def schedule(self, message: ScheduledMessage) -> None:
        """Send ``message`` to arrive at ``due_at`` (a no-op while the same id is pending).

        Raises:
            ValidationError: ``due_at`` is not timezone-aware (field ``due_at``).
            InfrastructureError: SQS or DynamoDB failed (retrying is safe: a timer sent twice is delivered once).
        """
        if message.due_at.tzinfo is None or message.due_at.utcoffset() is None:
            raise ValidationError.single("due_at", "must be timezone-aware UTC", "invalid")
        if self.ledger.status(message.message_id) == _PENDING:
            return
        self._send(message)
        self.ledger.put(message.message_id, _PENDING, message.due_at, attributes={"dueAt": message.due_at.isoformat()})

    def cancel(self, message_id: str) -> bool:
        """Mark a pending timer cancelled (it still arrives and is dropped); returns whether one was pending.

        Raises:
            InfrastructureError: DynamoDB failed.
        """
        return self.ledger.transition(message_id, _PENDING, _CANCELLED)

    # -- the consumer side --------------------------------------------------------------------------------------
    def accept(self, message: ScheduledMessage, deliver: Callable[[ScheduledMessage], object]) -> TimerOutcome:
        """Handle a received timer: re-delay it if early, drop it if cancelled or done, else ``deliver`` it.

        Args:
            message: the decoded timer (``fooddelivery.application.messages.decode_body``).
            deliver: hands a due timer to its consumer (the runtime's ``on_timer``); its exception propagates
                and the timer stays undelivered (the queue redelivers it).

        Raises:
            InfrastructureError: SQS or DynamoDB failed.
        """
        if message.due_at > self.clock.now():
            self._send(message)
            return TimerOutcome.REDELAYED
        if self.ledger.status(message.message_id) in (_CANCELLED, _DELIVERED):
            return TimerOutcome.DROPPED
        deliver(message)
        self.ledger.put(message.message_id, _DELIVERED, message.due_at, unless=(_CANCELLED, _DELIVERED))
        return TimerOutcome.DELIVERED

    def delay_for(self, due_at: datetime) -> int:
        """``DelaySeconds`` for a timer due at ``due_at``: the time left, rounded up, capped at ``max_delay_s``."""
        remaining = (due_at - self.clock.now()).total_seconds()
        return max(0, min(self.max_delay_s, math.ceil(remaining)))

    def _send(self, message: ScheduledMessage) -> None:
        try:
            self._sqs.get().send_message(
                QueueUrl=self.queue_url,
                MessageBody=timer_body(message),
                DelaySeconds=self.delay_for(message.due_at),
            )
        except Exception as exc:
            reraise(exc, "sqs", "SendMessage", message_id=message.message_id)
