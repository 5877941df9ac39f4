"""Two destinations as one ``EventPublisher``: the runtime's events to the runtime's queue, every event to the bus.

Where a cloud's bus cannot route per event with the guarantees the runtime needs (one order's messages in order,
different orders in parallel, deduplication by event id), the relay sends the events the runtime reacts to
(:func:`~fooddelivery.application.runtime.needs_runtime`) straight to an ordered queue -- an SQS FIFO queue
(message group = order id), a Service Bus queue with sessions (session id = order id), a Pub/Sub topic with
ordering keys -- and every event, those included, to the bus for everyone else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fooddelivery.application.runtime import needs_runtime
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.messaging import EventPublisher

__all__ = ["FanOutPublisher"]


class FanOutPublisher:
    """The runtime's events to ``runtime_queue`` first, then every event up to the first one the queue did not take
    to ``bus``.

    ``publish`` returns when both took everything; otherwise it raises naming every event from the first one not
    accepted by both onwards (in the given order), so the caller keeps those pending and publishes nothing past the
    gap. Accepted events stay accepted; sent again, the queue drops them by deduplication id and the bus's consumers
    by CloudEvents ``id``.

    Args:
        bus: where every event goes.
        runtime_queue: where the runtime's events go too.
        routes: which events go to the queue (default: the reaction table's :func:`needs_runtime`).
    """

    def __init__(
        self,
        bus: EventPublisher,
        runtime_queue: EventPublisher,
        routes: Callable[[DomainEvent], bool] = needs_runtime,
    ) -> None:
        self.bus = bus
        self.runtime_queue = runtime_queue
        self.routes = routes

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish ``events`` to both destinations (see the class docstring).

        Raises:
            InfrastructureError: a destination refused (context ``failed_ids``: every event from the first one not
                accepted by both, in order; ``destination``: ``"runtime_queue"`` or ``"bus"``, the first that
                refused; ``retryable``: whether every refusal is worth retrying).
        """
        events = list(events)
        if not events:
            return
        stop = len(events)
        refusals: list[tuple[str, InfrastructureError]] = []
        routed = [e for e in events if self.routes(e)]
        if routed:
            try:
                self.runtime_queue.publish(routed)
            except InfrastructureError as exc:
                stop = _first_failed(events, exc, routed)
                refusals.append(("runtime_queue", exc))
        if stop:
            try:
                self.bus.publish(events[:stop])
            except InfrastructureError as exc:
                stop = min(stop, _first_failed(events, exc, events[:stop]))
                refusals.append(("bus", exc))
        if refusals:
            destination, first = refusals[0]
            raise InfrastructureError(
                "; ".join(f"{name}: {exc.detail}" for name, exc in refusals),
                failed_ids=[e.event_id for e in events[stop:]],
                destination=destination,
                errors={k: v for _, exc in refusals for k, v in dict(exc.context.get("errors") or {}).items()},
                retryable=all(exc.context.get("retryable", True) is not False for _, exc in refusals),
            ) from first


def _first_failed(events: Sequence[DomainEvent], exc: InfrastructureError, sent: Sequence[DomainEvent]) -> int:
    """Position in ``events`` of the first event ``exc`` names as failed (the first of ``sent`` if it names none)."""
    failed = set(exc.context.get("failed_ids") or [e.event_id for e in sent])
    ids = [e.event_id for e in events]
    return next((i for i, event_id in enumerate(ids) if event_id in failed), ids.index(sent[0].event_id))
