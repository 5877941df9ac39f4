"""What travels on a runtime queue, in one format for every cloud: events, saga timers and resume commands.

A cloud consumer (the SQS Lambda, the Service Bus function, the Pub/Sub function) gets a message body from its
provider, decodes it here into a :data:`RuntimeInput`, and hands that to
:class:`~fooddelivery.application.runtime.OrderRuntime`.
The provider-specific part -- how the body arrived, how the message is settled -- stays in the cloud package.

========================================================  ==================================================
body (JSON object)                                        input
========================================================  ==================================================
a CloudEvents 1.0 structured event (``specversion``...)   :class:`EventInput` (``fooddelivery.application.envelope``)
``{"messageType": "fooddelivery.saga.timer", ...}``       :class:`TimerInput` (:func:`timer_body`)
``{"messageType": "fooddelivery.saga.resume", ...}``      :class:`ResumeInput` (:func:`resume_body`)
========================================================  ==================================================

Anything else is a :class:`MalformedMessage`: a poison message, which a consumer dead-letters with the error's
text as the reason instead of retrying it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fooddelivery.application.envelope import from_json
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "RESUME_MESSAGE_TYPE",
    "TIMER_MESSAGE_TYPE",
    "EventInput",
    "MalformedMessage",
    "ResumeInput",
    "RuntimeInput",
    "TimerInput",
    "decode_body",
    "decode_document",
    "resume_body",
    "timer_body",
    "timer_from_document",
]

#: ``messageType`` of a saga timer body.
TIMER_MESSAGE_TYPE: Final[str] = "fooddelivery.saga.timer"
#: ``messageType`` of a resume command body.
RESUME_MESSAGE_TYPE: Final[str] = "fooddelivery.saga.resume"
_VERSION: Final[int] = 1


class MalformedMessage(ValidationError):
    """A message no consumer can ever handle (not JSON, an unknown shape, a missing field): dead-letter it."""

    code = "malformed_message"


@dataclass(frozen=True, slots=True)
class EventInput:
    """A domain event delivered to the runtime."""

    event: DomainEvent


@dataclass(frozen=True, slots=True)
class TimerInput:
    """A saga timer that fell due (or, on a queue with a delay cap, may still be early)."""

    message: ScheduledMessage


@dataclass(frozen=True, slots=True)
class ResumeInput:
    """A command to drive on a saga instance that an interrupted process left RUNNING."""

    saga_id: str


#: One input of the runtime.
RuntimeInput = EventInput | TimerInput | ResumeInput


def _compact(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def timer_body(message: ScheduledMessage) -> str:
    """The JSON body of a timer message (compact): ``messageType``, ``version``, ``messageId``, ``dueAt`` (ISO-8601
    UTC), ``kind``, ``body``."""
    return _compact(
        {
            "messageType": TIMER_MESSAGE_TYPE,
            "version": _VERSION,
            "messageId": message.message_id,
            "dueAt": message.due_at.astimezone(UTC).isoformat(),
            "kind": message.kind,
            "body": message.body,
        }
    )


def resume_body(saga_id: str) -> str:
    """The JSON body of a resume command."""
    return _compact({"messageType": RESUME_MESSAGE_TYPE, "version": _VERSION, "sagaId": saga_id})


def timer_from_document(document: Mapping[str, Any]) -> ScheduledMessage:
    """The scheduled message in a decoded timer body.

    Raises:
        MalformedMessage: not a version-1 timer, or a field missing or malformed (named).
    """
    if document.get("messageType") != TIMER_MESSAGE_TYPE or document.get("version") != _VERSION:
        raise MalformedMessage.single("messageType", "not a version-1 saga timer", "invalid")
    message_id, kind, body = document.get("messageId"), document.get("kind"), document.get("body")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedMessage.single("messageId", "must be a non-empty string", "invalid")
    if not isinstance(kind, str) or not kind:
        raise MalformedMessage.single("kind", "must be a non-empty string", "invalid")
    if not isinstance(body, dict):
        raise MalformedMessage.single("body", "must be a JSON object", "invalid")
    raw_due = document.get("dueAt")
    try:
        due_at = datetime.fromisoformat(str(raw_due))
    except ValueError:
        raise MalformedMessage.single("dueAt", f"not an ISO-8601 time: {raw_due!r}", "invalid") from None
    if due_at.tzinfo is None:
        raise MalformedMessage.single("dueAt", "must carry a UTC offset", "invalid")
    return ScheduledMessage(message_id, due_at.astimezone(UTC), kind, body)


def _resume_from_document(document: Mapping[str, Any]) -> str:
    saga_id = document.get("sagaId")
    if document.get("version") != _VERSION:
        raise MalformedMessage.single("version", "not a version-1 resume command", "invalid")
    if not isinstance(saga_id, str) or not saga_id:
        raise MalformedMessage.single("sagaId", "must be a non-empty string", "invalid")
    return saga_id


def decode_document(document: Mapping[str, Any]) -> RuntimeInput:
    """The runtime input of a decoded JSON body (see the module docstring).

    Raises:
        MalformedMessage: not one of the three shapes, or an invalid one (the field is named).
    """
    kind = document.get("messageType")
    if kind == TIMER_MESSAGE_TYPE:
        return TimerInput(timer_from_document(document))
    if kind == RESUME_MESSAGE_TYPE:
        return ResumeInput(_resume_from_document(document))
    if "specversion" in document:
        try:
            return EventInput(from_json(_compact(document)))
        except ValidationError as exc:
            raise MalformedMessage(exc.detail, exc.fields) from exc
    raise MalformedMessage.single("body", "neither a CloudEvent, a saga timer nor a saga command", "invalid")


def decode_body(body: bytes | str) -> RuntimeInput:
    """The runtime input of a raw message body (UTF-8 JSON).

    Raises:
        MalformedMessage: not UTF-8 JSON, not an object, or not one of the three shapes.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage.single("body", f"not JSON: {exc}", "invalid") from exc
    if not isinstance(document, dict):
        raise MalformedMessage.single("body", "not a JSON object", "invalid")
    return decode_document(document)
