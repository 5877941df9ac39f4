"""The production defaults every deployment uses: the machine's clock and random identifiers.

Neutral on purpose: the SQLite server, the simulation and every cloud bootstrap take them from here, while
``fooddelivery.adapters.memory`` holds only what stands in for real infrastructure (stores, a virtual clock,
sequential ids).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

__all__ = ["SystemClock", "UuidIdGenerator"]


class SystemClock:
    """The machine's clock, as timezone-aware UTC (implements ``Clock``)."""

    __slots__ = ()

    def now(self) -> datetime:
        """The current instant, ``datetime.now(UTC)``."""
        return datetime.now(UTC)


class UuidIdGenerator:
    """Random ids ``"<prefix>-<uuid4 hex>"``, e.g. ``"ord-1f0c...e9"`` (implements ``IdGenerator``).

    Thread-safe: ``uuid.uuid4`` draws from ``os.urandom``.
    """

    __slots__ = ()

    def new_id(self, prefix: str) -> str:
        """A new random id starting with ``prefix + "-"``."""
        return f"{prefix}-{uuid.uuid4().hex}"
