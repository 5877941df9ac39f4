"""A virtual clock, advanced by hand (tests and simulation).

The real one is ``fooddelivery.adapters.system.SystemClock``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["DEFAULT_START", "VirtualClock"]

#: Where a :class:`VirtualClock` starts when not told otherwise.
DEFAULT_START: Final[datetime] = datetime(2025, 1, 1, tzinfo=UTC)


def _as_utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


class VirtualClock:
    """A clock that only moves when told to, never backwards (implements ``Clock``). Thread-safe.

    Args:
        start: the first instant; timezone-aware (converted to UTC). Defaults to
            :data:`DEFAULT_START`.

    Raises:
        ValueError: ``start`` is naive.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = _as_utc(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current virtual instant (UTC)."""
        return self._now

    def advance(self, by: float | timedelta) -> datetime:
        """Move forward by ``by`` (seconds, or a ``timedelta``); returns the new instant.

        Raises:
            ValueError: ``by`` is negative.
        """
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if delta < timedelta(0):
            raise ValueError(f"a clock never goes backwards (advance by {delta})")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> datetime:
        """Jump to ``instant`` (timezone-aware; the same or a later instant); returns it in UTC.

        Raises:
            ValueError: ``instant`` is naive or earlier than now.
        """
        target = _as_utc(instant, "instant")
        with self._lock:
            if target < self._now:
                raise ValueError(f"a clock never goes backwards ({target} is before {self._now})")
            self._now = target
            return target

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"
