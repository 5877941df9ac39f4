"""Contract of ``LocationStream``: every position stream adapter must pass it.

Subclass :class:`LocationStreamContract` in a ``Test*`` class, provide the ``stream`` fixture and
implement :meth:`LocationStreamContract.appended` (for a cloud stream: by reading the emulator's
shard or partition).
"""

from __future__ import annotations

import pytest

from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.location import LocationStream
from fooddelivery.testing.builders import make_location_event

__all__ = ["LocationStreamContract"]


class LocationStreamContract:
    """Behaviour every ``LocationStream`` must show (fixture ``stream``; hook :meth:`appended`)."""

    @pytest.fixture
    def stream(self) -> LocationStream:
        """The LocationStream under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the stream under test")

    def appended(self, stream: LocationStream, partition_key: str) -> list[DomainEvent]:
        """The events of one partition, in append order."""
        raise NotImplementedError("a subclass says how a partition is read back")

    def test_a_partition_keeps_its_events_in_append_order(self, stream: LocationStream) -> None:
        events = [make_location_event("drv-ana", version=v) for v in range(1, 5)]
        for event in events:
            stream.append(event, "drv-ana")
        assert self.appended(stream, "drv-ana") == events

    def test_partitions_are_independent(self, stream: LocationStream) -> None:
        ana = make_location_event("drv-ana")
        bob = make_location_event("drv-bob")
        stream.append(ana, "drv-ana")
        stream.append(bob, "drv-bob")
        assert self.appended(stream, "drv-ana") == [ana]
        assert self.appended(stream, "drv-bob") == [bob]
        assert self.appended(stream, "drv-nobody") == []
