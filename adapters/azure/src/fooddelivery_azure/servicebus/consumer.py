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
any other exception (a store down, the      **abandon**: delivered again (``delivery_count`` + 1); at the
saga busy, a concurrent writer)             entity's ``maxDeliveryCount`` Service Bus dead-letters it itself
                                            (reason ``MaxDeliveryCountExceeded``)
==========================================  =================================================================

A settlement that fails because the lock was lost (it expired, or the session moved to another consumer) is only
logged: the message will be delivered again, and the runtime is idempotent on every input, so the redelivery has
no second effect.

Two settlers: :class:`ReceiverSettler` (an ``azure.servicebus.ServiceBusReceiver``: a worker loop, the tests) and
:class:`MessageActionsSettler` (the Functions worker extension's ``ServiceBusMessageActions``: the Service Bus trigger
with ``autoCompleteMessages`` off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from fooddelivery.application.messages import MalformedMessage, RuntimeInput, decode_body

__all__ = [
    "MAX_REASON_LENGTH",
    "MessageActionsSettler",
    "ReceiverSettler",
    "Settlement",
    "Settler",
    "Verdict",
    "judge",
    "message_body",
    "process",
]

log = logging.getLogger(__name__)

#: Longest dead-letter reason sent (Service Bus limits a message's system properties; the full text goes in the
#: description).
MAX_REASON_LENGTH: Final[int] = 1024


class Settlement(StrEnum):
    """How a message is settled."""

    COMPLETE = "complete"
    ABANDON = "abandon"
    DEAD_LETTER = "dead_letter"


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


def process(message: Any, handle: Callable[[RuntimeInput], tuple[Any, ...]], settler: Settler) -> Verdict:
    """Judge one received message and settle it accordingly; a lost lock on settlement is logged, not raised (the
    message comes back and is handled again, without a second effect).

    Returns:
        The verdict.
    """
    verdict = judge(message_body(message), handle)
    try:
        if verdict.settlement is Settlement.COMPLETE:
            settler.complete(message)
        elif verdict.settlement is Settlement.DEAD_LETTER:
            log.error("dead-lettering runtime message %s: %s", getattr(message, "message_id", "?"), verdict.reason)
            settler.dead_letter(message, verdict.reason, verdict.description)
        else:
            settler.abandon(message)
    except Exception as exc:
        if "LockLost" not in type(exc).__name__ and "lock" not in str(exc).lower():
            raise
        log.warning("lock lost settling %s (%s): it will be delivered again", getattr(message, "message_id", "?"), exc)
    return verdict
