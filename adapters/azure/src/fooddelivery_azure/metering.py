"""Request units: what every Cosmos DB call cost, recorded for cost metering.

Cosmos DB bills a serverless account by the request units (RU) its operations consume; every response carries the
charge in its ``x-ms-request-charge`` header ("Request units in Azure Cosmos DB",
https://learn.microsoft.com/azure/cosmos-db/request-units; header reference:
https://learn.microsoft.com/rest/api/cosmos-db/common-cosmosdb-rest-response-headers). Every Cosmos adapter of this
package reports each call -- successful or refused (a 409 or 412 is billed too) -- to a :class:`ChargeSink`, by
operation name (``"orders.add"``, ``"drivers.available_near"``...).

:class:`RequestChargeRecorder` is this package's own sink: thread-safe totals per operation. It is deliberately
small so that it can be wired to the core's metering interface once that exists (any object with a
``record(operation, request_units)`` method is a sink).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

__all__ = ["REQUEST_CHARGE_HEADER", "ChargeSink", "OperationCharge", "RequestChargeRecorder", "charge_of"]

#: The response header carrying a call's request charge (RU, a decimal number).
REQUEST_CHARGE_HEADER: Final[str] = "x-ms-request-charge"


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
