"""Contract of ``EventPublisher``: every event bus adapter must pass it.

Subclass :class:`EventPublisherContract` in a ``Test*`` class, provide the ``publisher`` fixture and
implement :meth:`EventPublisherContract.published` (for a cloud bus: by receiving from the
emulator's topic or queue).
"""

from __future__ import annotations

import pytest

from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.messaging import EventPublisher
from fooddelivery.testing.builders import T0, make_event

__all__ = ["EventPublisherContract"]


class EventPublisherContract:
    """Behaviour every ``EventPublisher`` must show (fixture ``publisher``, hook ``published``)."""

    @pytest.fixture
    def publisher(self) -> EventPublisher:
        """The EventPublisher under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the publisher under test")

    def published(self, publisher: EventPublisher) -> list[DomainEvent]:
        """Every event the bus accepted, in acceptance order."""
        raise NotImplementedError("a subclass says how published events are observed")

    def test_published_events_arrive_in_order_with_every_field(self, publisher: EventPublisher) -> None:
        events = [
            make_event(order_id="ord-zoë", order_version=v, type=t)
            for v, t in (
                (1, EventType.ORDER_PLACED),
                (2, EventType.PAYMENT_CAPTURED),
                (3, EventType.ORDER_STATUS_CHANGED),
            )
        ]
        publisher.publish(events)
        assert self.published(publisher) == events

    def test_successive_publishes_accumulate(self, publisher: EventPublisher) -> None:
        first, second = make_event(), make_event(type=EventType.ORDER_CANCELLED)
        publisher.publish([first])
        publisher.publish([second])
        assert [e.event_id for e in self.published(publisher)] == [first.event_id, second.event_id]

    def test_publishing_nothing_publishes_nothing(self, publisher: EventPublisher) -> None:
        publisher.publish([])
        assert self.published(publisher) == []

    def test_a_unicode_payload_arrives_unchanged(self, publisher: EventPublisher) -> None:
        event = make_event(payload={"note": "Zoë 🍕 寿司 — شاورما", "total": "21.97"})
        publisher.publish([event])
        (received,) = self.published(publisher)
        assert received.payload == {"note": "Zoë 🍕 寿司 — شاورما", "total": "21.97"}
        assert received.occurred_at == T0
