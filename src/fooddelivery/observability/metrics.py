"""Metrics through the OpenTelemetry metrics API (a no-op until an SDK meter provider is in use).

- ``fooddelivery.orders.placed``, ``fooddelivery.orders.confirmed``, ``fooddelivery.orders.cancelled``
  (counters, 1);
- ``fooddelivery.orders.failed`` (counter, 1; ``fooddelivery.failure.reason``: ``payment_declined``,
  ``restaurant_timeout``...);
- ``fooddelivery.saga.step.duration`` (histogram, s; ``fooddelivery.saga.step``, ``fooddelivery.saga.step.outcome``
  ``ok`` / ``error``, and ``error.type`` on errors): one attempt of a saga step;
- ``fooddelivery.saga.step.retries`` (counter, 1; ``fooddelivery.saga.step``): each attempt after the first;
- ``fooddelivery.outbox.lag`` (histogram, s; ``messaging.operation.name``: ``publish`` after a commit or by the
  sweep, ``relay`` by a change stream): from the event's time to its publication;
- ``fooddelivery.dlq.depth`` (gauge, 1): events whose in-process handling failed: those that wait to be handled
  again (``FoodDeliveryService.dead_letters``) and those that never can be (``FoodDeliveryService.malformed``).

Orders are counted where their event is committed (``OrderPlaced``; ``OrderStatusChanged`` to ``CONFIRMED``;
``OrderFailed`` by its ``reason``; ``OrderCancelled``), once per write, in the process that wrote it. A cloud
queue's dead-letter depth is the provider's metric (SQS ``ApproximateNumberOfMessagesVisible`` of the DLQ, the
Service Bus dead-letter count, a Pub/Sub dead-letter topic's backlog), not the core's.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.observability.tracing import INSTRUMENTATION_NAME, _providers, meter_provider

__all__ = ["count_committed", "instruments", "metrics_off", "record_outbox_lag", "record_step", "watch_dead_letters"]


class _Instruments:
    """The instruments of one meter provider."""

    def __init__(self, provider: Any) -> None:
        meter = provider.get_meter(INSTRUMENTATION_NAME)
        self.provider = provider
        self.placed = meter.create_counter("fooddelivery.orders.placed", "1", "Orders placed (committed).")
        self.confirmed = meter.create_counter("fooddelivery.orders.confirmed", "1", "Orders confirmed.")
        self.failed = meter.create_counter("fooddelivery.orders.failed", "1", "Orders failed, by reason.")
        self.cancelled = meter.create_counter("fooddelivery.orders.cancelled", "1", "Orders cancelled.")
        self.step_duration = meter.create_histogram(
            "fooddelivery.saga.step.duration", "s", "Duration of one attempt of a saga step."
        )
        self.step_retries = meter.create_counter(
            "fooddelivery.saga.step.retries", "1", "Saga step attempts after the first."
        )
        self.outbox_lag = meter.create_histogram(
            "fooddelivery.outbox.lag", "s", "Time from an event's occurrence to its publication."
        )
        meter.create_observable_gauge(
            "fooddelivery.dlq.depth",
            callbacks=[_observe_dead_letters],
            unit="1",
            description="Events whose in-process handling failed, waiting to be handled again.",
        )


_current: list[_Instruments] = []
#: The watched owners' dead letters, by registration number (an entry goes when its owner is collected).
_dead_letter_sources: dict[int, Callable[[], int]] = {}
_source_keys = itertools.count()


def metrics_off() -> bool:
    """True when nothing can be measured: no provider given and the metrics API never imported."""
    return _providers.meter_provider is None and "opentelemetry.metrics" not in sys.modules


def instruments() -> _Instruments | None:
    """The instruments of the meter provider in use, or None when nothing is measured."""
    provider = meter_provider()
    if provider is None:
        return None
    if not _current or _current[0].provider is not provider:
        _current[:] = [_Instruments(provider)]
    return _current[0]


def watch_dead_letters(owner: Any, attributes: Sequence[str] = ("dead_letters", "malformed")) -> None:
    """Report the sum of ``len(owner.<attribute>)`` over ``attributes`` (those it has) in ``fooddelivery.dlq.depth``
    while ``owner`` lives.

    Only when a meter provider is in use now (otherwise nothing is kept: the composition root calls it on every
    ``bootstrap()``, which a long-running process may do again and again); ``owner`` is held weakly and its
    entry removed as soon as it is collected.
    """
    if metrics_off() or instruments() is None:  # (the gauge is created with the instruments)
        return
    key = next(_source_keys)
    ref = weakref.ref(owner, lambda _ref: _dead_letter_sources.pop(key, None))

    def source() -> int:
        target = ref()
        return 0 if target is None else sum(len(getattr(target, name, ())) for name in attributes)

    _dead_letter_sources[key] = source


def _observe_dead_letters(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    depth = 0
    for source in list(_dead_letter_sources.values()):
        depth += source()
    return [Observation(depth)]


def count_committed(events: Iterable[DomainEvent]) -> None:
    """Count the orders placed, confirmed, failed (by reason) and cancelled by these committed events."""
    inst = instruments()
    if inst is None:
        return
    for event in events:
        if event.type is EventType.ORDER_PLACED:
            inst.placed.add(1)
        elif event.type is EventType.ORDER_STATUS_CHANGED and event.payload.get("to") == "CONFIRMED":
            inst.confirmed.add(1)
        elif event.type is EventType.ORDER_FAILED:
            inst.failed.add(1, {"fooddelivery.failure.reason": str(event.payload.get("reason") or "unknown")})
        elif event.type is EventType.ORDER_CANCELLED:
            inst.cancelled.add(1)


def record_step(step: str, seconds: float, attempt: int, error: BaseException | None) -> None:
    """Record one attempt of a saga step: its duration, and a retry when it is not the first attempt."""
    inst = instruments()
    if inst is None:
        return
    attrs: dict[str, str] = {"fooddelivery.saga.step": step, "fooddelivery.saga.step.outcome": "ok"}
    if error is not None:
        attrs["fooddelivery.saga.step.outcome"] = "error"
        attrs["error.type"] = str(getattr(error, "code", None) or type(error).__qualname__)
    inst.step_duration.record(seconds, attrs)
    if attempt > 1:
        inst.step_retries.add(1, {"fooddelivery.saga.step": step})


def record_outbox_lag(events: Iterable[DomainEvent], now: datetime, operation: str) -> None:
    """Record, for each event, the seconds from its ``occurred_at`` to ``now`` (when it was published)."""
    inst = instruments()
    if inst is None:
        return
    attrs = {"messaging.operation.name": operation}
    for event in events:
        inst.outbox_lag.record(max(0.0, (now - event.occurred_at).total_seconds()), attrs)
