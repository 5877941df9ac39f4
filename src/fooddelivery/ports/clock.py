"""Time, from one place."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time.

    Adapters: ``SystemClock`` (real time) and ``VirtualClock`` (tests and simulation; advanced by hand).
    """

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...
