"""The runtime queue's consumer: one message in, the core's runtime, one explicit settlement out.

Every message of the runtime's session queue (events, saga timers, resume commands) is decoded by the core
(``fooddelivery.application.messages.decode_body``) and handed to ``OrderRuntime.handle``; then it is settled
(Service Bus "Message transfers, locks, and settlement",
https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement):

==========================================  =================================================================
what happened                               settlement
==========================================  =================================================================
handled (any outcome)                       **complete**
``MalformedMessage`` (can never succeed)    **dead-letter**, reason = the error's text, description = its
                                            fields; it is never retried
any other exception: "not now" (a store     with a :class:`Retrier`: **reschedule** -- a copy of the message is
down, the saga busy running a step, a       scheduled on the queue after a bounded backoff (:class:`RetryPolicy`:
concurrent writer)                          5 s doubling to 5 min), then the original is completed; at the
                                            policy's last attempt it is **dead-lettered** instead, reason
                                            ``RetriesExhausted``. Without a retrier (or when scheduling the
                                            copy fails): **abandon**
==========================================  =================================================================

Why not simply abandon: Service Bus redelivers an abandoned message at once (there is no "abandon with a delay"),
so a message that only had to wait -- an ``OrderCancelled`` arriving while the saga runs ConfirmOrder, anything
during a store outage of a minute -- would burn the entity's ``maxDeliveryCount`` (10) in a few seconds and land in
the dead-letter queue. The copy (:func:`delayed_copy`) carries the same body, session id, subject, content type
and application properties, plus ``fooddelivery-attempt`` (this delivery's attempt + 1) and
``fooddelivery-first-message-id``; its message id is ``<first message id>~retry<attempt>``, derived, so a
redelivered original (its completion lost) schedules the same id again, which the queue's duplicate detection
(10 minutes, ``deploy/azure/main.bicep``) drops. The total wait is bounded: 5 + 10 + 20 + 40 + 80 + 160 + 300 x 3
= 1,215 s (about 20 minutes) over 10 attempts, then a dead letter that says why.

**Session ordering.** The runtime queue is session-enabled (session = order id) so that one order's inputs are
handled one at a time, in order. Abandoning keeps that order (the session stays locked and the same message comes
back first); a delayed copy does not: it is enqueued at the end of the session, so inputs sent after the original
may be handled before it. That is accepted because the runtime's reactions do not depend on arrival order
(``fooddelivery.application.runtime``): each is idempotent on a business key and decided by the stored state, not
by the message -- a cancellation that arrives before its saga exists is a no-op and the saga, when it starts, sees
the cancelled order; a stale timer changes nothing; a signal the saga cannot take yet raises "not now" and waits in
turn. What is lost is only "first come, first served" between a retried input and the inputs behind it, never an
input. The session is not blocked meanwhile, which is the point: one stuck message no longer holds back its order's
other inputs (nor, through the session lock, a consumer) for minutes.

A settlement that fails because the lock was lost (it expired, or the session moved to another consumer) is only
logged: the message will be delivered again, and the runtime is idempotent on every input, so the redelivery has
no second effect.

Two settlers: :class:`ReceiverSettler` (an ``azure.servicebus.ServiceBusReceiver``: a worker loop, the tests) and
:class:`MessageActionsSettler` (the Functions worker extension's ``ServiceBusMessageActions``: the Service Bus trigger
with ``autoCompleteMessages`` off). One retrier: :class:`SenderRetrier` (the queue's sender's ``schedule_messages``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from fooddelivery.application.messages import MalformedMessage, RuntimeInput, decode_body

__all__ = [
    "ATTEMPT_PROPERTY",
    "FIRST_MESSAGE_ID_PROPERTY",
    "MAX_REASON_LENGTH",
    "RETRIES_EXHAUSTED",
    "MessageActionsSettler",
    "ReceiverSettler",
    "Retrier",
    "RetryPolicy",
    "SenderRetrier",
    "Settlement",
    "Settler",
    "Verdict",
    "attempt_of",
    "delayed_copy",
    "judge",
    "message_body",
    "process",
]

log = logging.getLogger(__name__)

#: Longest dead-letter reason sent (Service Bus limits a message's system properties; the full text goes in the
#: description).
MAX_REASON_LENGTH: Final[int] = 1024
#: Application property of a delayed copy: which attempt at the input it is (the first delivery is attempt 1).
ATTEMPT_PROPERTY: Final[str] = "fooddelivery-attempt"
#: Application property of a delayed copy: the message id of the input's first message.
FIRST_MESSAGE_ID_PROPERTY: Final[str] = "fooddelivery-first-message-id"
#: The dead-letter reason of an input whose last attempt failed "not now".
RETRIES_EXHAUSTED: Final[str] = "RetriesExhausted"
#: Longest message id Service Bus accepts.
_MAX_MESSAGE_ID: Final[int] = 128


class Settlement(StrEnum):
    """How a message is settled."""

    COMPLETE = "complete"
    ABANDON = "abandon"
    DEAD_LETTER = "dead_letter"
    RESCHEDULE = "reschedule"
    """A delayed copy was scheduled and the message completed."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an input that failed "not now" is tried again: after ``first_delay``, doubling up to ``max_delay``, for
    ``max_attempts`` attempts in all (deliveries of the original and of its copies); then it is dead-lettered.

    Attributes:
        max_attempts: attempts in all (>= 1; the default 10 matches the queue's ``maxDeliveryCount``).
        first_delay: the wait after the first failure.
        max_delay: the longest wait between two attempts.
    """

    max_attempts: int = 10
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.first_delay <= timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("max_attempts >= 1 and 0 < first_delay <= max_delay")

    def delay(self, attempt: int) -> timedelta:
        """The wait after the failure of ``attempt`` (1-based): ``first_delay`` x 2^(attempt - 1), at most
        ``max_delay``."""
        return min(self.max_delay, self.first_delay * (1 << min(max(attempt - 1, 0), 30)))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one message.

    Attributes:
        settlement: complete, abandon or dead-letter.
        reason: the dead-letter reason (the error's text), or the abandoned error's text.
        description: the dead-letter description (the error's fields), or "".
        outcomes: what the runtime did (for logs), when it handled the message.
    """

    settlement: Settlement
    reason: str = ""
    description: str = ""
    outcomes: tuple[str, ...] = field(default=())


class Settler(Protocol):
    """Settles one received message."""

    def complete(self, message: Any) -> None:
        """Remove it from the entity."""
        ...

    def abandon(self, message: Any) -> None:
        """Release its lock: it is delivered again."""
        ...

    def dead_letter(self, message: Any, reason: str, description: str) -> None:
        """Move it to the dead-letter queue with ``reason`` and ``description``."""
        ...


class ReceiverSettler:
    """Settles through an ``azure.servicebus.ServiceBusReceiver`` (or anything with its settlement methods)."""

    def __init__(self, receiver: Any) -> None:
        self.receiver = receiver

    def complete(self, message: Any) -> None:
        """``receiver.complete_message``."""
        self.receiver.complete_message(message)

    def abandon(self, message: Any) -> None:
        """``receiver.abandon_message``."""
        self.receiver.abandon_message(message)

    def dead_letter(self, message: Any, reason: str, description: str) -> None:
        """``receiver.dead_letter_message`` with ``reason`` and ``error_description``."""
        self.receiver.dead_letter_message(message, reason=reason, error_description=description)


class MessageActionsSettler:
    """Settles through the Functions worker extension's ``ServiceBusMessageActions`` (package
    ``azurefunctions-extensions-bindings-servicebus``)."""

    def __init__(self, actions: Any) -> None:
        self.actions = actions

    def complete(self, message: Any) -> None:
        """``actions.complete``."""
        self.actions.complete(message)

    def abandon(self, message: Any) -> None:
        """``actions.abandon``."""
        self.actions.abandon(message)

    def dead_letter(self, message: Any, reason: str, description: str) -> None:
        """``actions.deadletter`` with the reason and description."""
        self.actions.deadletter(message, deadletter_reason=reason, deadletter_error_description=description)


class Retrier(Protocol):
    """Schedules the delayed copy of a message."""

    policy: RetryPolicy

    def now(self) -> datetime:
        """The current time (UTC)."""
        ...

    def schedule(self, copy: Any, at: datetime) -> None:
        """Schedule ``copy`` (a ``ServiceBusMessage``) on the queue for ``at``.

        Raises:
            Exception: it could not (the caller abandons the original instead).
        """
        ...


class SenderRetrier:
    """Schedules copies with the queue's sender (``ServiceBusSender.schedule_messages``, or a factory of it).

    Args:
        sender: the runtime queue's sender, or a callable returning it.
        clock: the current time (UTC).
        policy: the backoff and the number of attempts.
    """

    def __init__(self, sender: Any, clock: Callable[[], datetime], policy: RetryPolicy | None = None) -> None:
        self._sender = sender
        self._clock = clock
        self.policy = policy or RetryPolicy()

    def now(self) -> datetime:
        """The clock's time."""
        return self._clock()

    def schedule(self, copy: Any, at: datetime) -> None:
        """``schedule_messages(copy, at)``."""
        sender = self._sender if hasattr(self._sender, "schedule_messages") else self._sender()
        sender.schedule_messages(copy, at)


def _property(message: Any, name: str) -> Any:
    props: Mapping[Any, Any] = getattr(message, "application_properties", None) or {}
    value = props.get(name)
    return value if value is not None else props.get(name.encode())


def attempt_of(message: Any) -> int:
    """Which attempt at its input ``message`` is: its ``fooddelivery-attempt`` property, else 1 (the original)."""
    value = _property(message, ATTEMPT_PROPERTY)
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        attempt = int(value) if value is not None else 1
    except (TypeError, ValueError):
        return 1
    return max(attempt, 1)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def delayed_copy(message: Any, attempt: int) -> Any:
    """The copy of a received ``message`` for ``attempt`` (see the module docstring): the same body, session id,
    subject, content type, correlation id and application properties, plus the attempt and the first message id;
    message id ``<first message id>~retry<attempt>`` (a SHA-256 digest of it when longer than Service Bus's 128
    characters)."""
    from azure.servicebus import ServiceBusMessage

    first = _text(_property(message, FIRST_MESSAGE_ID_PROPERTY)) or _text(getattr(message, "message_id", None)) or ""
    message_id = f"{first}~retry{attempt}"
    if len(message_id) > _MAX_MESSAGE_ID:
        message_id = hashlib.sha256(message_id.encode()).hexdigest()
    props: dict[str | bytes, Any] = {
        (_text(k) or ""): v
        for k, v in dict(getattr(message, "application_properties", None) or {}).items()
    }
    props.update({ATTEMPT_PROPERTY: attempt, FIRST_MESSAGE_ID_PROPERTY: first})
    return ServiceBusMessage(
        message_body(message),
        session_id=_text(getattr(message, "session_id", None)),
        message_id=message_id,
        subject=_text(getattr(message, "subject", None)),
        content_type=_text(getattr(message, "content_type", None)),
        correlation_id=_text(getattr(message, "correlation_id", None)),
        application_properties=props,
    )


def message_body(message: Any) -> bytes:
    """The body bytes of a received message (the SDK's ``body`` is an iterator of byte sections; a string or bytes
    body is taken as it is)."""
    body = getattr(message, "body", message)
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(bytes(part) for part in body)


def judge(body: bytes, handle: Callable[[RuntimeInput], tuple[Any, ...]]) -> Verdict:
    """Decode ``body``, hand it to ``handle`` (``OrderRuntime.handle``) and say how to settle it (see the module
    docstring). Never raises for the message's sake."""
    try:
        item = decode_body(body)
        outcomes = handle(item)
    except MalformedMessage as exc:
        fields = "; ".join(f"{f.field}: {f.message}" for f in exc.fields)
        return Verdict(Settlement.DEAD_LETTER, exc.detail[:MAX_REASON_LENGTH], fields or exc.detail)
    except Exception as exc:
        log.warning("runtime message not handled (%s: %s); abandoned for redelivery", type(exc).__name__, exc)
        return Verdict(Settlement.ABANDON, f"{type(exc).__name__}: {exc}"[:MAX_REASON_LENGTH])
    return Verdict(Settlement.COMPLETE, outcomes=tuple(str(o) for o in outcomes))


def process(
    message: Any,
    handle: Callable[[RuntimeInput], tuple[Any, ...]],
    settler: Settler,
    retrier: Retrier | None = None,
) -> Verdict:
    """Judge one received message and settle it accordingly (see the module docstring); a lost lock on settlement
    is logged, not raised (the message comes back and is handled again, without a second effect).

    Args:
        message: the received message.
        handle: ``OrderRuntime.handle``.
        settler: how to settle it.
        retrier: schedules the delayed copy of a "not now" failure; None: abandon it.

    Returns:
        The verdict, as settled.
    """
    verdict = judge(message_body(message), handle)
    if verdict.settlement is Settlement.ABANDON and retrier is not None:
        verdict = _retry(message, verdict, retrier)
    message_id = getattr(message, "message_id", "?")
    try:
        if verdict.settlement in (Settlement.COMPLETE, Settlement.RESCHEDULE):
            settler.complete(message)
        elif verdict.settlement is Settlement.DEAD_LETTER:
            log.error("dead-lettering runtime message %s: %s", message_id, verdict.reason)
            settler.dead_letter(message, verdict.reason, verdict.description)
        else:
            settler.abandon(message)
    except Exception as exc:
        if "LockLost" not in type(exc).__name__ and "lock" not in str(exc).lower():
            raise
        log.warning("lock lost settling %s (%s): it will be delivered again", message_id, exc)
    return verdict


def _retry(message: Any, failed: Verdict, retrier: Retrier) -> Verdict:
    """The verdict for a "not now" failure with a retrier: a dead letter at the last attempt, else a delayed copy
    scheduled (or, when even that fails, an abandon)."""
    attempt = attempt_of(message)
    policy = retrier.policy
    if attempt >= policy.max_attempts:
        return Verdict(
            Settlement.DEAD_LETTER,
            RETRIES_EXHAUSTED,
            f"still failing after {attempt} attempts; the last: {failed.reason}"[: MAX_REASON_LENGTH * 4],
        )
    delay = policy.delay(attempt)
    try:
        retrier.schedule(delayed_copy(message, attempt + 1), retrier.now() + delay)
    except Exception as exc:
        log.warning("could not schedule a retry of %s (%s): abandoned", getattr(message, "message_id", "?"), exc)
        return failed
    log.info(
        "runtime message %s: attempt %d failed (%s); attempt %d in %s",
        getattr(message, "message_id", "?"),
        attempt,
        failed.reason,
        attempt + 1,
        delay,
    )
    return Verdict(Settlement.RESCHEDULE, failed.reason, f"attempt {attempt + 1} at +{delay}")
