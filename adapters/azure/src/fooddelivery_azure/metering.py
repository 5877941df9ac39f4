"""What the Azure adapters bill, recorded for cost metering: Cosmos DB request units and Service Bus operations.

Cosmos DB bills a serverless account by the request units (RU) its operations consume; every response carries the
charge in its ``x-ms-request-charge`` header ("Request units in Azure Cosmos DB",
https://learn.microsoft.com/azure/cosmos-db/request-units; header reference:
https://learn.microsoft.com/rest/api/cosmos-db/common-cosmosdb-rest-response-headers). Every Cosmos adapter of this
package reports each call -- successful or refused (a 409 or 412 is billed too) -- to a :class:`ChargeSink`, by
operation name (``"orders.add"``, ``"drivers.available_near"``...).

:class:`RequestChargeRecorder` is this package's own sink: thread-safe totals per operation; with ``forward=`` a
:class:`MeterChargeSink` it also records every charge on the core's meter (:class:`fooddelivery.metering.Meter`) as
``AZURE.COSMOS_REQUEST_UNITS``.

Service Bus bills **operations**: every API call on a queue, topic or subscription; a send, a receive, a complete, an
abandon or a dead-letter of a message up to 64 KB is one operation, a larger message one per 64 KB started, and a
scheduled send or a cancellation is one more (Service Bus pricing FAQ, "How is the Operations meter calculated for
queues and topics?", https://azure.microsoft.com/pricing/details/service-bus/). :class:`MeteredSender` wraps a
sender (``send_messages``, ``schedule_messages``, ``cancel_scheduled_messages``) and :class:`MeteredSettler` a
consumer's settler, each recording ``AZURE.SERVICEBUS_OPERATIONS`` on the core's meter; the runtime queue's function
records the delivery it was invoked with (:func:`record_delivery`). A topic's deliveries to its subscriptions are
billed to their receivers (outside this package, except the runtime queue).

:func:`fooddelivery_azure.bootstrap.build_azure_app` wires all of it when given a ``meter`` (metering is opt-in:
tests, benchmarks, cost runs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Protocol, runtime_checkable

from fooddelivery.metering import AZURE, Meter
from fooddelivery.metering.units import chunks

__all__ = [
    "REQUEST_CHARGE_HEADER",
    "SERVICEBUS_OPERATION_BYTES",
    "ChargeSink",
    "MeterChargeSink",
    "MeteredSender",
    "MeteredSettler",
    "OperationCharge",
    "RequestChargeRecorder",
    "charge_of",
    "record_delivery",
    "servicebus_operations",
]

#: The response header carrying a call's request charge (RU, a decimal number).
REQUEST_CHARGE_HEADER: Final[str] = "x-ms-request-charge"
#: A Service Bus operation moves up to this many bytes of one message (64 KB); a larger message is one per chunk.
SERVICEBUS_OPERATION_BYTES: Final[int] = 64 * 1024


@runtime_checkable
class ChargeSink(Protocol):
    """Where request charges go."""

    def record(self, operation: str, request_units: float) -> None:
        """Record one call of ``operation`` that cost ``request_units`` RU (0.0 when the response named none)."""
        ...


def charge_of(headers: Mapping[str, Any] | None) -> float:
    """The request charge in ``headers`` (case-insensitive name), or 0.0 when absent or unreadable."""
    if not headers:
        return 0.0
    value = headers.get(REQUEST_CHARGE_HEADER)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == REQUEST_CHARGE_HEADER), None)
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True, slots=True)
class OperationCharge:
    """The calls of one operation so far.

    Attributes:
        calls: how many calls were recorded.
        request_units: their summed charge (RU).
    """

    calls: int
    request_units: float


class RequestChargeRecorder:
    """Thread-safe request-charge totals per operation (a :class:`ChargeSink`).

    Args:
        forward: another sink every record is also passed to (the core's metering, once wired), or None.
    """

    def __init__(self, forward: ChargeSink | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._units: dict[str, float] = {}
        self._forward = forward

    def record(self, operation: str, request_units: float) -> None:
        """Add one call of ``operation`` costing ``request_units``."""
        with self._lock:
            self._calls[operation] = self._calls.get(operation, 0) + 1
            self._units[operation] = self._units.get(operation, 0.0) + request_units
        if self._forward is not None:
            self._forward.record(operation, request_units)

    def hook(self, operation: str) -> Callable[[Mapping[str, Any], Any], None]:
        """A Cosmos SDK ``response_hook`` recording the charge of each response as one call of ``operation``
        (a query records one call per page)."""

        def on_response(headers: Mapping[str, Any], _body: Any) -> None:
            self.record(operation, charge_of(headers))

        return on_response

    def snapshot(self) -> dict[str, OperationCharge]:
        """Every operation's totals so far, by name."""
        with self._lock:
            return {op: OperationCharge(self._calls[op], self._units[op]) for op in sorted(self._calls)}

    @property
    def total_request_units(self) -> float:
        """The charge of every call so far (RU)."""
        with self._lock:
            return sum(self._units.values())

    @property
    def total_calls(self) -> int:
        """How many calls were recorded."""
        with self._lock:
            return sum(self._calls.values())

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._calls.clear()
            self._units.clear()


class MeterChargeSink:
    """A :class:`ChargeSink` recording every call's request charge on the core's meter
    (``AZURE.COSMOS_REQUEST_UNITS``, a ``Decimal`` of the charge as the server wrote it; a charge of 0 is not
    recorded).

    Args:
        meter: the core's meter.
    """

    __slots__ = ("_meter",)

    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    def record(self, operation: str, request_units: float) -> None:
        """Record ``request_units`` RU (``operation`` is the recorder's business, not the meter's)."""
        if request_units > 0:
            self._meter.record(AZURE.COSMOS_REQUEST_UNITS, Decimal(repr(float(request_units))))


def _body_size(message: Any) -> int:
    body = getattr(message, "body", message)
    if isinstance(body, bytes | bytearray):
        return len(body)
    if isinstance(body, str):
        return len(body.encode("utf-8"))
    try:
        return sum(len(bytes(part)) for part in body)
    except TypeError:
        return 0


def servicebus_operations(messages: Any) -> int:
    """Billable operations of sending (or scheduling) ``messages`` (one message or an iterable of them): one per
    message per 64 KB of body started (at least one each)."""
    items: Iterable[Any] = messages if isinstance(messages, list | tuple) else [messages]
    return sum(chunks(_body_size(m), SERVICEBUS_OPERATION_BYTES) for m in items)


class MeteredSender:
    """A Service Bus sender (``ServiceBusSender`` or a stand-in) whose sends, scheduled sends and cancellations record
    ``AZURE.SERVICEBUS_OPERATIONS`` on ``meter`` once the call succeeded; anything else is the inner sender's.

    Args:
        sender: the sender.
        meter: the core's meter.
    """

    def __init__(self, sender: Any, meter: Meter) -> None:
        self.sender = sender
        self._meter = meter

    def send_messages(self, message: Any, **kwargs: Any) -> Any:
        """``sender.send_messages``; one operation per message (per 64 KB)."""
        batch = list(message) if isinstance(message, list | tuple) else message
        result = self.sender.send_messages(batch, **kwargs)
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(batch))
        return result

    def schedule_messages(self, messages: Any, schedule_time_utc: Any, **kwargs: Any) -> Any:
        """``sender.schedule_messages``; one operation per message (per 64 KB)."""
        batch = list(messages) if isinstance(messages, list | tuple) else messages
        numbers = self.sender.schedule_messages(batch, schedule_time_utc, **kwargs)
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(batch))
        return numbers

    def cancel_scheduled_messages(self, sequence_numbers: Any, **kwargs: Any) -> Any:
        """``sender.cancel_scheduled_messages``; one operation per sequence number."""
        result = self.sender.cancel_scheduled_messages(sequence_numbers, **kwargs)
        count = len(sequence_numbers) if isinstance(sequence_numbers, list | tuple) else 1
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, count)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sender, name)


class MeteredSettler:
    """A consumer's settler (:class:`fooddelivery_azure.servicebus.consumer.Settler`) whose every settlement --
    complete, abandon, dead-letter -- records one ``AZURE.SERVICEBUS_OPERATIONS`` per 64 KB of the message once it
    succeeded.

    Args:
        settler: the settler.
        meter: the core's meter.
    """

    def __init__(self, settler: Any, meter: Meter) -> None:
        self.settler = settler
        self._meter = meter

    def complete(self, message: Any) -> None:
        """Complete it."""
        self.settler.complete(message)
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(message))

    def abandon(self, message: Any) -> None:
        """Abandon it."""
        self.settler.abandon(message)
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(message))

    def dead_letter(self, message: Any, reason: str, description: str) -> None:
        """Dead-letter it."""
        self.settler.dead_letter(message, reason, description)
        self._meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(message))


def record_delivery(meter: Meter, message: Any) -> None:
    """Record the receive that delivered ``message`` to the function (the trigger's peek-lock receive: one operation
    per 64 KB)."""
    meter.record(AZURE.SERVICEBUS_OPERATIONS, servicebus_operations(message))
