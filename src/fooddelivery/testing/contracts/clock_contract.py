"""Contract of ``Clock``: subclass :class:`ClockContract` and provide the ``clock`` fixture."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from fooddelivery.ports.clock import Clock

__all__ = ["ClockContract"]


class ClockContract:
    """Behaviour every ``Clock`` must show (fixture ``clock``)."""

    @pytest.fixture
    def clock(self) -> Clock:
        """The Clock under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the clock under test")

    def test_now_is_timezone_aware_utc(self, clock: Clock) -> None:
        now = clock.now()
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)
        assert now == now.astimezone(UTC)

    def test_now_never_goes_backwards(self, clock: Clock) -> None:
        readings = [clock.now() for _ in range(2000)]
        assert readings == sorted(readings)
