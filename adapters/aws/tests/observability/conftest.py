"""Fixtures of the observability tests: SDK providers recording in memory (see ``fooddelivery.testing.telemetry``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fooddelivery.testing.telemetry import Recorded, record


@pytest.fixture
def batched() -> Iterator[Recorded]:
    """SDK providers that export only when flushed (batch processor, one-hour schedule and interval)."""
    yield from record(batched=True)


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """SDK providers exporting each span as it ends (the trace tests read them while the saga runs)."""
    yield from record(batched=False)
