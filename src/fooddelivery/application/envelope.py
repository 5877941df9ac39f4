"""One event format for every bus: domain events in a CloudEvents 1.0 envelope (via the CloudEvents SDK).

Attributes (CloudEvents 1.0 spec, https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md):

- ``id`` = the event id (consumers deduplicate on it), ``source`` = ``"/fooddelivery/orders"``,
  ``type`` = ``"com.fooddelivery.<EventType>"`` (``com.fooddelivery.OrderPlaced``), ``subject`` = the order id,
  ``time`` = when it occurred (UTC), ``datacontenttype`` = ``"application/json"``.
- Extensions: ``schemaversion`` (payload schema version, ``SCHEMA_VERSION``), ``orderversion`` (the order's
  version after the event, as a string), ``partitionkey`` (the order id; the CloudEvents *partitioning*
  extension: the ordering key on Pub/Sub, the session id on Service Bus, the message group on SQS FIFO).
- ``traceparent`` / ``tracestate``: the W3C trace context of the call that produced the event (the CloudEvents
  *distributed tracing* extension,
  https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/extensions/distributed-tracing.md), present when the
  event was written while an OpenTelemetry SDK traced it. The domain event keeps it in its payload under
  ``fooddelivery.observability.tracing.TRACE_KEY`` (so every store persists it with the event); the envelope moves
  it out of ``data`` into these attributes, and :func:`from_cloudevent` moves it back.
- ``data`` = the event's JSON payload (without the trace context).

The structured JSON form (``application/cloudevents+json``) is what travels on EventBridge ``Detail``,
Service Bus bodies and Pub/Sub data alike.

Either generation of the CloudEvents SDK works: 2.x (its ``cloudevents.core`` API) or 1.11/1.12 (its
``cloudevents.http`` API), because Google's ``functions-framework`` -- the Cloud Functions Python runtime -- pins
``cloudevents <= 1.12`` (functions-framework 3.10.2), so the GCP package can only be installed with a 1.x SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Final

from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import SCHEMA_VERSION, DomainEvent, EventType
from fooddelivery.observability.tracing import TRACE_KEY

__all__ = [
    "EVENT_SOURCE",
    "TYPE_PREFIX",
    "check_event_time",
    "from_cloudevent",
    "from_json",
    "to_cloudevent",
    "to_json",
]

EVENT_SOURCE: Final[str] = "/fooddelivery/orders"
TYPE_PREFIX: Final[str] = "com.fooddelivery."


@dataclass(frozen=True, slots=True)
class _Sdk:
    """The installed CloudEvents SDK: its event class, its JSON format (2.x) and whether it is a 1.x SDK."""

    event: Any
    format: Any
    legacy: bool


@cache
def _sdk() -> _Sdk:
    """The SDK, imported on first use: it (and its date parser) is not on the cold path of a function that serves
    requests without publishing."""
    try:  # CloudEvents SDK 2.x
        from cloudevents.core.formats.json import JSONFormat
        from cloudevents.core.v1.event import CloudEvent

        return _Sdk(CloudEvent, JSONFormat(), legacy=False)
    except ImportError:  # CloudEvents SDK 1.11/1.12 (what functions-framework installs)
        from cloudevents.http import CloudEvent as LegacyCloudEvent

        return _Sdk(LegacyCloudEvent, None, legacy=True)


def check_event_time(occurred_at: datetime) -> None:
    """Refuse an event time the envelope cannot carry: its ``time`` is RFC 3339, which needs an offset.

    Raises:
        ValidationError: ``occurred_at`` is naive (field ``occurred_at``, code ``naive_time``).
    """
    if occurred_at.utcoffset() is None:
        message = f"must be timezone-aware (UTC), got {occurred_at.isoformat()}"
        raise ValidationError.single("occurred_at", message, "naive_time")


def to_cloudevent(event: DomainEvent) -> Any:
    """Wrap ``event`` in a CloudEvents 1.0 event (see the module docstring for the attributes).

    Raises:
        ValidationError: ``occurred_at`` is a naive time (the envelope's ``time`` is RFC 3339, which needs an offset;
            the 2.x SDK refuses it with its own error, and the 1.x SDK would write it without one).
    """
    check_event_time(event.occurred_at)
    sdk = _sdk()
    attributes: dict[str, Any] = {
        "id": event.event_id,
        "source": EVENT_SOURCE,
        "type": TYPE_PREFIX + event.type.value,
        "subject": event.order_id,
        # the 1.x SDK keeps attributes as given and writes them with json.dumps: RFC 3339 text there
        "time": event.occurred_at.isoformat() if sdk.legacy else event.occurred_at,
        "datacontenttype": "application/json",
        "schemaversion": SCHEMA_VERSION,
        "orderversion": str(event.order_version),
        "partitionkey": event.order_id,
    }
    data = dict(event.payload)
    trace = data.pop(TRACE_KEY, None)
    if isinstance(trace, dict):
        for name in ("traceparent", "tracestate"):
            value = trace.get(name)
            if isinstance(value, str) and value:
                attributes[name] = value
    return sdk.event(attributes, data)


def to_json(event: DomainEvent) -> bytes:
    """The structured-mode JSON bytes of ``event``'s envelope (``application/cloudevents+json``).

    Raises:
        ValidationError: ``occurred_at`` is a naive time (see :func:`to_cloudevent`).
    """
    sdk = _sdk()
    if sdk.legacy:
        from cloudevents.conversion import to_json as legacy_to_json

        return bytes(legacy_to_json(to_cloudevent(event)))
    return bytes(sdk.format.write(to_cloudevent(event)))


def from_cloudevent(ce: Any) -> DomainEvent:
    """Unwrap a CloudEvent produced by :func:`to_cloudevent`.

    Raises:
        ValidationError: not one of ours (wrong type prefix, unknown type, unsupported schema version,
            missing subject or order version).
    """
    attrs: dict[str, Any] = ce.get_attributes()
    etype = str(attrs.get("type", ""))
    if not etype.startswith(TYPE_PREFIX):
        raise ValidationError.single("type", f"not a fooddelivery event: {etype!r}", "unknown_type")
    try:
        kind = EventType(etype[len(TYPE_PREFIX):])
    except ValueError:
        raise ValidationError.single("type", f"unknown event type {etype!r}", "unknown_type") from None
    if attrs.get("schemaversion") != SCHEMA_VERSION:
        raise ValidationError.single("schemaversion", f"unsupported: {attrs.get('schemaversion')!r}", "version")
    subject = attrs.get("subject")
    version = attrs.get("orderversion")
    when = attrs.get("time")
    if isinstance(when, str):  # the 1.x SDK keeps the RFC 3339 text
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            when = None
        if isinstance(when, datetime) and when.utcoffset() is None:
            when = None
    if not subject or version is None or not str(version).isdigit() or not isinstance(when, datetime):
        raise ValidationError.single("subject", "subject, orderversion and time are required", "required")
    data = ce.get_data()
    payload = dict(data) if isinstance(data, dict) else {}
    payload.pop(TRACE_KEY, None)  # only the attributes carry a trace context
    trace = {name: attrs[name] for name in ("traceparent", "tracestate") if isinstance(attrs.get(name), str)}
    if "traceparent" in trace:
        payload[TRACE_KEY] = trace
    return DomainEvent(
        event_id=str(attrs["id"]),
        type=kind,
        occurred_at=when,
        order_id=str(subject),
        order_version=int(str(version)),
        payload=payload,
    )


def from_json(raw: bytes | str) -> DomainEvent:
    """Parse structured-mode JSON back into the domain event.

    Raises:
        ValidationError: malformed JSON or an envelope that is not one of ours.
    """
    sdk = _sdk()
    try:
        if sdk.legacy:
            from cloudevents.http import from_json as legacy_from_json

            ce = legacy_from_json(raw)
        else:
            ce = sdk.format.read(None, raw)
    except ValidationError:
        raise
    except Exception as exc:  # the SDK raises several unrelated types for malformed input
        raise ValidationError.single("body", f"not a CloudEvents JSON envelope: {exc}", "invalid") from exc
    return from_cloudevent(ce)
